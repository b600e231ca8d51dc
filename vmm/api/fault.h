/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firecracker's error body, {"fault_message": "<msg>"}: what the control
 * API answers every error with, the server's own (parse errors, 405, 408,
 * 413, 503...) through api_fault_fmt, which the VMM hands to
 * lib/http_server, and the routes' through http_call_fault(). Pure
 * functions, safe from any thread.
 */
#ifndef KVMLET_VMM_API_FAULT_H
#define KVMLET_VMM_API_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/http_server.h"

/*
 * The body, with msg escaped as a JSON string: quote, backslash and
 * controls escaped, valid UTF-8 passed through, each byte of invalid UTF-8
 * replaced by U+FFFD. Writes a NUL after it and returns its length (NUL
 * excluded), or -ENOSPC. buf may be NULL with cap 0 to measure.
 */
ssize_t api_fault_body(char *buf, size_t cap, const char *msg);

/* A whole error response with that body, as application/json; -ENOMEM too. */
ssize_t api_fault_response(char *buf, size_t cap, unsigned int status, const char *msg,
			   bool keep_alive);

/* For http_server_opts.fault. */
extern const struct http_fault_fmt api_fault_fmt;

#endif
