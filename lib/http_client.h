/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One HTTP client for the daemons, on libcurl: the node agent's calls to a
 * VMM's API over its Unix socket, and the controller's calls to
 * kube-apiserver over TCP and TLS. A request says its method, URL, headers
 * and body, its connect and total timeouts and how big an answer it will
 * take; the answer comes back as status, Content-Type and body, or, for
 * long responses such as Kubernetes watch streams (newline-delimited JSON),
 * line by line through a callback.
 *
 * Errors are a negative errno and a message in struct err: -ECONNREFUSED
 * (nothing listens, or the socket does not exist), -ETIMEDOUT (connect or
 * total timeout), -EFBIG (the answer, or one streamed line, is larger than
 * max_response), -EPROTO (TLS failure, or a malformed answer), -EINVAL (a
 * bad URL or request, more than HTTP_CLIENT_MAX_WANT wanted headers), -ENOMEM, -EIO (anything else curl reports), or the
 * line callback's own error. An HTTP error status is not an error here:
 * the caller reads resp->status.
 *
 * This is its own target (kvmlet_http_client) so that kvmlet_lib and the
 * VMM never link libcurl.
 *
 * Threading: a struct http_client belongs to one thread at a time (it keeps
 * libcurl's connection cache, so calls to the same server reuse a
 * connection). Call http_client_global_init() once, before any thread
 * makes a client.
 */
#ifndef KVMLET_HTTP_CLIENT_H
#define KVMLET_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

#define HTTP_CLIENT_CONNECT_TIMEOUT_MS 5000
#define HTTP_CLIENT_TIMEOUT_MS	       30000
#define HTTP_CLIENT_MAX_RESPONSE       (1024 * 1024)
#define HTTP_CLIENT_MAX_WANT	       8 /* response headers one request can ask for */

/*
 * Gets each non-empty line of a streamed answer (without its "\n"; a last
 * line without one is delivered at the end), NUL-terminated in a buffer
 * valid during the call. Return 0 to go on, a negative errno to stop: the request then fails
 * with it.
 */
typedef int (*http_client_line_fn)(void *ctx, const char *line, size_t len);

/*
 * Gets the body of an answer in pieces as they arrive (binary, e.g. a blob
 * streamed to disk), with the status of the answer they belong to: a caller
 * that follows redirects itself or reads errors apart sees which is which.
 * Return 0 to go on, a negative errno to stop; the request then fails with it.
 */
typedef int (*http_client_data_fn)(void *ctx, long status, const void *data, size_t len);

struct http_client_req {
	const char *method; /* "GET", "PUT", "PATCH", "POST", "DELETE"... */
	/* "http://localhost/path" with unix_socket; "https://host:port/path" for TCP. */
	const char *url;
	const char *unix_socket;    /* NULL: TCP */
	const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
	const void *body;	    /* NULL: no body */
	size_t body_len;
	unsigned int connect_timeout_ms; /* 0: HTTP_CLIENT_CONNECT_TIMEOUT_MS */
	unsigned int timeout_ms; /* whole request; 0: HTTP_CLIENT_TIMEOUT_MS, or none for streams */
	size_t max_response;	 /* body, or one streamed line; 0: HTTP_CLIENT_MAX_RESPONSE */
	/* TLS (https only): CA bundle to trust, and a client certificate and key; NULL: none. */
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	/* Response headers to return (e.g. "Retry-After"), NULL-terminated; may be NULL. */
	const char *const *want_headers;
	/* Set to stream: lines go to on_line and resp->body stays empty. */
	http_client_line_fn on_line;
	/* Or: the raw body goes to on_data, unbounded by max_response (the caller bounds it). */
	http_client_data_fn on_data;
	void *ctx;
};

struct http_client_resp {
	long status;
	char *content_type; /* NULL if the answer had none */
	/* The values of req->want_headers, in their order; NULL where absent (last one wins). */
	char *headers[HTTP_CLIENT_MAX_WANT];
	char *body; /* NUL-terminated (body_len bytes before it); NULL when empty */
	size_t body_len;
};

struct http_client;

/* curl_global_init(); once per process, before threads. -EIO if it fails. */
int http_client_global_init(struct err *err);
struct http_client *http_client_new(struct err *err);
void http_client_free(struct http_client *c);

/*
 * Performs req and fills resp (which the caller frees with
 * http_client_resp_free(), on failure too). 0 when an answer came,
 * whatever its status.
 */
int http_client_do(struct http_client *c, const struct http_client_req *req,
		   struct http_client_resp *resp, struct err *err);
void http_client_resp_free(struct http_client_resp *resp);

#endif
