// SPDX-License-Identifier: Apache-2.0
/*
 * The VM backend's create and remove (agent/vm/vm.h) without KVM: what
 * lands in the jail, the jailer's and the VMM's command line recorded in
 * vm.json, and that remove leaves nothing. Runs as root (chown); skipped
 * otherwise.
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
#include <cjson/cJSON.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "agent/image/store.h"
#include "agent/vm/cgroup.h"
#include "agent/vm/proc.h"
#include "agent/vm/record.h"
#include "agent/vm/vm.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char base[64], state[128], jail[128], image[128], mnt[128], vmm[128];

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, 0644);
}

static int setup(void **st)
{
	char p[256];

	if (geteuid() != 0)
		return 0;
	snprintf(base, sizeof(base), "/tmp/kvmlet-vmhost-XXXXXX");
	assert_non_null(mkdtemp(base));
	snprintf(state, sizeof(state), "%s/state", base);
	snprintf(jail, sizeof(jail), "%s/jail", base);
	snprintf(image, sizeof(image), "%s/image", base);
	snprintf(mnt, sizeof(mnt), "%s/mnt", base);
	assert_int_equal(mkdir(image, 0755), 0);
	assert_int_equal(mkdir(mnt, 0755), 0);
	snprintf(p, sizeof(p), "%s/vmlinux", image);
	put(p, "not really a kernel");
	snprintf(p, sizeof(p), "%s/initrd.img", image);
	put(p, "initrd");
	snprintf(p, sizeof(p), "%s/root.img", image);
	put(p, "disk");
	snprintf(p, sizeof(p), "%s/token", mnt);
	put(p, "secret");
	/* A VMM that only says what it offers: create never runs it. */
	snprintf(vmm, sizeof(vmm), "%s/fake-vmm", base);
	put(vmm, "#!/bin/sh\necho '  --serial MODE  stdio, file:PATH, cri:PATH or none'\n"
		 "echo '  --console-sock PATH'\n");
	chmod(vmm, 0755);
	return 0;
}

static int teardown(void **st)
{
	char cmd[128];

	if (!*base)
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd);
}

static bool has_arg(const struct vm_record *rec, const char *a, const char *b)
{
	for (size_t i = 0; i + (b ? 1 : 0) < rec->argc; i++)
		if (!strcmp(rec->argv[i], a) && (!b || !strcmp(rec->argv[i + 1], b)))
			return true;
	return false;
}

static void create_and_remove(void **st)
{
	if (geteuid() != 0) {
		skip();
		return;
	}
	struct vm_host_config cfg = {
		.state_dir = state,
		.jail_base = jail,
		.vmm_path = vmm,
		.jailer_path = "/bin/true",
		.shim_path = "/bin/true",
		.uid_base = 910000,
		.uid_count = 4,
		.default_memory_mib = 256,
		.overhead_mib = 32,
	};
	Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__LinuxContainerConfig lc = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
	Runtime__V1__LinuxContainerResources res = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
	Runtime__V1__ContainerConfig__AnnotationsEntry a[2] = {
		RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT,
		RUNTIME__V1__CONTAINER_CONFIG__ANNOTATIONS_ENTRY__INIT,
	};
	Runtime__V1__ContainerConfig__AnnotationsEntry *ap[] = { &a[0], &a[1] };
	Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT, gone = RUNTIME__V1__MOUNT__INIT;
	Runtime__V1__Mount *mp[] = { &gone, &m };
	char *disks[] = { (char *)"root.img", NULL };
	struct store_image img = { .kernel = (char *)"vmlinux",
				   .initrd = (char *)"initrd.img",
				   .cmdline = (char *)"console=ttyS0",
				   .nr_disks = 1,
				   .disks = disks };
	struct vm_request req = {
		.id = ID,
		.sandbox_id = "sb",
		.netns_path = "/var/run/netns/x",
		.cgroup_parent = "/kubepods/pod1",
		.log_path = "",
		.config = &c,
		.image = &img,
		.image_dir = image,
	};
	struct vm_backend b;
	struct vm_status s;
	struct vm_record rec;
	struct err err = { 0 };
	char p[512], ver[8];
	struct stat sb;
	char **ids;
	size_t n;

	a[0].key = (char *)"kvmlet.io/rng";
	a[0].value = (char *)"true";
	a[1].key = (char *)"kvmlet.io/kernel-args";
	a[1].value = (char *)"quiet";
	c.n_annotations = 2;
	c.annotations = ap;
	res.cpu_quota = 250000;
	res.cpu_period = 100000;
	res.memory_limit_in_bytes = 512LL << 20;
	lc.resources = &res;
	c.linux = &lc;
	m.host_path = mnt;
	m.container_path = (char *)"/var/run/secrets/kubernetes.io/serviceaccount";
	gone.host_path = (char *)"/nonexistent/kvmlet";
	gone.container_path = (char *)"/gone";
	c.n_mounts = 2;
	c.mounts = mp;
	snprintf(img.id, sizeof(img.id), "sha256:x");

	assert_int_equal(vm_host_open(&cfg, &b, &err), 0);
	/* No VM lists another's jail. */
	assert_int_equal(stat(jail, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0711);
	snprintf(p, sizeof(p), "%s/fake-vmm", jail);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0711);
	/* One process per state directory. */
	struct vm_backend b2;
	assert_int_equal(vm_host_open(&cfg, &b2, &err), -EBUSY);
	memset(&err, 0, sizeof(err));
	assert_int_equal(b.ops->create(b.ctx, &req, &err), 0);
	/* Twice is refused, and leaves the first alone. */
	assert_int_equal(b.ops->create(b.ctx, &req, &err), -EEXIST);

	assert_int_equal(b.ops->status(b.ctx, ID, &s, &err), 0);
	assert_int_equal(s.state, VM_CREATED);
	assert_int_equal(s.vcpus, 3);
	assert_int_equal(s.guest_memory_bytes, 512ULL << 20);
	assert_int_equal(s.vsock_cid, 3);

	snprintf(p, sizeof(p), "%s/%s", state, ID);
	assert_int_equal(vm_record_read(p, &rec, &err), 0);
	assert_int_equal(rec.uid, 910000);
	assert_string_equal(rec.cgroup, "kubepods/pod1/" ID);
	snprintf(ver, sizeof(ver), "%d", vm_cgroup_version());
	assert_true(has_arg(&rec, "--id", ID));
	assert_true(has_arg(&rec, "--uid", "910000"));
	assert_true(has_arg(&rec, "--gid", "910000"));
	assert_true(has_arg(&rec, "--netns", "/var/run/netns/x"));
	assert_true(has_arg(&rec, "--chroot-base-dir", jail));
	/* Guest RAM (bigger than the disk) + 1 GiB of log: nothing grows past it. */
	assert_true(has_arg(&rec, "--resource-limit", "fsize=1610612736"));
	assert_true(has_arg(&rec, "--parent-cgroup", "kubepods/pod1"));
	assert_true(has_arg(&rec, "--cgroup-version", ver));
	/* Guest RAM plus the overhead. */
	assert_true(has_arg(&rec, "--cgroup",
			    vm_cgroup_version() == 2 ? "memory.max=570425344"
						     : "memory.limit_in_bytes=570425344"));
	assert_true(has_arg(&rec, "--", NULL));
	assert_true(has_arg(&rec, "--vcpus=3", NULL));
	assert_true(has_arg(&rec, "--memory=512", NULL));
	assert_true(has_arg(&rec, "--kernel", "/kernel"));
	assert_true(has_arg(&rec, "--initrd", "/initrd"));
	assert_true(has_arg(&rec, "--cmdline", "console=ttyS0 quiet"));
	assert_true(has_arg(&rec, "--rng", NULL));
	assert_true(has_arg(&rec, "--vsock", "cid=3,uds=/vsock.sock"));
	assert_true(has_arg(&rec, "--serial", "none"));
	assert_true(has_arg(&rec, "--console-sock", "/console.sock"));
	assert_true(has_arg(&rec, "--drive", "id=disk0,path=/disk0.img"));
	/* The missing mount is skipped; the other is mount 0. */
	assert_true(has_arg(&rec, "--drive",
			    "id=mount0,path=/mount0.iso,readonly=on,serial=0_SERVICEACCOUNT"));
	vm_record_free(&rec);

	/* The jail: links to the image's files, the VM's own disk copy, the ISO. */
	snprintf(p, sizeof(p), "%s/fake-vmm/%s/root/kernel", jail, ID);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_nlink, 2);
	snprintf(p, sizeof(p), "%s/fake-vmm/%s/root/disk0.img", jail, ID);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_uid, 0);
	assert_int_equal(sb.st_gid, 910000);
	assert_int_equal(sb.st_mode & 07777, 0660);
	snprintf(p, sizeof(p), "%s/fake-vmm/%s/root/mount0.iso", jail, ID);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_uid, 0);

	assert_int_equal(b.ops->list(b.ctx, &ids, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], ID);
	free(ids[0]);
	free(ids);

	/* Stopping a VM that never ran is a no-op; removal leaves nothing. */
	assert_int_equal(b.ops->stop(b.ctx, ID, 10, &err), 0);
	assert_int_equal(b.ops->remove(b.ctx, ID, &err), 0);
	assert_int_equal(b.ops->remove(b.ctx, ID, &err), 0);
	snprintf(p, sizeof(p), "%s/fake-vmm/%s", jail, ID);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/%s", state, ID);
	assert_int_equal(access(p, F_OK), -1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(b.ops->status(b.ctx, ID, &s, &err), -ENOENT);
	/* The image's files are untouched. */
	snprintf(p, sizeof(p), "%s/vmlinux", image);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_nlink, 1);
	vm_host_close(&b);
}

static void refused(void **st)
{
	if (geteuid() != 0) {
		skip();
		return;
	}
	struct vm_host_config cfg = {
		.state_dir = state,
		.jail_base = jail,
		.vmm_path = vmm,
		.jailer_path = "/bin/true",
		.shim_path = "/bin/true",
		.uid_base = 910000,
		.uid_count = 4,
		.default_memory_mib = 256,
	};
	Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT;
	Runtime__V1__Device *dp[] = { &d };
	struct store_image img = { .kernel = (char *)"vmlinux" };
	struct vm_request req = { .id = ID, .config = &c, .image = &img, .image_dir = image };
	struct vm_backend b;
	struct err err = { 0 };
	char **ids;
	size_t n;

	/* A VMM without the CRI console is refused. */
	cfg.vmm_path = "/bin/true";
	assert_int_equal(vm_host_open(&cfg, &b, &err), -ENOTSUP);
	assert_non_null(strstr(err.msg, "cri:PATH"));
	cfg.vmm_path = vmm;
	memset(&err, 0, sizeof(err));
	assert_int_equal(vm_host_open(&cfg, &b, &err), 0);
	/* A character device is no disk. */
	d.host_path = (char *)"/dev/null";
	d.permissions = (char *)"rw";
	c.n_devices = 1;
	c.devices = dp;
	assert_int_equal(b.ops->create(b.ctx, &req, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a block device"));
	c.n_devices = 0;
	/* A kernel outside the image, a relative log path, a hostile cgroup parent. */
	img.kernel = (char *)"../../../etc/passwd";
	memset(&err, 0, sizeof(err));
	assert_int_equal(b.ops->create(b.ctx, &req, &err), -EINVAL);
	img.kernel = (char *)"vmlinux";
	req.log_path = "relative.log";
	memset(&err, 0, sizeof(err));
	assert_int_equal(b.ops->create(b.ctx, &req, &err), -EINVAL);
	req.log_path = "";
	req.cgroup_parent = "/kubepods/../..";
	memset(&err, 0, sizeof(err));
	assert_int_equal(b.ops->create(b.ctx, &req, &err), -EINVAL);
	/* Nothing was left behind, and the uid went back. */
	assert_int_equal(b.ops->list(b.ctx, &ids, &n, &err), 0);
	assert_int_equal(n, 0);
	free(ids);
	vm_host_close(&b);
}

/* More mounts than the VMM has disks: the last disk holds the rest. */
static void many_mounts(void **st)
{
	if (geteuid() != 0) {
		skip();
		return;
	}
	struct vm_host_config cfg = {
		.state_dir = state,
		.jail_base = jail,
		.vmm_path = vmm,
		.jailer_path = "/bin/true",
		.shim_path = "/bin/true",
		.uid_base = 910000,
		.uid_count = 4,
		.default_memory_mib = 256,
	};
	Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__Mount m[10], *mp[10];
	char paths[10][32], *disks[] = { (char *)"root.img", NULL };
	struct store_image img = { .kernel = (char *)"vmlinux", .nr_disks = 1, .disks = disks };
	struct vm_request req = { .id = ID, .config = &c, .image = &img, .image_dir = image };
	struct vm_backend b;
	struct vm_record rec;
	struct err err = { 0 };
	char p[512];

	for (int i = 0; i < 10; i++) {
		runtime__v1__mount__init(&m[i]);
		snprintf(paths[i], sizeof(paths[i]), "/vol%d", i);
		m[i].host_path = mnt;
		m[i].container_path = paths[i];
		mp[i] = &m[i];
	}
	c.n_mounts = 10;
	c.mounts = mp;
	assert_int_equal(vm_host_open(&cfg, &b, &err), 0);
	assert_int_equal(b.ops->create(b.ctx, &req, &err), 0);
	snprintf(p, sizeof(p), "%s/%s", state, ID);
	assert_int_equal(vm_record_read(p, &rec, &err), 0);
	/* One image disk, six mounts of their own, the last disk for the other four. */
	assert_true(
		has_arg(&rec, "--drive", "id=mount5,path=/mount5.iso,readonly=on,serial=5_VOL5"));
	assert_true(has_arg(&rec, "--drive",
			    "id=mount6,path=/mount6.iso,readonly=on,serial=KVMLET_MOUNTS"));
	assert_false(
		has_arg(&rec, "--drive", "id=mount7,path=/mount7.iso,readonly=on,serial=7_VOL7"));
	vm_record_free(&rec);
	assert_int_equal(b.ops->remove(b.ctx, ID, &err), 0);
	vm_host_close(&b);
}

/* ---- exec against a fake guest agent behind a fake VMM's vsock socket ---- */

enum agent_mode { AGENT_DONE, AGENT_SIGNAL, AGENT_HANG };

struct agent {
	int listen_fd;
	enum agent_mode mode;
	pthread_t thread;
};

static void agent_line(int fd, const char *line, enum agent_mode mode)
{
	cJSON *req = cJSON_Parse(line);
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "execute");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(req, "arguments");
	char out[512];

	out[0] = '\0';
	if (cJSON_IsString(cmd) && !strcmp(cmd->valuestring, "guest-sync-delimited"))
		snprintf(out, sizeof(out), "\xff{\"return\": %.0f}\n",
			 cJSON_GetObjectItem(args, "id")->valuedouble);
	else if (cJSON_IsString(cmd) && !strcmp(cmd->valuestring, "guest-exec"))
		snprintf(out, sizeof(out), "{\"return\": {\"pid\": 7}}\n");
	else if (cJSON_IsString(cmd) && mode == AGENT_DONE)
		/* "hello world" and "oops" */
		snprintf(out, sizeof(out),
			 "{\"return\": {\"exited\": true, \"exitcode\": 3, \"out-data\": "
			 "\"aGVsbG8gd29ybGQ=\", \"err-data\": \"b29wcw==\"}}\n");
	else if (cJSON_IsString(cmd) && mode == AGENT_SIGNAL)
		snprintf(out, sizeof(out), "{\"return\": {\"exited\": true, \"signal\": 9}}\n");
	else if (cJSON_IsString(cmd))
		snprintf(out, sizeof(out), "{\"return\": {\"exited\": false}}\n");
	if (*out)
		send(fd, out, strlen(out), MSG_NOSIGNAL);
	cJSON_Delete(req);
}

/* One connection: the VMM's CONNECT handshake, then the agent, line by line. */
static void agent_serve(int fd, enum agent_mode mode)
{
	char buf[8192];
	size_t len = 0;
	bool connected = false;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		char *nl;

		if (n <= 0)
			return;
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len))) {
			char line[sizeof(buf)];
			size_t ll = (size_t)(nl - buf), o = 0;

			for (size_t i = 0; i < ll; i++)
				if ((unsigned char)buf[i] != 0xff)
					line[o++] = buf[i];
			line[o] = '\0';
			memmove(buf, nl + 1, len - ll - 1);
			len -= ll + 1;
			if (!connected) {
				connected = !strcmp(line, "CONNECT 1024");
				send(fd, connected ? "OK 1\n" : "", connected ? 5 : 0,
				     MSG_NOSIGNAL);
				if (!connected)
					return;
				continue;
			}
			agent_line(fd, line, mode);
		}
	}
}

static void *agent_main(void *arg)
{
	struct agent *a = arg;
	int fd;

	while ((fd = accept(a->listen_fd, NULL, NULL)) >= 0) {
		agent_serve(fd, a->mode);
		close(fd);
	}
	return NULL;
}

/* Listens on root/vsock.sock (by a relative name: the full path is too long for sun_path). */
static void agent_start(struct agent *a, const char *root)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = "vsock.sock" };
	int cwd = open(".", O_PATH | O_DIRECTORY);

	a->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(chdir(root), 0);
	assert_int_equal(bind(a->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
	assert_int_equal(listen(a->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&a->thread, NULL, agent_main, a), 0);
}

static void agent_stop(struct agent *a, const char *root)
{
	char p[600];

	shutdown(a->listen_fd, SHUT_RDWR);
	pthread_join(a->thread, NULL);
	close(a->listen_fd);
	snprintf(p, sizeof(p), "%s/vsock.sock", root);
	unlink(p);
}

/* Makes the record say the VM runs, with this test as its shim (0: never started). */
static void pretend_running(bool running)
{
	char p[512];
	struct vm_record rec;
	struct err err = { 0 };
	uint64_t ticks = 0;

	snprintf(p, sizeof(p), "%s/%s", state, ID);
	assert_int_equal(vm_record_read(p, &rec, &err), 0);
	assert_int_equal(vm_proc_start_ticks(getpid(), &ticks), 0);
	rec.shim_pid = running ? getpid() : 0;
	rec.shim_start_ticks = running ? ticks : 0;
	rec.started_at = running ? 1 : 0;
	assert_int_equal(vm_record_write(p, &rec, &err), 0);
	vm_record_free(&rec);
}

static void exec_paths(void **st)
{
	if (geteuid() != 0) {
		skip();
		return;
	}
	struct vm_host_config cfg = {
		.state_dir = state,
		.jail_base = jail,
		.vmm_path = vmm,
		.jailer_path = "/bin/true",
		.shim_path = "/bin/true",
		.uid_base = 910000,
		.uid_count = 4,
		.default_memory_mib = 256,
	};
	Runtime__V1__ContainerConfig c = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	struct store_image img = { .kernel = (char *)"vmlinux" };
	struct vm_request req = { .id = ID, .config = &c, .image = &img, .image_dir = image };
	const char *argv[] = { "echo", "hello", "world" };
	struct vm_exec_result x;
	struct vm_backend b;
	struct vm_status s;
	struct agent a = { 0 };
	struct err err = { 0 };
	char root[512];

	assert_int_equal(vm_host_open(&cfg, &b, &err), 0);
	assert_int_equal(b.ops->create(b.ctx, &req, &err), 0);
	snprintf(root, sizeof(root), "%s/fake-vmm/%s/root", jail, ID);

	/* Not running: no exec. */
	assert_int_equal(b.ops->exec(b.ctx, ID, argv, 3, 1000, 100, &x, &err), -ESRCH);
	pretend_running(true);
	assert_int_equal(b.ops->status(b.ctx, ID, &s, &err), 0);
	assert_int_equal(s.state, VM_RUNNING);

	/* No agent behind the vsock socket. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(b.ops->exec(b.ctx, ID, argv, 3, 1000, 100, &x, &err), -ENOTCONN);
	assert_non_null(strstr(err.msg, "no agent on vsock port 1024"));

	/* Output and exit status, the output cut at the cap. */
	a.mode = AGENT_DONE;
	agent_start(&a, root);
	memset(&err, 0, sizeof(err));
	assert_int_equal(b.ops->exec(b.ctx, ID, argv, 3, 5000, 5, &x, &err), 0);
	assert_int_equal(x.exit_code, 3);
	assert_int_equal(x.out_len, 5);
	assert_memory_equal(x.out, "hello", 5);
	assert_int_equal(x.err_len, 4);
	assert_memory_equal(x.err, "oops", 4);
	vm_exec_result_free(&x);
	agent_stop(&a, root);

	/* Killed by a signal: 128 + N. */
	a.mode = AGENT_SIGNAL;
	agent_start(&a, root);
	assert_int_equal(b.ops->exec(b.ctx, ID, argv, 3, 5000, 100, &x, &err), 0);
	assert_int_equal(x.exit_code, 137);
	vm_exec_result_free(&x);
	agent_stop(&a, root);

	/* Never ends: DEADLINE_EXCEEDED's errno, in about the time given. */
	a.mode = AGENT_HANG;
	agent_start(&a, root);
	memset(&err, 0, sizeof(err));
	assert_int_equal(b.ops->exec(b.ctx, ID, argv, 3, 300, 100, &x, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "timed out"));
	agent_stop(&a, root);

	pretend_running(false);
	assert_int_equal(b.ops->remove(b.ctx, ID, &err), 0);
	vm_host_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(refused, setup, teardown),
		cmocka_unit_test_setup_teardown(many_mounts, setup, teardown),
		cmocka_unit_test_setup_teardown(exec_paths, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
