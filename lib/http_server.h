/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hardened HTTP/1.1 server on a Unix stream socket, served by one thread
 * with lib/http.c's parser: the VMM's control API today, the daemons'
 * local endpoints next. It owns connections, limits and timeouts and knows
 * nothing of what the requests mean: each complete request is handed to a
 * handler on the server thread, which answers it at once or later, from
 * any thread, with http_call_reply(). The thread never blocks on anything
 * but epoll, so a slow or hostile client, or a handler busy elsewhere,
 * cannot hold up another client.
 *
 * Per connection, requests are answered in order: while one is pending,
 * the connection's further bytes stay unread (HTTP/1.1 pipelining works,
 * a client cannot queue up unbounded work). The server itself sends
 * "100 Continue" when a request expects it, answers parse errors (with
 * "Connection: close", then closes), 405 with Allow (keeping the
 * connection), 503 when every slot is busy and 408 for slow requests, all
 * with bodies from the user's fault formatter; it keeps connections alive
 * as HTTP/1.1 and HTTP/1.0 requests ask, and closes idle ones without a
 * word.
 *
 * Slots: a connection that has sent no byte gets first_byte_timeout_ms
 * (short) rather than the idle timeout, and when all max_clients slots are
 * taken a newcomer evicts the connection idle the longest (no request in
 * progress or queued in its socket, nothing unsent): one that never spoke
 * is answered 503 and closed (what the newcomer would have heard), a
 * kept-alive one is closed without a word, as the idle timeout would. Only
 * when every slot is busy with real work is the newcomer answered 503. So
 * silent connections cannot lock the server.
 *
 * Threading: start and stop from any thread but the server's; the handler
 * runs on the server thread; http_call_reply()/_fault() and
 * http_server_counts() from any thread.
 */
#ifndef KVMLET_HTTP_SERVER_H
#define KVMLET_HTTP_SERVER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"
#include "lib/http.h"

#define HTTP_SERVER_MAX_CLIENTS		  64 /* more are accepted, evict an idle one or get 503 */
#define HTTP_SERVER_IDLE_TIMEOUT_MS	  30000 /* between requests on a kept-alive connection */
#define HTTP_SERVER_FIRST_BYTE_TIMEOUT_MS 5000	/* from accept to a first byte */
#define HTTP_SERVER_REQUEST_TIMEOUT_MS	  5000	/* from a request's first byte to its last */
#define HTTP_SERVER_MAX_BODY		  (64 * 1024)
#define HTTP_SERVER_MAX_OUT		  (1024 * 1024) /* unsent response bytes per connection */

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
struct http_server_limits {
	unsigned int max_clients;
	unsigned int idle_timeout_ms;
	unsigned int first_byte_timeout_ms;
	unsigned int request_timeout_ms;
	size_t max_body;
	size_t max_out;
};

/*
 * How the server words its own error answers (and http_call_fault()'s):
 * format() writes the body for msg into buf[0..cap), NUL-terminated, and
 * returns its length without the NUL, or -ENOSPC if it does not fit; with
 * buf NULL and cap 0 it returns the length needed. It runs on any thread
 * and must be pure. The VMM supplies Firecracker's {"fault_message": ...}
 * (vmm/api/fault.h).
 */
struct http_fault_fmt {
	const char *content_type;
	ssize_t (*format)(char *buf, size_t cap, const char *msg);
};

struct http_server;
/* One request being answered; valid from the handler call until replied. */
struct http_call;

/*
 * Runs on the server thread for every complete, well-formed request (parse
 * errors, 405 for methods outside GET/PUT/PATCH, overload (503) and
 * timeouts (408) are answered by the server itself). It must not block; it
 * must eventually reply exactly once, possibly after returning.
 */
typedef void (*http_handler_fn)(void *ctx, struct http_call *call);

struct http_server_opts {
	const char *path; /* the socket to create */
	http_handler_fn fn;
	void *ctx;		       /* for fn and thread_init */
	int (*thread_init)(void *ctx); /* may be NULL */
	/* NULL: text/plain, the message and a newline. Copied; content_type must outlive the server. */
	const struct http_fault_fmt *fault;
	const struct http_server_limits *limits; /* may be NULL */
	const char *name;			 /* in error messages, e.g. "API"; NULL: "HTTP" */
	const char *thread_name;		 /* NULL: "http" */
};

/*
 * Binds o->path (refusing one that exists: -EADDRINUSE), makes it 0600
 * before listening, starts the server thread and waits for its
 * thread_init(ctx), which runs first on that thread (e.g. to install its
 * seccomp filter); if that fails, so does this, with its error. After
 * thread_init the thread makes only these system calls: epoll_wait,
 * epoll_ctl, accept4, read, recvfrom (a peek at an eviction candidate),
 * sendto (send with MSG_NOSIGNAL), shutdown, close, write and read on its
 * eventfd, read and timerfd_settime on its loop's timerfd (lib/event_loop
 * timers), futex, clock_gettime, and what malloc needs (brk, mmap, munmap,
 * madvise).
 */
int http_server_start(struct http_server **out, const struct http_server_opts *o, struct err *err);
/*
 * Stops the thread, closes every connection, unlinks the socket; s may be
 * NULL. Call it from any thread but the server's (the handler must not).
 * Calls still pending stay valid: http_call_reply() on them after stop is
 * safe and frees them (and the server's last remnants with the last one),
 * but every handler call must still be replied to exactly once, or memory
 * leaks. The simplest rule: reply to everything, then stop.
 */
void http_server_stop(struct http_server *s);

/*
 * Every final response the server has written or queued (100 Continue is
 * not one), the handler's replies included, and how many were 4xx and 5xx:
 * the metrics need no other count. Safe from any thread.
 */
void http_server_counts(const struct http_server *s, uint64_t *requests, uint64_t *errors_4xx,
			uint64_t *errors_5xx);

const struct http_request *http_call_request(const struct http_call *call);

/*
 * Completes the call; the call and its request are invalid once this
 * returns (body may point into the request). Thread-safe; body and
 * content_type are copied. A reply for a client that has gone away is
 * dropped quietly. status 204 takes no body; a status lib/http.c does not
 * know, a body on 204 or a content type with control characters is
 * answered 500 instead. The connection is kept alive as the request asked.
 */
void http_call_reply(struct http_call *call, unsigned int status, const char *content_type,
		     const void *body, size_t len);
/* An error answer, its body from the server's fault formatter with the formatted message. */
void http_call_fault(struct http_call *call, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
