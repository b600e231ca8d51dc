// SPDX-License-Identifier: Apache-2.0
#include <stdbool.h>
#include "cmdline.h"
#include "libc.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next "@key" or "@key=value" word from *p on; advances *p past it. */
static const char *next_match(const char **p, const char *key, size_t *len)
{
	size_t klen = strlen(key);

	while (**p) {
		const char *word;
		size_t wlen;

		while (is_space(**p))
			(*p)++;
		word = *p;
		while (**p && !is_space(**p))
			(*p)++;
		wlen = *p - word;
		if (wlen < klen || memcmp(word, key, klen))
			continue;
		if (wlen == klen) {
			*len = 0;
			return word + wlen;
		}
		if (word[klen] == '=') {
			*len = wlen - klen - 1;
			return word + klen + 1;
		}
	}
	return NULL;
}

const char *cmdline_get(const char *p, const char *key, size_t *len)
{
	const char *found = NULL, *v;
	size_t vlen;

	while ((v = next_match(&p, key, &vlen))) {
		found = v;
		*len = vlen;
	}
	return found;
}

const char *cmdline_next(const char **cursor, const char *key, size_t *len)
{
	return next_match(cursor, key, len);
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

bool cmdline_parse_u64(const char **s, const char *end, uint64_t *v)
{
	const char *p = *s;
	unsigned int base = 10;
	uint64_t x = 0;
	bool any = false;

	if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (; p < end; p++) {
		unsigned int d = digit_value(*p);

		if (d >= base)
			break;
		if (x > (UINT64_MAX - d) / base)
			return false;
		x = x * base + d;
		any = true;
	}
	if (!any)
		return false;
	*v = x;
	*s = p;
	return true;
}

uint64_t cmdline_get_u64(const char *cmdline, const char *key, uint64_t def)
{
	size_t len;
	const char *v = cmdline_get(cmdline, key, &len), *end;
	uint64_t x;

	if (!v)
		return def;
	end = v + len;
	if (!cmdline_parse_u64(&v, end, &x) || v != end)
		return def;
	return x;
}
