// SPDX-License-Identifier: Apache-2.0
/*
 * The VM parts of an unpacked image (vm_image.h) and qcow2 disks converted
 * to raw (qcow2.h): which files count, their order, the cmdline's two
 * sources, what is refused (symlinks, directories, a qcow2 with a backing
 * file), and a conversion that keeps the name, mode and contents.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/image/qcow2.h"
#include "agent/image/vm_image.h"

struct fixture {
	char dir[64];
};

static void put(struct fixture *f, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void mkdirs(struct fixture *f, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/kvmlet-vm-image-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	mkdirs(f, "rootfs");
	mkdirs(f, "rootfs/boot");
	mkdirs(f, "rootfs/disk");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(sh("rm -rf %s", f->dir), 0);
	free(f);
	return 0;
}

static void test_parts(void **state)
{
	struct fixture *f = *state;
	struct vm_image_parts p;
	struct err err = { 0 };

	put(f, "rootfs/boot/vmlinuz", "ELF", 3);
	put(f, "rootfs/boot/cmdline", "console=ttyS0 quiet\n", 20);
	put(f, "rootfs/disk/1-data.img", "d", 1);
	put(f, "rootfs/disk/0-root.img", "r", 1);
	put(f, "rootfs/README", "x", 1);
	assert_int_equal(vm_image_find(f->dir, "rootfs", NULL, &p, &err), 0);
	assert_string_equal(p.kernel, "rootfs/boot/vmlinuz");
	assert_null(p.initrd);
	assert_string_equal(p.cmdline, "console=ttyS0 quiet");
	assert_int_equal(p.nr_disks, 2);
	assert_string_equal(p.disks[0], "rootfs/disk/0-root.img");
	assert_string_equal(p.disks[1], "rootfs/disk/1-data.img");
	vm_image_parts_free(&p);

	/* The label wins over the file. */
	put(f, "rootfs/boot/initrd", "i", 1);
	assert_int_equal(vm_image_find(f->dir, "rootfs", "root=/dev/vda", &p, &err), 0);
	assert_string_equal(p.cmdline, "root=/dev/vda");
	assert_string_equal(p.initrd, "rootfs/boot/initrd");
	vm_image_parts_free(&p);

	/* The label is held to what the file is: one line, bounded. */
	assert_int_equal(vm_image_find(f->dir, "rootfs", "a\nb", &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "one line"));
	assert_int_equal(vm_image_find(f->dir, "rootfs", "a\x1b[2Jb", &p, &err), -EINVAL);
	{
		char *big = malloc(VM_IMAGE_CMDLINE_MAX + 2);

		assert_non_null(big);
		memset(big, 'x', VM_IMAGE_CMDLINE_MAX + 1);
		big[VM_IMAGE_CMDLINE_MAX + 1] = '\0';
		assert_int_equal(vm_image_find(f->dir, "rootfs", big, &p, &err), -EFBIG);
		free(big);
	}
}

static void test_none(void **state)
{
	struct fixture *f = *state;
	struct vm_image_parts p;
	struct err err = { 0 };

	assert_int_equal(sh("rm -rf %s/rootfs/boot %s/rootfs/disk", f->dir, f->dir), 0);
	assert_int_equal(vm_image_find(f->dir, "rootfs", NULL, &p, &err), 0);
	assert_null(p.kernel);
	assert_null(p.cmdline);
	assert_int_equal(p.nr_disks, 0);
	vm_image_parts_free(&p);
}

static void expect_refused(struct fixture *f, const char *what)
{
	struct vm_image_parts p;
	struct err err = { 0 };

	assert_int_not_equal(vm_image_find(f->dir, "rootfs", NULL, &p, &err), 0);
	if (!strstr(err.msg, what))
		fail_msg("expected \"%s\" in \"%s\"", what, err.msg);
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/rootfs/boot/vmlinuz", f->dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	expect_refused(f, "/boot/vmlinuz");
	unlink(path);
	mkdirs(f, "rootfs/boot/vmlinuz");
	expect_refused(f, "not a regular file");
	rmdir(path);
	snprintf(path, sizeof(path), "%s/rootfs/disk/x.img", f->dir);
	assert_int_equal(symlink("../boot", path), 0);
	expect_refused(f, "/disk/x.img: not a regular file");
	unlink(path);
	put(f, "rootfs/boot/cmdline", "a\nb\n", 4);
	expect_refused(f, "one line");
	snprintf(path, sizeof(path), "%s/rootfs/boot/cmdline", f->dir);
	unlink(path);
	put(f, "rootfs/boot/cmdline", "a\rb\n", 4);
	expect_refused(f, "one line");
	unlink(path);
	assert_int_equal(sh("rm -rf %s/rootfs/disk", f->dir), 0);
	snprintf(path, sizeof(path), "%s/rootfs/disk", f->dir);
	assert_int_equal(symlink("/tmp", path), 0);
	expect_refused(f, "/disk");
}

static bool have_qemu_img(void)
{
	return sh("qemu-img --version >/dev/null 2>&1") == 0;
}

static void test_qcow2(void **state)
{
	struct fixture *f = *state;
	struct qcow2_options opt = { 0 };
	struct vm_image_parts p;
	struct err err = { 0 };
	char raw[PATH_MAX], path[PATH_MAX], buf[64];
	struct stat st;
	bool is;
	int fd;

	if (!have_qemu_img())
		skip();
	snprintf(raw, sizeof(raw), "%s/src.img", f->dir);
	assert_int_equal(
		sh("truncate -s 4M %s && printf 'kvmlet qcow2' | dd of=%s bs=1 seek=1048576 "
		   "conv=notrunc 2>/dev/null && qemu-img convert -f raw -O qcow2 %s "
		   "%s/rootfs/disk/root.qcow2",
		   raw, raw, raw, f->dir),
		0);
	snprintf(path, sizeof(path), "%s/rootfs/disk/root.qcow2", f->dir);
	assert_int_equal(chmod(path, 0444), 0);
	fd = open(path, O_RDONLY);
	assert_int_equal(qcow2_probe(fd, &is), 0);
	assert_true(is);
	close(fd);
	assert_int_equal(vm_image_find(f->dir, "rootfs", NULL, &p, &err), 0);
	assert_int_equal(vm_image_convert_disks(f->dir, &p, &opt, &err), 0);
	vm_image_parts_free(&p);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 4 << 20);
	assert_int_equal(st.st_mode & 0777, 0444);
	fd = open(path, O_RDONLY);
	assert_int_equal(qcow2_probe(fd, &is), 0);
	assert_false(is);
	assert_int_equal(pread(fd, buf, 12, 1 << 20), 12);
	assert_memory_equal(buf, "kvmlet qcow2", 12);
	close(fd);
	assert_int_equal(sh("cmp -s %s %s", raw, path), 0);
	snprintf(path, sizeof(path), "%s/rootfs/disk/root.qcow2.raw.tmp", f->dir);
	assert_int_equal(access(path, F_OK), -1);

	/* Over the cap: refused before anything is written. */
	assert_int_equal(sh("qemu-img create -q -f qcow2 %s/rootfs/disk/big.qcow2 1G", f->dir), 0);
	opt.max_virtual_size = 1 << 20;
	assert_int_equal(vm_image_find(f->dir, "rootfs", NULL, &p, &err), 0);
	assert_int_equal(vm_image_convert_disks(f->dir, &p, &opt, &err), -EFBIG);
	vm_image_parts_free(&p);
	snprintf(path, sizeof(path), "%s/rootfs/disk/big.qcow2.raw.tmp", f->dir);
	assert_int_equal(access(path, F_OK), -1);
}

/* The cap holds for the disks together: three of 1 MiB each under a 2.5 MiB cap. */
static void test_qcow2_total_cap(void **state)
{
	struct fixture *f = *state;
	struct qcow2_options opt = { .max_virtual_size = 5 << 19 };
	struct vm_image_parts p;
	struct err err = { 0 };
	char path[PATH_MAX];
	bool is;
	int fd;

	if (!have_qemu_img())
		skip();
	for (char c = 'a'; c <= 'c'; c++)
		assert_int_equal(
			sh("qemu-img create -q -f qcow2 %s/rootfs/disk/%c.qcow2 1M", f->dir, c), 0);
	assert_int_equal(vm_image_find(f->dir, "rootfs", NULL, &p, &err), 0);
	assert_int_equal(vm_image_convert_disks(f->dir, &p, &opt, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "c.qcow2"));
	vm_image_parts_free(&p);
	snprintf(path, sizeof(path), "%s/rootfs/disk/b.qcow2", f->dir);
	fd = open(path, O_RDONLY);
	assert_int_equal(qcow2_probe(fd, &is), 0);
	assert_false(is); /* a and b converted, c refused */
	close(fd);
}

static void test_qcow2_backing_file(void **state)
{
	struct fixture *f = *state;
	struct qcow2_options opt = { 0 };
	struct err err = { 0 };
	char path[PATH_MAX];

	if (!have_qemu_img())
		skip();
	snprintf(path, sizeof(path), "%s/rootfs/disk/b.qcow2", f->dir);
	assert_int_equal(sh("truncate -s 1M %s/back.img && qemu-img create -q -f qcow2 -b "
			    "%s/back.img -F raw %s",
			    f->dir, f->dir, path),
			 0);
	assert_int_equal(qcow2_convert_to_raw(path, &opt, &err), -EPERM);
	assert_non_null(strstr(err.msg, "backing file"));

	/* Not a qcow2 at all: qemu-img's error, and the file stays. */
	memset(&err, 0, sizeof(err));
	put(f, "rootfs/disk/c.qcow2", "QFI\xfbnot really", 15);
	snprintf(path, sizeof(path), "%s/rootfs/disk/c.qcow2", f->dir);
	assert_int_not_equal(qcow2_convert_to_raw(path, &opt, &err), 0);
	assert_int_equal(access(path, F_OK), 0);

	memset(&err, 0, sizeof(err));
	opt.qemu_img = "/nonexistent/qemu-img";
	assert_int_equal(qcow2_convert_to_raw(path, &opt, &err), -ENOENT);
}

/* A qemu-img that hangs in convert is killed at the time limit. */
static void test_convert_timeout(void **state)
{
	struct fixture *f = *state;
	struct qcow2_options opt = { .timeout_ms = 300 };
	struct err err = { 0 };
	char tool[PATH_MAX], path[PATH_MAX];
	static const char script[] = "#!/bin/sh\n"
				     "case \"$1\" in\n"
				     "info) echo '{\"virtual-size\": 1024}' ;;\n"
				     "convert) exec sleep 60 ;;\n"
				     "esac\n";

	snprintf(tool, sizeof(tool), "%s/qemu-img", f->dir);
	put(f, "qemu-img", script, sizeof(script) - 1);
	assert_int_equal(chmod(tool, 0755), 0);
	put(f, "rootfs/disk/d.qcow2", "QFI\xfb", 4);
	snprintf(path, sizeof(path), "%s/rootfs/disk/d.qcow2", f->dir);
	opt.qemu_img = tool;
	assert_int_equal(qcow2_convert_to_raw(path, &opt, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "killed after 300 ms"));
	assert_int_equal(access(path, F_OK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qcow2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qcow2_total_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qcow2_backing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_convert_timeout, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
