/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host-side client for the guest agent inside a VM, speaking the QEMU guest
 * agent (QGA) protocol: one JSON request per line, one JSON reply per line.
 *
 * The agent is reached through the VMM's hybrid vsock Unix socket (the
 * Firecracker scheme: "CONNECT <port>\n" answered by "OK <hostport>\n") or
 * through a plain Unix socket. Everything the agent sends is treated as
 * hostile: every read is bounded in time and size and every reply is checked
 * for type and range before it is used.
 *
 * A connection is not thread-safe: one call at a time. Every function that
 * can fail returns a negative errno and, when err is not NULL, fills it in.
 */
#ifndef KVMLET_AGENT_GA_CLIENT_H
#define KVMLET_AGENT_GA_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/err.h"

#define GA_DEFAULT_PORT 1024U
/* Default bound on one reply line; ga_set_reply_max() changes it. */
#define GA_DEFAULT_REPLY_MAX (8U << 20)

/*
 * err.code is a negative errno, -EREMOTEIO when the agent returned an error;
 * err.msg says what went wrong, in printable ASCII only (the agent's text is
 * cleaned). Unlike err_set(), every failing call overwrites it, so one
 * ga_error can serve a connection's calls in turn.
 */
struct ga_error {
	struct err err;
	char class[64]; /* the agent's error class ("GenericError", ...), or "" */
};

enum ga_transport { GA_UNIX, GA_VSOCK_UDS };

struct ga_address {
	enum ga_transport transport;
	char path[108];         /* sizeof(sun_path) */
	uint32_t port;          /* vsock port, GA_VSOCK_UDS only */
};

struct ga_conn;

/*
 * Parses "unix:PATH", "vsock-uds:PATH[:PORT]" or a bare PATH (the VMM's
 * vsock socket, port 1024). A trailing ":DIGITS" after a vsock-uds path is
 * always taken as the port.
 */
int ga_parse_address(const char *s, struct ga_address *out, struct ga_error *err);

/* Connects (and, for vsock-uds, does the CONNECT handshake) within timeout_ms. */
struct ga_conn *ga_connect(const char *address, int timeout_ms, struct ga_error *err);
struct ga_conn *ga_connect_addr(const struct ga_address *addr, int timeout_ms,
				struct ga_error *err);
/* Wraps an already connected stream socket (takes ownership of fd). */
struct ga_conn *ga_conn_from_fd(int fd, struct ga_error *err);
void ga_close(struct ga_conn *c);

/* Bounds the size of one reply line (256 bytes to 1 GiB). */
void ga_set_reply_max(struct ga_conn *c, size_t max);

/*
 * guest-sync-delimited with a random id: discards whatever the agent sent
 * before the 0xFF sentinel of the matching reply. ga_call() runs it by itself
 * on a new connection and after a timeout or a bad reply, so callers only need
 * it to check that an agent answers.
 */
int ga_sync(struct ga_conn *c, int timeout_ms, struct ga_error *err);

/*
 * Runs one command. args (may be NULL) is sent as "arguments" and not
 * consumed. On success *result (unless result is NULL) holds the "return"
 * value, which the caller frees with cJSON_Delete(). An error reply from the agent gives -EREMOTEIO
 * with err->class and err->err.msg set.
 */
int ga_call(struct ga_conn *c, const char *command, const cJSON *args, int timeout_ms,
	    cJSON **result, struct ga_error *err);

int ga_ping(struct ga_conn *c, int timeout_ms, struct ga_error *err);

struct ga_command_info {
	char *name;
	bool enabled;
	bool success_response;
};

struct ga_info {
	char *version;
	size_t ncommands;
	struct ga_command_info *commands;
};

int ga_info(struct ga_conn *c, int timeout_ms, struct ga_info *out, struct ga_error *err);
void ga_info_free(struct ga_info *info);

struct ga_exec_request {
	const char *path;
	const char *const *argv;        /* arguments after path, NULL-terminated; may be NULL */
	const char *const *env;         /* "NAME=value", NULL-terminated; may be NULL */
	const void *input;              /* stdin for the process; may be NULL */
	size_t input_len;
	bool capture_output;
};

struct ga_exec_status {
	bool exited;
	int exitcode;                   /* valid when exited and signal == 0 */
	int signal;                     /* the signal that ended it, or 0 */
	unsigned char *out, *err;       /* captured output (NUL-terminated for convenience) */
	size_t out_len, err_len;
	bool out_truncated, err_truncated;
};

/* guest-exec: starts the process and returns its guest pid. */
int ga_exec_start(struct ga_conn *c, const struct ga_exec_request *req, int timeout_ms,
		  int64_t *pid, struct ga_error *err);
/* guest-exec-status once. */
int ga_exec_status(struct ga_conn *c, int64_t pid, int timeout_ms, struct ga_exec_status *st,
		   struct ga_error *err);
/*
 * guest-exec, then guest-exec-status until the process exits or timeout_ms
 * (for the whole run) passes: -ETIMEDOUT, and the process keeps running.
 */
int ga_exec(struct ga_conn *c, const struct ga_exec_request *req, int timeout_ms,
	    struct ga_exec_status *st, struct ga_error *err);
void ga_exec_status_free(struct ga_exec_status *st);


#endif
