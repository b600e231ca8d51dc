// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/kvopts.h"

int kvopts_parse(struct kvopts *o, const char *what, const char *s, const struct kvopt_key *keys,
		 unsigned int nr_keys, struct err *err)
{
	char *save = NULL, *item;

	memset(o, 0, sizeof(*o));
	if (nr_keys > KVOPTS_MAX)
		return err_set(err, -EINVAL, "internal: too many keys for %s", what);
	o->buf = strdup(s);
	if (!o->buf)
		return err_set(err, -ENOMEM, "out of memory");
	for (item = strtok_r(o->buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		unsigned int k;

		if (!eq || eq == item || !eq[1]) {
			err_set(err, -EINVAL, "%s: '%s' is not key=value", what, item);
			goto fail;
		}
		*eq = '\0';
		for (k = 0; k < nr_keys && strcmp(keys[k].name, item); k++)
			;
		if (k == nr_keys) {
			err_set(err, -EINVAL, "%s: unknown key '%s'", what, item);
			goto fail;
		}
		if (o->value[k]) {
			err_set(err, -EINVAL, "%s: key '%s' given twice", what, item);
			goto fail;
		}
		o->value[k] = eq + 1;
	}
	for (unsigned int k = 0; k < nr_keys; k++) {
		if (keys[k].required && !o->value[k]) {
			err_set(err, -EINVAL, "%s: missing %s=", what, keys[k].name);
			goto fail;
		}
	}
	return 0;
fail:
	kvopts_free(o);
	return err->code;
}

void kvopts_free(struct kvopts *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

int kvopts_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}
