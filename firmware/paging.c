// SPDX-License-Identifier: Apache-2.0
#include "boot.h"
#include "cpu.h"
#include "image.h"
#include "libc.h"
#include "paging.h"

#define SZ_2M	    (1ULL << 21)
#define ADDR_MASK   0x000ffffffffff000ULL
#define TABLE_FLAGS (PTE_P | PTE_W | PTE_U)
#define PAGE_FLAGS  (PTE_P | PTE_W | PTE_U | PTE_PS)
/*
 * 2 MiB pages only: PVM reports 1 GiB pages in CPUID but faults on them
 * (reserved-bit #PF). One page directory per GiB; 64 cover 68 GiB of RAM.
 */
#define POOL_PAGES  64

extern uint64_t boot_pml4[512];

static uint64_t pool[POOL_PAGES][512] __attribute__((aligned(4096))) __noinit;
static unsigned int pool_used;

static uint64_t *table_alloc(void)
{
	uint64_t *t;

	if (pool_used == POOL_PAGES)
		return 0;
	t = pool[pool_used++];
	memset(t, 0, sizeof(pool[0])); /* all entries not present */
	return t;
}

/* The next-level table behind *entry, allocated if absent; NULL when out. */
static uint64_t *next_table(uint64_t *entry)
{
	uint64_t *t;

	if (*entry & PTE_P)
		return (uint64_t *)(*entry & ADDR_MASK);
	t = table_alloc();
	if (!t)
		return 0;
	barrier(); /* the table must be complete before it is reachable */
	*entry = (uint64_t)t | TABLE_FLAGS;
	return t;
}

bool paging_map(uint64_t start, uint64_t end)
{
	uint64_t a = start & ~(SZ_2M - 1);

	while (a < end) {
		uint64_t *pdpt, *pde, *pdpte, *pd;

		pdpt = next_table(&boot_pml4[(a >> 39) & 511]);
		if (!pdpt)
			return false;
		pdpte = &pdpt[(a >> 30) & 511];
		pd = next_table(pdpte);
		if (!pd)
			return false;
		pde = &pd[(a >> 21) & 511];
		if (!(*pde & PTE_P))
			*pde = a | PAGE_FLAGS;
		a += SZ_2M;
	}
	return true;
}
