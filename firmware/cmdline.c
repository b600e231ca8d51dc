// SPDX-License-Identifier: Apache-2.0
#include <stdbool.h>
#include "cmdline.h"
#include "libc.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

const char *cmdline_get(const char *p, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *found = NULL;

	while (*p) {
		const char *word;
		size_t wlen = 0;

		while (is_space(*p))
			p++;
		word = p;
		while (*p && !is_space(*p))
			p++;
		wlen = p - word;
		if (wlen < klen || memcmp(word, key, klen))
			continue;
		if (wlen == klen) {
			found = word + wlen;
			*len = 0;
		} else if (word[klen] == '=') {
			found = word + klen + 1;
			*len = wlen - klen - 1;
		}
	}
	return found;
}
