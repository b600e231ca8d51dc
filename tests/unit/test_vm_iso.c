// SPDX-License-Identifier: Apache-2.0
/* ISO images of mounts (agent/vm/iso.h), read back with libarchive. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/vm/iso.h"

static char dir[64];

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	fchmod(fd, mode);
	close(fd);
}

static void link_(const char *target, const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(symlink(target, p), 0);
}

static void mkdir_(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static int new_image(void)
{
	char p[] = "/tmp/kvmlet-iso-XXXXXX";
	int fd = mkstemp(p);

	assert_true(fd >= 0);
	unlink(p);
	return fd;
}

struct seen {
	char names[16][64];
	char data[16][64];
	mode_t modes[16];
	int n;
};

static void read_back(int fd, struct seen *s, char *volid)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char pvd[2048];

	memset(s, 0, sizeof(*s));
	assert_int_equal(pread(fd, pvd, sizeof(pvd), 16 * 2048), (ssize_t)sizeof(pvd));
	assert_memory_equal(pvd + 1, "CD001", 5);
	memcpy(volid, pvd + 40, 32);
	volid[32] = '\0';
	for (int i = 31; i >= 0 && volid[i] == ' '; i--)
		volid[i] = '\0';
	lseek(fd, 0, SEEK_SET);
	archive_read_support_format_iso9660(a);
	assert_int_equal(archive_read_open_fd(a, fd, 10240), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (s->n == 16)
			break;
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", archive_entry_pathname(e));
		s->modes[s->n] = archive_entry_mode(e);
		if (archive_entry_filetype(e) == AE_IFREG) {
			la_ssize_t n = archive_read_data(a, s->data[s->n], sizeof(s->data[0]) - 1);
			assert_true(n >= 0);
		}
		s->n++;
	}
	archive_read_free(a);
}

static int find(const struct seen *s, const char *name)
{
	for (int i = 0; i < s->n; i++) {
		const char *n = s->names[i];
		size_t len = strlen(n);

		if (len && n[len - 1] == '/')
			len--;
		if (strlen(name) == len && !strncmp(n, name, len))
			return i;
	}
	return -1;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/kvmlet-iso-dir-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* A Secret as kubelet's atomic writer lays it out, and hostile links. */
static void atomic_writer_layout(void **state)
{
	struct vm_iso_report rep;
	struct err err = { 0 };
	struct seen s;
	char volid[33];
	int fd = new_image(), i;

	mkdir_("..2026_12_08_00_00_00.1");
	put("..2026_12_08_00_00_00.1/token", "secret-token", 0600);
	put("..2026_12_08_00_00_00.1/ca.crt", "CERT", 0644);
	mkdir_("..2026_12_08_00_00_00.1/sub");
	put("..2026_12_08_00_00_00.1/sub/Deep.Name", "deep", 0640);
	link_("..2026_12_08_00_00_00.1", "..data");
	link_("..data/token", "token");
	link_("..data/ca.crt", "ca.crt");
	link_("..data/sub", "sub");
	link_("/etc/passwd", "escape");		/* leaves the mount: skipped */
	link_("../../../../etc", "escape-dir"); /* also */
	link_("missing", "dangling");		/* resolves nowhere: skipped */

	assert_int_equal(
		vm_iso_from_path(dir, "0_SERVICEACCOUNT", VM_ISO_DEFAULT_MAX, fd, &rep, &err), 0);
	assert_int_equal(rep.files, 3);
	assert_int_equal(rep.dirs, 1);
	assert_int_equal(rep.skipped, 3);
	read_back(fd, &s, volid);
	assert_string_equal(volid, "0_SERVICEACCOUNT");
	i = find(&s, "token");
	assert_true(i >= 0);
	assert_string_equal(s.data[i], "secret-token");
	assert_int_equal(s.modes[i] & 07777, 0600); /* Rock Ridge keeps modes */
	i = find(&s, "ca.crt");
	assert_true(i >= 0);
	assert_string_equal(s.data[i], "CERT");
	i = find(&s, "sub/Deep.Name"); /* and case */
	assert_true(i >= 0);
	assert_string_equal(s.data[i], "deep");
	assert_int_equal(find(&s, "escape"), -1);
	assert_int_equal(find(&s, "escape-dir"), -1);
	assert_int_equal(find(&s, "..data"), -1);
	for (int k = 0; k < s.n; k++)
		assert_null(strstr(s.names[k], "passwd"));
	close(fd);
}

static void one_file_and_bounds(void **state)
{
	struct vm_iso_report rep;
	struct err err = { 0 };
	struct seen s;
	char volid[33], path[PATH_MAX];
	int fd = new_image();

	put("hosts", "127.0.0.1 localhost\n", 0644);
	snprintf(path, sizeof(path), "%s/hosts", dir);
	assert_int_equal(vm_iso_from_path(path, "1_HOSTS", VM_ISO_DEFAULT_MAX, fd, &rep, &err), 0);
	read_back(fd, &s, volid);
	assert_string_equal(volid, "1_HOSTS");
	/* The root directory, and the file under its own name. */
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], ".");
	assert_string_equal(s.names[1], "hosts");
	assert_string_equal(s.data[1], "127.0.0.1 localhost\n");
	close(fd);

	/* More than the bound: refused, with the reason. */
	fd = new_image();
	put("big", "0123456789abcdef0123456789abcdef", 0644);
	assert_int_equal(vm_iso_from_path(dir, "2_BIG", 1024, fd, &rep, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "exceed"));
	close(fd);

	/* Not there at all. */
	fd = new_image();
	memset(&err, 0, sizeof(err));
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(vm_iso_from_path(path, "3", VM_ISO_DEFAULT_MAX, fd, &rep, &err), -ENOENT);
	close(fd);
}

/* Mounts that share one disk, each in its own directory. */
static void several_sources(void **state)
{
	struct vm_iso_report rep;
	struct err err = { 0 };
	struct seen s;
	char volid[33], a[PATH_MAX], h[PATH_MAX];
	int fd = new_image(), i;

	mkdir_("cm");
	put("cm/app.conf", "x = 1\n", 0644);
	put("hosts", "::1 localhost\n", 0644);
	snprintf(a, sizeof(a), "%s/cm", dir);
	snprintf(h, sizeof(h), "%s/hosts", dir);
	const struct vm_iso_source src[] = { { a, "6_CONFIG" }, { h, "7_HOSTS" } };
	assert_int_equal(
		vm_iso_from_sources(src, 2, "KVMLET_MOUNTS", VM_ISO_DEFAULT_MAX, fd, &rep, &err),
		0);
	read_back(fd, &s, volid);
	assert_string_equal(volid, "KVMLET_MOUNTS");
	i = find(&s, "6_CONFIG/app.conf");
	assert_true(i >= 0);
	assert_string_equal(s.data[i], "x = 1\n");
	i = find(&s, "7_HOSTS/hosts");
	assert_true(i >= 0);
	assert_string_equal(s.data[i], "::1 localhost\n");
	assert_true(find(&s, "6_CONFIG") >= 0);
	close(fd);
}

struct swapper {
	atomic_bool stop;
	char a[PATH_MAX], b[PATH_MAX];
};

/* Exchanges two names as fast as it can: a volume's hostile writer. */
static void *swap_names(void *arg)
{
	struct swapper *sw = arg;

	while (!atomic_load(&sw->stop))
		syscall(SYS_renameat2, AT_FDCWD, sw->a, AT_FDCWD, sw->b, 2 /* RENAME_EXCHANGE */);
	return NULL;
}

/*
 * A writer of the volume swaps a directory for a link out of it, and a
 * file for a FIFO, while images are built: nothing from outside ever gets
 * in, and no build blocks on the FIFO.
 */
static void swapped_while_walking(void **state)
{
	char outside[64], p[PATH_MAX];
	struct swapper sw[2];
	pthread_t t[2];
	struct timespec t0, now;
	int builds = 0;

	snprintf(outside, sizeof(outside), "/tmp/kvmlet-iso-out-XXXXXX");
	assert_non_null(mkdtemp(outside));
	snprintf(p, sizeof(p), "%s/f", outside);
	int ofd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(ofd >= 0);
	assert_int_equal(write(ofd, "OUTSIDE", 7), 7);
	close(ofd);
	mkdir_("sub");
	put("sub/f", "inside", 0644);
	link_(outside, "alt");
	put("file", "plain", 0644);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	assert_int_equal(mkfifo(p, 0644), 0);

	for (int i = 0; i < 2; i++) {
		atomic_init(&sw[i].stop, false);
		snprintf(sw[i].a, sizeof(sw[i].a), "%s/%s", dir, i ? "file" : "sub");
		snprintf(sw[i].b, sizeof(sw[i].b), "%s/%s", dir, i ? "fifo" : "alt");
		assert_int_equal(pthread_create(&t[i], NULL, swap_names, &sw[i]), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct vm_iso_report rep;
		struct err err = { 0 };
		struct seen s;
		char volid[33];
		int fd = new_image();

		assert_int_equal(vm_iso_from_path(dir, "RACE", VM_ISO_DEFAULT_MAX, fd, &rep, &err),
				 0);
		read_back(fd, &s, volid);
		for (int k = 0; k < s.n; k++)
			assert_null(strstr(s.data[k], "OUTSIDE"));
		close(fd);
		builds++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec < 3);
	for (int i = 0; i < 2; i++) {
		atomic_store(&sw[i].stop, true);
		pthread_join(t[i], NULL);
	}
	assert_true(builds > 10);
	snprintf(p, sizeof(p), "rm -rf '%s'", outside);
	assert_int_equal(system(p), 0);
}

static void cidata_files(void **state)
{
	const struct vm_iso_file files[] = {
		{ "user-data", "#cloud-config\n", 14, 0644 },
		{ "meta-data", "instance-id: x\n", 15, 0644 },
	};
	struct err err = { 0 };
	struct seen s;
	char volid[33];
	int fd = new_image();

	assert_int_equal(vm_iso_from_files(files, 2, "CIDATA", fd, &err), 0);
	read_back(fd, &s, volid);
	assert_string_equal(volid, "CIDATA");
	assert_true(find(&s, "user-data") >= 0);
	assert_string_equal(s.data[find(&s, "meta-data")], "instance-id: x\n");
	close(fd);
}

static void volume_names(void **state)
{
	char b[21];

	vm_iso_volume_name("/var/run/secrets/kubernetes.io/serviceaccount", 0, b, sizeof(b));
	assert_string_equal(b, "0_SERVICEACCOUNT");
	vm_iso_volume_name("/etc/config/", 12, b, sizeof(b));
	assert_string_equal(b, "12_CONFIG");
	vm_iso_volume_name("/data/a-very-long-volume-name-indeed", 3, b, sizeof(b));
	assert_string_equal(b, "3_A_VERY_LONG_VOLUME");
	vm_iso_volume_name("", 1, b, sizeof(b));
	assert_string_equal(b, "1_");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(atomic_writer_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(one_file_and_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(several_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(swapped_while_walking, setup, teardown),
		cmocka_unit_test(cidata_files),
		cmocka_unit_test(volume_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
