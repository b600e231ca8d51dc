/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PVH boot ABI (Xen's arch/x86/include/public/hvm/start_info.h): the
 * structures a PVH kernel finds through %ebx. Shared by the VMM, which
 * writes them, and the firmware, which reads them.
 */
#ifndef KVMLET_PVH_H
#define KVMLET_PVH_H

#include <stdint.h>

#define PVH_START_MAGIC		 0x336ec578
#define PVH_START_VERSION	 1 /* version 1 adds the memory map */
#define PVH_MEMMAP_TYPE_RAM	 1
#define PVH_MEMMAP_TYPE_RESERVED 2

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#endif
