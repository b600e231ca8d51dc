// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: a connection's bytes through the HTTP/1.1 parser, once in
 * a single read and once cut into pieces of data-chosen sizes, each piece in
 * its own allocation so that ASan catches any read past it.
 *
 * Input: byte 0 picks the limits (defaults or small ones, so the limit paths
 * are reachable in short inputs), bytes 1..4 seed the piece sizes, the rest
 * is the stream. Checked:
 *  - http_parse() never consumes more than it is given, and consumes all of
 *    it unless it stopped on a request, a 100-continue or an error;
 *  - a complete request respects every limit and the documented shape;
 *  - an error carries one of the statuses the parser documents;
 *  - both runs see the same requests, errors and consumption: the outcome
 *    cannot depend on how read() cut the stream.
 * The fault-body writer gets a slice of the input as its message and must
 * produce a JSON string that an independent checker accepts.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http.h"
#include "vmm/api/fault.h"

#define check(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t mix_u(uint64_t h, uint64_t v)
{
	return mix(h, &v, sizeof(v));
}

static uint64_t mix_s(uint64_t h, const char *s)
{
	return s ? mix(h, s, strlen(s) + 1) : mix_u(h, 0xdead);
}

static void check_request(const struct http_parser *p, bool head_only)
{
	const struct http_request *r = &p->req;
	size_t hdr = 0;

	check(r->method <= HTTP_METHOD_OTHER);
	check(r->version == 10 || r->version == 11);
	check(r->path && r->path[0] == '/');
	check(strlen(r->method_name) + 1 + strlen(r->path) + (r->query ? strlen(r->query) + 1 : 0) +
		      9 <=
	      p->lim.max_request_line);
	check(r->nr_headers <= p->lim.max_headers);
	for (unsigned int i = 0; i < r->nr_headers; i++) {
		check(r->headers[i].name[0]);
		hdr += strlen(r->headers[i].name) + 1 + strlen(r->headers[i].value) + 2;
	}
	check(hdr + 2 <= p->lim.max_header_bytes);
	check(!(r->method == HTTP_METHOD_PUT || r->method == HTTP_METHOD_PATCH) ||
	      r->has_content_length);
	check(r->content_length <= p->lim.max_body);
	check(r->has_content_length || !r->content_length);
	check(!r->expect_continue || (r->version == 11 && r->content_length));
	if (head_only)
		return;
	check(r->body_len == r->content_length);
	check(r->body[r->body_len] == '\0');
}

/* Feeds data in pieces (all of it at once when seed is 0); returns a digest of what happened. */
static uint64_t run(const struct http_limits *lim, const uint8_t *data, size_t size, uint32_t seed)
{
	struct http_parser p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t off = 0;

	if (http_parser_init(&p, lim))
		__builtin_trap();
	while (off < size) {
		size_t piece = size - off, n;
		uint8_t *buf;

		if (seed) {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			/* Mostly tiny pieces, where the boundary cases are, sometimes large ones. */
			size_t want = seed & 0x100 ? (seed >> 9) % 4096 + 1 : (seed & 7) + 1;

			piece = want < piece ? want : piece;
		}
		buf = malloc(piece);
		memcpy(buf, data + off, piece);
		n = http_parse(&p, buf, piece);
		free(buf);
		check(n <= piece);
		off += n;

		switch (p.state) {
		case HTTP_PARSE_MORE:
			check(n == piece);
			break;
		case HTTP_PARSE_EXPECT_CONTINUE:
			check_request(&p, true);
			h = mix_u(h, 100);
			h = mix_u(h, off);
			break;
		case HTTP_PARSE_DONE:
			check_request(&p, false);
			h = mix_u(h, 200);
			h = mix_u(h, off);
			h = mix_u(h, p.req.method);
			h = mix_s(h, p.req.method_name);
			h = mix_s(h, p.req.path);
			h = mix_s(h, p.req.query);
			h = mix_u(h, p.req.version);
			h = mix_u(h, p.req.keep_alive);
			h = mix_u(h, p.req.nr_headers);
			for (unsigned int i = 0; i < p.req.nr_headers; i++) {
				h = mix_s(h, p.req.headers[i].name);
				h = mix_s(h, p.req.headers[i].value);
			}
			h = mix(h, p.req.body, p.req.body_len);
			http_parser_reset(&p);
			break;
		case HTTP_PARSE_ERROR:
			check(p.status == 400 || p.status == 411 || p.status == 413 ||
			      p.status == 414 || p.status == 431 || p.status == 501 ||
			      p.status == 505);
			check(http_parse(&p, data, size) == 0);
			h = mix_u(h, p.status);
			h = mix_u(h, off);
			off = size;
			break;
		}
	}
	h = mix_u(h, p.state);
	http_parser_fini(&p);
	return h;
}

static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* An independent reading of what api_fault_body() must produce. */
static void check_fault(const char *msg)
{
	static const char pre[] = "{\"fault_message\": \"";
	char buf[4096];
	ssize_t n = api_fault_body(buf, sizeof(buf), msg);
	const uint8_t *s;
	size_t len;

	check(n == api_fault_body(NULL, 0, msg));
	check(n > 0 && (size_t)n < sizeof(buf) && buf[n] == '\0' && strlen(buf) == (size_t)n);
	check(!memcmp(buf, pre, sizeof(pre) - 1) && !strcmp(buf + n - 2, "\"}"));
	s = (const uint8_t *)buf + sizeof(pre) - 1;
	len = (size_t)n - (sizeof(pre) - 1) - 2;
	for (size_t i = 0; i < len;) {
		if (s[i] == '\\') {
			check(i + 1 < len);
			if (s[i + 1] == 'u') {
				check(i + 5 < len);
				for (int k = 2; k < 6; k++)
					check(strchr("0123456789abcdef", s[i + k]) && s[i + k]);
				i += 6;
			} else {
				check(s[i + 1] == '"' || s[i + 1] == '\\');
				i += 2;
			}
			continue;
		}
		check(s[i] >= 0x20 && s[i] != '"' && s[i] != 0x7f);
		size_t l = utf8_seq(s + i, len - i);

		check(l);
		i += l;
	}

	/* A whole response with it: the length must be the body's. */
	char rsp[4096 + 256];
	ssize_t r = api_fault_response(rsp, sizeof(rsp), 400, msg, true);

	check(r > n && !memcmp(rsp + r - n, buf, (size_t)n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits small = {
		.max_request_line = 48,
		.max_header_bytes = 96,
		.max_headers = 4,
		.max_body = 16,
	};
	const struct http_limits *lim;
	uint32_t seed;
	char msg[512];

	if (size < 5)
		return 0;
	lim = data[0] & 1 ? &small : NULL;
	memcpy(&seed, data + 1, 4);
	seed |= 1; /* xorshift needs a nonzero state; 0 means "one piece" in run() */
	data += 5;
	size -= 5;

	check(run(lim, data, size, 0) == run(lim, data, size, seed));

	size_t m = size < sizeof(msg) - 1 ? size : sizeof(msg) - 1;

	memcpy(msg, data, m);
	msg[m] = '\0';
	check_fault(msg);
	return 0;
}
