// SPDX-License-Identifier: Apache-2.0
/*
 * Guest RAM files without KVM: full writes (sparse and exact), diff writes
 * of the VMM's dirty pages in place, and gm_map_file's lazy private maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlet/platform.h"
#include "tests/unit/images.h"
#include "vmm/snapshot/mem_file.h"

#define RAM  (8 * MiB)
/* Well beyond the host read-ahead window (8 MiB on the CI disks). */
#define LAZY (64 * MiB)
#define PG   4096

struct fixture {
	char path[64];
	struct guest_memory gm;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	if (!f)
		return -1;
	strcpy(f->path, "/tmp/kvmlet-snapmem-XXXXXX");
	fd = mkstemp(f->path);
	if (fd < 0)
		return -1;
	close(fd);
	f->gm.memfd = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gm_free(&f->gm);
	unlink(f->path);
	free(f);
	return 0;
}

static void fill_page(struct guest_memory *gm, uint64_t pg, uint8_t seed)
{
	for (unsigned int i = 0; i < PG; i++)
		gm->base[pg * PG + i] = (uint8_t)(seed + i * 7);
}

/* The file equals guest RAM byte for byte. */
static void assert_file_is_ram(const char *path, const struct guest_memory *gm)
{
	uint8_t *buf = malloc(gm->size);
	int fd = open(path, O_RDONLY);
	struct stat st;

	assert_non_null(buf);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, gm->size);
	assert_int_equal(pread(fd, buf, gm->size, 0), (ssize_t)gm->size);
	assert_memory_equal(buf, gm->base, gm->size);
	close(fd);
	free(buf);
}

static void full_sparse_exact(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };
	struct stat st;
	int fd;

	/* A larger old file with data where RAM is zero: truncated away. */
	fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * RAM), 0);
	assert_int_equal(pwrite(fd, "junk", 4, PG), 4);
	assert_int_equal(pwrite(fd, "junk", 4, RAM + PG), 4);
	close(fd);

	test_gm_alloc(&f->gm, RAM);
	fill_page(&f->gm, 0, 1);
	fill_page(&f->gm, 5, 2);
	f->gm.base[1000 * PG + 17] = 0x42; /* one byte is enough to count */
	fill_page(&f->gm, RAM / PG - 1, 3);
	assert_int_equal(mem_file_write(&f->gm, -1, f->path, false, &err), 0);
	assert_file_is_ram(f->path, &f->gm);

	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	/* Four data pages, the rest holes. */
	assert_true((uint64_t)st.st_blocks * 512 <= 64 * 1024);
	assert_int_equal(lseek(fd, PG, SEEK_DATA), 5 * PG);
	assert_int_equal(lseek(fd, 5 * PG, SEEK_HOLE), 6 * PG);
	close(fd);
}

/* A restored VM can take a full snapshot over the file it runs from. */
static void full_over_own_file(void **state)
{
	struct fixture *f = *state;
	struct guest_memory src;
	struct err err = { 0 };
	uint8_t byte;
	int fd;

	test_gm_alloc(&src, RAM);
	fill_page(&src, 1, 40);
	fill_page(&src, 2, 50);
	assert_int_equal(mem_file_write(&src, -1, f->path, false, &err), 0);
	assert_int_equal(gm_map_file(&f->gm, RAM, f->path, &err), 0);
	fill_page(&f->gm, 1, 60); /* the guest's own change */
	assert_int_equal(mem_file_write(&f->gm, -1, f->path, false, &err), 0);
	/* Pages the guest never touched still read from the old file, intact. */
	assert_memory_equal(f->gm.base + 2 * PG, src.base + 2 * PG, PG);
	assert_file_is_ram(f->path, &f->gm);
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, &byte, 1, PG), 1);
	assert_int_equal(byte, 60);
	close(fd);
	gm_free(&src);
}

static void diff_writes_marked_pages(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };
	uint8_t page[PG];
	int fd;

	test_gm_alloc(&f->gm, RAM);
	fill_page(&f->gm, 2, 9);
	assert_int_equal(mem_file_write(&f->gm, -1, f->path, false, &err), 0);
	assert_int_equal(gm_dirty_enable(&f->gm), 0);

	fill_page(&f->gm, 3, 20);
	gm_mark_dirty(&f->gm, f->gm.base + 3 * PG, PG);
	/* A dirty page that became zero must be written as zeros, not skipped. */
	memset(f->gm.base + 2 * PG, 0, PG);
	gm_mark_dirty(&f->gm, f->gm.base + 2 * PG + 100, 1);
	/* Not marked: stays as it was in the file. */
	fill_page(&f->gm, 7, 30);
	assert_int_equal(mem_file_write(&f->gm, -1, f->path, true, &err), 0);

	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, page, PG, 3 * PG), PG);
	assert_memory_equal(page, f->gm.base + 3 * PG, PG);
	assert_int_equal(pread(fd, page, PG, 2 * PG), PG);
	assert_memory_equal(page, f->gm.base + 2 * PG, PG);
	assert_int_equal(pread(fd, page, PG, 7 * PG), PG);
	for (unsigned int i = 0; i < PG; i++)
		assert_int_equal(page[i], 0);
	close(fd);

	/* The bitmap was reset: a second diff writes nothing new. */
	for (uint64_t w = 0; w < RAM / PG / 64; w++)
		assert_int_equal(f->gm.dirty[w], 0);
	fill_page(&f->gm, 3, 99);
	assert_int_equal(mem_file_write(&f->gm, -1, f->path, true, &err), 0);
	fd = open(f->path, O_RDONLY);
	assert_int_equal(pread(fd, page, 1, 3 * PG), 1);
	assert_int_equal(page[0], 20);
	close(fd);
}

static void diff_onto_new_file(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };
	struct stat st;
	uint8_t page[PG];
	int fd;

	unlink(f->path);
	test_gm_alloc(&f->gm, RAM);
	assert_int_equal(gm_dirty_enable(&f->gm), 0);
	fill_page(&f->gm, 11, 5);
	gm_mark_dirty(&f->gm, f->gm.base + 11 * PG, PG);
	fill_page(&f->gm, 12, 6); /* not marked */
	assert_int_equal(mem_file_write(&f->gm, -1, f->path, true, &err), 0);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, RAM);
	assert_int_equal(lseek(fd, 0, SEEK_DATA), 11 * PG);
	assert_int_equal(lseek(fd, 11 * PG, SEEK_HOLE), 12 * PG);
	assert_int_equal(pread(fd, page, PG, 11 * PG), PG);
	assert_memory_equal(page, f->gm.base + 11 * PG, PG);
	close(fd);
}

static void diff_needs_tracking(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };

	test_gm_alloc(&f->gm, RAM);
	assert_int_equal(mem_file_write(&f->gm, -1, f->path, true, &err), -EINVAL);
	assert_err(&err, -EINVAL, "dirty tracking");
	memset(&err, 0, sizeof(err));
	assert_int_equal(mem_file_write(&f->gm, -1, "/nonexistent/dir/mem", false, &err), -ENOENT);
	assert_err(&err, -ENOENT, "/nonexistent/dir/mem");
}

/* Whether the page at p has a page-table entry (present or swapped). */
static bool pte_present(const void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &e, 8, (off_t)((uintptr_t)p / PG * 8)), 8);
	close(fd);
	return e & (3ull << 62);
}

static void map_file_lazy_private(void **state)
{
	struct fixture *f = *state;
	struct guest_memory src;
	struct err err = { 0 };
	unsigned char vec[LAZY / PG];
	uint8_t byte;
	int fd;

	test_gm_alloc(&src, LAZY);
	for (uint64_t pg = 0; pg < LAZY / PG; pg += 64)
		fill_page(&src, pg, (uint8_t)pg);
	assert_int_equal(mem_file_write(&src, -1, f->path, false, &err), 0);
	/* Drop the file from the page cache, so residency shows what the map reads. */
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);

	assert_int_equal(gm_map_file(&f->gm, LAZY, f->path, &err), 0);
	assert_int_equal(f->gm.memfd, -1);
	assert_int_equal(f->gm.nr_regions, 1);
	assert_ptr_equal(f->gm.region[0].host, f->gm.base);
	assert_int_equal((uintptr_t)f->gm.base % (2 * MiB), 0);
	/* Nothing read or mapped yet. */
	assert_int_equal(mincore(f->gm.base, LAZY, vec), 0);
	for (size_t i = 0; i < sizeof(vec); i++)
		if (vec[i] & 1)
			fail_msg("page %zu is resident right after the map", i);
	assert_false(pte_present(f->gm.base));
	assert_false(pte_present(f->gm.base + LAZY - PG));

	/* Touching one page reads that page, not the far end. */
	assert_memory_equal(f->gm.base + 64 * PG, src.base + 64 * PG, PG);
	assert_true(pte_present(f->gm.base + 64 * PG));
	assert_int_equal(mincore(f->gm.base, LAZY, vec), 0);
	assert_true(vec[64] & 1);
	assert_false(vec[LAZY / PG - 64] & 1);
	assert_false(pte_present(f->gm.base + LAZY - PG));

	/* Private: the guest's writes never reach the file. */
	memset(f->gm.base + 64 * PG, 0xee, PG);
	assert_int_equal(pread(fd, &byte, 1, 64 * PG), 1);
	assert_int_equal(byte, src.base[64 * PG]);
	assert_memory_equal(f->gm.base + 128 * PG, src.base + 128 * PG, PG);
	close(fd);
	gm_free(&src);
}

static void map_file_refusals(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };
	int fd;

	fd = open(f->path, O_WRONLY);
	assert_int_equal(ftruncate(fd, PG), 0);
	close(fd);
	assert_int_equal(gm_map_file(&f->gm, RAM, f->path, &err), -EINVAL);
	assert_err(&err, -EINVAL, "is 4096 bytes, the snapshot needs 8388608");
	assert_null(f->gm.base);
	memset(&err, 0, sizeof(err));
	assert_int_equal(gm_map_file(&f->gm, RAM, "/nonexistent-kvmlet-mem", &err), -ENOENT);
	assert_err(&err, -ENOENT, "/nonexistent-kvmlet-mem");
	memset(&err, 0, sizeof(err));
	assert_int_equal(gm_map_file(&f->gm, RAM, "/tmp", &err), -EINVAL);
	assert_err(&err, -EINVAL, "not a regular file");
}

/* Above 3 GiB RAM splits around the MMIO hole, as gm_alloc does. */
static void map_file_regions(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };
	uint64_t bytes = PLAT_MMIO_HOLE_START + 4 * MiB;
	int fd;

	fd = open(f->path, O_WRONLY);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	assert_int_equal(pwrite(fd, "hi", 2, PLAT_MMIO_HOLE_START), 2);
	close(fd);
	assert_int_equal(gm_map_file(&f->gm, bytes, f->path, &err), 0);
	assert_int_equal(f->gm.nr_regions, 2);
	assert_int_equal(f->gm.region[1].gpa, PLAT_MMIO_HOLE_END);
	assert_ptr_equal(f->gm.region[1].host, f->gm.base + PLAT_MMIO_HOLE_START);
	assert_memory_equal(gm_ptr(&f->gm, PLAT_MMIO_HOLE_END, 2), "hi", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(full_sparse_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(full_over_own_file, setup, teardown),
		cmocka_unit_test_setup_teardown(diff_writes_marked_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(diff_onto_new_file, setup, teardown),
		cmocka_unit_test_setup_teardown(diff_needs_tracking, setup, teardown),
		cmocka_unit_test_setup_teardown(map_file_lazy_private, setup, teardown),
		cmocka_unit_test_setup_teardown(map_file_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(map_file_regions, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
