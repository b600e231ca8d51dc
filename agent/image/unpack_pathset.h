/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The set of paths one layer has created, so that an opaque whiteout
 * (".wh..wh..opq") removes only what lower layers put in its directory,
 * wherever in the layer it appears. Private to the unpacker.
 *
 * Threads: a set belongs to one thread.
 */
#ifndef KVMLET_AGENT_IMAGE_UNPACK_PATHSET_H
#define KVMLET_AGENT_IMAGE_UNPACK_PATHSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unpack_pathset {
	char **slot; /* open addressing; NULL is empty */
	size_t cap;  /* a power of two, or 0 */
	size_t len;
	uint64_t seed; /* random, set with the first slot: paths cannot be made to collide */
};

/* Adds a copy of path (len bytes); 0, or -ENOMEM. */
int unpack_pathset_add(struct unpack_pathset *s, const char *path, size_t len);
bool unpack_pathset_has(const struct unpack_pathset *s, const char *path, size_t len);
void unpack_pathset_free(struct unpack_pathset *s);

#endif
