// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "memory/page_runs.h"

static bool test_bit(const uint64_t *bm, uint64_t bit)
{
	return bm[bit / 64] & (1ull << (bit % 64));
}

/* Bytes of page pg (counted from gm->base) that are RAM. */
static uint64_t page_len(const struct guest_memory *gm, uint64_t pg)
{
	uint64_t off = pg * GM_PAGE_SIZE;

	return gm->size - off < GM_PAGE_SIZE ? gm->size - off : GM_PAGE_SIZE;
}

static bool page_is_zero(const struct guest_memory *gm, uint64_t pg)
{
	uint64_t len = page_len(gm, pg);
	const uint8_t *p = gm->base + pg * GM_PAGE_SIZE;
	uint64_t acc = 0;

	for (uint64_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (uint64_t i = len & ~7ull; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

struct walk {
	const struct guest_memory *gm;
	const uint64_t *bitmap;
	bool split_zero;
};

static bool page_in(const struct walk *w, uint64_t pg)
{
	return !w->bitmap || test_bit(w->bitmap, pg);
}

/* Pages [first, first + n) of gm->base belong to region r. */
static int walk_region(const struct walk *w, const struct mem_region *r, gm_run_fn fn, void *ctx)
{
	uint64_t first = (uint64_t)(r->host - w->gm->base) / GM_PAGE_SIZE;
	uint64_t end = first + (r->size + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE;
	uint64_t pg = first;

	while (pg < end) {
		uint64_t start = pg;
		bool zero = false;
		struct gm_run run;
		int ret;

		if (!page_in(w, pg)) {
			pg++;
			continue;
		}
		if (w->split_zero)
			zero = page_is_zero(w->gm, pg);
		for (pg++; pg < end && page_in(w, pg); pg++)
			if (w->split_zero && page_is_zero(w->gm, pg) != zero)
				break;
		run = (struct gm_run){
			.gpa = r->gpa + (start - first) * GM_PAGE_SIZE,
			.offset = start * GM_PAGE_SIZE,
			.host = w->gm->base + start * GM_PAGE_SIZE,
			.len = (pg - start - 1) * GM_PAGE_SIZE + page_len(w->gm, pg - 1),
			.zero = zero,
		};
		ret = fn(&run, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

int gm_for_each_run(const struct guest_memory *gm, const uint64_t *bitmap, unsigned int flags,
		    gm_run_fn fn, void *ctx)
{
	const struct walk w = { gm, bitmap, flags & GM_RUNS_SPLIT_ZERO };
	const struct mem_region *r;

	gm_for_each_region(gm, r) {
		int ret = walk_region(&w, r, fn, ctx);

		if (ret)
			return ret;
	}
	return 0;
}
