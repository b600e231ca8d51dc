// SPDX-License-Identifier: Apache-2.0
/*
 * The VM backend's records (agent/vm/record.h), uid/CID allocation across a
 * reopen (ids.h), the exit reason table (reason.h), cgroup names (cgroup.h)
 * and process identity (proc.h).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/vm/cgroup.h"
#include "agent/vm/ids.h"
#include "agent/vm/proc.h"
#include "agent/vm/reason.h"
#include "agent/vm/record.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/kvmlet-vmstate-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void write_vm(const char *id, uint32_t uid, uint32_t cid)
{
	char d[PATH_MAX];
	struct vm_record rec = { 0 };
	struct err err = { 0 };

	snprintf(d, sizeof(d), "%s/%s", dir, id);
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(rec.id, sizeof(rec.id), "%s", id);
	rec.uid = uid;
	rec.cid = cid;
	rec.vcpus = 2;
	rec.memory_mib = 128;
	rec.cgroup_version = 1;
	snprintf(rec.cgroup, sizeof(rec.cgroup), "kvmlet/%s", id);
	rec.created_at = 1765152000123456789LL; /* beyond 2^53: must survive exactly */
	assert_int_equal(vm_strv_push(&rec.argv, &rec.argc, "kvmlet-jailer"), 0);
	assert_int_equal(vm_strv_push(&rec.argv, &rec.argc, "--cmdline=a \"b\" \\ c"), 0);
	assert_int_equal(vm_strv_push(&rec.disks, &rec.nr_disks, "disk0.img"), 0);
	assert_int_equal(vm_record_write(d, &rec, &err), 0);
	vm_record_free(&rec);
}

static void record_round_trip(void **state)
{
	char d[PATH_MAX];
	struct vm_record rec;
	struct err err = { 0 };

	write_vm("vm1", 1000, 3);
	snprintf(d, sizeof(d), "%s/vm1", dir);
	assert_int_equal(vm_record_read(d, &rec, &err), 0);
	assert_string_equal(rec.id, "vm1");
	assert_int_equal(rec.uid, 1000);
	assert_int_equal(rec.cid, 3);
	assert_int_equal(rec.created_at, 1765152000123456789LL);
	assert_int_equal(rec.argc, 2);
	assert_string_equal(rec.argv[1], "--cmdline=a \"b\" \\ c");
	assert_int_equal(rec.nr_disks, 1);
	assert_string_equal(rec.cgroup, "kvmlet/vm1");
	vm_record_free(&rec);

	/* Hostile records: an unknown field, a CID vsock reserves, not JSON. */
	static const char *const bad[] = {
		"{\"id\": \"x\", \"extra\": 1}",
		"{\"id\":\"x\",\"sandbox_id\":\"\",\"uid\":5,\"cid\":2,\"vcpus\":1,\"memory_mib\":"
		"4,"
		"\"cgroup_version\":1,\"cgroup\":\"a\",\"log_path\":\"\",\"log_mounted\":false,"
		"\"created_at\":0,\"started_at\":0,\"shim_pid\":0,\"shim_start_ticks\":0,"
		"\"argv\":[],\"disks\":[]}",
		"not json",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(vm_record_parse(bad[i], strlen(bad[i]), &rec, &err), -EINVAL);
		assert_null(rec.argv);
	}
	/* No record at all: -ENOENT. */
	snprintf(d, sizeof(d), "%s/none", dir);
	assert_int_equal(vm_record_read(d, &rec, &err), -ENOENT);
}

static void ids_across_reopen(void **state)
{
	struct vm_ids ids;
	struct err err = { 0 };
	uint32_t uid, cid;
	char d[PATH_MAX];
	FILE *f;

	/* A node with three VMs on disk, one with a corrupt record. */
	write_vm("a", 5000, 3);
	write_vm("b", 5002, 4);
	snprintf(d, sizeof(d), "%s/c", dir);
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(d, sizeof(d), "%s/c/vm.json", dir);
	f = fopen(d, "w");
	fputs("{ torn", f);
	fclose(f);

	assert_int_equal(vm_ids_init(&ids, 5000, 4, &err), 0);
	assert_int_equal(vm_ids_load(&ids, dir, &err), 0);
	assert_int_equal(vm_ids_alloc(&ids, &uid, &cid, &err), 0);
	assert_int_equal(uid, 5001);
	assert_int_equal(cid, 5);
	assert_int_equal(vm_ids_alloc(&ids, &uid, &cid, &err), 0);
	assert_int_equal(uid, 5003);
	assert_int_equal(cid, 6);
	/* Four of four: the node is full. */
	assert_int_equal(vm_ids_alloc(&ids, &uid, &cid, &err), -ENOSPC);
	vm_ids_release(&ids, 5002, 4);
	assert_int_equal(vm_ids_alloc(&ids, &uid, &cid, &err), 0);
	assert_int_equal(uid, 5002);
	assert_int_equal(cid, 4);
	vm_ids_fini(&ids);

	/* Bad settings. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(vm_ids_init(&ids, 0, 4, &err), -EINVAL);
	assert_int_equal(vm_ids_init(&ids, UINT32_MAX - 1, 4, &err), -EINVAL);
}

static void exit_records(void **state)
{
	struct vm_exit e = {
		.exit_status = -1, .signal = 9, .finished_at = 1765152000123456789LL, .killed = true
	};
	struct vm_exit back;
	struct err err = { 0 };

	assert_int_equal(vm_exit_read(dir, &back, &err), -ENOENT);
	assert_int_equal(vm_exit_write(dir, &e, &err), 0);
	assert_int_equal(vm_exit_read(dir, &back, &err), 0);
	assert_int_equal(back.exit_status, -1);
	assert_int_equal(back.signal, 9);
	assert_int_equal(back.finished_at, 1765152000123456789LL);
	assert_true(back.killed);
	assert_false(back.oom);

	static const char *const bad[] = {
		"{\"exit_status\":0,\"signal\":9,\"finished_at\":1,\"oom\":false,\"killed\":false}",
		"{\"exit_status\":-1,\"signal\":0,\"finished_at\":1,\"oom\":false,\"killed\":"
		"false}",
		"{\"exit_status\":256,\"signal\":0,\"finished_at\":1,\"oom\":false,\"killed\":"
		"false}",
		"{\"exit_status\":0,\"signal\":0,\"finished_at\":1,\"oom\":false}",
		"{\"exit_status\":0,\"signal\":0,\"finished_at\":1,\"oom\":0,\"killed\":false}",
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(vm_exit_parse(bad[i], strlen(bad[i]), &back, &err), -EINVAL);
	}
}

static void reason_table(void **state)
{
	static const struct {
		struct vm_exit e;
		bool lost;
		int32_t code;
		const char *reason, *words;
		bool stop;
	} cases[] = {
		{ { .exit_status = 0 }, false, 0, "Completed", "powered off", false },
		{ { .exit_status = 1 }, false, 1, "Error", "VMM failed", false },
		{ { .exit_status = 2 }, false, 2, "Error", "refused", false },
		{ { .exit_status = 3 }, false, 3, "Error", "self-test", false },
		{ { .exit_status = 4 }, false, 4, "GuestCrashed", "crashed", false },
		{ { .exit_status = 42 }, false, 42, "Error", "status 42", false },
		{ { .exit_status = -1, .signal = 9 }, false, 137, "Error", "signal 9", false },
		{ { .exit_status = -1, .signal = 9, .killed = true },
		  false,
		  137,
		  "Error",
		  "grace",
		  false },
		{ { .exit_status = -1, .signal = 9, .killed = true, .oom = true },
		  false,
		  137,
		  "OOMKilled",
		  "memory",
		  false },
		{ { .exit_status = -1, .signal = 15 }, false, 143, "Error", "signal 15", false },
		{ { 0 }, true, 255, "Unknown", "kvmlet-shim", false },
		{ { .exit_status = 255, .lost = true },
		  false,
		  255,
		  "Unknown",
		  "kvmlet-shim",
		  false },
		/* A reset is no success (panic=N), unless StopContainer asked for it. */
		{ { .exit_status = 6 }, false, 6, "GuestReset", "reset", false },
		{ { .exit_status = 6 }, false, 0, "Completed", "StopContainer", true },
		{ { .exit_status = 0 }, false, 0, "Completed", "StopContainer", true },
		{ { .exit_status = 4 }, false, 4, "GuestCrashed", "crashed", true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char reason[64], msg[256];
		int32_t code;

		vm_reason_explain(cases[i].lost ? NULL : &cases[i].e, cases[i].stop, &code, reason,
				  sizeof(reason), msg, sizeof(msg));
		assert_int_equal(code, cases[i].code);
		assert_string_equal(reason, cases[i].reason);
		assert_non_null(strstr(msg, cases[i].words));
	}
}

static int push(void *ctx, const char *arg)
{
	char *buf = ctx;

	strcat(buf, arg);
	strcat(buf, " ");
	return 0;
}

static void cgroup_names(void **state)
{
	char b[256];
	struct err err = { 0 };

	assert_int_equal(vm_cgroup_parent("", b, sizeof(b), &err), 0);
	assert_string_equal(b, "kvmlet");
	/* kubelet's systemd driver: slices nest by their dashes. */
	assert_int_equal(vm_cgroup_parent("kubepods-burstable-pod12_34.slice", b, sizeof(b), &err),
			 0);
	assert_string_equal(
		b, "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12_34.slice");
	assert_int_equal(vm_cgroup_parent("kubepods.slice", b, sizeof(b), &err), 0);
	assert_string_equal(b, "kubepods.slice");
	assert_int_equal(vm_cgroup_parent("/kubepods-besteffort.slice", b, sizeof(b), &err), 0);
	assert_string_equal(b, "kubepods.slice/kubepods-besteffort.slice");
	assert_int_equal(vm_cgroup_parent("-.slice", b, sizeof(b), &err), 0);
	assert_string_equal(b, "kvmlet");
	assert_int_equal(vm_cgroup_parent("a--b.slice", b, sizeof(b), &err), -EINVAL);
	assert_int_equal(vm_cgroup_parent("-a.slice", b, sizeof(b), &err), -EINVAL);
	assert_int_equal(vm_cgroup_parent("a-.slice", b, sizeof(b), &err), -EINVAL);
	assert_int_equal(vm_cgroup_parent(".slice", b, sizeof(b), &err), -EINVAL);
	/* A path is a path, slices or not. */
	assert_int_equal(vm_cgroup_parent("/a.slice/a-b.slice", b, sizeof(b), &err), 0);
	assert_string_equal(b, "a.slice/a-b.slice");
	assert_int_equal(vm_cgroup_parent("/kubepods/burstable/pod1234/", b, sizeof(b), &err), 0);
	assert_string_equal(b, "kubepods/burstable/pod1234");
	static const char *const bad[] = {
		"/kubepods/../../etc", "/a//b", "/a/./b", "/a/b\n", "/a/b c", ".."
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(vm_cgroup_parent(bad[i], b, sizeof(b), &err), -EINVAL);
	}

	b[0] = '\0';
	assert_int_equal(vm_cgroup_jailer_args(1, 128 << 20, 50000, 100000, push, b), 0);
	/* pids only where a v1 pids hierarchy is mounted (the jailer refuses others). */
	bool pids = access(VM_CGROUP_ROOT "/pids/cgroup.procs", F_OK) == 0;
	assert_string_equal(b, pids ? "--cgroup memory.limit_in_bytes=134217728 --cgroup "
				      "cpu.cfs_period_us=100000 --cgroup cpu.cfs_quota_us=50000 "
				      "--cgroup cpuacct.usage=0 --cgroup pids.max=max "
				    : "--cgroup memory.limit_in_bytes=134217728 --cgroup "
				      "cpu.cfs_period_us=100000 --cgroup cpu.cfs_quota_us=50000 "
				      "--cgroup cpuacct.usage=0 ");
	b[0] = '\0';
	assert_int_equal(vm_cgroup_jailer_args(2, 128 << 20, 50000, 100000, push, b), 0);
	assert_string_equal(b, "--cgroup memory.max=134217728 --cgroup cpu.max=50000 100000 ");
	b[0] = '\0';
	assert_int_equal(vm_cgroup_jailer_args(2, 64 << 20, 0, 0, push, b), 0);
	assert_string_equal(b, "--cgroup memory.max=67108864 ");
}

static void process_identity(void **state)
{
	uint64_t ticks;
	int fd;

	assert_int_equal(vm_proc_start_ticks(getpid(), &ticks), 0);
	assert_true(vm_proc_same(getpid(), ticks));
	/* The same pid with another start time is another process. */
	assert_false(vm_proc_same(getpid(), ticks + 1));
	fd = vm_proc_open(getpid(), ticks);
	assert_true(fd >= 0);
	assert_int_equal(vm_proc_wait(fd, 0), 0); /* still running */
	close(fd);
	assert_int_equal(vm_proc_open(getpid(), ticks + 1), -ESRCH);
}

/* Runs sh -c script detached; go or not; waits for it to end. */
static void spawn_and_wait(const char *script, bool go)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)script, NULL };
	struct err err = { 0 };
	uint64_t ticks;
	pid_t pid;
	int go_fd, fd;

	assert_int_equal(vm_proc_spawn_detached(argv, &pid, &ticks, &go_fd, &err), 0);
	/* Not our child: the double fork left it to init. */
	assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
	fd = vm_proc_open(pid, ticks);
	assert_true(fd >= 0);
	assert_int_equal(vm_proc_go(go_fd, go), 0);
	assert_int_equal(vm_proc_wait(fd, 10000), 1);
	close(fd);
}

static void detached_spawn(void **state)
{
	char script[256], flag[128];

	snprintf(flag, sizeof(flag), "%s/ran", dir);
	snprintf(script, sizeof(script), "echo ran > %s", flag);
	/* Without the go byte nothing runs. */
	spawn_and_wait(script, false);
	assert_int_equal(access(flag, F_OK), -1);
	spawn_and_wait(script, true);
	assert_int_equal(access(flag, F_OK), 0);
	/* With stdio on /dev/null and nothing else open. */
	snprintf(script, sizeof(script), "ls /proc/self/fd > %s/fds", dir);
	spawn_and_wait(script, true);
	snprintf(flag, sizeof(flag), "%s/fds", dir);
	FILE *f = fopen(flag, "r");
	char line[16];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	assert_int_equal(n, 4); /* 0, 1, 2, and ls's own directory */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(record_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(ids_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(exit_records, setup, teardown),
		cmocka_unit_test(reason_table),
		cmocka_unit_test(cgroup_names),
		cmocka_unit_test(process_identity),
		cmocka_unit_test_setup_teardown(detached_spawn, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
