// SPDX-License-Identifier: Apache-2.0
/*
 * Where json-c and QEMU's JSON parser read the same text differently.
 * json-c keeps the last of two equal keys and clamps integers outside int64
 * to the nearest bound; QEMU rejects the first ("duplicate key") and reads the
 * second as a number that is not an int64, so that an integer parameter
 * refuses it. Both checks run on a text that json-c has already accepted, so
 * they need to know only where strings and numbers are.
 */
#include <stdlib.h>
#include <string.h>

#include "ga_internal.h"

static size_t count_colons(const char *text, size_t len)
{
	bool in_str = false, esc = false;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (esc)
			esc = false;
		else if (in_str && c == '\\')
			esc = true;
		else if (c == '"')
			in_str = !in_str;
		else if (!in_str && c == ':')
			n++;
	}
	return n;
}

static size_t tree_members(json_object *v)
{
	size_t n = 0;

	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, val)
		{
			(void)key;
			n += 1 + tree_members(val);
		}
	} else if (json_object_is_type(v, json_type_array)) {
		size_t len = json_object_array_length(v);

		for (size_t i = 0; i < len; i++)
			n += tree_members(json_object_array_get_idx(v, i));
	}
	return n;
}

/*
 * Every ':' outside a string introduces one member. json-c drops a member for
 * each repeated key (and whatever its value held), so the parsed value has
 * fewer members than the text exactly when a key repeats.
 */
bool ga_json_has_duplicate_key(const char *text, size_t len, json_object *parsed)
{
	return count_colons(text, len) != tree_members(parsed);
}

static bool is_num_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* An integer literal (no fraction or exponent) beyond int64's range. */
static bool int_out_of_range(const char *tok, size_t len)
{
	bool neg = tok[0] == '-';
	const char *d = tok + neg;
	size_t n = len - neg;

	if (memchr(tok, '.', len) || memchr(tok, 'e', len) || memchr(tok, 'E', len))
		return false;
	if (n != 19)
		return n > 19;
	return memcmp(d, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0;
}

/* Appends ".0" after each out-of-range integer literal; counts them when out is NULL. */
static size_t widen(const char *text, size_t len, char *out)
{
	bool in_str = false, esc = false;
	size_t n = 0, o = 0;

	for (size_t i = 0; i < len;) {
		char c = text[i];
		size_t start = i;

		if (in_str || !((c >= '0' && c <= '9') || c == '-')) {
			if (esc)
				esc = false;
			else if (in_str && c == '\\')
				esc = true;
			else if (c == '"')
				in_str = !in_str;
			if (out)
				out[o] = c;
			o++;
			i++;
			continue;
		}
		while (i < len && is_num_char(text[i]))
			i++;
		if (out)
			memcpy(out + o, text + start, i - start);
		o += i - start;
		if (int_out_of_range(text + start, i - start)) {
			if (out)
				memcpy(out + o, ".0", 2);
			o += 2;
			n++;
		}
	}
	return out ? o : n;
}

char *ga_json_widen_ints(const char *text, size_t len, size_t *out_len, bool *oom)
{
	size_t n = widen(text, len, NULL);
	char *out;

	*oom = false;
	if (!n)
		return NULL;
	*out_len = len + 2 * n;
	out = malloc(*out_len + 1);
	if (!out) {
		*oom = true;
		return NULL;
	}
	widen(text, len, out);
	out[*out_len] = '\0';
	return out;
}
