// SPDX-License-Identifier: Apache-2.0
#include "kvmlet/platform.h"
#include "vmm/boot/memmap.h"

unsigned int memmap_build(const struct guest_memory *gm, struct memmap_entry out[MEMMAP_MAX])
{
	uint64_t low_end = gm_low_end(gm);
	unsigned int n = 0;

	/* The board reserves the EBDA and BIOS area; it holds the MP table. */
	out[n++] = (struct memmap_entry){ 0, PLAT_EBDA_START, MEMMAP_RAM };
	out[n++] = (struct memmap_entry){ PLAT_EBDA_START, PLAT_HIMEM_START - PLAT_EBDA_START,
					  MEMMAP_RESERVED };
	if (low_end > PLAT_HIMEM_START)
		out[n++] = (struct memmap_entry){ PLAT_HIMEM_START, low_end - PLAT_HIMEM_START,
						  MEMMAP_RAM };
	if (gm->nr_regions > 1)
		out[n++] =
			(struct memmap_entry){ gm->region[1].gpa, gm->region[1].size, MEMMAP_RAM };
	return n;
}
