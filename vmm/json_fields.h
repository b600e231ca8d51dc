/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checked access to the fields of a JSON object, with Firecracker's rules
 * (serde): unknown and duplicate fields are errors, null means absent,
 * integers must be exact. Every error names the object and the field; the
 * configuration file and the control API share these, so a body means the
 * same and fails the same way wherever it arrives.
 */
#ifndef KVMLET_VMM_JSON_FIELDS_H
#define KVMLET_VMM_JSON_FIELDS_H

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
int json_get_bool(const char *what, const cJSON *obj, const char *name, bool required, bool *out,
		  struct err *err);
int json_get_uint(const char *what, const cJSON *obj, const char *name, bool required, uint64_t min,
		  uint64_t max, uint64_t *out, struct err *err);

#endif
