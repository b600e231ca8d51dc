// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "kvmlet/platform.h"
#include "vmm/boot/gdt.h"

/* Descriptor = flags (bits 52-55, 40-47 here as a 16-bit field), base and limit. */
#define GDT_ENTRY(flags, base, limit)                                                           \
	((((uint64_t)(base)&0xff000000ULL) << 32) | (((uint64_t)(flags)&0xf0ffULL) << 40) |     \
	 (((uint64_t)(limit)&0x000f0000ULL) << 32) | (((uint64_t)(base)&0x00ffffffULL) << 16) | \
	 ((uint64_t)(limit)&0x0000ffffULL))

static const uint64_t gdt_table[] = {
	[0] = 0,
	[PLAT_SEL_CODE32 / 8] = GDT_ENTRY(0xc09b, 0, 0xfffff), /* 32-bit code, 4 GiB */
	[PLAT_SEL_CODE64 / 8] = GDT_ENTRY(0xa09b, 0, 0xfffff), /* 64-bit code */
	[PLAT_SEL_DATA / 8] = GDT_ENTRY(0xc093, 0, 0xfffff),   /* data, 4 GiB */
	[PLAT_SEL_TSS / 8] = GDT_ENTRY(0x008b, 0, 0x67),       /* busy TSS */
	[PLAT_SEL_TSS / 8 + 1] = 0,			       /* its upper half in long mode */
};

uint16_t gdt_write(struct guest_memory *gm)
{
	memcpy(gm_ptr(gm, PLAT_GDT_ADDR, sizeof(gdt_table)), gdt_table, sizeof(gdt_table));
	return sizeof(gdt_table) - 1;
}

struct kvm_segment gdt_segment(uint16_t selector)
{
	uint64_t d = gdt_table[selector / 8];
	uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
	struct kvm_segment s = {
		.base = ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000),
		.selector = selector,
		.type = (d >> 40) & 0xf,
		.s = (d >> 44) & 1,
		.dpl = (d >> 45) & 3,
		.present = (d >> 47) & 1,
		.avl = (d >> 52) & 1,
		.l = (d >> 53) & 1,
		.db = (d >> 54) & 1,
		.g = (d >> 55) & 1,
	};

	/* KVM wants the limit in bytes, as the CPU caches it. */
	s.limit = s.g ? (limit << 12) | 0xfff : limit;
	return s;
}
