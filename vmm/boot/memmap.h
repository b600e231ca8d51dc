/* SPDX-License-Identifier: Apache-2.0 */
/* The guest's physical memory map, as both e820 and the PVH memmap give it. */
#ifndef KVMLET_VMM_BOOT_MEMMAP_H
#define KVMLET_VMM_BOOT_MEMMAP_H

#include <stdint.h>

#include "memory/guest_memory.h"

#define MEMMAP_MAX	4
#define MEMMAP_RAM	1 /* the same numbers in e820 and PVH */
#define MEMMAP_RESERVED 2

struct memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* Returns the number of entries, in ascending address order. */
unsigned int memmap_build(const struct guest_memory *gm, struct memmap_entry out[MEMMAP_MAX]);

#endif
