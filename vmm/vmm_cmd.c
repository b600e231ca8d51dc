// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm_cmd.h"

struct vmm_cmd *vmm_cmd_new(enum vmm_cmd_kind kind, struct http_call *call)
{
	struct vmm_cmd *c = calloc(1, sizeof(*c));

	if (c) {
		c->kind = kind;
		c->call = call;
	}
	return c;
}

int vmm_cmd_own(struct vmm_cmd *c, const char **field)
{
	char *copy;

	if (!*field)
		return 0;
	if (c->nr_strings == VMM_CMD_MAX_STRINGS)
		abort(); /* a member with more strings than the bound: a bug */
	copy = strdup(*field);
	if (!copy)
		return -ENOMEM;
	c->strings[c->nr_strings++] = copy;
	*field = copy;
	return 0;
}

void vmm_cmd_free(struct vmm_cmd *c)
{
	for (unsigned int i = 0; i < c->nr_strings; i++)
		free(c->strings[i]);
	free(c);
}
