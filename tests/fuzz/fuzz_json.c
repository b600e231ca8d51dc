// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: lib/json on any bytes. A parse either fails saying why
 * or gives a tree whose integer literals each sit on the number they were
 * read for, and whose values json_decode() and the exact integer reads
 * agree on.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"

struct anything {
	const char *s;
	bool b;
	uint64_t u;
	int64_t i;
	const cJSON *o, *a;
};

static const struct json_field fields[] = {
	JSON_FIELD("s", JSON_NONEMPTY_STRING, false, struct anything, s),
	JSON_FIELD("b", JSON_BOOL, false, struct anything, b),
	JSON_FIELD_UINT("u", false, struct anything, u, 1, UINT64_MAX),
	JSON_FIELD_INT("i", false, struct anything, i, INT64_MIN, -1),
	JSON_FIELD("o", JSON_OBJECT, false, struct anything, o),
	JSON_FIELD("a", JSON_ARRAY, false, struct anything, a),
};

/*
 * A failure says why. Its text may hold a field name as sent, control bytes
 * and all: the boundary that shows it cleans it (config_file's one_line(),
 * JSON escaping in an API fault, logfmt quoting).
 */
static void check_error(const struct err *err)
{
	if (!err->code || !err->msg[0])
		__builtin_trap();
}

static void check_number(const cJSON *v)
{
	uint64_t u;
	int64_t i;
	bool is_u = json_uint_value(v, 0, UINT64_MAX, &u);
	bool is_i = json_int_value(v, INT64_MIN, INT64_MAX, &i);

	/* A kept literal is the text of this very number. */
	if (v->valuestring && strtod(v->valuestring, NULL) != v->valuedouble)
		__builtin_trap();
	if (is_u && (double)u != v->valuedouble)
		__builtin_trap();
	if (is_i && (double)i != v->valuedouble)
		__builtin_trap();
	if (is_u && is_i && (uint64_t)i != u)
		__builtin_trap();
}

static void walk(const cJSON *v, unsigned int depth)
{
	for (; v; v = v->next) {
		if (cJSON_IsNumber(v))
			check_number(v);
		if (cJSON_IsObject(v)) {
			struct anything out = { 0 };
			struct err err = { 0 };

			if (json_decode("fuzz", v, fields, sizeof(fields) / sizeof(fields[0]), &out,
					&err))
				check_error(&err);
			else if ((out.s && !*out.s) || (out.i >= 0 && json_member(v, "i")))
				__builtin_trap();
		}
		if (depth < 64)
			walk(v->child, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = { 0 };
	/* An exact-size copy, so reading past the length is caught by ASan. */
	char *buf = malloc(size ? size : 1);
	cJSON *root;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	root = json_parse(buf, size, &err);
	if (root)
		walk(root, 0);
	else
		check_error(&err);
	cJSON_Delete(root);
	free(buf);
	return 0;
}
