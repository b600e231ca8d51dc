// SPDX-License-Identifier: Apache-2.0
#include "agent/image/unpack_pathset.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

/*
 * FNV-1a from a random seed, then mixed (murmur3's fmix64): FNV's low bits
 * depend only on the input's and the start's low bits, so with a known
 * start and a mask for an index a layer could name a million entries into
 * one probe run, and applying it would take hours.
 */
static uint64_t hash(const struct unpack_pathset *s, const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull ^ s->seed;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

static uint64_t new_seed(const void *salt)
{
	uint64_t seed;
	struct timespec ts;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	/* No entropy yet (early boot): unpredictable enough for a hash table. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)salt;
}

/* The slot holding path, or the empty one where it would go. */
static size_t find(const struct unpack_pathset *s, const char *path, size_t len)
{
	size_t i = hash(s, path, len) & (s->cap - 1);

	while (s->slot[i] && (strlen(s->slot[i]) != len || memcmp(s->slot[i], path, len)))
		i = (i + 1) & (s->cap - 1);
	return i;
}

static int grow(struct unpack_pathset *s)
{
	struct unpack_pathset n = { .cap = s->cap ? s->cap * 2 : 64 };

	n.slot = calloc(n.cap, sizeof(*n.slot));
	if (!n.slot)
		return -ENOMEM;
	n.seed = s->cap ? s->seed : new_seed(n.slot);
	for (size_t i = 0; i < s->cap; i++)
		if (s->slot[i])
			n.slot[find(&n, s->slot[i], strlen(s->slot[i]))] = s->slot[i];
	n.len = s->len;
	free(s->slot);
	*s = n;
	return 0;
}

int unpack_pathset_add(struct unpack_pathset *s, const char *path, size_t len)
{
	size_t i;

	/* At most half full, so probes stay short and always end. */
	if ((s->len + 1) * 2 > s->cap && grow(s))
		return -ENOMEM;
	i = find(s, path, len);
	if (s->slot[i])
		return 0;
	s->slot[i] = strndup(path, len);
	if (!s->slot[i])
		return -ENOMEM;
	s->len++;
	return 0;
}

bool unpack_pathset_has(const struct unpack_pathset *s, const char *path, size_t len)
{
	return s->cap && s->slot[find(s, path, len)];
}

void unpack_pathset_free(struct unpack_pathset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slot[i]);
	free(s->slot);
	*s = (struct unpack_pathset){ 0 };
}
