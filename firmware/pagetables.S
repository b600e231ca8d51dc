/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Identity map of the low 4 GiB with 2 MiB pages, assembled into the image
 * so that ring 0 never loops to build it. Every level carries the U bit:
 * ring 3 reaches RAM, the boot timer, the LAPIC and the IOAPIC directly.
 * The last GiB is the MMIO hole and is mapped uncached. paging.c extends
 * the map above 4 GiB from ring 3.
 */
#include "boot.h"

#define TABLE_FLAGS	(PTE_P | PTE_W | PTE_U)
#define PAGE_FLAGS	(PTE_P | PTE_W | PTE_U | PTE_PS)

	.section .data.pagetables, "aw"
	.balign 4096
	.globl boot_pml4
boot_pml4:
	.quad boot_pdpt + TABLE_FLAGS
	.fill 511, 8, 0

	.globl boot_pdpt
boot_pdpt:
	.quad boot_pd + 0x0000 + TABLE_FLAGS
	.quad boot_pd + 0x1000 + TABLE_FLAGS
	.quad boot_pd + 0x2000 + TABLE_FLAGS
	.quad boot_pd + 0x3000 + TABLE_FLAGS
	.fill 508, 8, 0

boot_pd:
	.set addr, 0
	.rept 3 * 512
	.quad addr + PAGE_FLAGS
	.set addr, addr + 0x200000
	.endr
	.rept 512
	.quad addr + PAGE_FLAGS + PTE_PCD + PTE_PWT
	.set addr, addr + 0x200000
	.endr
