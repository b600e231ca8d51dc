// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>

#include "devices/registry.h"
#include "lib/log.h"

int registry_add(struct registry *reg, struct device *dev)
{
	if (reg->nr == REGISTRY_MAX_DEVICES)
		return -ENOSPC;
	reg->dev[reg->nr++] = dev;
	return 0;
}

static bool registry_match(const struct device *d, const char *kind, const char *id)
{
	if (strcmp(d->kind, kind))
		return false;
	return !id || (d->id && !strcmp(d->id, id));
}

struct device *registry_find(const struct registry *reg, const char *kind, const char *id)
{
	for (unsigned int i = 0; i < reg->nr; i++)
		if (registry_match(reg->dev[i], kind, id))
			return reg->dev[i];
	return NULL;
}

int registry_pause(struct registry *reg)
{
	int first = 0;

	for (unsigned int i = 0; i < reg->nr; i++) {
		struct device *d = reg->dev[i];
		int r = d->ops->pause ? d->ops->pause(d) : 0;

		if (r) {
			log_warn("%s: pausing: %s", d->name, strerror(-r));
			if (!first)
				first = r;
		}
	}
	return first;
}

void registry_resume(struct registry *reg)
{
	for (unsigned int i = reg->nr; i--;)
		if (reg->dev[i]->ops->resume)
			reg->dev[i]->ops->resume(reg->dev[i]);
}

void registry_destroy(struct registry *reg)
{
	while (reg->nr) {
		struct device *d = reg->dev[--reg->nr];

		reg->dev[reg->nr] = NULL;
		if (d->ops->destroy)
			d->ops->destroy(d);
	}
}
