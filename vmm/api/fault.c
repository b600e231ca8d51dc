// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/api/fault.h"

/* Length of the valid UTF-8 sequence at s (RFC 3629), or 0 if there is none. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		/* No overlongs (E0 80..9F) and no surrogates (ED A0..BF). */
		unsigned char lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		/* No overlongs (F0 80..8F) and nothing past U+10FFFF (F4 90..). */
		unsigned char lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80
			       ? 4
			       : 0;
	}
	return 0;
}

/* Appends to buf within cap; counts regardless so callers can measure. */
static void put(char *buf, size_t cap, size_t *at, const char *s, size_t n)
{
	if (buf && *at < cap)
		memcpy(buf + *at, s, n < cap - *at ? n : cap - *at);
	*at += n;
}

/* Writes what fits of the fault body into buf[0..cap) and returns its full length. */
static size_t fault_json(char *buf, size_t cap, const char *msg)
{
	static const char pre[] = "{\"fault_message\": \"", post[] = "\"}";
	const unsigned char *s = (const unsigned char *)(msg ? msg : "");
	size_t at = 0;

	put(buf, cap, &at, pre, sizeof(pre) - 1);
	while (*s) {
		char esc[8];
		size_t n;

		if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*s;
			put(buf, cap, &at, esc, 2);
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			/* DEL is legal JSON, but escaping it keeps logs of the body printable. */
			snprintf(esc, sizeof(esc), "\\u%04x", *s);
			put(buf, cap, &at, esc, 6);
			s++;
		} else if (*s < 0x80) {
			put(buf, cap, &at, (const char *)s, 1);
			s++;
		} else if ((n = utf8_len(s))) {
			/* utf8_len() stops at the NUL: it is not a continuation byte. */
			put(buf, cap, &at, (const char *)s, n);
			s += n;
		} else {
			put(buf, cap, &at, "\\ufffd", 6);
			s++;
		}
	}
	put(buf, cap, &at, post, sizeof(post) - 1);
	return at;
}

ssize_t api_fault_body(char *buf, size_t cap, const char *msg)
{
	size_t n = fault_json(buf, cap, msg);

	if (!buf && !cap)
		return (ssize_t)n;
	if (n >= cap)
		return -ENOSPC;
	buf[n] = '\0';
	return (ssize_t)n;
}

ssize_t api_fault_response(char *buf, size_t cap, unsigned int status, const char *msg,
			   bool keep_alive)
{
	size_t blen = fault_json(NULL, 0, msg);
	char *body = malloc(blen + 1);
	ssize_t n;

	if (!body)
		return -ENOMEM;
	fault_json(body, blen, msg);
	n = http_response_format(buf, cap, status, "application/json", body, blen, keep_alive);
	free(body);
	return n;
}

const struct http_fault_fmt api_fault_fmt = {
	.content_type = "application/json",
	.format = api_fault_body,
};
