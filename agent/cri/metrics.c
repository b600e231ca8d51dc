// SPDX-License-Identifier: Apache-2.0
/* CRI call counters (metrics.h). */
#include <stdatomic.h>
#include <stdlib.h>

#include "agent/cri/methods.h"
#include "agent/cri/metrics.h"
#include "lib/prom.h"

#define UNKNOWN_METHOD "unknown"

struct cri_metrics {
	size_t nr;		 /* cri_nr_methods + 1 */
	_Atomic uint64_t *calls; /* [nr][CRI_NR_CODES] */
	_Atomic uint64_t *ns;	 /* [nr] */
};

static const struct prom_family fam_calls = { "kvmlet_agent_cri_requests_total",
					      "CRI calls answered, by method and gRPC status code.",
					      PROM_COUNTER };
static const struct prom_family fam_seconds = {
	"kvmlet_agent_cri_request_seconds_total",
	"Time spent answering CRI calls, from the request's arrival to the reply, by method.",
	PROM_COUNTER
};

struct cri_metrics *cri_metrics_new(void)
{
	struct cri_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nr = cri_nr_methods + 1;
	m->calls = calloc(m->nr * CRI_NR_CODES, sizeof(*m->calls));
	m->ns = calloc(m->nr, sizeof(*m->ns));
	if (!m->calls || !m->ns) {
		cri_metrics_free(m);
		return NULL;
	}
	return m;
}

void cri_metrics_free(struct cri_metrics *m)
{
	if (!m)
		return;
	free(m->calls);
	free(m->ns);
	free(m);
}

void cri_metrics_record(struct cri_metrics *m, size_t method, enum cri_code code, uint64_t ns)
{
	if (method >= m->nr)
		method = m->nr - 1;
	if ((unsigned int)code >= CRI_NR_CODES)
		code = CRI_UNKNOWN;
	atomic_fetch_add_explicit(&m->calls[method * CRI_NR_CODES + code], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->ns[method], ns, memory_order_relaxed);
}

static const char *method_label(const struct cri_metrics *m, size_t i)
{
	return i < cri_nr_methods ? cri_methods[i].name : UNKNOWN_METHOD;
}

void cri_metrics_write(const struct cri_metrics *m, struct prom *p)
{
	for (size_t i = 0; i < m->nr; i++) {
		uint64_t total = 0;

		for (int code = 0; code < CRI_NR_CODES; code++) {
			uint64_t n = atomic_load_explicit(&m->calls[i * CRI_NR_CODES + code],
							  memory_order_relaxed);

			total += n;
			if (n)
				prom_u64(p, &fam_calls,
					 PROM_LABELS("method", method_label(m, i), "code",
						     cri_code_name(code)),
					 n);
		}
		if (total)
			prom_seconds(p, &fam_seconds, PROM_LABELS("method", method_label(m, i)),
				     atomic_load_explicit(&m->ns[i], memory_order_relaxed));
	}
}
