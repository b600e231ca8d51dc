// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/1.1 request parser and response writer; the rules it enforces are
 * listed in lib/http.h. The head is read a line at a time into one buffer
 * sized from the limits; each line is checked whole once its CRLF arrives,
 * and the limits are checked on every byte, so no line can grow past them
 * while the parser waits for its end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/http.h"

enum {
	PHASE_REQUEST_LINE,
	PHASE_HEADERS,
	PHASE_BODY,
	PHASE_END, /* DONE or ERROR: nothing more is consumed */
};

const char http_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* RFC 9110 5.6.2 tchar: what methods and header names are made of. */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 pchar without '%' (checked apart), plus '/' and '?' of path and query. */
static bool is_target_char(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("-._~!$&'()*+,;=:@/?", c);
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static size_t limit_or(size_t v, size_t def)
{
	return v ? v : def;
}

int http_parser_init(struct http_parser *p, const struct http_limits *limits)
{
	struct http_limits l = limits ? *limits : (struct http_limits){ 0 };

	memset(p, 0, sizeof(*p));
	l.max_request_line = limit_or(l.max_request_line, HTTP_DEFAULT_MAX_REQUEST_LINE);
	l.max_header_bytes = limit_or(l.max_header_bytes, HTTP_DEFAULT_MAX_HEADER_BYTES);
	l.max_headers = limit_or(l.max_headers, HTTP_DEFAULT_MAX_HEADERS);
	l.max_body = limit_or(l.max_body, HTTP_DEFAULT_MAX_BODY);
	if (l.max_request_line > HTTP_LIMIT_CEILING || l.max_header_bytes > HTTP_LIMIT_CEILING ||
	    l.max_headers > HTTP_LIMIT_CEILING || l.max_body > HTTP_LIMIT_CEILING)
		return -EINVAL;
	p->lim = l;
	/*
	 * A header line of n bytes is stored as n + 1 (its NUL where the CRLF
	 * was), so the header section never needs more than its wire limit;
	 * the request line needs its limit plus a NUL.
	 */
	p->head_cap = l.max_request_line + 1 + l.max_header_bytes;
	p->head = malloc(p->head_cap);
	p->hdrs = calloc(l.max_headers, sizeof(*p->hdrs));
	p->body = malloc(l.max_body + 1);
	if (!p->head || !p->hdrs || !p->body) {
		http_parser_fini(p);
		return -ENOMEM;
	}
	http_parser_reset(p);
	return 0;
}

void http_parser_fini(struct http_parser *p)
{
	free(p->head);
	free(p->hdrs);
	free(p->body);
	memset(p, 0, sizeof(*p));
}

void http_parser_reset(struct http_parser *p)
{
	p->state = HTTP_PARSE_MORE;
	p->status = 0;
	memset(&p->req, 0, sizeof(p->req));
	p->req.headers = p->hdrs;
	p->req.body = p->body;
	p->body[0] = '\0';
	p->head_len = 0;
	p->line_start = 0;
	p->skipped = 0;
	p->header_bytes = 0;
	p->phase = PHASE_REQUEST_LINE;
	p->saw_cr = false;
	p->conn_close = false;
	p->conn_keep_alive = false;
	p->has_te = false;
	p->cl_too_large = false;
}

static int fail(struct http_parser *p, unsigned int status)
{
	p->state = HTTP_PARSE_ERROR;
	p->status = status;
	p->phase = PHASE_END;
	return -EINVAL;
}

static int parse_request_line(struct http_parser *p, char *s, size_t n)
{
	static const struct {
		const char *name;
		enum http_method m;
	} methods[] = {
		{ "GET", HTTP_METHOD_GET },
		{ "PUT", HTTP_METHOD_PUT },
		{ "PATCH", HTTP_METHOD_PATCH },
	};
	char *sp1 = memchr(s, ' ', n), *sp2, *target, *ver, *q = NULL;
	size_t i, tlen;

	if (!sp1 || sp1 == s)
		return fail(p, 400);
	for (char *c = s; c < sp1; c++) {
		if (!is_tchar(*c))
			return fail(p, 400);
	}
	target = sp1 + 1;
	sp2 = memchr(target, ' ', n - (size_t)(target - s));
	if (!sp2 || sp2 == target)
		return fail(p, 400);
	ver = sp2 + 1;
	/* The version first, so "PRI * HTTP/2.0" gets 505 rather than 400. */
	if ((size_t)(s + n - ver) != 8 || memcmp(ver, "HTTP/", 5) || ver[5] < '0' || ver[5] > '9' ||
	    ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
		return fail(p, 400);
	if (ver[5] == '1' && ver[7] == '1')
		p->req.version = 11;
	else if (ver[5] == '1' && ver[7] == '0')
		p->req.version = 10;
	else
		return fail(p, 505);

	tlen = (size_t)(sp2 - target);
	if (target[0] != '/')
		return fail(p, 400); /* only origin-form, see lib/http.h */
	for (i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)target[i];

		if (c == '%') {
			if (i + 2 >= tlen || !is_hex(target[i + 1]) || !is_hex(target[i + 2]))
				return fail(p, 400);
			i += 2;
		} else if (!is_target_char(c)) {
			return fail(p, 400);
		} else if (c == '?' && !q) {
			q = target + i;
		}
	}

	*sp1 = '\0';
	*sp2 = '\0';
	p->req.method = HTTP_METHOD_OTHER;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		/* Methods are case-sensitive (RFC 9110 9.1): "get" is some other method. */
		if (!strcmp(s, methods[i].name))
			p->req.method = methods[i].m;
	}
	p->req.method_name = s;
	p->req.path = target;
	if (q) {
		*q = '\0';
		p->req.query = q + 1;
	}
	return 0;
}

/* Digits only; anything else is not a length. Saturates so huge values stay "too large". */
static int parse_content_length(struct http_parser *p, const char *v)
{
	uint64_t n = 0;

	if (!*v)
		return fail(p, 400);
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return fail(p, 400);
		if (n > (UINT64_MAX - 9) / 10)
			n = UINT64_MAX;
		else
			n = n * 10 + (uint64_t)(*v - '0');
	}
	if (p->req.has_content_length) {
		/* RFC 9112 6.3: identical duplicates may be merged; differing ones are fatal. */
		if ((uint64_t)p->req.content_length != n &&
		    !(p->cl_too_large && n > p->lim.max_body))
			return fail(p, 400);
		return 0;
	}
	p->req.has_content_length = true;
	if (n > p->lim.max_body) {
		p->cl_too_large = true;
		p->req.content_length = p->lim.max_body + 1;
	} else {
		p->req.content_length = (size_t)n;
	}
	return 0;
}

static void parse_connection(struct http_parser *p, const char *v)
{
	while (*v) {
		size_t n;

		while (*v == ',' || is_ows(*v))
			v++;
		for (n = 0; v[n] && v[n] != ',' && !is_ows(v[n]); n++)
			;
		if (n == 5 && !strncasecmp(v, "close", 5))
			p->conn_close = true;
		else if (n == 10 && !strncasecmp(v, "keep-alive", 10))
			p->conn_keep_alive = true;
		v += n;
	}
}

static int parse_header_line(struct http_parser *p, char *s, size_t n)
{
	char *colon, *v, *end;
	struct http_header *h;

	if (is_ows(s[0]))
		return fail(p, 400); /* obs-fold (RFC 9112 5.2): rejecting is allowed and safest */
	colon = memchr(s, ':', n);
	if (!colon || colon == s)
		return fail(p, 400);
	for (char *c = s; c < colon; c++) {
		if (!is_tchar(*c))
			return fail(p, 400); /* also whitespace before the colon (RFC 9112 5.1) */
	}
	end = s + n;
	for (v = colon + 1; v < end && is_ows(*v); v++)
		;
	while (end > v && is_ows(end[-1]))
		end--;
	for (char *c = v; c < end; c++) {
		unsigned char u = (unsigned char)*c;

		if ((u < 0x20 && u != '\t') || u == 0x7f)
			return fail(p, 400);
	}
	if (p->req.nr_headers == p->lim.max_headers)
		return fail(p, 431);
	*colon = '\0';
	*end = '\0';
	h = &p->hdrs[p->req.nr_headers++];
	h->name = s;
	h->value = v;

	if (!strcasecmp(s, "Content-Length"))
		return parse_content_length(p, v);
	if (!strcasecmp(s, "Transfer-Encoding"))
		p->has_te = true;
	else if (!strcasecmp(s, "Connection"))
		parse_connection(p, v);
	else if (!strcasecmp(s, "Expect") && !strcasecmp(v, "100-continue"))
		/* RFC 9110 10.1.1: an HTTP/1.0 client cannot be waiting for a 100. */
		p->req.expect_continue = p->req.version == 11;
	return 0;
}

static int finish_head(struct http_parser *p)
{
	struct http_request *r = &p->req;

	/* Any transfer coding would need chunked framing, which Firecracker refuses too. */
	if (p->has_te)
		return fail(p, 501);
	if (p->cl_too_large)
		return fail(p, 413);
	if (!r->has_content_length &&
	    (r->method == HTTP_METHOD_PUT || r->method == HTTP_METHOD_PATCH))
		return fail(p, 411);
	r->keep_alive = p->conn_close ? false : r->version == 11 || p->conn_keep_alive;
	if (!r->content_length) {
		r->expect_continue = false; /* nothing to wait for */
		p->state = HTTP_PARSE_DONE;
		p->phase = PHASE_END;
	} else {
		p->phase = PHASE_BODY;
		if (r->expect_continue)
			p->state = HTTP_PARSE_EXPECT_CONTINUE;
	}
	return 0;
}

/* A whole line (without its CRLF) is at head[line_start..head_len). */
static int end_line(struct http_parser *p)
{
	char *s = p->head + p->line_start;
	size_t n = p->head_len - p->line_start;

	if (p->phase == PHASE_REQUEST_LINE) {
		if (!n) {
			/* RFC 9112 2.2: empty lines before a request are ignored, within reason. */
			if (++p->skipped > 4)
				return fail(p, 400);
			return 0;
		}
		p->head[p->head_len++] = '\0';
		p->line_start = p->head_len;
		p->phase = PHASE_HEADERS;
		return parse_request_line(p, s, n);
	}
	if (!n)
		return finish_head(p);
	p->head[p->head_len++] = '\0';
	p->line_start = p->head_len;
	return parse_header_line(p, s, n);
}

static size_t parse_head(struct http_parser *p, const uint8_t *b, size_t len)
{
	size_t i = 0;

	while (i < len && (p->phase == PHASE_REQUEST_LINE || p->phase == PHASE_HEADERS)) {
		uint8_t c = b[i++];

		if (p->phase == PHASE_HEADERS && ++p->header_bytes > p->lim.max_header_bytes) {
			fail(p, 431);
			break;
		}
		if (c == '\n') {
			if (!p->saw_cr) {
				fail(p, 400); /* bare LF: CRLF only, see lib/http.h */
				break;
			}
			p->saw_cr = false;
			if (end_line(p))
				break;
			continue;
		}
		if (p->saw_cr || c == '\0') {
			fail(p, 400); /* bare CR, or NUL, which nothing legitimate sends */
			break;
		}
		if (c == '\r') {
			p->saw_cr = true;
			continue;
		}
		if (p->phase == PHASE_REQUEST_LINE &&
		    p->head_len - p->line_start >= p->lim.max_request_line) {
			fail(p, 414);
			break;
		}
		/* Cannot trigger given the sizing in init; a check, not an assumption. */
		if (p->head_len + 1 >= p->head_cap) {
			fail(p, 431);
			break;
		}
		p->head[p->head_len++] = (char)c;
	}
	return i;
}

size_t http_parse(struct http_parser *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t used = 0;

	if (p->state == HTTP_PARSE_EXPECT_CONTINUE)
		p->state = HTTP_PARSE_MORE; /* the caller has answered; the body may follow */
	if (p->phase == PHASE_REQUEST_LINE || p->phase == PHASE_HEADERS)
		used = parse_head(p, b, len);
	if (p->phase == PHASE_BODY && p->state == HTTP_PARSE_MORE) {
		size_t want = p->req.content_length - p->req.body_len;
		size_t n = len - used < want ? len - used : want;

		if (n)
			memcpy(p->body + p->req.body_len, b + used, n);
		p->req.body_len += n;
		used += n;
		if (p->req.body_len == p->req.content_length) {
			p->body[p->req.body_len] = '\0';
			p->state = HTTP_PARSE_DONE;
			p->phase = PHASE_END;
		}
	}
	return used;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
	for (unsigned int i = 0; i < r->nr_headers; i++) {
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	}
	return NULL;
}

const char *http_reason(unsigned int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large"; /* RFC 9110's name; formerly Payload Too Large */
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	}
	return NULL;
}

/* Appends s to buf; false when it does not fit (with room left for a NUL). */
static bool head_put(char *buf, size_t cap, size_t *at, const char *s)
{
	size_t n = strlen(s);

	if (n >= cap - *at)
		return false;
	memcpy(buf + *at, s, n);
	*at += n;
	return true;
}

/* No CR, LF or other control: any would let a caller's string add headers of its own. */
static bool is_header_value(const char *v)
{
	for (; *v; v++) {
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return false;
	}
	return true;
}

static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!is_tchar((unsigned char)*s))
			return false;
	}
	return true;
}

/* The status line and headers; body_len is what Content-Length will say. */
static ssize_t format_head(char *buf, size_t cap, unsigned int status, const char *content_type,
			   const struct http_header *extra, unsigned int nr_extra, size_t body_len,
			   bool keep_alive)
{
	const char *reason = http_reason(status);
	char line[64];
	size_t at = 0;
	bool ok;

	/* 1xx go out as http_continue; they have no Content-Length or body. */
	if (!reason || status < 200 || (status == 204 && body_len))
		return -EINVAL;
	if (content_type && !is_header_value(content_type))
		return -EINVAL;
	for (unsigned int i = 0; i < nr_extra; i++) {
		if (!is_token(extra[i].name) || !is_header_value(extra[i].value))
			return -EINVAL;
	}
	if (!cap)
		return -ENOSPC;
	snprintf(line, sizeof(line), "HTTP/1.1 %u ", status);
	ok = head_put(buf, cap, &at, line) && head_put(buf, cap, &at, reason) &&
	     head_put(buf, cap, &at, "\r\nServer: kvmlet\r\n");
	/* RFC 9110 8.6: a 204 must not carry Content-Length. */
	if (ok && status != 204) {
		snprintf(line, sizeof(line), "Content-Length: %zu\r\n", body_len);
		ok = head_put(buf, cap, &at, line);
	}
	if (ok && content_type)
		ok = head_put(buf, cap, &at, "Content-Type: ") &&
		     head_put(buf, cap, &at, content_type) && head_put(buf, cap, &at, "\r\n");
	for (unsigned int i = 0; ok && i < nr_extra; i++)
		ok = head_put(buf, cap, &at, extra[i].name) && head_put(buf, cap, &at, ": ") &&
		     head_put(buf, cap, &at, extra[i].value) && head_put(buf, cap, &at, "\r\n");
	if (ok)
		ok = head_put(buf, cap, &at,
			      keep_alive ? "Connection: keep-alive\r\n\r\n"
					 : "Connection: close\r\n\r\n");
	if (!ok || body_len > cap - at)
		return -ENOSPC;
	return (ssize_t)at;
}

ssize_t http_response_format_hdrs(char *buf, size_t cap, unsigned int status,
				  const char *content_type, const struct http_header *extra,
				  unsigned int nr_extra, const void *body, size_t body_len,
				  bool keep_alive)
{
	ssize_t n;

	if ((body_len && !body) || (nr_extra && !extra))
		return -EINVAL;
	n = format_head(buf, cap, status, content_type, extra, nr_extra, body_len, keep_alive);
	if (n < 0)
		return n;
	/* memcpy, not a string function: bodies may hold NULs. */
	if (body_len)
		memcpy(buf + n, body, body_len);
	return n + (ssize_t)body_len;
}

ssize_t http_response_format(char *buf, size_t cap, unsigned int status, const char *content_type,
			     const void *body, size_t body_len, bool keep_alive)
{
	return http_response_format_hdrs(buf, cap, status, content_type, NULL, 0, body, body_len,
					 keep_alive);
}
