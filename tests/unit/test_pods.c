// SPDX-License-Identifier: Apache-2.0
/*
 * The pod layer (agent/pod/pods.h) over a fake VM backend: the calls and
 * their rules (idempotency, NotFound, one VM per pod, names), records on
 * disk and what a restart makes of them (round trip, a create cut short
 * by a crash, a VM that exited or vanished while the agent was down), and
 * a slow stop that must not hold up other pods' calls.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define S(s) ((char *)(s)) /* a protobuf-c string field from a literal */

#include "agent/pod/pods.h"
#include "agent/pod/record.h"
#include "fake_vm.h"

struct env {
	char tmp[256], root[PATH_MAX], netns[PATH_MAX], logs[PATH_MAX];
	struct fake f;
	struct pods *p;
};

static void env_open(struct env *e)
{
	struct pods_options o = { .root = e->root, .netns_dir = e->netns };
	struct err err = { 0 };

	fake_backend(&e->f, &o.backend);
	fake_sys(&e->f, &o.sys);
	assert_int_equal(pods_open(&o, &e->p, &err), 0);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	snprintf(e->tmp, sizeof(e->tmp), "/tmp/kvmlet-pods-XXXXXX");
	if (!mkdtemp(e->tmp))
		return -1;
	snprintf(e->root, sizeof(e->root), "%s/pods", e->tmp);
	snprintf(e->netns, sizeof(e->netns), "%s/netns", e->tmp);
	snprintf(e->logs, sizeof(e->logs), "%s/logs", e->tmp);
	fake_init(&e->f);
	env_open(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[PATH_MAX + 16];
	int r;

	pods_close(e->p);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->tmp);
	r = system(cmd);
	free(e);
	return r;
}

/* A kubelet-like sandbox config: metadata, labels, annotations, a log directory. */
struct sb_cfg {
	Runtime__V1__PodSandboxConfig cfg;
	Runtime__V1__PodSandboxMetadata md;
	Runtime__V1__PodSandboxConfig__LabelsEntry l[2], *lp[2];
	Runtime__V1__PodSandboxConfig__AnnotationsEntry a, *ap[1];
};

static void sb_cfg(struct sb_cfg *s, const char *name, const char *logs)
{
	runtime__v1__pod_sandbox_config__init(&s->cfg);
	runtime__v1__pod_sandbox_metadata__init(&s->md);
	s->md.name = (char *)name;
	s->md.namespace_ = S("default");
	s->md.uid = S("7a0c2f4e-0000-4000-8000-000000000001");
	s->cfg.metadata = &s->md;
	for (int i = 0; i < 2; i++) {
		runtime__v1__pod_sandbox_config__labels_entry__init(&s->l[i]);
		s->lp[i] = &s->l[i];
	}
	s->l[0].key = S("io.kubernetes.pod.name");
	s->l[0].value = (char *)name;
	s->l[1].key = S("app");
	s->l[1].value = S("web");
	s->cfg.labels = s->lp;
	s->cfg.n_labels = 2;
	runtime__v1__pod_sandbox_config__annotations_entry__init(&s->a);
	s->a.key = S("kubernetes.io/config.seen");
	s->a.value = S("2026-12-07T23:00:00.000000000Z");
	s->ap[0] = &s->a;
	s->cfg.annotations = s->ap;
	s->cfg.n_annotations = 1;
	s->cfg.log_directory = (char *)logs;
}

struct ct_cfg {
	Runtime__V1__ContainerConfig cfg;
	Runtime__V1__ContainerMetadata md;
	Runtime__V1__ImageSpec img;
};

static void ct_cfg(struct ct_cfg *c, const char *name, uint32_t attempt)
{
	runtime__v1__container_config__init(&c->cfg);
	runtime__v1__container_metadata__init(&c->md);
	runtime__v1__image_spec__init(&c->img);
	c->md.name = (char *)name;
	c->md.attempt = attempt;
	c->img.image = S(FAKE_IMAGE_ID);
	c->cfg.metadata = &c->md;
	c->cfg.image = &c->img;
	c->cfg.log_path = S("fw/0.log");
}

static void run_pod(struct env *e, const char *name, char sb[65], char ct[65])
{
	struct sb_cfg s;
	struct ct_cfg c;
	struct err err = { 0 };

	sb_cfg(&s, name, e->logs);
	ct_cfg(&c, "fw", 0);
	assert_int_equal(pods_run_sandbox(e->p, &s.cfg, "kvmlet", sb, &err), 0);
	if (ct) {
		assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct, &err), 0);
		assert_int_equal(pods_start_container(e->p, ct, &err), 0);
	}
}

static enum container_state ct_state(struct env *e, const char *id, struct pod_container_info *in)
{
	struct pod_container_info local;
	struct pod_container *c;
	struct err err = { 0 };

	if (!in)
		in = &local;
	if (pods_container_get(e->p, id, &c, &err))
		return CONTAINER_REMOVED;
	pods_container_sync(e->p, c);
	pod_container_info(e->p, c, in);
	pods_container_put(e->p, c);
	return in->state;
}

static void test_lifecycle(void **state)
{
	struct env *e = *state;
	char sb[65], ct[65], path[PATH_MAX + 80];
	const char *argv[] = { "echo", "hello", "pod" };
	struct pod_container_info in;
	struct vm_exec_result res;
	struct pod_sandbox_info si;
	struct pod_sandbox *s;
	struct err err = { 0 };

	run_pod(e, "web-0", sb, ct);
	assert_int_equal(fake_called(&e->f, "create", ct), 1);
	assert_int_equal(fake_called(&e->f, "start", ct), 1);
	snprintf(path, sizeof(path), "%s/%s", e->netns, sb);
	assert_int_equal(access(path, F_OK), 0);
	assert_string_equal(fake_vm_find(&e->f, ct)->netns, path);
	snprintf(path, sizeof(path), "%s/fw/0.log", e->logs);
	assert_string_equal(fake_vm_find(&e->f, ct)->log_path, path);

	assert_int_equal(ct_state(e, ct, &in), CONTAINER_RUNNING);
	assert_true(in.started_at >= in.created_at && in.created_at > 1700000000000000000LL);
	assert_string_equal(in.log_path, path);
	assert_string_equal(in.image_id, FAKE_IMAGE_ID);
	assert_string_equal(in.image_ref, "registry.local/fw@" FAKE_IMAGE_ID);
	assert_string_equal(in.image_name, FAKE_IMAGE);

	assert_int_equal(pods_exec(e->p, ct, argv, 3, 0, 1024, &res, &err), 0);
	assert_int_equal(res.out_len, 9);
	assert_memory_equal(res.out, "hello pod", 9);
	free(res.out);
	free(res.err);

	assert_int_equal(pods_stop_container(e->p, ct, 30, &err), 0);
	assert_int_equal(ct_state(e, ct, &in), CONTAINER_EXITED);
	assert_int_equal(in.exit_code, 0);
	assert_string_equal(in.reason, "Completed");
	assert_true(in.finished_at >= in.started_at);
	/* Exec needs a running container, and says which state it is in. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_exec(e->p, ct, argv, 3, 0, 1024, &res, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "CONTAINER_EXITED"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_start_container(e->p, ct, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "CONTAINER_EXITED"));

	assert_int_equal(pods_stop_sandbox(e->p, sb, &err), 0);
	snprintf(path, sizeof(path), "%s/%s", e->netns, sb);
	assert_int_not_equal(access(path, F_OK),
			     0); /* the network goes with Stop, as in containerd */
	assert_int_equal(pods_sandbox_get(e->p, sb, &s, &err), 0);
	pod_sandbox_info(e->p, s, &si);
	pods_sandbox_put(e->p, s);
	assert_int_equal(si.state, SANDBOX_NOTREADY);
	assert_string_equal(si.container_id, ct);
	assert_int_equal(pods_remove_sandbox(e->p, sb, &err), 0);
	assert_int_equal(fake_called(&e->f, "remove", ct), 1);
	assert_int_equal(ct_state(e, ct, NULL), CONTAINER_REMOVED);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_sandbox_get(e->p, sb, &s, &err), -ENOENT);
	snprintf(path, sizeof(path), "%s/%s", e->netns, sb);
	assert_int_not_equal(access(path, F_OK), 0);
}

static void test_idempotent(void **state)
{
	struct env *e = *state;
	static const char missing[] =
		"0000000000000000000000000000000000000000000000000000000000000000";
	char sb[65], ct[65];
	struct err err = { 0 };

	run_pod(e, "idem", sb, ct);
	assert_int_equal(pods_stop_container(e->p, ct, 0, &err), 0);
	assert_int_equal(pods_stop_container(e->p, ct, 0, &err), 0);
	assert_int_equal(fake_called(&e->f, "stop", ct), 1);
	assert_int_equal(pods_stop_container(e->p, missing, 0, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "not found"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_start_container(e->p, missing, &err), -ENOENT);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_reopen_log(e->p, missing, &err), -ENOENT);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_remove_container(e->p, missing, &err), 0);
	assert_int_equal(pods_remove_container(e->p, ct, &err), 0);
	assert_int_equal(pods_remove_container(e->p, ct, &err), 0);
	assert_int_equal(pods_stop_sandbox(e->p, sb, &err), 0);
	assert_int_equal(pods_stop_sandbox(e->p, sb, &err), 0);
	assert_int_equal(pods_stop_sandbox(e->p, missing, &err), -ENOENT);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_remove_sandbox(e->p, sb, &err), 0);
	assert_int_equal(pods_remove_sandbox(e->p, sb, &err), 0);
	assert_int_equal(pods_remove_sandbox(e->p, missing, &err), 0);
}

static void test_one_vm_per_pod(void **state)
{
	struct env *e = *state;
	char sb[65], ct[65], ct2[65];
	struct ct_cfg c;
	struct sb_cfg s;
	struct err err = { 0 };

	run_pod(e, "one", sb, ct);
	ct_cfg(&c, "sidecar", 0);
	assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "kvmlet runs one VM per pod"));
	ct_cfg(&c, "fw", 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct2, &err), -EEXIST);
	ct_cfg(&c, "fw", 1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "CONTAINER_RUNNING"));
	/* kubelet's restart: the next attempt once the VM has exited. */
	assert_int_equal(pods_stop_container(e->p, ct, 0, &err), 0);
	c.cfg.log_path = S("fw/1.log");
	assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct2, &err), 0);
	assert_int_equal(pods_start_container(e->p, ct2, &err), 0);
	/* An unknown image, a log path that escapes: refused before any VM is made. */
	ct_cfg(&c, "fw", 2);
	c.img.image = S("nosuch:latest");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_stop_container(e->p, ct2, 0, &err), 0);
	assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct2, &err), -ENOENT);
	ct_cfg(&c, "fw", 2);
	c.cfg.log_path = S("../../etc/x.log");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct2, &err), -EINVAL);
	/* The backend refusing: nothing is left behind. */
	ct_cfg(&c, "fw", 2);
	e->f.fail[FAKE_CREATE] = -EINVAL;
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct2, &err), -EINVAL);
	/* Sandboxes: the same name again, and a handler that is not ours. */
	sb_cfg(&s, "one", e->logs);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_run_sandbox(e->p, &s.cfg, "", ct2, &err), -EEXIST);
	s.md.attempt = 1;
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_run_sandbox(e->p, &s.cfg, "runc", ct2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "\"runc\""));
	/* Container in a sandbox that is not ready. */
	assert_int_equal(pods_stop_sandbox(e->p, sb, &err), 0);
	ct_cfg(&c, "fw", 3);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pods_create_container(e->p, sb, &c.cfg, ct2, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "SANDBOX_NOTREADY"));
}

static size_t dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.' || (de->d_name[1] && de->d_name[1] != '.');
	if (d)
		closedir(d);
	return n;
}

static void reopen(struct env *e)
{
	pods_close(e->p);
	env_open(e);
}

static void test_round_trip(void **state)
{
	struct env *e = *state;
	char sb[65], ct[65];
	const Runtime__V1__PodSandboxConfig *cfg;
	struct pod_container_info before, after;
	struct pod_sandbox *s;
	struct sb_cfg want;
	struct err err = { 0 };
	uint8_t a[4096], b[4096];
	size_t la, lb;

	run_pod(e, "round", sb, ct);
	ct_state(e, ct, &before);
	reopen(e);
	assert_int_equal(ct_state(e, ct, &after), CONTAINER_RUNNING);
	assert_int_equal(after.created_at, before.created_at);
	assert_int_equal(after.started_at, before.started_at);
	assert_string_equal(after.log_path, before.log_path);
	assert_int_equal(pods_sandbox_get(e->p, sb, &s, &err), 0);
	cfg = pod_sandbox_config(s);
	sb_cfg(&want, "round", e->logs);
	la = protobuf_c_message_pack(&cfg->base, a);
	lb = protobuf_c_message_pack(&want.cfg.base, b);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la); /* labels and annotations byte for byte */
	pods_sandbox_put(e->p, s);
	assert_int_equal(fake_called(&e->f, "remove", ct), 0);
}

static void test_crash_mid_create(void **state)
{
	struct env *e = *state;
	char sb[65], ct[65], dir[PATH_MAX + 80], half[65];
	struct record_state st = { 0 };
	struct err err = { 0 };

	run_pod(e, "crash", sb, ct);
	/* A CreateContainer cut short after the VM was made, before the record was committed. */
	pod_id_new(half);
	snprintf(st.state, sizeof(st.state), "CONTAINER_CREATED");
	snprintf(st.sandbox_id, sizeof(st.sandbox_id), "%s", sb);
	snprintf(dir, sizeof(dir), "%s/containers", e->root);
	assert_int_equal(record_create(dir, half, (const uint8_t *)"", 0, &st, &err), 0);
	assert_non_null(fake_add_vm(&e->f, half));
	/* A RunPodSandbox cut short after its netns. */
	pod_id_new(half);
	snprintf(dir, sizeof(dir), "%s/sandboxes", e->root);
	snprintf(st.state, sizeof(st.state), "SANDBOX_READY");
	assert_true(snprintf(st.netns, sizeof(st.netns), "%s/%s", e->netns, half) < 4000);
	assert_int_equal(record_create(dir, half, (const uint8_t *)"", 0, &st, &err), 0);
	fclose(fopen(st.netns, "w"));
	/* A RemoveContainer cut short after its rename to .del-. */
	{
		char sb2[65], ct2[65], from[PATH_MAX + 160], to[PATH_MAX + 160];

		run_pod(e, "crash-del", sb2, ct2);
		snprintf(from, sizeof(from), "%s/containers/%s", e->root, ct2);
		snprintf(to, sizeof(to), "%s/containers/.del-%s", e->root, ct2);
		assert_int_equal(rename(from, to), 0);
		snprintf(half, sizeof(half), "%s", ct2);
		assert_non_null(fake_vm_find(&e->f, ct2));
	}
	/* An orphan VM no record knows. */
	{
		char orphan[65];

		pod_id_new(orphan);
		assert_non_null(fake_add_vm(&e->f, orphan));
		reopen(e);
		assert_int_equal(fake_called(&e->f, "remove", orphan), 1);
		assert_null(fake_vm_find(&e->f, orphan));
	}
	assert_null(fake_vm_find(&e->f, half)); /* the .del- container's VM */
	snprintf(dir, sizeof(dir), "%s/containers", e->root);
	assert_int_equal(dir_entries(dir), 1);
	snprintf(dir, sizeof(dir), "%s/sandboxes", e->root);
	assert_int_equal(dir_entries(dir), 2); /* crash and crash-del */
	assert_int_equal(dir_entries(e->netns), 2);
	for (int i = 0, n = 0; i < FAKE_MAX_VMS; i++) {
		n += e->f.vms[i].used;
		if (i == FAKE_MAX_VMS - 1)
			assert_int_equal(n, 1); /* only the real pod's VM */
	}
	assert_int_equal(ct_state(e, ct, NULL), CONTAINER_RUNNING);
}

static void test_readopt(void **state)
{
	struct env *e = *state;
	char sb[65], ct[65], sb2[65], ct2[65];
	struct pod_container_info in;
	struct fake_vm *vm;

	run_pod(e, "adopt", sb, ct);
	run_pod(e, "gone", sb2, ct2);
	pods_close(e->p);
	e->p = NULL;
	/* While the agent is down: one VM powers off with 3, the other vanishes. */
	vm = fake_vm_find(&e->f, ct);
	vm->st.state = VM_EXITED;
	vm->st.exit_code = 3;
	vm->st.finished_at = vm->st.started_at + 1000;
	snprintf(vm->st.reason, sizeof(vm->st.reason), "Error");
	fake_vm_find(&e->f, ct2)->used = false;
	env_open(e);
	assert_int_equal(ct_state(e, ct, &in), CONTAINER_EXITED);
	assert_int_equal(in.exit_code, 3);
	assert_string_equal(in.reason, "Error");
	assert_int_equal(in.finished_at, vm->st.finished_at);
	assert_int_equal(ct_state(e, ct2, &in), CONTAINER_UNKNOWN);
	assert_non_null(strstr(in.message, "gone"));
	/* And that was saved: a second restart agrees without asking again. */
	reopen(e);
	assert_int_equal(ct_state(e, ct, &in), CONTAINER_EXITED);
	assert_int_equal(in.exit_code, 3);
	/* An exit seen while running: the next sync records it. */
	run_pod(e, "live", sb, ct);
	vm = fake_vm_find(&e->f, ct);
	vm->st.state = VM_EXITED;
	vm->st.exit_code = 137;
	assert_int_equal(ct_state(e, ct, &in), CONTAINER_EXITED);
	assert_int_equal(in.exit_code, 137);
}

static void test_stats(void **state)
{
	struct env *e = *state;
	char sb[65], ct[65];
	struct pod_container *c;
	struct pod_stats st;
	struct err err = { 0 };

	run_pod(e, "stats", sb, ct);
	assert_int_equal(pods_container_get(e->p, ct, &c, &err), 0);
	assert_int_equal(pods_container_stats(e->p, c, &st, &err), 0);
	assert_int_equal(st.nano_cores, 0); /* one sample: no rate yet */
	usleep(2000);
	assert_int_equal(pods_container_stats(e->p, c, &st, &err), 0);
	assert_true(st.nano_cores > 0);
	assert_int_equal(st.vm.memory_working_set, 64 << 20);
	pods_container_put(e->p, c);
	/* No cgroup_parent: the pod's stats are its running VM's, not the backend's sum. */
	{
		struct pod_sandbox *s;
		int before = fake_called(&e->f, "stats", ct);

		assert_int_equal(pods_sandbox_get(e->p, sb, &s, &err), 0);
		assert_int_equal(pods_sandbox_stats(e->p, s, &st, &err), 0);
		pods_sandbox_put(e->p, s);
		assert_int_equal(fake_called(&e->f, "stats", ct), before + 1);
		assert_int_equal(fake_called(&e->f, "sbstats", ""), 0);
		assert_int_equal(st.vm.memory_working_set, 64 << 20);
	}
	assert_true(pods_image_in_use(e->p, FAKE_IMAGE_ID));
	assert_false(pods_image_in_use(e->p, "sha256:22"));
}

struct stopper {
	struct env *e;
	const char *id;
	int rc;
};

static void *stop_thread(void *arg)
{
	struct stopper *s = arg;
	struct err err = { 0 };

	s->rc = pods_stop_container(s->e->p, s->id, 30, &err);
	return NULL;
}

static void test_slow_stop(void **state)
{
	struct env *e = *state;
	char sb[65], ct[65], sb2[65], ct2[65];
	struct stopper s = { .e = e };
	struct pod_container **list;
	struct pods_counts counts;
	struct err err = { 0 };
	pthread_t t;
	size_t n;
	int gate[2];

	run_pod(e, "slow", sb, ct);
	assert_int_equal(pipe(gate), 0);
	e->f.stop_gate = gate[0];
	s.id = ct;
	assert_int_equal(pthread_create(&t, NULL, stop_thread, &s), 0);
	while (!__atomic_load_n(&e->f.stopping, __ATOMIC_SEQ_CST))
		usleep(1000);
	/* While the first pod's VM takes its grace period, everything else goes on. */
	assert_int_equal(pods_container_list(e->p, &list, &n), 0);
	for (size_t i = 0; i < n; i++)
		pods_container_put(e->p, list[i]);
	free(list);
	assert_int_equal(n, 1);
	assert_int_equal(ct_state(e, ct, NULL), CONTAINER_RUNNING);
	e->f.stop_gate = -1; /* the next pod's calls do not wait */
	run_pod(e, "other", sb2, ct2);
	pods_counts(e->p, &counts);
	assert_int_equal(counts.containers[CONTAINER_RUNNING], 2);
	assert_int_equal(write(gate[1], "x", 1), 1);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, 0);
	assert_int_equal(ct_state(e, ct, NULL), CONTAINER_EXITED);
	assert_int_equal(pods_remove_sandbox(e->p, sb, &err), 0);
	close(gate[0]);
	close(gate[1]);
}

/* hostNetwork: refused, a VM cannot share the node's network stack; nothing is left. */
static void test_host_network(void **state)
{
	struct env *e = *state;
	Runtime__V1__LinuxPodSandboxConfig lx = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__LinuxSandboxSecurityContext sc =
		RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
	Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
	struct pod_sandbox **list;
	struct sb_cfg c;
	char sb[65];
	size_t n;
	struct err err = { 0 };

	sb_cfg(&c, "host", e->logs);
	ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
	sc.namespace_options = &ns;
	lx.security_context = &sc;
	c.cfg.linux = &lx;
	assert_int_equal(pods_run_sandbox(e->p, &c.cfg, "", sb, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "a VM cannot share the host's network stack"));
	assert_int_equal(dir_entries(e->netns), 0);
	assert_int_equal(pods_sandbox_list(e->p, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
}

struct racer {
	struct env *e;
	int rc;
	char id[65];
};

static void *run_racer(void *arg)
{
	struct racer *r = arg;
	struct sb_cfg s;
	struct err err = { 0 };

	sb_cfg(&s, "twin", r->e->logs);
	r->rc = pods_run_sandbox(r->e->p, &s.cfg, "", r->id, &err);
	return NULL;
}

/* kubelet retrying a RunPodSandbox it timed out on: one sandbox, never two. */
static void test_same_name_race(void **state)
{
	struct env *e = *state;
	struct racer r[6];
	pthread_t t[6];
	int ok = 0, exists = 0;

	for (int i = 0; i < 6; i++) {
		r[i] = (struct racer){ .e = e };
		assert_int_equal(pthread_create(&t[i], NULL, run_racer, &r[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].rc == 0;
		exists += r[i].rc == -EEXIST;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(exists, 5);
	assert_int_equal(dir_entries(e->netns), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_vm_per_pod, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_mid_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readopt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_name_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_network, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
