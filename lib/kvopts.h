/* SPDX-License-Identifier: Apache-2.0 */
/*
 * "key=value,key=value" option strings, as in --drive id=d0,path=disk.img.
 * The parser checks them against a table of known keys: unknown, repeated,
 * empty and missing keys are errors that name the key.
 */
#ifndef KVMLET_KVOPTS_H
#define KVMLET_KVOPTS_H

#include <stdbool.h>

#include "lib/err.h"

#define KVOPTS_MAX 16

struct kvopt_key {
	const char *name;
	bool required;
};

struct kvopts {
	char *buf;		       /* owned copy of the string, cut into keys and values */
	const char *value[KVOPTS_MAX]; /* indexed like the key table; NULL if absent */
};

/* `what` names the option in errors, e.g. "--drive". */
int kvopts_parse(struct kvopts *o, const char *what, const char *s, const struct kvopt_key *keys,
		 unsigned int nr_keys, struct err *err);
void kvopts_free(struct kvopts *o);

/* "on"/"off" (also "true"/"false", "1"/"0"); -EINVAL otherwise. */
int kvopts_bool(const char *v, bool *out);

#endif
