/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory that devices read and write: rings, request headers, data
 * buffers. It is the RAM right after the firmware image, identity-mapped,
 * so a pointer is also the guest-physical address a device is given.
 *
 * A stack allocator: a test or benchmark takes a mark, allocates what its
 * devices need, and releases everything when it is done with them (after
 * resetting them, so that no device still owns any of it).
 */
#ifndef FW_DMA_H
#define FW_DMA_H

#include <stddef.h>
#include <stdint.h>

/* Zeroed, aligned to @align (a power of two); NULL when RAM runs out. */
void *dma_alloc(size_t size, size_t align);
uint64_t dma_mark(void);
void dma_release(uint64_t mark);

static inline uint64_t dma_addr(const void *p)
{
	return (uint64_t)p;
}

#endif
