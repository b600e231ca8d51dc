// SPDX-License-Identifier: Apache-2.0
/*
 * The mem test: write an address-dependent pattern over every RAM page the
 * memory map lists, except the firmware's own image (code, tables, stacks)
 * and the AP trampoline; then read it all back, verifying and summing.
 * Writing everything before reading anything catches aliasing between
 * regions too. It runs in ring 3, at native speed.
 */
#include <stdint.h>
#include "boot.h"
#include "bootinfo.h"
#include "fmt.h"
#include "image.h"
#include "io.h"
#include "libc.h"
#include "paging.h"
#include "tests.h"

#define PAGE_SIZE 4096ULL
#define SZ_4G	  (1ULL << 32)

struct range {
	uint64_t start, end;
};

static inline uint64_t pattern(uint64_t addr)
{
	return (addr * 0x9e3779b97f4a7c15ULL) ^ (addr >> 7) ^ 0x5a5aa5a5c3c33c3cULL;
}

static void fill(uint64_t start, uint64_t end)
{
	volatile uint64_t *p = phys_ptr(start);

	for (uint64_t a = start; a < end; a += 8)
		*p++ = pattern(a);
}

/* Returns the first bad address in *bad (0 if none), adds to *sum. */
static void verify(uint64_t start, uint64_t end, uint64_t *sum, uint64_t *bad)
{
	volatile uint64_t *p = phys_ptr(start);
	uint64_t s = 0;

	for (uint64_t a = start; a < end; a += 8) {
		uint64_t v = *p++;

		s += v;
		if (v != pattern(a) && !*bad)
			*bad = a;
	}
	*sum += s;
}

/*
 * Calls @fn on the parts of each page-aligned RAM entry that miss the
 * excluded ranges (which must be sorted and disjoint).
 */
static uint64_t for_each_chunk(const struct range *excl, unsigned int nexcl,
			       void (*fn)(uint64_t, uint64_t, void *), void *ctx)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++) {
		const struct hvm_memmap_table_entry *e = &bootinfo.memmap[i];
		uint64_t start = (e->addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
		uint64_t end = (e->addr + e->size) & ~(PAGE_SIZE - 1);

		if (e->type != PVH_MEMMAP_TYPE_RAM || start >= end)
			continue;
		for (unsigned int x = 0; x <= nexcl && start < end; x++) {
			uint64_t stop = x < nexcl ? MIN(excl[x].start, end) : end;

			if (start < stop) {
				fn(start, stop, ctx);
				total += stop - start;
			}
			if (x < nexcl && excl[x].end > start)
				start = excl[x].end;
		}
	}
	return total;
}

static void fill_fn(uint64_t start, uint64_t end, void *ctx)
{
	(void)ctx;
	fill(start, end);
}

struct verify_ctx {
	uint64_t sum;
	uint64_t bad;
};

static void verify_fn(uint64_t start, uint64_t end, void *ctx)
{
	struct verify_ctx *v = ctx;

	verify(start, end, &v->sum, &v->bad);
}

bool test_mem(char *detail, size_t len)
{
	const struct range excl[] = {
		{ TRAMPOLINE_ADDR, TRAMPOLINE_ADDR + PAGE_SIZE },
		{ (uint64_t)_image_start, (uint64_t)_image_end },
	};
	struct verify_ctx v = { 0, 0 };
	uint64_t total;

	if (!bootinfo.nr_memmap) {
		fmt_snprintf(detail, len, "no memory map from the loader");
		return false;
	}
	for (unsigned int i = 0; i < bootinfo.nr_memmap; i++) {
		const struct hvm_memmap_table_entry *e = &bootinfo.memmap[i];

		if (e->type == PVH_MEMMAP_TYPE_RAM && e->addr + e->size > SZ_4G &&
		    !paging_map(MAX(e->addr, SZ_4G), e->addr + e->size)) {
			fmt_snprintf(detail, len, "out of page tables to map RAM at 0x%lx",
				     e->addr);
			return false;
		}
	}

	total = for_each_chunk(excl, ARRAY_SIZE(excl), fill_fn, NULL);
	for_each_chunk(excl, ARRAY_SIZE(excl), verify_fn, &v);
	if (v.bad) {
		fmt_snprintf(detail, len, "mismatch at 0x%lx", v.bad);
		return false;
	}
	if (!total) {
		fmt_snprintf(detail, len, "no RAM to test");
		return false;
	}
	fmt_snprintf(detail, len, "%lu MiB tested, checksum 0x%016lx", total >> 20, v.sum);
	return true;
}
