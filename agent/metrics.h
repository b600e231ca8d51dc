/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvmlet-agent's Prometheus endpoint: GET /metrics on a local HTTP listener
 * (a Unix socket, mode 0600, lib/http_server) in the text format, with the
 * CRI call metrics and the server's queue (docs/metrics.md).
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

/* Replaces a stale socket at path (one nobody answers on); srv and m must outlive it. */
int agent_metrics_start(struct agent_metrics **out, const char *path, struct cri_server *srv,
			struct cri_metrics *m, struct err *err);
/* am may be NULL. */
void agent_metrics_stop(struct agent_metrics *am);

#endif
