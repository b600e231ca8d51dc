// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI log file of a VM (agent/vm/logfile.h): made beneath kubelet's
 * log directory only, never through a link, never a file that is not its
 * own. Runs as root (chown); skipped otherwise.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/vm/logfile.h"

static char dir[64], outside[64];

static void pathf(char *buf, const char *base, const char *rel)
{
	snprintf(buf, PATH_MAX, "%s/%s", base, rel);
}

static int setup(void **state)
{
	char p[PATH_MAX];

	(void)state;
	if (geteuid() != 0) {
		print_message("SKIPPED: needs root (chown)\n");
		skip();
	}
	snprintf(dir, sizeof(dir), "/tmp/kvmlet-logfile-XXXXXX");
	snprintf(outside, sizeof(outside), "/tmp/kvmlet-logfile-out-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(outside));
	pathf(p, dir, "ctr");
	assert_int_equal(mkdir(p, 0755), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, outside);
	return system(cmd);
}

static void made_root_group_0620(void **state)
{
	struct err err = { 0 };
	struct stat st, ds;
	char p[PATH_MAX];
	int dfd = -1;

	(void)state;
	assert_int_equal(vm_log_prepare(dir, "ctr/0.log", 4242, &dfd, &err), 0);
	pathf(p, dir, "ctr/0.log");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_gid, 4242);
	assert_int_equal(st.st_mode & 07777, 0620);
	/* The descriptor is the file's directory: what gets bind-mounted. */
	assert_true(dfd >= 0);
	assert_int_equal(fstat(dfd, &ds), 0);
	pathf(p, dir, "ctr");
	assert_int_equal(stat(p, &st), 0);
	assert_true(ds.st_ino == st.st_ino && ds.st_dev == st.st_dev);
	close(dfd);
	/* Again, after kubelet's rename: a new file at the same path. */
	assert_int_equal(vm_log_prepare(dir, "ctr/0.log", 4242, NULL, &err), 0);
}

/* A link planted in a middle component leads nowhere. */
static void link_on_the_way(void **state)
{
	struct err err = { 0 };
	char p[PATH_MAX];
	int dfd = -1;

	(void)state;
	pathf(p, dir, "evil");
	assert_int_equal(symlink(outside, p), 0);
	assert_int_equal(vm_log_prepare(dir, "evil/0.log", 4242, &dfd, &err), -ELOOP);
	assert_int_equal(dfd, -1);
	pathf(p, outside, "0.log");
	assert_int_equal(access(p, F_OK), -1);
	/* A link as the file itself neither. */
	pathf(p, dir, "ctr/1.log");
	char target[PATH_MAX];
	pathf(target, outside, "victim");
	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(vm_log_prepare(dir, "ctr/1.log", 4242, NULL, &err), -ELOOP);
	assert_int_equal(access(target, F_OK), -1);
}

/* A hard link to someone else's file is never chowned; a FIFO never blocks. */
static void not_its_own_file(void **state)
{
	struct err err = { 0 };
	struct stat st;
	char p[PATH_MAX], victim[PATH_MAX];
	int fd;

	(void)state;
	pathf(victim, outside, "shadow");
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	pathf(p, dir, "ctr/0.log");
	assert_int_equal(link(victim, p), 0);
	assert_int_equal(vm_log_prepare(dir, "ctr/0.log", 4242, NULL, &err), -EINVAL);
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	pathf(p, dir, "ctr/2.log");
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(vm_log_prepare(dir, "ctr/2.log", 4242, NULL, &err) < 0, 1);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_gid, 0);
}

static void bad_shapes(void **state)
{
	struct err err = { 0 };

	(void)state;
	assert_int_equal(vm_log_check(dir, "../x.log", &err), -EINVAL);
	assert_int_equal(vm_log_check(dir, "ctr/../../x.log", &err), -EINVAL);
	assert_int_equal(vm_log_check(dir, "/etc/x.log", &err), -EINVAL);
	assert_int_equal(vm_log_check(dir, "ctr/", &err), -EINVAL);
	assert_int_equal(vm_log_check(dir, "", &err), -EINVAL);
	assert_int_equal(vm_log_check("/", "0.log", &err), -EINVAL);
	assert_int_equal(vm_log_check("relative", "0.log", &err), -EINVAL);
	assert_int_equal(vm_log_check(dir, "ctr//0.log", &err), -EINVAL);
	assert_int_equal(vm_log_check(dir, "ctr/0.log", &err), 0);
	assert_int_equal(vm_log_check(dir, "0.log", &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(made_root_group_0620, setup, teardown),
		cmocka_unit_test_setup_teardown(link_on_the_way, setup, teardown),
		cmocka_unit_test_setup_teardown(not_its_own_file, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_shapes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
