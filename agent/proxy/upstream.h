/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI proxy's client to the upstream runtime (containerd): one gRPC C
 * core channel to its Unix socket, and unary calls that carry the request's
 * bytes as they came and hand back the answer's bytes and status as they
 * came, so forwarding needs no decoding. The channel reconnects by itself,
 * quickly (100 ms to 1 s back-off), so a restarted containerd is found
 * again within a second; while it is down, calls fail at once with
 * UNAVAILABLE naming the upstream.
 *
 * Threads: upstream_call() from any number of threads at once (each call
 * has its own completion queue); open and close from one thread.
 */
#ifndef KVMLET_AGENT_PROXY_UPSTREAM_H
#define KVMLET_AGENT_PROXY_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "agent/cri/status.h"
#include "lib/err.h"

struct upstream;

/* target: "unix:///path", "unix:/path" or "/path". */
int upstream_open(struct upstream **out, const char *target, struct err *err);
/* u may be NULL. */
void upstream_close(struct upstream *u);

/*
 * One unary call of method path ("/runtime.v1.RuntimeService/Version")
 * with req[0..len); timeout_ns 0 means none. On OK *out (malloc'd, *out_len
 * bytes; NULL for an empty message) is the answer; otherwise st has the
 * upstream's code and message, or UNAVAILABLE / DEADLINE_EXCEEDED from the
 * channel with the upstream named in the message. Returns st->code.
 */
enum cri_code upstream_call(struct upstream *u, const char *path, const uint8_t *req, size_t len,
			    uint64_t timeout_ns, uint8_t **out, size_t *out_len,
			    struct cri_status *st);

/* The target as configured, for messages. */
const char *upstream_name(const struct upstream *u);

#endif
