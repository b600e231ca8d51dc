// SPDX-License-Identifier: Apache-2.0
/* Base64 for file and exec data; strict on decode so bad input is an error, not garbage. */
#include <stdlib.h>

#include "ga_internal.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ga_b64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned int v = p[i] << 16;

		if (i + 1 < len)
			v |= p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void *ga_b64_decode(const char *s, size_t slen, size_t *len)
{
	unsigned char *out, *o;

	if (slen % 4)
		return NULL;
	out = malloc(slen / 4 * 3 + 1);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < slen; i += 4) {
		int v[4];
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = s[i + k];

			/* '=' only as the last one or two characters of the text */
			if (c == '=' && i + 4 == slen && k >= 2 && (k == 3 || s[i + 3] == '=')) {
				v[k] = 0;
				pad++;
				continue;
			}
			v[k] = b64_val(c);
			if (v[k] < 0 || pad) {
				free(out);
				return NULL;
			}
		}
		unsigned int w = v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3];

		*o++ = w >> 16;
		if (pad < 2)
			*o++ = w >> 8 & 0xff;
		if (pad < 1)
			*o++ = w & 0xff;
	}
	*len = o - out;
	return out;
}
