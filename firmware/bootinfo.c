// SPDX-License-Identifier: Apache-2.0
#include "bootinfo.h"
#include "image.h"
#include "io.h"
#include "libc.h"

struct bootinfo bootinfo = { .cmdline = "" };
static char cmdline_copy[PLAT_CMDLINE_MAX] __noinit;

const char *bootinfo_copy(const struct hvm_start_info *si)
{
	if (!si || si->magic != PVH_START_MAGIC)
		return "no PVH start_info";

	bootinfo.version = si->version;
	bootinfo.rsdp = si->rsdp_paddr;
	if (si->version >= 1 && si->memmap_paddr) {
		unsigned int n = MIN(si->memmap_entries, BOOTINFO_MAX_MEMMAP);

		memcpy(bootinfo.memmap, phys_ptr(si->memmap_paddr), n * sizeof(bootinfo.memmap[0]));
		bootinfo.nr_memmap = n;
	}
	/* Without a memory map there is nothing to check against. */
	if (bootinfo.nr_memmap && !bootinfo_is_ram((uint64_t)_image_start, (uint64_t)_image_end))
		return "RAM does not cover the firmware image";

	if (si->cmdline_paddr) {
		const char *src = phys_ptr(si->cmdline_paddr);
		size_t n = strnlen(src, sizeof(cmdline_copy) - 1);

		memcpy(cmdline_copy, src, n);
		cmdline_copy[n] = '\0';
		bootinfo.cmdline = cmdline_copy;
	}
	return NULL;
}

uint64_t bootinfo_ram_bytes(void)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++)
		if (bootinfo.memmap[i].type == PVH_MEMMAP_TYPE_RAM)
			total += bootinfo.memmap[i].size;
	return total;
}

bool bootinfo_is_ram(uint64_t start, uint64_t end)
{
	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++) {
		const struct hvm_memmap_table_entry *e = &bootinfo.memmap[i];

		if (e->type == PVH_MEMMAP_TYPE_RAM && start >= e->addr && end <= e->addr + e->size)
			return true;
	}
	return false;
}
