// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <math.h>
#include <string.h>

#include "lib/json.h"

/* 2^53: doubles at or above it are not all integers a JSON writer meant. */
#define JSON_DOUBLE_EXACT 9007199254740992.0

/* The value of a present, non-null field, else NULL. */
const cJSON *json_present(const cJSON *v)
{
	return v && !cJSON_IsNull(v) ? v : NULL;
}

const cJSON *json_member(const cJSON *obj, const char *name)
{
	return json_present(cJSON_GetObjectItemCaseSensitive(obj, name));
}

/*
 * Checks obj is an object whose members are all named in the table and none
 * twice (serde refuses duplicate fields too; cJSON would keep both). The
 * table is nr entries of stride bytes, each starting with its name.
 */
static int json_check_names(const char *what, const cJSON *obj, const void *table, size_t nr,
			    size_t stride, struct err *err)
{
	if (!cJSON_IsObject(obj))
		return err_set(err, -EINVAL, "%s: expected an object", what);
	for (const cJSON *c = obj->child; c; c = c->next) {
		size_t i;

		for (i = 0; i < nr; i++)
			if (!strcmp(c->string,
				    *(const char *const *)((const char *)table + i * stride)))
				break;
		if (i == nr)
			return err_set(err, -EINVAL, "%s: unknown field '%s'", what, c->string);
		for (const cJSON *p = obj->child; p != c; p = p->next)
			if (!strcmp(p->string, c->string))
				return err_set(err, -EINVAL, "%s: field '%s' appears twice", what,
					       c->string);
	}
	return 0;
}

int json_check_members(const char *what, const cJSON *obj, const char *const *names,
		       size_t nr_names, struct err *err)
{
	return json_check_names(what, obj, names, nr_names, sizeof(*names), err);
}

/* A field that is not there: fine unless it is required. */
static int json_absent(const char *what, const char *name, bool required, struct err *err)
{
	return required ? err_set(err, -EINVAL, "%s: missing field '%s'", what, name) : 0;
}

/* A string field; *out stays NULL when absent, which is an error if required. */
int json_get_string(const char *what, const cJSON *obj, const char *name, bool required,
		    const char **out, struct err *err)
{
	const cJSON *v = json_member(obj, name);

	*out = NULL;
	if (!v)
		return json_absent(what, name, required, err);
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
		return json_absent(what, name, required, err);
	if (!cJSON_IsBool(v))
		return err_set(err, -EINVAL, "%s.%s: expected true or false", what, name);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* ---- exact integers ---------------------------------------------------- */

/*
 * The magnitude and sign of an integer literal kept by json_parse(), if v
 * has one that still matches its double (a caller may have changed the
 * number since; then the double is all there is).
 */
static bool json_literal(const cJSON *v, uint64_t *mag, bool *neg)
{
	const char *s = v->valuestring;
	uint64_t m = 0;

	if (!s)
		return false;
	*neg = *s == '-';
	for (s += *neg; *s; s++) {
		if (*s < '0' || *s > '9')
			return false; /* not one json_parse() kept */
		if (m > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false; /* beyond 64 bits: the double route refuses it */
		m = m * 10 + (uint64_t)(*s - '0');
	}
	if ((*neg ? -(double)m : (double)m) != v->valuedouble)
		return false;
	*mag = m;
	return true;
}

/* An integral double that is exactly the integer its writer meant: |d| < 2^53. */
static bool json_double_int(const cJSON *v, double *d)
{
	*d = v->valuedouble;
	return isfinite(*d) && *d == floor(*d) && fabs(*d) < JSON_DOUBLE_EXACT;
}

bool json_uint_value(const cJSON *v, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t m;
	bool neg;
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	if (json_literal(v, &m, &neg)) {
		if (neg && m) /* -0 is 0 */
			return false;
	} else if (json_double_int(v, &d) && d >= 0) {
		m = (uint64_t)d;
	} else {
		return false;
	}
	if (m < min || m > max)
		return false;
	*out = m;
	return true;
}

bool json_int_value(const cJSON *v, int64_t min, int64_t max, int64_t *out)
{
	uint64_t m;
	int64_t x;
	bool neg;
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	if (json_literal(v, &m, &neg)) {
		if (m > (uint64_t)INT64_MAX + neg)
			return false;
		/* -(2^63) has no positive int64; go through the unsigned negation. */
		x = neg ? (int64_t)(0 - m) : (int64_t)m;
	} else if (json_double_int(v, &d)) {
		x = (int64_t)d;
	} else {
		return false;
	}
	if (x < min || x > max)
		return false;
	*out = x;
	return true;
}

int json_get_uint(const char *what, const cJSON *obj, const char *name, bool required, uint64_t min,
		  uint64_t max, uint64_t *out, struct err *err)
{
	const cJSON *v = json_member(obj, name);

	if (!v)
		return json_absent(what, name, required, err);
	if (!json_uint_value(v, min, max, out))
		return err_set(err, -EINVAL, "%s.%s: expected an integer from %llu to %llu", what,
			       name, (unsigned long long)min, (unsigned long long)max);
	return 0;
}

int json_get_int(const char *what, const cJSON *obj, const char *name, bool required, int64_t min,
		 int64_t max, int64_t *out, struct err *err)
{
	const cJSON *v = json_member(obj, name);

	if (!v)
		return json_absent(what, name, required, err);
	if (!json_int_value(v, min, max, out))
		return err_set(err, -EINVAL, "%s.%s: expected an integer from %lld to %lld", what,
			       name, (long long)min, (long long)max);
	return 0;
}

/* ---- table-driven objects ---------------------------------------------- */

static int json_get_node(const char *what, const cJSON *obj, const struct json_field *f,
			 const cJSON **out, struct err *err)
{
	const cJSON *v = json_member(obj, f->name);
	bool object = f->type == JSON_OBJECT;

	if (!v)
		return json_absent(what, f->name, f->required, err);
	if (object ? !cJSON_IsObject(v) : !cJSON_IsArray(v))
		return err_set(err, -EINVAL, "%s.%s: expected an %s", what, f->name,
			       object ? "object" : "array");
	*out = v;
	return 0;
}

static int json_decode_field(const char *what, const cJSON *obj, const struct json_field *f,
			     void *dst, struct err *err)
{
	const char *s = NULL;
	int r;

	switch (f->type) {
	case JSON_STRING:
	case JSON_NONEMPTY_STRING:
		r = f->type == JSON_STRING
			    ? json_get_string(what, obj, f->name, f->required, &s, err)
			    : json_get_nonempty_string(what, obj, f->name, f->required, &s, err);
		if (!r && s)
			*(const char **)dst = s;
		return r;
	case JSON_BOOL:
		return json_get_bool(what, obj, f->name, f->required, dst, err);
	case JSON_UINT:
		return json_get_uint(what, obj, f->name, f->required, f->range.u.min,
				     f->range.u.max, dst, err);
	case JSON_INT:
		return json_get_int(what, obj, f->name, f->required, f->range.i.min, f->range.i.max,
				    dst, err);
	case JSON_OBJECT:
	case JSON_ARRAY:
		return json_get_node(what, obj, f, dst, err);
	}
	return err_set(err, -EINVAL, "%s.%s: no such field type %d", what, f->name, (int)f->type);
}

int json_decode(const char *what, const cJSON *obj, const struct json_field *fields,
		size_t nr_fields, void *out, struct err *err)
{
	int r = json_check_names(what, obj, fields, nr_fields, sizeof(*fields), err);

	for (size_t i = 0; !r && i < nr_fields; i++)
		r = json_decode_field(what, obj, &fields[i], (char *)out + fields[i].offset, err);
	return r;
}

/* ---- parsing ----------------------------------------------------------- */

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

/*
 * The next number in the text from *pos, outside strings: a '-' or a digit
 * begins one (no keyword holds either) and it runs over the characters cJSON
 * reads as a number. In a document cJSON accepted, that run is all it read.
 */
static const char *json_next_number(const char **pos, const char *end, size_t *len)
{
	const char *s = *pos;
	bool in_string = false;

	for (; s < end; s++) {
		if (in_string) {
			if (*s == '\\')
				s++;
			else if (*s == '"')
				in_string = false;
		} else if (*s == '"') {
			in_string = true;
		} else if (*s == '-' || (*s >= '0' && *s <= '9')) {
			const char *start = s;

			while (s < end && *s && strchr("0123456789+-eE.", *s))
				s++;
			*len = (size_t)(s - start);
			*pos = s;
			return start;
		}
	}
	*pos = end;
	return NULL;
}

/* "-"? digits, and nothing else: the literals whose text json_parse() keeps. */
static bool json_is_integer_literal(const char *t, size_t n)
{
	size_t i = t[0] == '-';

	if (i == n)
		return false;
	for (; i < n; i++)
		if (t[i] < '0' || t[i] > '9')
			return false;
	return true;
}

/*
 * Keeps the text of each integer literal ("-"? digits) in its number's
 * valuestring, which cJSON leaves unused for numbers, frees with the tree
 * and copies with cJSON_Duplicate(). cJSON builds the tree in document
 * order, so numbers met depth first match the numbers of the text in turn.
 */
static int json_keep_integers(cJSON *item, const char **pos, const char *end)
{
	for (; item; item = item->next) {
		const char *t;
		size_t n;
		int r;

		if (item->child) {
			r = json_keep_integers(item->child, pos, end);
			if (r)
				return r;
		}
		if (!cJSON_IsNumber(item))
			continue;
		t = json_next_number(pos, end, &n);
		if (!t)
			return -EPROTO; /* cannot happen with a tree cJSON built from this text */
		if (!json_is_integer_literal(t, n))
			continue;
		item->valuestring = cJSON_malloc(n + 1);
		if (!item->valuestring)
			return -ENOMEM;
		memcpy(item->valuestring, t, n);
		item->valuestring[n] = '\0';
	}
	return 0;
}

cJSON *json_parse(const char *json, size_t len, struct err *err)
{
	const char *end = NULL, *pos = json;
	cJSON *root;
	int r;

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
	r = json_keep_integers(root, &pos, json + len);
	if (r) {
		cJSON_Delete(root);
		err_set(err, r, "invalid JSON: %s", strerror(-r));
		return NULL;
	}
	return root;
}
