/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRI call metrics: calls by method and status code, and the time they took
 * by method (a sum, so rate(seconds) / rate(calls) is the mean latency).
 * Methods are cri_methods[] indexes; cri_nr_methods stands for a path not
 * in the table ("unknown").
 *
 * Threads: cri_metrics_record() from any thread (relaxed atomics);
 * cri_metrics_write() from any thread, it reads a near-instant view.
 */
#ifndef KVMLET_AGENT_CRI_METRICS_H
#define KVMLET_AGENT_CRI_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "agent/cri/status.h"

struct prom;
struct cri_metrics;

/* NULL without memory. */
struct cri_metrics *cri_metrics_new(void);
void cri_metrics_free(struct cri_metrics *m);
void cri_metrics_record(struct cri_metrics *m, size_t method, enum cri_code code, uint64_t ns);
/* Appends kvmlet_agent_cri_* families (docs/metrics.md) to p. */
void cri_metrics_write(const struct cri_metrics *m, struct prom *p);

#endif
