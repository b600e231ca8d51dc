// SPDX-License-Identifier: Apache-2.0
/*
 * Region iteration and the page-run walker: empty and full bitmaps, runs at
 * region edges and across the MMIO hole, the last (partial) page, zero
 * splitting, and a callback that stops the walk.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kvmlet/platform.h"
#include "memory/page_runs.h"
#include "tests/unit/images.h"

#define PG GM_PAGE_SIZE

/* A hand-made two-region RAM: LOW_PAGES at gpa 0, HIGH_PAGES at 4 GiB. */
#define LOW_PAGES  16
#define HIGH_PAGES 8

struct runs {
	struct gm_run run[64];
	unsigned int n;
	unsigned int stop_after; /* 0: never */
};

static int collect(const struct gm_run *run, void *ctx)
{
	struct runs *rs = ctx;

	assert_true(rs->n < 64);
	rs->run[rs->n++] = *run;
	return rs->stop_after && rs->n == rs->stop_after ? -ECANCELED : 0;
}

static struct guest_memory split_gm(void)
{
	struct guest_memory gm = { .memfd = -1 };
	uint8_t *ram = calloc(LOW_PAGES + HIGH_PAGES, PG);

	assert_non_null(ram);
	gm.base = ram;
	gm.size = (LOW_PAGES + HIGH_PAGES) * PG;
	gm.nr_regions = 2;
	gm.region[0] = (struct mem_region){ 0, LOW_PAGES * PG, ram, -1 };
	gm.region[1] = (struct mem_region){ PLAT_MMIO_HOLE_END, HIGH_PAGES * PG,
					    ram + LOW_PAGES * PG, -1 };
	return gm;
}

static void set_bit(uint64_t *bm, uint64_t pg)
{
	bm[pg / 64] |= 1ull << (pg % 64);
}

static void assert_run(const struct gm_run *r, const struct guest_memory *gm, uint64_t gpa,
		       uint64_t offset, uint64_t len)
{
	assert_int_equal(r->gpa, gpa);
	assert_int_equal(r->offset, offset);
	assert_ptr_equal(r->host, gm->base + offset);
	assert_int_equal(r->len, len);
}

static void regions_in_order(void **state)
{
	struct guest_memory gm;
	const struct mem_region *r;
	unsigned int n = 0;

	test_gm_alloc(&gm, PLAT_MMIO_HOLE_START + 8 * MiB);
	gm_for_each_region(&gm, r) {
		assert_ptr_equal(r, &gm.region[n]);
		assert_int_equal(r->slot, -1); /* no KVM yet */
		n++;
	}
	assert_int_equal(n, 2);
	gm_free(&gm);
	/* gm_free leaves no region to walk. */
	gm_for_each_region(&gm, r)
		fail();
}

static void empty_bitmap(void **state)
{
	struct guest_memory gm = split_gm();
	uint64_t bm[1] = { 0 };
	struct runs rs = { 0 };

	assert_int_equal(gm_for_each_run(&gm, bm, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 0);
	/* All zero RAM, split by zero-ness: two zero runs, one per region. */
	assert_int_equal(gm_for_each_run(&gm, NULL, GM_RUNS_SPLIT_ZERO, collect, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_true(rs.run[0].zero && rs.run[1].zero);
	free(gm.base);
}

static void full_bitmap_splits_at_the_hole(void **state)
{
	struct guest_memory gm = split_gm();
	uint64_t bm[1] = { ~0ull };
	struct runs rs = { 0 };

	assert_int_equal(gm_for_each_run(&gm, bm, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_run(&rs.run[0], &gm, 0, 0, LOW_PAGES * PG);
	assert_run(&rs.run[1], &gm, PLAT_MMIO_HOLE_END, LOW_PAGES * PG, HIGH_PAGES * PG);
	assert_false(rs.run[0].zero);
	/* No bitmap: every page, the same runs. */
	rs.n = 0;
	assert_int_equal(gm_for_each_run(&gm, NULL, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_run(&rs.run[1], &gm, PLAT_MMIO_HOLE_END, LOW_PAGES * PG, HIGH_PAGES * PG);
	free(gm.base);
}

static void runs_at_region_edges(void **state)
{
	struct guest_memory gm = split_gm();
	uint64_t bm[1] = { 0 };
	struct runs rs = { 0 };

	/* First page, the last two below the hole, the first above it, the very last. */
	set_bit(bm, 0);
	set_bit(bm, LOW_PAGES - 2);
	set_bit(bm, LOW_PAGES - 1);
	set_bit(bm, LOW_PAGES);
	set_bit(bm, LOW_PAGES + HIGH_PAGES - 1);
	assert_int_equal(gm_for_each_run(&gm, bm, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 4);
	assert_run(&rs.run[0], &gm, 0, 0, PG);
	assert_run(&rs.run[1], &gm, (LOW_PAGES - 2) * PG, (LOW_PAGES - 2) * PG, 2 * PG);
	/* Next to it in the host mapping, but on the other side of the hole. */
	assert_run(&rs.run[2], &gm, PLAT_MMIO_HOLE_END, LOW_PAGES * PG, PG);
	assert_run(&rs.run[3], &gm, PLAT_MMIO_HOLE_END + (HIGH_PAGES - 1) * PG,
		   (LOW_PAGES + HIGH_PAGES - 1) * PG, PG);
	free(gm.base);
}

static void real_ram_across_the_hole(void **state)
{
	struct guest_memory gm;
	uint64_t low = PLAT_MMIO_HOLE_START / PG;
	uint64_t *bm;
	struct runs rs = { 0 };

	test_gm_alloc(&gm, PLAT_MMIO_HOLE_START + 8 * MiB);
	bm = calloc(gm_bitmap_words(&gm), sizeof(uint64_t));
	assert_non_null(bm);
	for (uint64_t pg = low - 3; pg < low + 2; pg++)
		set_bit(bm, pg);
	assert_int_equal(gm_for_each_run(&gm, bm, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_run(&rs.run[0], &gm, PLAT_MMIO_HOLE_START - 3 * PG, (low - 3) * PG, 3 * PG);
	assert_run(&rs.run[1], &gm, PLAT_MMIO_HOLE_END, low * PG, 2 * PG);
	free(bm);
	gm_free(&gm);
}

static void last_page_partial(void **state)
{
	struct guest_memory gm;
	uint64_t bm[1] = { 0 };
	struct runs rs = { 0 };

	test_gm_alloc(&gm, 5 * PG + 100);
	assert_int_equal(gm_nr_pages(&gm), 6);
	set_bit(bm, 5);
	assert_int_equal(gm_for_each_run(&gm, bm, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_run(&rs.run[0], &gm, 5 * PG, 5 * PG, 100);
	/* Split by zero-ness, a byte in the partial page counts. */
	gm.base[5 * PG + 99] = 1;
	rs.n = 0;
	assert_int_equal(gm_for_each_run(&gm, NULL, GM_RUNS_SPLIT_ZERO, collect, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_true(rs.run[0].zero);
	assert_run(&rs.run[0], &gm, 0, 0, 5 * PG);
	assert_false(rs.run[1].zero);
	assert_run(&rs.run[1], &gm, 5 * PG, 5 * PG, 100);
	gm_free(&gm);
}

static void zero_split(void **state)
{
	struct guest_memory gm = split_gm();
	struct runs rs = { 0 };
	uint64_t bm[1] = { 0 };

	gm.base[0] = 1;
	gm.base[2 * PG - 1] = 1;
	gm.base[4 * PG + 7] = 1;
	assert_int_equal(gm_for_each_run(&gm, NULL, GM_RUNS_SPLIT_ZERO, collect, &rs), 0);
	/* [0,2) data, [2,4) zero, [4,5) data, [5,16) zero, then the high region, zero. */
	assert_int_equal(rs.n, 5);
	assert_run(&rs.run[0], &gm, 0, 0, 2 * PG);
	assert_false(rs.run[0].zero);
	assert_run(&rs.run[1], &gm, 2 * PG, 2 * PG, 2 * PG);
	assert_true(rs.run[1].zero);
	assert_run(&rs.run[2], &gm, 4 * PG, 4 * PG, PG);
	assert_false(rs.run[2].zero);
	assert_run(&rs.run[3], &gm, 5 * PG, 5 * PG, (LOW_PAGES - 5) * PG);
	assert_true(rs.run[3].zero);
	assert_true(rs.run[4].zero);
	/* Without the flag a run is not looked at: zero stays false. */
	set_bit(bm, 2);
	set_bit(bm, 3);
	rs.n = 0;
	assert_int_equal(gm_for_each_run(&gm, bm, 0, collect, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_false(rs.run[0].zero);
	free(gm.base);
}

static void callback_stops_the_walk(void **state)
{
	struct guest_memory gm = split_gm();
	struct runs rs = { .stop_after = 1 };

	assert_int_equal(gm_for_each_run(&gm, NULL, 0, collect, &rs), -ECANCELED);
	assert_int_equal(rs.n, 1);
	free(gm.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(regions_in_order),
		cmocka_unit_test(empty_bitmap),
		cmocka_unit_test(full_bitmap_splits_at_the_hole),
		cmocka_unit_test(runs_at_region_edges),
		cmocka_unit_test(real_ram_across_the_hole),
		cmocka_unit_test(last_page_partial),
		cmocka_unit_test(zero_split),
		cmocka_unit_test(callback_stops_the_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
