/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 for the control API and the daemons (lib/http_server.c): an
 * incremental request parser that trusts nothing it is fed, and a response
 * writer. Error bodies are the server user's (struct http_fault_fmt).
 *
 * The parser is fed a connection's bytes in whatever pieces read() returns.
 * It copies the request head and body into buffers sized once, at init, from
 * the limits, so a client can make it hold at most those limits and nothing
 * proportional to what it sends. It is deliberately strict, because the only
 * clients are API tools on a Unix socket and ambiguity is what request
 * smuggling and parser-differential bugs are made of:
 *
 *  - lines end in CRLF only; a bare LF or bare CR is 400; NUL anywhere in
 *    the head is 400; up to four empty lines before a request line are
 *    skipped (RFC 9112 2.2: clients may send a stray CRLF after a body);
 *  - the request line is exactly "METHOD SP target SP HTTP/d.d"; HTTP/1.0 and
 *    HTTP/1.1 are served, any other well-formed version is 505;
 *  - the target must be origin-form ("/path?query"): absolute-form, authority
 *    and asterisk forms are 400; it is checked against RFC 3986's characters
 *    (a '%' must start two hex digits) but kept raw, never percent-decoded,
 *    so "/drives/a%2Fb" cannot turn into a different path after routing
 *    (a caller that does decode must refuse what decodes to NUL or '/');
 *  - header names are tokens, compared case-insensitively; whitespace before
 *    the colon and obs-fold continuation lines are 400; values may carry
 *    obs-text (bytes >= 0x80) as RFC 9110 allows, but never NUL or controls;
 *  - Content-Length is digits only (no sign, no list), identical duplicates
 *    are merged, disagreeing ones are 400; any Transfer-Encoding is 501;
 *  - Host is not required: there is no virtual hosting on a Unix socket, and
 *    requiring it would only turn away minimal clients.
 *
 * An unknown but well-formed method parses completely as HTTP_METHOD_OTHER,
 * so the caller can answer 405 (with an Allow header, which
 * http_response_format_hdrs() can add) and keep the connection. After a parse error the rest of
 * the stream cannot be framed (the body may be unread), so the caller sends
 * p->status with "Connection: close" and closes. The parser keeps no clock:
 * the server must time out slow clients itself.
 */
#ifndef KVMLET_HTTP_H
#define KVMLET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Defaults for zero fields of struct http_limits. */
#define HTTP_DEFAULT_MAX_REQUEST_LINE (8 * 1024)
#define HTTP_DEFAULT_MAX_HEADER_BYTES (16 * 1024)
#define HTTP_DEFAULT_MAX_HEADERS      64
#define HTTP_DEFAULT_MAX_BODY	      (64 * 1024)
/* Any limit above this is refused by http_parser_init(): a typo, not a policy. */
#define HTTP_LIMIT_CEILING	      (16 * 1024 * 1024)

struct http_limits {
	size_t max_request_line;  /* bytes before the CRLF; longer: 414 */
	size_t max_header_bytes;  /* header lines and the blank line, CRLFs included; more: 431 */
	unsigned int max_headers; /* header lines; more: 431 */
	size_t max_body;	  /* Content-Length; larger: 413 */
};

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_PUT,
	HTTP_METHOD_PATCH,
	HTTP_METHOD_OTHER, /* a well-formed method the API does not serve: answer 405 */
};

struct http_header {
	const char *name;  /* as sent; NUL-terminated */
	const char *value; /* surrounding whitespace removed; NUL-terminated, no NUL inside */
};

/* Valid from HTTP_PARSE_DONE (head fields: HTTP_PARSE_EXPECT_CONTINUE) until reset. */
struct http_request {
	enum http_method method;
	const char *method_name; /* as sent, for logs and 405 messages */
	const char *path;	 /* starts with '/', raw (not percent-decoded) */
	const char *query;	 /* after the '?', raw; NULL if the target had no '?' */
	unsigned int version;	 /* 10 or 11 */
	const struct http_header *headers;
	unsigned int nr_headers;
	bool has_content_length;
	size_t content_length;
	const uint8_t *body; /* body_len bytes, then a NUL for text parsers; never NULL */
	size_t body_len;
	bool keep_alive;      /* Connection: close/keep-alive over the version's default */
	bool expect_continue; /* "Expect: 100-continue" on HTTP/1.1 */
};

enum http_parse_state {
	HTTP_PARSE_MORE,	    /* everything given was consumed; feed more */
	HTTP_PARSE_EXPECT_CONTINUE, /* head done, body not started, client waits for 100 */
	HTTP_PARSE_DONE,	    /* p->req complete; unconsumed bytes belong to the next one */
	HTTP_PARSE_ERROR,	    /* answer p->status and close */
};

struct http_parser {
	/* Read these. */
	enum http_parse_state state;
	unsigned int status; /* with HTTP_PARSE_ERROR: 400, 411, 413, 414, 431, 501 or 505 */
	struct http_request req;

	/* Private. */
	struct http_limits lim;
	char *head; /* request line and header lines, NUL-terminated in place */
	size_t head_cap, head_len;
	size_t line_start;	  /* offset in head of the line being read */
	size_t skipped;		  /* empty lines before the request line */
	size_t header_bytes;	  /* wire bytes of the header section so far */
	struct http_header *hdrs; /* lim.max_headers entries */
	uint8_t *body;		  /* lim.max_body + 1 bytes */
	unsigned int phase;
	bool saw_cr;
	bool conn_close, conn_keep_alive, has_te, cl_too_large;
};

/* limits may be NULL; zero fields take the defaults. -EINVAL or -ENOMEM. */
int http_parser_init(struct http_parser *p, const struct http_limits *limits);
void http_parser_fini(struct http_parser *p);
/* Ready for the next request on the same connection; p->req becomes invalid. */
void http_parser_reset(struct http_parser *p);

/*
 * Consumes bytes from buf and returns how many (<= len); p->state says why it
 * stopped. It stops right after a complete request, so pipelined bytes stay
 * with the caller to feed after http_parser_reset(), and right after a head
 * with "Expect: 100-continue" and a body, so the server can send
 * http_continue (or refuse) first; call again to go on with the body. In
 * HTTP_PARSE_DONE or HTTP_PARSE_ERROR it consumes nothing.
 */
size_t http_parse(struct http_parser *p, const void *buf, size_t len);

/* First header with this name (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *r, const char *name);

/* The interim response to "Expect: 100-continue". */
extern const char http_continue[];

/* "OK" for 200, ... ; NULL for a status this server never sends. */
const char *http_reason(unsigned int status);

/*
 * Writes a complete HTTP/1.1 response: status line, "Server: kvmlet",
 * Content-Length (none for 204, which cannot have a body), Content-Type if
 * content_type is not NULL, "Connection: keep-alive" or "close", then the
 * body bytes as they are (binary-safe). Returns its length, or -EINVAL (an
 * unknown status, a body on 204, a content type with controls), -ENOSPC
 * (cap too small; buf then holds nothing useful).
 */
ssize_t http_response_format(char *buf, size_t cap, unsigned int status, const char *content_type,
			     const void *body, size_t body_len, bool keep_alive);

/*
 * The same with nr_extra more headers (e.g. 405's Allow) before Connection.
 * Their names must be tokens and their values free of controls: -EINVAL
 * otherwise, so no caller's string can add headers or split the response.
 */
ssize_t http_response_format_hdrs(char *buf, size_t cap, unsigned int status,
				  const char *content_type, const struct http_header *extra,
				  unsigned int nr_extra, const void *body, size_t body_len,
				  bool keep_alive);

#endif
