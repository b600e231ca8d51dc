// SPDX-License-Identifier: Apache-2.0
/* Writable disk copies (agent/vm/disk.h): sparse stays sparse, data stays data. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/vm/disk.h"

#define MiB (1 << 20)

static char dir[64];

static int setup(void **state)
{
	/* The build tree, not /tmp: a real disk file system with holes (and maybe reflinks). */
	snprintf(dir, sizeof(dir), "kvmlet-disk-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* 64 MiB: 1 MiB of data at 0, 1 MiB at 40 MiB, the rest holes. */
static void make_source(const char *path)
{
	char *buf = malloc(MiB);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	memset(buf, 0x5a, MiB);
	assert_int_equal(pwrite(fd, buf, MiB, 0), MiB);
	memset(buf, 0xc3, MiB);
	assert_int_equal(pwrite(fd, buf, MiB, 40 * MiB), MiB);
	assert_int_equal(ftruncate(fd, 64 * MiB), 0);
	close(fd);
	free(buf);
}

static void same_bytes(const char *a, const char *b)
{
	char *x = malloc(MiB), *y = malloc(MiB);
	int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);

	for (off_t off = 0; off < 64 * MiB; off += MiB) {
		assert_int_equal(pread(fa, x, MiB, off), MiB);
		assert_int_equal(pread(fb, y, MiB, off), MiB);
		assert_memory_equal(x, y, MiB);
	}
	close(fa);
	close(fb);
	free(x);
	free(y);
}

static void clone_stays_sparse(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct err err = { 0 };
	struct stat st;
	bool reflinked;

	snprintf(src, sizeof(src), "%s/src.img", dir);
	snprintf(dst, sizeof(dst), "%s/dst.img", dir);
	make_source(src);
	assert_int_equal(vm_disk_clone(src, dst, 4242, &reflinked, &err), 0);
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_size, 64 * MiB);
	/* Root's file, the VM's by group: the VM cannot chmod it. */
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 4242);
	assert_int_equal(st.st_mode & 07777, 0660);
	/* 2 MiB of data; a dense copy would take 64. */
	assert_true((uint64_t)st.st_blocks * 512 <= 4 * MiB);
	same_bytes(src, dst);

	/* The destination must be new. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(vm_disk_clone(src, dst, 4242, &reflinked, &err), -EEXIST);
	/* A missing source leaves nothing behind. */
	memset(&err, 0, sizeof(err));
	snprintf(src, sizeof(src), "%s/none.img", dir);
	snprintf(dst, sizeof(dst), "%s/dst2.img", dir);
	assert_int_equal(vm_disk_clone(src, dst, 4242, &reflinked, &err), -ENOENT);
	assert_int_equal(access(dst, F_OK), -1);
}

/* The fallback by itself, whatever the file system would reflink. */
static void sparse_copy(void **state)
{
	char src[PATH_MAX], dst[PATH_MAX];
	struct err err = { 0 };
	struct stat st;
	int in, out;

	snprintf(src, sizeof(src), "%s/s.img", dir);
	snprintf(dst, sizeof(dst), "%s/d.img", dir);
	make_source(src);
	in = open(src, O_RDONLY);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_int_equal(vm_disk_copy_sparse(in, out, &err), 0);
	close(in);
	close(out);
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_size, 64 * MiB);
	assert_true((uint64_t)st.st_blocks * 512 <= 4 * MiB);
	same_bytes(src, dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(clone_stays_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(sparse_copy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
