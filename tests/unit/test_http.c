// SPDX-License-Identifier: Apache-2.0
/*
 * HTTP/1.1 parser and response writer: every status the parser can give, the
 * limits exactly at and one past, every split of a request across reads, and
 * the strictness decisions documented in lib/http.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/http.h"

#define GET_LINE "GET /machine-config HTTP/1.1\r\n"

/* Parses the whole of s in one piece and checks the outcome; returns the bytes consumed. */
static size_t parse_len(struct http_parser *p, const char *s, size_t len)
{
	size_t n = http_parse(p, s, len);

	assert_true(n <= len);
	return n;
}

static size_t parse_str(struct http_parser *p, const char *s)
{
	return parse_len(p, s, strlen(s));
}

static void want_error_len(const char *s, size_t len, unsigned int status,
			   const struct http_limits *lim)
{
	struct http_parser p;
	size_t n, one;

	assert_int_equal(http_parser_init(&p, lim), 0);
	n = parse_len(&p, s, len);
	if (p.state != HTTP_PARSE_ERROR || p.status != status)
		fail_msg("\"%.*s\": state %d status %u, expected error %u",
			 (int)(len > 200 ? 200 : len), s, p.state, p.status, status);
	/* An errored parser takes nothing more. */
	assert_int_equal(http_parse(&p, "GET / HTTP/1.1\r\n\r\n", 18), 0);
	assert_int_equal(p.state, HTTP_PARSE_ERROR);

	/* The same verdict one byte at a time, on the same byte. */
	http_parser_reset(&p);
	for (one = 0; one < len && p.state == HTTP_PARSE_MORE; one++)
		assert_int_equal(http_parse(&p, s + one, 1), 1);
	assert_int_equal(p.state, HTTP_PARSE_ERROR);
	assert_int_equal(p.status, status);
	assert_int_equal(one, n);
	http_parser_fini(&p);
}

static void want_error(const char *s, unsigned int status)
{
	want_error_len(s, strlen(s), status, NULL);
}

/* Parses s completely (it must be exactly one request) into p. */
static void want_done(struct http_parser *p, const char *s)
{
	size_t len = strlen(s);

	assert_int_equal(http_parser_init(p, NULL), 0);
	size_t n = parse_len(p, s, len);

	if (p->state != HTTP_PARSE_DONE || n != len)
		fail_msg("\"%s\": state %d status %u consumed %zu of %zu", s, p->state, p->status,
			 n, len);
}

static void simple_get(void **state)
{
	struct http_parser p;

	want_done(&p, GET_LINE "Host: localhost\r\nAccept: application/json\r\n\r\n");
	assert_int_equal(p.req.method, HTTP_METHOD_GET);
	assert_string_equal(p.req.method_name, "GET");
	assert_string_equal(p.req.path, "/machine-config");
	assert_null(p.req.query);
	assert_int_equal(p.req.version, 11);
	assert_true(p.req.keep_alive);
	assert_false(p.req.expect_continue);
	assert_false(p.req.has_content_length);
	assert_int_equal(p.req.body_len, 0);
	assert_non_null(p.req.body);
	assert_int_equal(p.req.nr_headers, 2);
	assert_string_equal(p.req.headers[0].name, "Host");
	assert_string_equal(p.req.headers[0].value, "localhost");
	assert_string_equal(http_request_header(&p.req, "accept"), "application/json");
	assert_string_equal(http_request_header(&p.req, "HOST"), "localhost");
	assert_null(http_request_header(&p.req, "Content-Type"));
	/* Done: nothing more is taken until reset. */
	assert_int_equal(http_parse(&p, GET_LINE, strlen(GET_LINE)), 0);
	http_parser_fini(&p);
}

static void put_and_patch(void **state)
{
	struct http_parser p;

	assert_int_equal(http_parser_init(&p, NULL), 0);
	const char *s = "PUT /drives/rootfs HTTP/1.1\r\nContent-Length: 4\r\n\r\nab\0d";
	size_t len = strlen(s) + 2;

	assert_int_equal(parse_len(&p, s, len), len);
	assert_int_equal(p.state, HTTP_PARSE_DONE);
	assert_int_equal(p.req.method, HTTP_METHOD_PUT);
	assert_int_equal(p.req.body_len, 4);
	assert_memory_equal(p.req.body, "ab\0d", 4); /* bodies are bytes, NULs included */
	assert_int_equal(p.req.body[4], 0);
	http_parser_fini(&p);

	want_done(&p, "PATCH /vm HTTP/1.1\r\ncontent-length: 19\r\n\r\n{\"state\": \"Paused\"}");
	assert_int_equal(p.req.method, HTTP_METHOD_PATCH);
	assert_string_equal((const char *)p.req.body, "{\"state\": \"Paused\"}");
	http_parser_fini(&p);

	/* GET with a body: framing must still honour its length. */
	want_done(&p, "GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
	assert_int_equal(p.req.body_len, 2);
	http_parser_fini(&p);
}

static void put_body_off_by_one(void **state)
{
	struct http_parser p;
	const char *s =
		"PUT /drives/rootfs HTTP/1.1\r\nContent-Length: 17\r\n\r\n{\"is_read_only\":1}";

	assert_int_equal(http_parser_init(&p, NULL), 0);
	assert_int_equal(parse_str(&p, s), strlen(s) - 1);
	assert_int_equal(p.state, HTTP_PARSE_DONE);
	http_parser_fini(&p);
}

static void other_methods(void **state)
{
	static const char *const reqs[] = {
		"DELETE /x HTTP/1.1\r\n\r\n", "POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"get /x HTTP/1.1\r\n\r\n",    "GETS /x HTTP/1.1\r\n\r\n",
		"HEAD /x HTTP/1.1\r\n\r\n",   "OPTIONS /x HTTP/1.1\r\n\r\n",
	};
	struct http_parser p;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		want_done(&p, reqs[i]);
		assert_int_equal(p.req.method, HTTP_METHOD_OTHER);
		http_parser_fini(&p);
	}
	want_done(&p, "DELETE /x HTTP/1.1\r\n\r\n");
	assert_string_equal(p.req.method_name, "DELETE");
	http_parser_fini(&p);
	want_error("GE(T /x HTTP/1.1\r\n\r\n", 400); /* not a token */
	want_error(" GET /x HTTP/1.1\r\n\r\n", 400);
	want_error("G\xc3\x89T /x HTTP/1.1\r\n\r\n", 400);
}

static void targets(void **state)
{
	struct http_parser p;

	want_done(&p, "GET /a/b?x=1&y=%20z?w HTTP/1.1\r\n\r\n");
	assert_string_equal(p.req.path, "/a/b");
	assert_string_equal(p.req.query, "x=1&y=%20z?w");
	http_parser_fini(&p);
	want_done(&p, "GET /? HTTP/1.1\r\n\r\n");
	assert_string_equal(p.req.path, "/");
	assert_string_equal(p.req.query, "");
	http_parser_fini(&p);
	/* Kept raw: routing sees exactly what was sent. */
	want_done(&p, "GET /drives/a%2Fb HTTP/1.1\r\n\r\n");
	assert_string_equal(p.req.path, "/drives/a%2Fb");
	http_parser_fini(&p);
	want_done(&p, "GET /-._~!$&'()*+,;=:@ HTTP/1.1\r\n\r\n");
	http_parser_fini(&p);

	want_error("GET http://localhost/vm HTTP/1.1\r\n\r\n", 400); /* absolute-form */
	want_error("GET localhost:80 HTTP/1.1\r\n\r\n", 400);	     /* authority-form */
	want_error("OPTIONS * HTTP/1.1\r\n\r\n", 400);		     /* asterisk-form */
	want_error("GET /a#frag HTTP/1.1\r\n\r\n", 400);
	want_error("GET /a%2 HTTP/1.1\r\n\r\n", 400);
	want_error("GET /a%zz HTTP/1.1\r\n\r\n", 400);
	want_error("GET /a% HTTP/1.1\r\n\r\n", 400);
	want_error("GET /a\"b HTTP/1.1\r\n\r\n", 400);
	want_error("GET /a\\b HTTP/1.1\r\n\r\n", 400);
	want_error("GET /a{b} HTTP/1.1\r\n\r\n", 400);
	want_error("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400); /* non-ASCII must be percent-encoded */
	want_error("GET /a\tb HTTP/1.1\r\n\r\n", 400);
	want_error("GET /a\x7f HTTP/1.1\r\n\r\n", 400);
}

static void request_line_shape(void **state)
{
	want_error("GET  /x HTTP/1.1\r\n\r\n", 400);
	want_error("GET /x  HTTP/1.1\r\n\r\n", 400);
	want_error("GET /x HTTP/1.1 \r\n\r\n", 400);
	want_error("GET /x\r\n\r\n", 400); /* HTTP/0.9 */
	want_error("GET\r\n\r\n", 400);
	want_error("GET /x http/1.1\r\n\r\n", 400);
	want_error("GET /x HTTP/1.1x\r\n\r\n", 400);
	want_error("GET /x HTTP/11\r\n\r\n", 400);
	want_error("GET /x HTTP/1.\r\n\r\n", 400);
	want_error("GET /x HTTP/a.b\r\n\r\n", 400);
	want_error("GET\t/x HTTP/1.1\r\n\r\n", 400);
}

static void versions(void **state)
{
	struct http_parser p;

	want_done(&p, "GET / HTTP/1.0\r\n\r\n");
	assert_int_equal(p.req.version, 10);
	http_parser_fini(&p);
	want_error("GET / HTTP/1.2\r\n\r\n", 505);
	want_error("GET / HTTP/2.0\r\n\r\n", 505);
	want_error("GET / HTTP/0.9\r\n\r\n", 505);
	want_error("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505); /* the HTTP/2 preface */
}

static void keep_alive(void **state)
{
	static const struct {
		const char *req;
		bool keep;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nConnection: ,,\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive \r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive,close\r\n\r\n", false },
	};
	struct http_parser p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		want_done(&p, cases[i].req);
		if (p.req.keep_alive != cases[i].keep)
			fail_msg("%s: keep_alive %d", cases[i].req, p.req.keep_alive);
		http_parser_fini(&p);
	}
}

static void content_length(void **state)
{
	struct http_parser p;

	want_done(&p, "PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	assert_true(p.req.has_content_length);
	assert_int_equal(p.req.content_length, 0);
	assert_int_equal(p.req.body_len, 0);
	http_parser_fini(&p);
	/* Whitespace around the value is OWS, not part of it. */
	want_done(&p, "PUT /x HTTP/1.1\r\nContent-Length:   3 \t\r\n\r\nabc");
	assert_int_equal(p.req.body_len, 3);
	http_parser_fini(&p);
	want_done(&p, "PUT /x HTTP/1.1\r\nContent-Length: 003\r\n\r\nabc");
	assert_int_equal(p.req.body_len, 3);
	http_parser_fini(&p);
	want_done(&p, "PUT /x HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc");
	assert_int_equal(p.req.body_len, 3);
	http_parser_fini(&p);

	want_error("PUT /x HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 3 3\r\n\r\nabc", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 3.0\r\n\r\nabc", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: \r\n\r\n", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: \xd9\xa3\r\n\r\n", 400); /* Arabic-Indic 3 */
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 03x\r\n\r\nabc", 400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n", 413);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", 413);
	/* A huge value must not wrap into agreement with a small duplicate. */
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 18446744073709551619\r\n"
		   "Content-Length: 3\r\n\r\nabc",
		   400);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 3\r\n"
		   "Content-Length: 18446744073709551619\r\n\r\nabc",
		   400);
}

static void length_required(void **state)
{
	struct http_parser p;

	want_error("PUT /x HTTP/1.1\r\n\r\n", 411);
	want_error("PATCH /x HTTP/1.1\r\n\r\n", 411);
	want_error("PUT /x HTTP/1.0\r\n\r\n", 411);
	/* GET and other methods without a length have no body. */
	want_done(&p, "GET /x HTTP/1.1\r\n\r\n");
	http_parser_fini(&p);
	want_done(&p, "DELETE /x HTTP/1.1\r\n\r\n");
	http_parser_fini(&p);
}

static void transfer_encoding(void **state)
{
	want_error("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		   501);
	want_error("PUT /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		   501);
	want_error("GET /x HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n", 501);
	want_error("GET /x HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
}

static void line_endings(void **state)
{
	want_error("GET / HTTP/1.1\n\n", 400);
	want_error("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\n\n", 400);
	want_error("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\n\r\r\n", 400);
}

static void leading_empty_lines(void **state)
{
	struct http_parser p;

	want_done(&p, "\r\n\r\nGET / HTTP/1.1\r\n\r\n");
	assert_string_equal(p.req.path, "/");
	http_parser_fini(&p);
	want_done(&p, "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n");
	http_parser_fini(&p);
	want_error("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400);
	want_error("\n", 400);
}

static void nul_bytes(void **state)
{
	static const char a[] = "GET /\0 HTTP/1.1\r\n\r\n";
	static const char b[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
	static const char c[] = "GET / HTTP/1.1\r\nX\0A: ab\r\n\r\n";
	static const char d[] = "\0GET / HTTP/1.1\r\n\r\n";
	static const char e[] = "GET / HTTP/1.1\r\nX-A: ab\r\n\0\r\n";

	want_error_len(a, sizeof(a) - 1, 400, NULL);
	want_error_len(b, sizeof(b) - 1, 400, NULL);
	want_error_len(c, sizeof(c) - 1, 400, NULL);
	want_error_len(d, sizeof(d) - 1, 400, NULL);
	want_error_len(e, sizeof(e) - 1, 400, NULL);
}

static void header_syntax(void **state)
{
	struct http_parser p;

	want_done(&p, "GET / HTTP/1.1\r\nX-Empty:\r\nX-Ws: \t a b \t \r\nX-T:\tv\r\n\r\n");
	assert_string_equal(http_request_header(&p.req, "x-empty"), "");
	assert_string_equal(http_request_header(&p.req, "x-ws"), "a b");
	assert_string_equal(http_request_header(&p.req, "x-t"), "v");
	http_parser_fini(&p);
	/* obs-text in values is allowed (RFC 9110 5.5) and kept as bytes. */
	want_done(&p, "GET / HTTP/1.1\r\nX-Name: J\xc3\xbcrgen \xff\r\n\r\n");
	assert_string_equal(http_request_header(&p.req, "X-Name"), "J\xc3\xbcrgen \xff");
	http_parser_fini(&p);

	want_error("GET / HTTP/1.1\r\nX-N\xc3\xa4me: a\r\n\r\n", 400); /* non-ASCII name */
	want_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);	       /* space before colon */
	want_error("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\n: a\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\nX(A): a\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\nX-A: a\x01\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\nX-A: a\x1b[2J\r\n\r\n", 400);
	/* obs-fold, after a header and as the first line */
	want_error("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400);
	want_error("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
}

static void expect_continue(void **state)
{
	static const char head[] =
		"PUT /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
	char all[sizeof(head) + 8];
	struct http_parser p;
	size_t n;

	snprintf(all, sizeof(all), "%sabcGET", head);
	assert_int_equal(http_parser_init(&p, NULL), 0);
	/* It stops at the end of the head, even with the body already there. */
	n = parse_str(&p, all);
	assert_int_equal(n, sizeof(head) - 1);
	assert_int_equal(p.state, HTTP_PARSE_EXPECT_CONTINUE);
	assert_true(p.req.expect_continue);
	assert_int_equal(p.req.method, HTTP_METHOD_PUT);
	assert_int_equal(p.req.content_length, 3);
	assert_int_equal(strcmp(http_continue, "HTTP/1.1 100 Continue\r\n\r\n"), 0);
	n += parse_str(&p, all + n);
	assert_int_equal(n, sizeof(head) - 1 + 3);
	assert_int_equal(p.state, HTTP_PARSE_DONE);
	assert_memory_equal(p.req.body, "abc", 3);
	http_parser_fini(&p);

	/* Nothing to wait for without a body; HTTP/1.0 clients never wait. */
	want_done(&p, "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
	assert_false(p.req.expect_continue);
	http_parser_fini(&p);
	want_done(&p, "PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz");
	assert_false(p.req.expect_continue);
	http_parser_fini(&p);
	want_done(&p, "PUT /x HTTP/1.1\r\nExpect: something-else\r\nContent-Length: 1\r\n\r\nz");
	assert_false(p.req.expect_continue);
	http_parser_fini(&p);
	/* The limits still come first: a client is not invited to send 413 bytes. */
	want_error("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 65537\r\n\r\n", 413);
}

/* One request with everything, fed at every split point and one byte at a time. */
static const char full_req[] = "\r\nPATCH /machine-config?x=%41 HTTP/1.1\r\nHost: localhost\r\n"
			       "Content-Type: application/json\r\nConnection: keep-alive\r\n"
			       "Content-Length: 22\r\n\r\n{\"vcpu_count\": 2, \"\":1}";

static void check_full(const struct http_parser *p)
{
	assert_int_equal(p->state, HTTP_PARSE_DONE);
	assert_int_equal(p->req.method, HTTP_METHOD_PATCH);
	assert_string_equal(p->req.path, "/machine-config");
	assert_string_equal(p->req.query, "x=%41");
	assert_int_equal(p->req.nr_headers, 4);
	assert_string_equal(http_request_header(&p->req, "content-type"), "application/json");
	assert_int_equal(p->req.body_len, 22);
	assert_memory_equal(p->req.body, "{\"vcpu_count\": 2, \"\":1", 22);
}

static void every_split(void **state)
{
	const size_t len = sizeof(full_req) - 2; /* the last '}' is not in the body */
	struct http_parser p;

	assert_int_equal(http_parser_init(&p, NULL), 0);
	for (size_t cut = 0; cut <= len; cut++) {
		/* Each piece in its own allocation, so ASan sees any read past it. */
		char *a = malloc(cut + 1), *b = malloc(len - cut + 1);
		size_t n;

		memcpy(a, full_req, cut);
		memcpy(b, full_req + cut, len - cut);
		http_parser_reset(&p);
		n = http_parse(&p, a, cut);
		assert_int_equal(n, cut);
		assert_int_equal(p.state, cut == len ? HTTP_PARSE_DONE : HTTP_PARSE_MORE);
		n = http_parse(&p, b, len - cut);
		assert_int_equal(n, len - cut);
		check_full(&p);
		free(a);
		free(b);
	}

	http_parser_reset(&p);
	for (size_t i = 0; i < len; i++) {
		char *c = malloc(1);

		*c = full_req[i];
		assert_int_equal(p.state, HTTP_PARSE_MORE);
		assert_int_equal(http_parse(&p, c, 1), 1);
		free(c);
	}
	check_full(&p);
	/* Empty feeds change nothing. */
	assert_int_equal(http_parse(&p, NULL, 0), 0);
	check_full(&p);
	http_parser_reset(&p);
	assert_int_equal(http_parse(&p, NULL, 0), 0);
	assert_int_equal(p.state, HTTP_PARSE_MORE);
	http_parser_fini(&p);
}

static void pipelining(void **state)
{
	static const char s[] = "GET /a HTTP/1.1\r\n\r\n"
				"PUT /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
				"GET /c?d HTTP/1.1\r\nConnection: close\r\n\r\n"
				"PATCH /e HTTP/1.1\r\nContent-Le";
	struct http_parser p;
	size_t off = 0, len = sizeof(s) - 1;

	assert_int_equal(http_parser_init(&p, NULL), 0);
	off += http_parse(&p, s + off, len - off);
	assert_int_equal(p.state, HTTP_PARSE_DONE);
	assert_string_equal(p.req.path, "/a");
	assert_int_equal(off, 19);

	http_parser_reset(&p);
	off += http_parse(&p, s + off, len - off);
	assert_int_equal(p.state, HTTP_PARSE_DONE);
	assert_string_equal(p.req.path, "/b");
	assert_memory_equal(p.req.body, "hello", 5);
	assert_int_equal(p.req.body[5], 0);

	http_parser_reset(&p);
	off += http_parse(&p, s + off, len - off);
	assert_int_equal(p.state, HTTP_PARSE_DONE);
	assert_string_equal(p.req.path, "/c");
	assert_string_equal(p.req.query, "d");
	assert_false(p.req.keep_alive);
	assert_null(http_request_header(&p.req, "Content-Length"));

	http_parser_reset(&p);
	off += http_parse(&p, s + off, len - off);
	assert_int_equal(off, len);
	assert_int_equal(p.state, HTTP_PARSE_MORE);
	off = http_parse(&p, "ngth: 1\r\n\r\nxGET", 15);
	assert_int_equal(off, 12);
	assert_int_equal(p.state, HTTP_PARSE_DONE);
	assert_int_equal(p.req.body[0], 'x');
	http_parser_fini(&p);
}

/* A request line of exactly n bytes before its CRLF. */
static char *request_line(size_t n)
{
	char *s = malloc(n + 8);

	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', n - 5 - 9);
	memcpy(s + n - 9, " HTTP/1.1\r\n\r\n", 14);
	return s;
}

static void limit_request_line(void **state)
{
	struct http_limits small = { .max_request_line = 40 };
	struct http_parser p;
	char *s;

	for (int i = 0; i < 2; i++) {
		size_t max = i ? 40 : HTTP_DEFAULT_MAX_REQUEST_LINE;

		s = request_line(max);
		assert_int_equal(http_parser_init(&p, i ? &small : NULL), 0);
		parse_str(&p, s);
		assert_int_equal(p.state, HTTP_PARSE_DONE);
		assert_int_equal(strlen(p.req.path), max - 13);
		http_parser_fini(&p);
		free(s);

		s = request_line(max + 1);
		want_error_len(s, strlen(s), 414, i ? &small : NULL);
		/* Refused on the byte past the limit, not when a CRLF finally comes. */
		want_error_len(s, max + 1, 414, i ? &small : NULL);
		free(s);
	}
}

/* A head whose header section (lines, CRLFs, blank line) is exactly n bytes. */
static char *header_section(size_t n)
{
	char *s = malloc(n + 32);
	size_t l = strlen(GET_LINE);

	memcpy(s, GET_LINE "X: ", l + 3);
	memset(s + l + 3, 'v', n - 3 - 4);
	memcpy(s + l + n - 4, "\r\n\r\n", 5);
	return s;
}

static void limit_header_bytes(void **state)
{
	struct http_limits small = { .max_header_bytes = 20 };
	struct http_parser p;
	char *s;

	for (int i = 0; i < 2; i++) {
		size_t max = i ? 20 : HTTP_DEFAULT_MAX_HEADER_BYTES;

		s = header_section(max);
		assert_int_equal(http_parser_init(&p, i ? &small : NULL), 0);
		parse_str(&p, s);
		assert_int_equal(p.state, HTTP_PARSE_DONE);
		assert_int_equal(strlen(http_request_header(&p.req, "x")), max - 7);
		http_parser_fini(&p);
		free(s);

		s = header_section(max + 1);
		want_error_len(s, strlen(s), 431, i ? &small : NULL);
		free(s);
	}
	/* Counted across lines, CRLFs and the blank line included. */
	assert_int_equal(http_parser_init(&p, &small), 0);
	parse_str(&p, GET_LINE "A: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	assert_int_equal(p.state, HTTP_PARSE_DONE);
	http_parser_fini(&p);
	want_error_len(GET_LINE "A: 1\r\nB: 2\r\nCC: 3\r\n\r\n", strlen(GET_LINE) + 21, 431,
		       &small);
}

static void limit_header_count(void **state)
{
	struct http_limits small = { .max_headers = 3 };
	char s[64 * 16 + 128];
	struct http_parser p;

	for (int i = 0; i < 2; i++) {
		unsigned int max = i ? 3 : HTTP_DEFAULT_MAX_HEADERS;
		int at = snprintf(s, sizeof(s), GET_LINE);

		for (unsigned int h = 0; h < max; h++)
			at += snprintf(s + at, sizeof(s) - (size_t)at, "H%u: %u\r\n", h, h);
		snprintf(s + at, sizeof(s) - (size_t)at, "\r\n");
		assert_int_equal(http_parser_init(&p, i ? &small : NULL), 0);
		parse_str(&p, s);
		assert_int_equal(p.state, HTTP_PARSE_DONE);
		assert_int_equal(p.req.nr_headers, max);
		http_parser_fini(&p);

		snprintf(s + at, sizeof(s) - (size_t)at, "One: more\r\n\r\n");
		want_error_len(s, strlen(s), 431, i ? &small : NULL);
	}
}

static void limit_body(void **state)
{
	struct http_limits small = { .max_body = 10 };
	struct http_parser p;
	char head[128];
	char *body = malloc(HTTP_DEFAULT_MAX_BODY);

	memset(body, 'b', HTTP_DEFAULT_MAX_BODY);
	for (int i = 0; i < 2; i++) {
		size_t max = i ? 10 : HTTP_DEFAULT_MAX_BODY;

		snprintf(head, sizeof(head), "PUT /x HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", max);
		assert_int_equal(http_parser_init(&p, i ? &small : NULL), 0);
		parse_str(&p, head);
		assert_int_equal(p.state, HTTP_PARSE_MORE);
		assert_int_equal(http_parse(&p, body, max), max);
		assert_int_equal(p.state, HTTP_PARSE_DONE);
		assert_int_equal(p.req.body_len, max);
		assert_int_equal(p.req.body[max], 0);
		http_parser_fini(&p);

		/* Refused from the head alone, before the client sends a byte of it. */
		snprintf(head, sizeof(head), "PUT /x HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
			 max + 1);
		want_error_len(head, strlen(head), 413, i ? &small : NULL);
	}
	free(body);
}

static void limits_init(void **state)
{
	struct http_limits l = { .max_body = HTTP_LIMIT_CEILING + 1 };
	struct http_parser p;

	assert_int_equal(http_parser_init(&p, &l), -EINVAL);
	l = (struct http_limits){ .max_headers = HTTP_LIMIT_CEILING + 1 };
	assert_int_equal(http_parser_init(&p, &l), -EINVAL);
	l = (struct http_limits){ .max_request_line = SIZE_MAX };
	assert_int_equal(http_parser_init(&p, &l), -EINVAL);
	l = (struct http_limits){ .max_header_bytes = SIZE_MAX };
	assert_int_equal(http_parser_init(&p, &l), -EINVAL);
	l = (struct http_limits){ .max_body = 1 };
	assert_int_equal(http_parser_init(&p, &l), 0);
	assert_int_equal(p.lim.max_body, 1);
	assert_int_equal(p.lim.max_request_line, HTTP_DEFAULT_MAX_REQUEST_LINE);
	assert_int_equal(p.lim.max_header_bytes, HTTP_DEFAULT_MAX_HEADER_BYTES);
	assert_int_equal(p.lim.max_headers, HTTP_DEFAULT_MAX_HEADERS);
	http_parser_fini(&p);
	http_parser_fini(&p); /* idempotent */
}

static void response_format(void **state)
{
	static const char want[] =
		"HTTP/1.1 200 OK\r\nServer: kvmlet\r\nContent-Length: 2\r\n"
		"Content-Type: application/json\r\nConnection: keep-alive\r\n\r\n{}";
	char buf[256];
	ssize_t n;

	n = http_response_format(buf, sizeof(buf), 200, "application/json", "{}", 2, true);
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);

	n = http_response_format(buf, sizeof(buf), 204, NULL, NULL, 0, false);
	assert_int_equal(
		n,
		strlen("HTTP/1.1 204 No Content\r\nServer: kvmlet\r\nConnection: close\r\n\r\n"));
	assert_memory_equal(
		buf, "HTTP/1.1 204 No Content\r\nServer: kvmlet\r\nConnection: close\r\n\r\n", n);

	n = http_response_format(buf, sizeof(buf), 404, NULL, NULL, 0, true);
	assert_memory_equal(buf,
			    "HTTP/1.1 404 Not Found\r\nServer: kvmlet\r\nContent-Length: 0\r\n"
			    "Connection: keep-alive\r\n\r\n",
			    n);

	/* Binary-safe: the NULs are part of the body. */
	n = http_response_format(buf, sizeof(buf), 200, "application/octet-stream", "a\0b\0", 4,
				 true);
	assert_true(n > 4);
	assert_memory_equal(buf + n - 4, "a\0b\0", 4);
	assert_non_null(strstr(buf, "Content-Length: 4\r\n"));

	/* Exactly fitting, then one short. */
	n = http_response_format(buf, sizeof(buf), 200, "application/json", "{}", 2, true);
	assert_int_equal(
		http_response_format(buf, (size_t)n, 200, "application/json", "{}", 2, true), n);
	assert_memory_equal(buf, want, (size_t)n);
	assert_int_equal(
		http_response_format(buf, (size_t)n - 1, 200, "application/json", "{}", 2, true),
		-ENOSPC);
	assert_int_equal(http_response_format(buf, 10, 200, NULL, NULL, 0, true), -ENOSPC);
	assert_int_equal(http_response_format(buf, 0, 200, NULL, NULL, 0, true), -ENOSPC);

	assert_int_equal(http_response_format(buf, sizeof(buf), 299, NULL, NULL, 0, true), -EINVAL);
	assert_int_equal(http_response_format(buf, sizeof(buf), 100, NULL, NULL, 0, true), -EINVAL);
	assert_int_equal(http_response_format(buf, sizeof(buf), 204, NULL, "x", 1, true), -EINVAL);
	assert_int_equal(http_response_format(buf, sizeof(buf), 200, NULL, NULL, 1, true), -EINVAL);
	assert_int_equal(
		http_response_format(buf, sizeof(buf), 200, "text/plain\r\nX: y", "x", 1, true),
		-EINVAL);
}

static void response_extra_headers(void **state)
{
	static const char want[] =
		"HTTP/1.1 405 Method Not Allowed\r\nServer: kvmlet\r\n"
		"Content-Length: 2\r\nContent-Type: application/json\r\n"
		"Allow: GET, PUT, PATCH\r\nX-A: b\r\nConnection: keep-alive\r\n\r\n{}";
	struct http_header h[] = { { "Allow", "GET, PUT, PATCH" }, { "X-A", "b" } };
	struct http_header bad_name[] = { { "Al low", "x" } }, empty_name[] = { { "", "x" } };
	struct http_header bad_value[] = { { "Allow", "GET\r\nX: y" } };
	char buf[256];
	ssize_t n;

	n = http_response_format_hdrs(buf, sizeof(buf), 405, "application/json", h, 2, "{}", 2,
				      true);
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	/* Exactly fitting, then one short. */
	assert_int_equal(http_response_format_hdrs(buf, (size_t)n, 405, "application/json", h, 2,
						   "{}", 2, true),
			 n);
	assert_int_equal(http_response_format_hdrs(buf, (size_t)n - 1, 405, "application/json", h,
						   2, "{}", 2, true),
			 -ENOSPC);
	/* No extras: the same bytes as http_response_format(). */
	n = http_response_format_hdrs(buf, sizeof(buf), 204, NULL, NULL, 0, NULL, 0, false);
	assert_memory_equal(
		buf, "HTTP/1.1 204 No Content\r\nServer: kvmlet\r\nConnection: close\r\n\r\n", n);

	assert_int_equal(
		http_response_format_hdrs(buf, sizeof(buf), 405, NULL, bad_name, 1, NULL, 0, true),
		-EINVAL);
	assert_int_equal(http_response_format_hdrs(buf, sizeof(buf), 405, NULL, empty_name, 1, NULL,
						   0, true),
			 -EINVAL);
	assert_int_equal(
		http_response_format_hdrs(buf, sizeof(buf), 405, NULL, bad_value, 1, NULL, 0, true),
		-EINVAL);
	assert_int_equal(
		http_response_format_hdrs(buf, sizeof(buf), 405, NULL, NULL, 1, NULL, 0, true),
		-EINVAL);
	assert_int_equal(
		http_response_format(buf, sizeof(buf), 200, "text/plain\tx", NULL, 0, true),
		-EINVAL);
}

static void reasons(void **state)
{
	static const struct {
		unsigned int status;
		const char *line;
	} cases[] = {
		{ 200, "HTTP/1.1 200 OK\r\n" },
		{ 204, "HTTP/1.1 204 No Content\r\n" },
		{ 400, "HTTP/1.1 400 Bad Request\r\n" },
		{ 404, "HTTP/1.1 404 Not Found\r\n" },
		{ 405, "HTTP/1.1 405 Method Not Allowed\r\n" },
		{ 409, "HTTP/1.1 409 Conflict\r\n" },
		{ 411, "HTTP/1.1 411 Length Required\r\n" },
		{ 413, "HTTP/1.1 413 Content Too Large\r\n" },
		{ 414, "HTTP/1.1 414 URI Too Long\r\n" },
		{ 431, "HTTP/1.1 431 Request Header Fields Too Large\r\n" },
		{ 500, "HTTP/1.1 500 Internal Server Error\r\n" },
		{ 501, "HTTP/1.1 501 Not Implemented\r\n" },
		{ 505, "HTTP/1.1 505 HTTP Version Not Supported\r\n" },
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ssize_t n = http_response_format(buf, sizeof(buf), cases[i].status, NULL, NULL, 0,
						 false);

		assert_true(n > 0);
		assert_memory_equal(buf, cases[i].line, strlen(cases[i].line));
	}
	assert_string_equal(http_reason(100), "Continue");
	assert_string_equal(http_reason(408), "Request Timeout");
	assert_string_equal(http_reason(503), "Service Unavailable");
	assert_null(http_reason(0));
	assert_null(http_reason(418));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(simple_get),
		cmocka_unit_test(put_and_patch),
		cmocka_unit_test(put_body_off_by_one),
		cmocka_unit_test(other_methods),
		cmocka_unit_test(targets),
		cmocka_unit_test(request_line_shape),
		cmocka_unit_test(versions),
		cmocka_unit_test(keep_alive),
		cmocka_unit_test(content_length),
		cmocka_unit_test(length_required),
		cmocka_unit_test(transfer_encoding),
		cmocka_unit_test(line_endings),
		cmocka_unit_test(leading_empty_lines),
		cmocka_unit_test(nul_bytes),
		cmocka_unit_test(header_syntax),
		cmocka_unit_test(expect_continue),
		cmocka_unit_test(every_split),
		cmocka_unit_test(pipelining),
		cmocka_unit_test(limit_request_line),
		cmocka_unit_test(limit_header_bytes),
		cmocka_unit_test(limit_header_count),
		cmocka_unit_test(limit_body),
		cmocka_unit_test(limits_init),
		cmocka_unit_test(response_format),
		cmocka_unit_test(response_extra_headers),
		cmocka_unit_test(reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
