/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvmlet-agent's Prometheus endpoint: GET /metrics on a local HTTP listener
 * (a Unix socket, mode 0600, lib/http_server) in the text format, with the
 * CRI call metrics, the server's queue, pulls, the image store's size and
 * the pods (sandboxes and containers by state, container starts and exits)
 * (docs/metrics.md).
 *
 * Threads: start and stop from the main thread; the page is rendered on
 * the HTTP server's thread from counters other threads update.
 */
#ifndef KVMLET_AGENT_METRICS_H
#define KVMLET_AGENT_METRICS_H

#include "lib/err.h"

struct cri_server;
struct cri_metrics;
struct agent_metrics;
struct store;
struct pull_stats;
struct pods;

/* What the page shows; each must outlive the listener. store, pulls and pods may be NULL. */
struct agent_metrics_sources {
	struct cri_server *srv;
	struct cri_metrics *cri;
	struct store *store;
	const struct pull_stats *pulls;
	struct pods *pods;
};

/* Replaces a stale socket at path (one nobody answers on). */
int agent_metrics_start(struct agent_metrics **out, const char *path,
			const struct agent_metrics_sources *src, struct err *err);
/* am may be NULL. */
void agent_metrics_stop(struct agent_metrics *am);

#endif
