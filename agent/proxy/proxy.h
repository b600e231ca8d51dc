/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI proxy (docs/proxy.md): with an upstream runtime configured,
 * kvmlet-agent answers the pods whose runtime_handler is "kvmlet" itself
 * and forwards every other pod, with its containers and images, to the
 * upstream (containerd) unchanged. proxy_route() stands in front of the
 * method table (server.h's cri_route_fn): it routes each call by the table
 * in route.h, runs the local handler through cri_method_invoke() and
 * forwards through an upstream function (upstream.h in the agent, a fake
 * in the tests), keeps the owner map (idmap.h) and merges answers
 * (merge.h).
 *
 * Threads: proxy_route() and proxy_metrics_write() from any thread at
 * once; new and free from the main thread, outside the server's life.
 */
#ifndef KVMLET_AGENT_PROXY_PROXY_H
#define KVMLET_AGENT_PROXY_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "agent/cri/status.h"
#include "lib/err.h"

struct cri_method;
struct cri_runtime;
struct prom;
struct proxy;

/* As upstream_call() (upstream.h). */
typedef enum cri_code proxy_upstream_fn(void *ctx, const char *path, const uint8_t *req, size_t len,
					uint64_t timeout_ns, uint8_t **out, size_t *out_len,
					struct cri_status *st);

struct proxy_opts {
	struct cri_runtime *rt; /* the local handlers' runtime */
	proxy_upstream_fn *upstream;
	void *upstream_ctx;
	const char *upstream_name; /* in messages and logs */
	const char *state_dir;	   /* the owner map: <agent root>/proxy */
	/* Image names served by kvmlet's store (NULL-ended; NULL: none). Borrowed. */
	const char *const *vm_image_prefixes;
	uint64_t default_timeout_ns; /* for calls that came without a deadline; 0: none */
};

int proxy_new(struct proxy **out, const struct proxy_opts *o, struct err *err);
/* p may be NULL. */
void proxy_free(struct proxy *p);

/* server.h's cri_route_fn: answers the call of method m, locally, upstream or both. */
enum cri_code proxy_route(void *p, const struct cri_method *m, const uint8_t *req, size_t len,
			  uint64_t timeout_ns, uint8_t **out, size_t *out_len,
			  struct cri_status *st);

/* Appends kvmlet_agent_proxy_* families (docs/metrics.md) to pr. */
void proxy_metrics_write(struct proxy *p, struct prom *pr);

#endif
