// SPDX-License-Identifier: Apache-2.0
/* Guest memory: layout around the MMIO hole, gm_ptr bounds, backends, memmap. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlet/platform.h"
#include "tests/unit/images.h"
#include "vmm/boot/memmap.h"

static void layout_below_hole(void **state)
{
	struct mem_region r[GM_MAX_REGIONS];

	memset(r, 0xee, sizeof(r));
	assert_int_equal(gm_layout(128 * MiB, r), 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 128 * MiB);
	/* The unused slot is cleared. */
	assert_int_equal(r[1].gpa, 0);
	assert_int_equal(r[1].size, 0);

	assert_int_equal(gm_layout(PLAT_MMIO_HOLE_START - 1, r), 1);
	assert_int_equal(r[0].size, PLAT_MMIO_HOLE_START - 1);
}

static void layout_at_hole(void **state)
{
	struct mem_region r[GM_MAX_REGIONS];

	assert_int_equal(gm_layout(PLAT_MMIO_HOLE_START, r), 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, PLAT_MMIO_HOLE_START);
	assert_int_equal(r[1].size, 0);
}

static void layout_above_hole(void **state)
{
	struct mem_region r[GM_MAX_REGIONS];

	assert_int_equal(gm_layout(PLAT_MMIO_HOLE_START + 1, r), 2);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, PLAT_MMIO_HOLE_START);
	assert_int_equal(r[1].gpa, PLAT_MMIO_HOLE_END);
	assert_int_equal(r[1].size, 1);

	assert_int_equal(gm_layout(8 * GiB, r), 2);
	assert_int_equal(r[0].size, 3 * GiB);
	assert_int_equal(r[1].gpa, 4 * GiB);
	assert_int_equal(r[1].size, 5 * GiB);
	/* No RAM in the hole, none lost. */
	assert_int_equal(r[0].size + r[1].size, 8 * GiB);
}

static void alloc_anon(void **state)
{
	struct guest_memory gm;

	test_gm_alloc(&gm, 64 * MiB);
	assert_int_equal(gm.nr_regions, 1);
	assert_int_equal(gm.size, 64 * MiB);
	assert_int_equal(gm.memfd, -1);
	assert_non_null(gm.base);
	assert_ptr_equal(gm.region[0].host, gm.base);
	assert_int_equal(gm.region[0].gpa, 0);
	assert_int_equal(gm.region[0].size, 64 * MiB);
	assert_int_equal(gm_low_end(&gm), 64 * MiB);
	/* Fresh RAM reads as zero and is writable. */
	assert_int_equal(gm.base[64 * MiB - 1], 0);
	gm.base[64 * MiB - 1] = 0x5a;
	assert_int_equal(*(uint8_t *)gm_ptr(&gm, 64 * MiB - 1, 1), 0x5a);
	gm_free(&gm);
	assert_null(gm.base);
	assert_int_equal(gm.nr_regions, 0);
	assert_int_equal(gm.memfd, -1);
	assert_int_equal(gm_low_end(&gm), 0);
	assert_null(gm_ptr(&gm, 0, 1));
}

static void alloc_above_hole(void **state)
{
	struct guest_memory gm;
	uint8_t *p;

	test_gm_alloc(&gm, PLAT_MMIO_HOLE_START + 8 * MiB);
	assert_int_equal(gm.nr_regions, 2);
	assert_int_equal(gm_low_end(&gm), PLAT_MMIO_HOLE_START);
	assert_ptr_equal(gm.region[0].host, gm.base);
	assert_ptr_equal(gm.region[1].host, gm.base + PLAT_MMIO_HOLE_START);
	assert_int_equal(gm.region[1].gpa, PLAT_MMIO_HOLE_END);
	assert_int_equal(gm.region[1].size, 8 * MiB);
	/* 4 GiB in the guest is right after the low region in the host mapping. */
	p = gm_ptr(&gm, PLAT_MMIO_HOLE_END, 8 * MiB);
	assert_ptr_equal(p, gm.base + PLAT_MMIO_HOLE_START);
	p[0] = 0x42;
	assert_int_equal(gm.base[PLAT_MMIO_HOLE_START], 0x42);
	gm_free(&gm);
}

static void alloc_memfd(void **state)
{
	struct guest_memory gm;
	struct err err = { 0 };
	struct stat st;
	uint8_t b = 0;
	int fd;

	assert_int_equal(gm_alloc(&gm, 16 * MiB, MEM_BACKEND_MEMFD, &err), 0);
	assert_int_equal(err.code, 0);
	assert_true(gm.memfd >= 0);
	assert_int_equal(fcntl(gm.memfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(fstat(gm.memfd, &st), 0);
	assert_int_equal(st.st_size, 16 * MiB);
	assert_int_equal(gm.nr_regions, 1);
	/* The mapping is shared with the memfd, both ways. */
	*(uint8_t *)gm_ptr(&gm, 5 * MiB + 3, 1) = 0xc3;
	assert_int_equal(pread(gm.memfd, &b, 1, 5 * MiB + 3), 1);
	assert_int_equal(b, 0xc3);
	b = 0x3c;
	assert_int_equal(pwrite(gm.memfd, &b, 1, 7 * MiB), 1);
	assert_int_equal(gm.base[7 * MiB], 0x3c);

	fd = gm.memfd;
	gm_free(&gm);
	assert_int_equal(gm.memfd, -1);
	assert_null(gm.base);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
	assert_int_equal(errno, EBADF);
}

static void alloc_failure(void **state)
{
	struct guest_memory gm;
	struct err err = { 0 };
	int r;

	/* More address space than any x86-64 host has. */
	r = gm_alloc(&gm, 1ULL << 62, MEM_BACKEND_ANON, &err);
	assert_true(r < 0);
	assert_err(&err, r, "guest RAM");
	assert_null(gm.base);
	assert_int_equal(gm.nr_regions, 0);
	assert_int_equal(gm.memfd, -1);
	gm_free(&gm); /* harmless after a failure */
}

static void ptr_bounds_one_region(void **state)
{
	struct guest_memory gm;
	const uint64_t size = 4 * MiB;

	test_gm_alloc(&gm, size);
	assert_ptr_equal(gm_ptr(&gm, 0, size), gm.base);
	assert_ptr_equal(gm_ptr(&gm, 0x1234, 16), gm.base + 0x1234);
	assert_ptr_equal(gm_ptr(&gm, size - 1, 1), gm.base + size - 1);
	assert_null(gm_ptr(&gm, size - 1, 2));
	assert_null(gm_ptr(&gm, size, 1));
	assert_null(gm_ptr(&gm, 0, size + 1));
	/* Empty ranges: anywhere in RAM or right at its end, not beyond. */
	assert_ptr_equal(gm_ptr(&gm, 0, 0), gm.base);
	assert_ptr_equal(gm_ptr(&gm, size, 0), gm.base + size);
	assert_null(gm_ptr(&gm, size + 1, 0));
	/* Sums that would wrap around. */
	assert_null(gm_ptr(&gm, UINT64_MAX - 1, 16));
	assert_null(gm_ptr(&gm, UINT64_MAX, 1));
	assert_null(gm_ptr(&gm, 1, UINT64_MAX));
	assert_null(gm_ptr(&gm, 0, UINT64_MAX));
	assert_null(gm_ptr(&gm, 16, UINT64_MAX - 8));
	gm_free(&gm);
}

static void ptr_bounds_two_regions(void **state)
{
	struct guest_memory gm;
	const uint64_t high = 8 * MiB, hole = PLAT_MMIO_HOLE_START, top = PLAT_MMIO_HOLE_END;

	test_gm_alloc(&gm, hole + high);
	assert_ptr_equal(gm_ptr(&gm, hole - 16, 16), gm.base + hole - 16);
	assert_ptr_equal(gm_ptr(&gm, top, high), gm.base + hole);
	assert_ptr_equal(gm_ptr(&gm, top + high - 1, 1), gm.base + hole + high - 1);
	/* Straddling the hole, or either of its edges. */
	assert_null(gm_ptr(&gm, hole - 16, 32));
	assert_null(gm_ptr(&gm, hole - 16, top - hole + 32));
	assert_null(gm_ptr(&gm, top - 16, 32));
	/* Inside the hole. */
	assert_null(gm_ptr(&gm, hole, 1));
	assert_null(gm_ptr(&gm, hole + GiB / 2, 4096));
	assert_null(gm_ptr(&gm, top - 1, 1));
	/* Past the end of the high region. */
	assert_null(gm_ptr(&gm, top + high - 1, 2));
	assert_null(gm_ptr(&gm, top + high, 1));
	assert_null(gm_ptr(&gm, UINT64_MAX - 1, 16));
	assert_null(gm_ptr(&gm, top, UINT64_MAX));
	/* The host mapping is contiguous, but the guest's view is not. */
	assert_null(gm_ptr(&gm, 0, hole + 1));
	gm_free(&gm);
}

static void assert_entry(const struct memmap_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

static struct guest_memory fake_gm(uint64_t bytes)
{
	struct guest_memory gm = { .size = bytes, .memfd = -1 };

	gm.nr_regions = gm_layout(bytes, gm.region);
	return gm;
}

static void memmap_small(void **state)
{
	struct guest_memory gm = fake_gm(128 * MiB);
	struct memmap_entry m[MEMMAP_MAX];

	assert_int_equal(memmap_build(&gm, m), 3);
	assert_entry(&m[0], 0, PLAT_EBDA_START, MEMMAP_RAM);
	assert_entry(&m[1], PLAT_EBDA_START, PLAT_HIMEM_START - PLAT_EBDA_START, MEMMAP_RESERVED);
	assert_entry(&m[2], PLAT_HIMEM_START, 127 * MiB, MEMMAP_RAM);
	/* The MP table lives in reserved memory, where the kernel won't reuse it. */
	assert_true(PLAT_MPTABLE_ADDR >= m[1].addr && PLAT_MPTABLE_ADDR < m[1].addr + m[1].size);
	assert_int_equal(MEMMAP_RAM, 1);
	assert_int_equal(MEMMAP_RESERVED, 2);
}

static void memmap_exactly_1m(void **state)
{
	struct guest_memory gm = fake_gm(PLAT_HIMEM_START);
	struct memmap_entry m[MEMMAP_MAX];

	assert_int_equal(memmap_build(&gm, m), 2);
	assert_entry(&m[0], 0, PLAT_EBDA_START, MEMMAP_RAM);
	assert_entry(&m[1], PLAT_EBDA_START, PLAT_HIMEM_START - PLAT_EBDA_START, MEMMAP_RESERVED);
}

static void memmap_at_hole(void **state)
{
	struct guest_memory gm = fake_gm(PLAT_MMIO_HOLE_START);
	struct memmap_entry m[MEMMAP_MAX];

	assert_int_equal(memmap_build(&gm, m), 3);
	assert_entry(&m[2], PLAT_HIMEM_START, PLAT_MMIO_HOLE_START - PLAT_HIMEM_START, MEMMAP_RAM);
}

static void memmap_above_hole(void **state)
{
	struct guest_memory gm = fake_gm(6 * GiB);
	struct memmap_entry m[MEMMAP_MAX];
	uint64_t ram = 0;
	unsigned int n = memmap_build(&gm, m);

	assert_int_equal(n, 4);
	assert_entry(&m[0], 0, PLAT_EBDA_START, MEMMAP_RAM);
	assert_entry(&m[1], PLAT_EBDA_START, PLAT_HIMEM_START - PLAT_EBDA_START, MEMMAP_RESERVED);
	assert_entry(&m[2], PLAT_HIMEM_START, PLAT_MMIO_HOLE_START - PLAT_HIMEM_START, MEMMAP_RAM);
	assert_entry(&m[3], PLAT_MMIO_HOLE_END, 3 * GiB, MEMMAP_RAM);
	/* Ascending, non-overlapping, and accounting for all RAM. */
	for (unsigned int i = 0; i < n; i++) {
		if (i)
			assert_true(m[i].addr >= m[i - 1].addr + m[i - 1].size);
		if (m[i].type == MEMMAP_RAM)
			ram += m[i].size;
	}
	assert_int_equal(ram, 6 * GiB - (PLAT_HIMEM_START - PLAT_EBDA_START));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_below_hole),
		cmocka_unit_test(layout_at_hole),
		cmocka_unit_test(layout_above_hole),
		cmocka_unit_test(alloc_anon),
		cmocka_unit_test(alloc_above_hole),
		cmocka_unit_test(alloc_memfd),
		cmocka_unit_test(alloc_failure),
		cmocka_unit_test(ptr_bounds_one_region),
		cmocka_unit_test(ptr_bounds_two_regions),
		cmocka_unit_test(memmap_small),
		cmocka_unit_test(memmap_exactly_1m),
		cmocka_unit_test(memmap_at_hole),
		cmocka_unit_test(memmap_above_hole),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
