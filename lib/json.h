/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checked access to the fields of a JSON object (cJSON), with the rules serde
 * applies for Firecracker: unknown and duplicate fields are errors, null means
 * absent, integers must be exact, and strings never hold a NUL. Every error
 * names the object and the field, so a body means the same and fails the same
 * way wherever it arrives: the VMM's configuration file and control API, the
 * node agent's and the controller's apiserver objects and CRI inputs.
 *
 * Integers: json_parse() keeps the text of each integer literal ("-"? digits)
 * next to the double cJSON stores, so every 64-bit value is read exactly.
 * Other numbers (1e3, 1000.0, or any in a tree built some other way) are
 * read from their double, which is exact only below 2^53: larger ones are
 * refused rather than rounded. -0 is 0.
 *
 * No state of its own: any thread may call these, each on its own tree.
 * Strings handed out point into the tree and live as long as it does.
 */
#ifndef KVMLET_LIB_JSON_H
#define KVMLET_LIB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lib/err.h"

/* Parses a whole document; errors give the line and column. */
cJSON *json_parse(const char *json, size_t len, struct err *err);
/* The value of a present, non-null field, else NULL. */
const cJSON *json_present(const cJSON *v);
const cJSON *json_member(const cJSON *obj, const char *name);
/* obj is an object whose members are all in names[], none twice. */
int json_check_members(const char *what, const cJSON *obj, const char *const *names,
		       size_t nr_names, struct err *err);

/* *out stays NULL when the field is absent, which is an error if required. */
int json_get_string(const char *what, const cJSON *obj, const char *name, bool required,
		    const char **out, struct err *err);
int json_get_nonempty_string(const char *what, const cJSON *obj, const char *name, bool required,
			     const char **out, struct err *err);
/* *out is left alone when the field is absent: it holds the caller's default. */
int json_get_bool(const char *what, const cJSON *obj, const char *name, bool required, bool *out,
		  struct err *err);
int json_get_uint(const char *what, const cJSON *obj, const char *name, bool required, uint64_t min,
		  uint64_t max, uint64_t *out, struct err *err);
int json_get_int(const char *what, const cJSON *obj, const char *name, bool required, int64_t min,
		 int64_t max, int64_t *out, struct err *err);

/* One value, no error text (for protocols that answer with their own): an exact integer in range. */
bool json_uint_value(const cJSON *v, uint64_t min, uint64_t max, uint64_t *out);
bool json_int_value(const cJSON *v, int64_t min, int64_t max, int64_t *out);

/* ---- table-driven objects ---------------------------------------------- */

enum json_type {
	JSON_STRING,	      /* const char * */
	JSON_NONEMPTY_STRING, /* const char * */
	JSON_BOOL,	      /* bool */
	JSON_UINT,	      /* uint64_t, within range.u */
	JSON_INT,	      /* int64_t, within range.i */
	JSON_OBJECT,	      /* const cJSON *, checked by the caller */
	JSON_ARRAY,	      /* const cJSON *, checked by the caller */
};

/* One field of an object: json_decode() stores its value at offset in the caller's struct. */
struct json_field {
	const char *name; /* first: the member check reads the table as a list of names */
	enum json_type type;
	bool required;
	size_t offset;
	union {
		struct {
			uint64_t min, max;
		} u;
		struct {
			int64_t min, max;
		} i;
	} range;
};

#define JSON_FIELD(name_, type_, required_, struct_, member_)              \
	{                                                                  \
		.name = (name_), .type = (type_), .required = (required_), \
		.offset = offsetof(struct_, member_)                       \
	}
#define JSON_FIELD_UINT(name_, required_, struct_, member_, min_, max_)      \
	{                                                                    \
		.name = (name_), .type = JSON_UINT, .required = (required_), \
		.offset = offsetof(struct_, member_), .range.u = {           \
			(min_),                                              \
			(max_)                                               \
		}                                                            \
	}
#define JSON_FIELD_INT(name_, required_, struct_, member_, min_, max_)      \
	{                                                                   \
		.name = (name_), .type = JSON_INT, .required = (required_), \
		.offset = offsetof(struct_, member_), .range.i = {          \
			(min_),                                             \
			(max_)                                              \
		}                                                           \
	}

/*
 * Checks obj against fields[] (no unknown or repeated member, every required
 * one present, each of its type and range) and stores the values into out.
 * Fields that are absent or null leave their member as it was: the default.
 * Checks run in table order, so the first error is the first bad field.
 */
int json_decode(const char *what, const cJSON *obj, const struct json_field *fields,
		size_t nr_fields, void *out, struct err *err);

#endif
