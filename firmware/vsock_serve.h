/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest agent (vsock_agent.c) served on the first virtio-vsock device,
 * on kvmlet.vsock_port (default 1024), for up to VSOCK_MAX_CONNS
 * connections at once: the vsock-agent test and the pod mode share it.
 */
#ifndef FW_VSOCK_SERVE_H
#define FW_VSOCK_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vsock_agent.h"

enum agent_end {
	AGENT_END_QUIT,	    /* a connection sent the raw line "quit" */
	AGENT_END_SHUTDOWN, /* guest-shutdown: result.power says how */
	AGENT_END_IDLE,	    /* nothing arrived for idle_us */
	AGENT_END_HOOK,	    /* the hook asked to stop */
};

struct agent_serve_opts {
	uint64_t idle_us; /* 0: serve forever */
	/* Once listening: say so on the console (the host connects after this line). */
	void (*ready)(void *ctx, uint32_t port);
	/* Every 10 ms or so while serving; true stops. NULL: none. */
	bool (*hook)(void *ctx);
	/* After 2 ms without work: sleep a little (until an interrupt). NULL: spin. */
	void (*wait)(void *ctx);
	void *ctx;
};

struct agent_serve_result {
	enum agent_end end;
	enum agent_power power;
	uint64_t accepted, requests;
};

/* False (detail says why) if there is no usable device; else serves, then closes. */
bool agent_serve_vsock(const struct agent_serve_opts *o, struct agent_serve_result *r, char *detail,
		       size_t len);

#endif
