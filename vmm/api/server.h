/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control API's transport: a Unix stream socket served by one thread
 * with HTTP/1.1 (lib/http.c). It owns connections, limits and timeouts and
 * knows nothing of what the requests mean: each complete request is handed
 * to a handler on the API thread, which answers it at once or later, from
 * any thread, with api_call_reply(). The thread never blocks on anything
 * but epoll, so a slow or hostile client, or a VM busy pausing, cannot hold
 * up another client.
 *
 * Per connection, requests are answered in order: while one is pending,
 * the connection's further bytes stay unread (HTTP/1.1 pipelining works,
 * a client cannot queue up unbounded work). The server itself sends
 * "100 Continue" when a request expects it, answers parse errors (with
 * "Connection: close", then closes), 405 with Allow (keeping the
 * connection), 503 past max_clients and 408 for slow requests, all with
 * Firecracker fault bodies; it keeps connections alive as HTTP/1.1 and
 * HTTP/1.0 requests ask, and closes idle ones without a word.
 */
#ifndef KVMLET_VMM_API_SERVER_H
#define KVMLET_VMM_API_SERVER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/http.h"

#define API_MAX_CLIENTS	       64    /* more are accepted, answered 503 and closed */
#define API_IDLE_TIMEOUT_MS    30000 /* between requests on a kept-alive connection */
#define API_REQUEST_TIMEOUT_MS 5000  /* from a request's first byte to its last */
#define API_MAX_BODY	       (64 * 1024)
#define API_MAX_OUT	       (1024 * 1024) /* unsent response bytes per connection */

/*
 * Zero fields take the defaults above; tests shorten the timeouts. The
 * timeouts are checked by a sweep every min(250 ms, shortest timeout / 4),
 * so they fire up to that much late.
 *
 * max_out bounds what a client that does not read can make the server hold:
 * the server takes no new request from a connection while a response to it
 * is unsent, and a response whose unsent part would exceed max_out closes
 * the connection instead.
 */
struct api_server_limits {
	unsigned int max_clients;
	unsigned int idle_timeout_ms;
	unsigned int request_timeout_ms;
	size_t max_body;
	size_t max_out;
};

struct api_server;
/* One request being answered; valid from the handler call until replied. */
struct api_call;

/*
 * Runs on the API thread for every complete, well-formed request (parse
 * errors, 405 for methods outside GET/PUT/PATCH, overload (503) and
 * timeouts (408) are answered by the server itself). It must not block; it must eventually reply
 * exactly once, possibly after returning.
 */
typedef void (*api_handler_fn)(void *ctx, struct api_call *call);

/*
 * Binds path (refusing one that exists: -EADDRINUSE), makes it 0600 before
 * listening, starts the API thread and waits for its thread_init(ctx) (may
 * be NULL), which runs first on that thread (e.g. to install its seccomp
 * filter); if that fails, so does this, with its error. After thread_init
 * the thread makes only these system calls: epoll_wait, epoll_ctl,
 * accept4, read, sendto (send with MSG_NOSIGNAL), close, write and read on
 * its eventfd, timerfd_settime, futex, clock_gettime, and what malloc
 * needs (brk, mmap, munmap, madvise). limits may be NULL.
 */
int api_server_start_limits(struct api_server **out, const char *path, api_handler_fn fn, void *ctx,
			    int (*thread_init)(void *ctx), const struct api_server_limits *limits,
			    struct err *err);
/* The same with the default limits. */
int api_server_start(struct api_server **out, const char *path, api_handler_fn fn, void *ctx,
		     int (*thread_init)(void *ctx), struct err *err);
/*
 * Stops the thread, closes every connection, unlinks the socket; s may be
 * NULL. Call it from any thread but the API thread (the handler must not).
 * Calls still pending stay valid: api_call_reply() on them after stop is
 * safe and frees them (and the server's last remnants with the last one),
 * but every handler call must still be replied to exactly once, or memory
 * leaks. The simplest rule: reply to everything, then stop.
 */
void api_server_stop(struct api_server *s);

/*
 * Every final response the server has written or queued (100 Continue is
 * not one), the handler's replies included, and how many were 4xx and 5xx:
 * the metrics need no other count. Safe from any thread.
 */
void api_server_counts(const struct api_server *s, uint64_t *requests, uint64_t *errors_4xx,
		       uint64_t *errors_5xx);

const struct http_request *api_call_request(const struct api_call *call);

/*
 * Completes the call; the call and its request are invalid once this
 * returns (body may point into the request). Thread-safe; body and
 * content_type are copied. A reply for a
 * client that has gone away is dropped quietly. status 204 takes no body;
 * a status lib/http.c does not know, a body on 204 or a content type with
 * control characters is answered 500 instead. The connection is kept alive
 * as the request asked.
 */
void api_call_reply(struct api_call *call, unsigned int status, const char *content_type,
		    const void *body, size_t len);
/* Firecracker's {"fault_message": ...} with the formatted message. */
void api_call_fault(struct api_call *call, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
