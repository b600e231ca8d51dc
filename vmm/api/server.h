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
 * a client cannot queue up unbounded work).
 */
#ifndef KVMLET_VMM_API_SERVER_H
#define KVMLET_VMM_API_SERVER_H

#include <stdarg.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/http.h"

#define API_MAX_CLIENTS	      64   /* more are accepted, answered 503 and closed */
#define API_IDLE_TIMEOUT_MS   30000 /* between requests on a kept-alive connection */
#define API_REQUEST_TIMEOUT_MS 5000 /* from a request's first byte to its last */
#define API_MAX_BODY	      (64 * 1024)

struct api_server;
/* One request being answered; valid from the handler call until replied. */
struct api_call;

/*
 * Runs on the API thread for every complete, well-formed request (parse
 * errors, 405 for methods outside GET/PUT/PATCH, and overload are answered
 * by the server itself). It must not block; it must eventually reply
 * exactly once, possibly after returning.
 */
typedef void (*api_handler_fn)(void *ctx, struct api_call *call);

/*
 * Binds path (refusing one that exists), starts the API thread. The thread
 * calls thread_init(ctx) first (e.g. to install its seccomp filter) and
 * stops if it fails.
 */
int api_server_start(struct api_server **out, const char *path, api_handler_fn fn, void *ctx,
		     int (*thread_init)(void *ctx), struct err *err);
/* Stops the thread, closes every connection, unlinks the socket. */
void api_server_stop(struct api_server *s);

const struct http_request *api_call_request(const struct api_call *call);

/*
 * Completes the call. Thread-safe; body is copied. A reply for a client
 * that has gone away is dropped quietly. status 204 takes no body.
 */
void api_call_reply(struct api_call *call, unsigned int status, const char *content_type,
		    const void *body, size_t len);
/* Firecracker's {"fault_message": ...} with the formatted message. */
void api_call_fault(struct api_call *call, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
