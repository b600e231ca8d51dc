/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The firmware's own copy of what the loader handed over, taken before
 * anything may reuse low memory.
 */
#ifndef FW_BOOTINFO_H
#define FW_BOOTINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <kvmlet/platform.h>
#include <kvmlet/pvh.h>

#define BOOTINFO_MAX_MEMMAP 128

struct bootinfo {
	uint32_t version;
	uint64_t rsdp;
	unsigned int nr_memmap;
	struct hvm_memmap_table_entry memmap[BOOTINFO_MAX_MEMMAP];
	const char *cmdline; /* never NULL */
};

extern struct bootinfo bootinfo;

/*
 * Copies what @si points to. Also checks that the memory map covers the
 * whole image, noinit area included (image.h). NULL on success, else what
 * went wrong.
 */
const char *bootinfo_copy(const struct hvm_start_info *si);
uint64_t bootinfo_ram_bytes(void);
/* True if [start, end) lies entirely inside one RAM entry of the memory map. */
bool bootinfo_is_ram(uint64_t start, uint64_t end);

#endif
