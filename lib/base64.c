// SPDX-License-Identifier: Apache-2.0
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/base64.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i, o = 0;
	uint32_t v;
	char *s;

	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return NULL;
	s = malloc((len + 2) / 3 * 4 + 1);
	if (!s)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		s[o++] = b64_alphabet[v >> 18];
		s[o++] = b64_alphabet[(v >> 12) & 63];
		s[o++] = b64_alphabet[(v >> 6) & 63];
		s[o++] = b64_alphabet[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		s[o++] = b64_alphabet[v >> 18];
		s[o++] = b64_alphabet[(v >> 12) & 63];
		s[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		s[o++] = '=';
	}
	s[o] = '\0';
	return s;
}

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

unsigned char *base64_decode(const char *s, size_t slen, size_t *len)
{
	unsigned char *out;
	size_t i, o = 0, pad = 0;
	int d[4], k;

	if (slen % 4)
		return NULL;
	if (slen && s[slen - 1] == '=')
		pad = (slen >= 2 && s[slen - 2] == '=') ? 2 : 1;
	out = malloc(slen / 4 * 3 + 1);
	if (!out)
		return NULL;
	for (i = 0; i < slen; i += 4) {
		bool last = i + 4 == slen;

		for (k = 0; k < 4; k++) {
			if (last && k >= 4 - (int)pad) {
				d[k] = 0;
				continue;
			}
			d[k] = b64_value((unsigned char)s[i + k]);
			if (d[k] < 0)
				goto bad;
		}
		/* Padding bits must be zero: one string per byte sequence. */
		if (last && pad == 2 && (d[1] & 15))
			goto bad;
		if (last && pad == 1 && (d[2] & 3))
			goto bad;
		out[o++] = (unsigned char)(d[0] << 2 | d[1] >> 4);
		if (!last || pad < 2)
			out[o++] = (unsigned char)((d[1] & 15) << 4 | d[2] >> 2);
		if (!last || pad < 1)
			out[o++] = (unsigned char)((d[2] & 3) << 6 | d[3]);
	}
	out[o] = '\0';
	*len = o;
	return out;
bad:
	free(out);
	return NULL;
}
