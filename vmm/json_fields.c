// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <math.h>
#include <string.h>

#include "vmm/json_fields.h"

/* The value of a present, non-null field, else NULL. */
const cJSON *json_present(const cJSON *v)
{
	return v && !cJSON_IsNull(v) ? v : NULL;
}

/*
 * Checks obj is an object whose members are all in names[] and none twice
 * (serde refuses duplicate fields too; cJSON would keep both).
 */
int json_check_members(const char *what, const cJSON *obj, const char *const *names,
		       size_t nr_names, struct err *err)
{
	if (!cJSON_IsObject(obj))
		return err_set(err, -EINVAL, "%s: expected an object", what);
	for (const cJSON *c = obj->child; c; c = c->next) {
		size_t i;

		for (i = 0; i < nr_names; i++)
			if (!strcmp(c->string, names[i]))
				break;
		if (i == nr_names)
			return err_set(err, -EINVAL, "%s: unknown field '%s'", what, c->string);
		for (const cJSON *p = obj->child; p != c; p = p->next)
			if (!strcmp(p->string, c->string))
				return err_set(err, -EINVAL, "%s: field '%s' appears twice", what,
					       c->string);
	}
	return 0;
}

const cJSON *json_member(const cJSON *obj, const char *name)
{
	return json_present(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/* A string field; *out stays NULL when absent, which is an error if required. */
int json_get_string(const char *what, const cJSON *obj, const char *name, bool required,
		    const char **out, struct err *err)
{
	const cJSON *v = json_member(obj, name);

	*out = NULL;
	if (!v)
		return required ? err_set(err, -EINVAL, "%s: missing field '%s'", what, name) : 0;
	if (!cJSON_IsString(v))
		return err_set(err, -EINVAL, "%s.%s: expected a string", what, name);
	*out = v->valuestring;
	return 0;
}

int json_get_nonempty_string(const char *what, const cJSON *obj, const char *name, bool required,
			     const char **out, struct err *err)
{
	int r = json_get_string(what, obj, name, required, out, err);

	if (!r && *out && !**out)
		return err_set(err, -EINVAL, "%s.%s: must not be empty", what, name);
	return r;
}

int json_get_bool(const char *what, const cJSON *obj, const char *name, bool required, bool *out,
		  struct err *err)
{
	const cJSON *v = json_member(obj, name);

	if (!v)
		return required ? err_set(err, -EINVAL, "%s: missing field '%s'", what, name) : 0;
	if (!cJSON_IsBool(v))
		return err_set(err, -EINVAL, "%s.%s: expected true or false", what, name);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* JSON has only doubles; an integer field must hold an exact integer in range. */
int json_get_uint(const char *what, const cJSON *obj, const char *name, bool required, uint64_t min,
		  uint64_t max, uint64_t *out, struct err *err)
{
	const cJSON *v = json_member(obj, name);
	double d;

	if (!v)
		return required ? err_set(err, -EINVAL, "%s: missing field '%s'", what, name) : 0;
	d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	/* 2^64 is the first double above UINT64_MAX; max is below it. */
	if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max ||
	    d >= 18446744073709551616.0)
		return err_set(err, -EINVAL, "%s.%s: expected an integer from %llu to %llu", what,
			       name, (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)d;
	return 0;
}

/*
 * cJSON turns "\u0000" into a NUL inside the C string, which would quietly
 * cut it short ("/a\u0000b" naming "/a"). Such strings are refused before
 * parsing: the scan follows strings and their escapes, nothing else.
 */
static bool json_has_nul_escape(const char *s, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			in_string = s[i] == '"';
			continue;
		}
		if (s[i] == '"') {
			in_string = false;
		} else if (s[i] == '\\' && i + 1 < len) {
			if (s[i + 1] == 'u' && i + 5 < len && !strncmp(s + i + 2, "0000", 4))
				return true;
			i++;
		}
	}
	return false;
}

cJSON *json_parse(const char *json, size_t len, struct err *err)
{
	const char *end = NULL;
	cJSON *root;

	if (json_has_nul_escape(json, len)) {
		err_set(err, -EINVAL, "invalid JSON: strings must not contain NUL (\\u0000)");
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(json, len, &end, false);

	/* Only whitespace may follow the document; json need not end in a NUL. */
	while (root && end && end < json + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (!root || (end && end < json + len)) {
		/* cJSON points at where it gave up; report it as line:column. */
		unsigned int line = 1, col = 1;
		const char *stop = end && end >= json && end <= json + len ? end : json;

		for (const char *p = json; p < stop; p++, col++)
			if (*p == '\n')
				line++, col = 0;
		cJSON_Delete(root);
		err_set(err, -EINVAL, "invalid JSON at line %u, column %u%s", line, col,
			root ? " (data after the end)" : "");
		return NULL;
	}
	return root;
}
