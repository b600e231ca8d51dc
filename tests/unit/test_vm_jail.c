// SPDX-License-Identifier: Apache-2.0
/*
 * Emptying a VM's jail (agent/vm/jail.h): never beyond a mount left inside,
 * even a bind mount of the same file system, never through a link. Needs
 * root (mount); skipped otherwise.
 */
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/vm/jail.h"

static char base[64];

static void pathf(char *buf, const char *rel)
{
	snprintf(buf, PATH_MAX, "%s/%s", base, rel);
}

static void mkdir_(const char *rel)
{
	char p[PATH_MAX];

	pathf(p, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void put(const char *rel)
{
	char p[PATH_MAX];
	int fd;

	pathf(p, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
}

static bool exists(const char *rel)
{
	char p[PATH_MAX];

	pathf(p, rel);
	return access(p, F_OK) == 0;
}

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/kvmlet-jail-test-XXXXXX");
	assert_non_null(mkdtemp(base));
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX];

	(void)state;
	pathf(cmd, "jail/root/log");
	umount2(cmd, MNT_DETACH);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd);
}

/* kubelet's log directory still bind-mounted at root/log, on the same file system. */
static void same_fs_bind_mount(void **state)
{
	struct err err = { 0 };
	char src[PATH_MAX], dst[PATH_MAX], jail[PATH_MAX];

	(void)state;
	mkdir_("kubelet-logs");
	put("kubelet-logs/0.log");
	mkdir_("jail");
	mkdir_("jail/root");
	mkdir_("jail/root/log");
	put("jail/root/disk0.img");
	pathf(src, "kubelet-logs");
	pathf(dst, "jail/root/log");
	pathf(jail, "jail");
	if (mount(src, dst, NULL, MS_BIND, NULL)) {
		print_message("SKIPPED: bind mount: %s\n", strerror(errno));
		skip();
	}
	assert_int_equal(vm_jail_remove_tree(jail, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "mount"));
	assert_true(exists("kubelet-logs/0.log"));
	assert_int_equal(umount2(dst, MNT_DETACH), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(vm_jail_remove_tree(jail, &err), 0);
	assert_false(exists("jail"));
	assert_true(exists("kubelet-logs/0.log"));
}

/* Links the VM planted are removed, never followed. */
static void links_not_followed(void **state)
{
	struct err err = { 0 };
	char p[PATH_MAX], jail[PATH_MAX];

	(void)state;
	mkdir_("victim");
	put("victim/keep");
	mkdir_("jail");
	mkdir_("jail/root");
	mkdir_("jail/root/a");
	mkdir_("jail/root/a/b");
	put("jail/root/a/b/f");
	pathf(p, "jail/root/dirlink");
	char target[PATH_MAX];
	pathf(target, "victim");
	assert_int_equal(symlink(target, p), 0);
	pathf(jail, "jail");
	assert_int_equal(vm_jail_remove_tree(jail, &err), 0);
	assert_false(exists("jail"));
	assert_true(exists("victim/keep"));
	/* Absent: nothing to do. */
	assert_int_equal(vm_jail_remove_tree(jail, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(same_fs_bind_mount, setup, teardown),
		cmocka_unit_test_setup_teardown(links_not_followed, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
