/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The devices of one machine, in creation order. Each keeps its place (its
 * index) for its life, so walks are stable: snapshots number sections by
 * it, metrics files compare one line with the last by it. Teardown goes in
 * reverse order, so a device outlives those made after it.
 *
 * Threads: the VMM's main thread adds and destroys; once the VM is published
 * the array never changes, and any thread may walk or look up.
 */
#ifndef KVMLET_DEVICES_REGISTRY_H
#define KVMLET_DEVICES_REGISTRY_H

#include "devices/device.h"

#define REGISTRY_MAX_DEVICES 64

struct registry {
	struct device *dev[REGISTRY_MAX_DEVICES];
	unsigned int nr;
};

/* -ENOSPC when full; the registry then does not own dev. */
int registry_add(struct registry *reg, struct device *dev);
/* The device of that kind and id (id NULL: the first of that kind), or NULL. */
struct device *registry_find(const struct registry *reg, const char *kind, const char *id);
/* Pauses every device in order; returns the first error, after trying all. */
int registry_pause(struct registry *reg);
/* Resumes every device in reverse order. */
void registry_resume(struct registry *reg);
/* Destroys every device, last added first, and empties the registry. */
void registry_destroy(struct registry *reg);

#endif
