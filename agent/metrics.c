// SPDX-License-Identifier: Apache-2.0
/* kvmlet-agent's GET /metrics (metrics.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/cri/metrics.h"
#include "agent/cri/server.h"
#include "agent/image/pull.h"
#include "agent/image/store.h"
#include "agent/metrics.h"
#include "agent/pod/pods.h"
#include "lib/http_server.h"
#include "lib/prom.h"

#define PROMETHEUS_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct agent_metrics {
	struct http_server *http;
	struct agent_metrics_sources src;
	uint64_t start_ns; /* CLOCK_REALTIME at start */
};

static const struct prom_family fam_start = { "kvmlet_agent_start_time_seconds",
					      "When the agent started, in seconds since the epoch.",
					      PROM_GAUGE };
static const struct prom_family fam_in_flight = { "kvmlet_agent_cri_in_flight",
						  "CRI calls accepted and not yet answered.",
						  PROM_GAUGE };
static const struct prom_family fam_queued = { "kvmlet_agent_cri_queued",
					       "CRI calls waiting for a worker.", PROM_GAUGE };
static const struct prom_family fam_rejected = {
	"kvmlet_agent_cri_rejected_total",
	"CRI calls answered RESOURCE_EXHAUSTED because every worker was busy and the queue full.",
	PROM_COUNTER
};

static const struct prom_family fam_pulls = { "kvmlet_agent_image_pulls_total",
					      "Image pulls, by result (ok or error).",
					      PROM_COUNTER };
static const struct prom_family fam_pull_bytes = {
	"kvmlet_agent_image_pull_bytes_total",
	"Blob bytes downloaded from registries (blobs already in the store are not counted).",
	PROM_COUNTER
};
static const struct prom_family fam_store_bytes = {
	"kvmlet_agent_image_store_bytes",
	"Disk space used under the image store's root (blocks allocated), when scraped.", PROM_GAUGE
};
static const struct prom_family fam_store_inodes = {
	"kvmlet_agent_image_store_inodes", "Files and directories under the image store's root.",
	PROM_GAUGE
};

static const struct prom_family fam_sandboxes = { "kvmlet_agent_pod_sandboxes",
						  "Pod sandboxes, by CRI state.", PROM_GAUGE };
static const struct prom_family fam_containers = { "kvmlet_agent_containers",
						   "Containers (one VM each), by CRI state.",
						   PROM_GAUGE };
static const struct prom_family fam_starts = { "kvmlet_agent_container_starts_total",
					       "Containers seen to start (StartContainer, or a "
					       "start found on restart).",
					       PROM_COUNTER };
static const struct prom_family fam_exits = {
	"kvmlet_agent_container_exits_total",
	"Containers seen to exit: stopped, ended on their own, or removed while running.",
	PROM_COUNTER
};

static void pod_metrics(struct pods *pods, struct prom *p)
{
	struct pods_counts c;

	if (!pods)
		return;
	pods_counts(pods, &c);
	for (int s = SANDBOX_READY; s <= SANDBOX_NOTREADY; s++)
		prom_u64(p, &fam_sandboxes, PROM_LABELS("state", sandbox_state_name(s)),
			 c.sandboxes[s]);
	for (int s = CONTAINER_CREATED; s <= CONTAINER_UNKNOWN; s++)
		prom_u64(p, &fam_containers, PROM_LABELS("state", container_state_name(s)),
			 c.containers[s]);
	prom_u64(p, &fam_starts, NULL, c.starts);
	prom_u64(p, &fam_exits, NULL, c.exits);
}

static void image_metrics(const struct agent_metrics_sources *src, struct prom *p)
{
	struct store_usage u;
	struct err err = { 0 };

	if (src->pulls) {
		prom_u64(p, &fam_pulls, PROM_LABELS("result", "ok"),
			 atomic_load_explicit(&src->pulls->pulls, memory_order_relaxed));
		prom_u64(p, &fam_pulls, PROM_LABELS("result", "error"),
			 atomic_load_explicit(&src->pulls->failures, memory_order_relaxed));
		prom_u64(p, &fam_pull_bytes, NULL,
			 atomic_load_explicit(&src->pulls->bytes, memory_order_relaxed));
	}
	if (src->store && !store_usage(src->store, &u, &err)) {
		prom_u64(p, &fam_store_bytes, NULL, u.bytes);
		prom_u64(p, &fam_store_inodes, NULL, u.inodes);
	}
}

static void metrics_handle(void *ctx, struct http_call *call)
{
	struct agent_metrics *am = ctx;
	const struct http_request *req = http_call_request(call);
	struct cri_server_stats st;
	struct prom *p;
	char *text;
	size_t len;

	if (strcmp(req->path, "/metrics")) {
		http_call_fault(call, 404, "no such path: %s (try /metrics)", req->path);
		return;
	}
	if (req->method != HTTP_METHOD_GET) {
		http_call_fault(call, 405, "only GET /metrics");
		return;
	}
	p = prom_new();
	if (!p) {
		http_call_fault(call, 500, "out of memory");
		return;
	}
	cri_server_stats(am->src.srv, &st);
	prom_seconds(p, &fam_start, NULL, am->start_ns);
	prom_u64(p, &fam_in_flight, NULL, st.in_flight);
	prom_u64(p, &fam_queued, NULL, st.queued);
	prom_u64(p, &fam_rejected, NULL, st.rejected);
	cri_metrics_write(am->src.cri, p);
	image_metrics(&am->src, p);
	pod_metrics(am->src.pods, p);
	text = prom_finish(p, &len);
	if (!text) {
		http_call_fault(call, 500, "out of memory");
		return;
	}
	http_call_reply(call, 200, PROMETHEUS_TYPE, text, len);
	free(text);
}

/* A socket file nobody answers on is left over from a crash. */
static void remove_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat stb;
	int fd;

	if (lstat(path, &stb) || !S_ISSOCK(stb.st_mode))
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno == ECONNREFUSED)
		unlink(path);
	close(fd);
}

int agent_metrics_start(struct agent_metrics **out, const char *path,
			const struct agent_metrics_sources *src, struct err *err)
{
	struct agent_metrics *am = calloc(1, sizeof(*am));
	struct http_server_opts o = {
		.path = path,
		.fn = metrics_handle,
		.name = "metrics",
		.thread_name = "metrics",
	};
	struct timespec ts;
	int r;

	*out = NULL;
	if (!am)
		return err_set(err, -ENOMEM, "metrics: out of memory");
	clock_gettime(CLOCK_REALTIME, &ts);
	am->start_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	am->src = *src;
	o.ctx = am;
	remove_stale(path);
	r = http_server_start(&am->http, &o, err);
	if (r) {
		free(am);
		return err_prefix(err, r, "metrics listener: ");
	}
	*out = am;
	return 0;
}

void agent_metrics_stop(struct agent_metrics *am)
{
	if (!am)
		return;
	http_server_stop(am->http);
	free(am);
}
