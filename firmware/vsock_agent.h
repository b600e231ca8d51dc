/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A subset of the QEMU guest agent protocol, one request line in, one
 * response line out: guest-sync, guest-sync-delimited, guest-ping,
 * guest-info, guest-get-time, guest-exec (built-in "echo", "true" and
 * "false"), guest-exec-status and guest-shutdown (which, as in qemu-ga,
 * answers only errors: the caller powers off once agent.power is set). Pure functions over bounded buffers: no device, no
 * clock (the caller passes the time), so it also builds on the host for
 * fuzzing.
 */
#ifndef FW_VSOCK_AGENT_H
#define FW_VSOCK_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENT_LINE_MAX	 4096 /* a request line, without its newline */
#define AGENT_OUT_MAX	 2048 /* the longest response, newline included */
#define AGENT_EXEC_OUT	 1024 /* echo's output, at most */
#define AGENT_EXEC_SLOTS 32   /* exited, not yet collected processes */
#define AGENT_JSON_DEPTH 32

struct agent_exec {
	uint32_t pid; /* 0: free */
	bool capture;
	uint8_t exitcode;
	uint16_t out_len;
	char out[AGENT_EXEC_OUT];
};

/* What guest-shutdown asked for. */
enum agent_power { AGENT_POWER_NONE, AGENT_POWER_OFF, AGENT_POWER_RESET };

/* Shared by all connections (pids are global, as in qemu-ga). */
struct agent {
	uint32_t next_pid;
	enum agent_power power; /* set by guest-shutdown; the caller acts on it */
	struct agent_exec exec[AGENT_EXEC_SLOTS];
};

/*
 * Answers the request in @line (@len bytes, no newline) into @out (at
 * least AGENT_OUT_MAX bytes): the response, newline included; its length,
 * 0 for a request answered with silence (a successful guest-shutdown).
 * Never reads outside @line nor writes past AGENT_OUT_MAX.
 */
size_t agent_handle(struct agent *a, const char *line, size_t len, uint64_t now_ns, char *out);

/* The response to a line longer than AGENT_LINE_MAX. */
size_t agent_too_long(char *out);

#endif
