/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI gRPC server on the gRPC C core: a Unix socket, one completion-queue
 * thread that accepts calls and reads requests, and a pool of workers that
 * run the handlers of the method table (methods.h) and start the replies,
 * so a slow call (a pull, a VM boot) never holds up another.
 *
 * Calls waiting for a worker sit in a bounded queue; when it is full a call
 * is answered RESOURCE_EXHAUSTED at once. Paths not in the table answer
 * UNIMPLEMENTED; a request over CRI_MAX_MESSAGE bytes is refused by gRPC
 * itself (RESOURCE_EXHAUSTED) and the connection keeps serving.
 *
 * Every call is logged as one line (method, code, duration) when its reply
 * has gone out, and counted in the metrics.
 *
 * Threads: start and stop from one thread (the agent's main thread), never
 * from a handler. cri_server_stats() from any thread.
 */
#ifndef KVMLET_AGENT_CRI_SERVER_H
#define KVMLET_AGENT_CRI_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/cri/status.h"
#include "lib/err.h"

/* kubelet's own limit (cri-api utils.go maxMsgSize). */
#define CRI_MAX_MESSAGE (16 * 1024 * 1024)

struct cri_method;
struct cri_runtime;
struct cri_metrics;
struct cri_server;

/*
 * A router in front of the method table (the CRI proxy, agent/proxy): it
 * answers every call in place of cri_method_invoke(), which it may call
 * itself for the local part. timeout_ns is what is left of the caller's
 * deadline (0: none). Runs on the workers, several at once.
 */
typedef enum cri_code cri_route_fn(void *ctx, const struct cri_method *m, const uint8_t *req,
				   size_t len, uint64_t timeout_ns, uint8_t **out, size_t *out_len,
				   struct cri_status *st);

struct cri_server_opts {
	/* "unix:///run/kvmlet/kvmlet.sock", "unix:/path" or an absolute path. */
	const char *listen;
	unsigned int workers; /* handler threads, >= 1 */
	unsigned int queue;   /* calls that may wait for a worker, >= 1 */
	struct cri_runtime *rt;
	struct cri_metrics *metrics; /* NULL: not counted */
	/* NULL: cri_methods[] (methods.h); tests serve their own table. */
	const struct cri_method *methods;
	size_t nr_methods;
	cri_route_fn *route; /* NULL: every call goes to the table's handler */
	void *route_ctx;
};

/*
 * Creates the socket's directory (0750) if it is missing, refuses a socket
 * another server still answers on (-EADDRINUSE; a stale one is replaced),
 * binds the socket with mode 0660 (owned by root when we are root) and
 * starts serving.
 */
int cri_server_start(struct cri_server **out, const struct cri_server_opts *o, struct err *err);
/*
 * Stops accepting calls, lets those in flight finish for up to grace_ms,
 * then cancels the rest; waits for the workers, removes the socket and frees
 * s. s may be NULL.
 */
void cri_server_stop(struct cri_server *s, unsigned int grace_ms);

struct cri_server_stats {
	uint64_t in_flight; /* accepted, not yet answered */
	uint64_t queued;    /* waiting for a worker */
	uint64_t rejected;  /* answered RESOURCE_EXHAUSTED because the queue was full */
};
void cri_server_stats(struct cri_server *s, struct cri_server_stats *st);

/* The socket path of a listen address (see cri_server_opts), or NULL if it is not one. */
const char *cri_listen_path(const char *listen);

#endif
