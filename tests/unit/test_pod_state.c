// SPDX-License-Identifier: Apache-2.0
/*
 * The pod layer's pure parts: the state tables (every refused event names
 * the state), ids, label selectors, config checks, the log path with its
 * escapes (real directories and symlinks) and the cgroup_parent mapping.
 */
#include <errno.h>
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

#define S(s) ((char *)(s)) /* a protobuf-c string field from a literal */

#include "agent/pod/cgroup.h"
#include "agent/pod/check.h"
#include "agent/pod/filter.h"
#include "agent/pod/id.h"
#include "agent/pod/logpath.h"
#include "agent/pod/netns.h"
#include "agent/pod/record.h"
#include "agent/pod/state.h"

static void test_container_table(void **state)
{
	/* The whole table: what is allowed, and where it leads. */
	static const struct {
		enum container_state from;
		enum container_event ev;
		int to; /* -1: refused */
	} cases[] = {
		{ CONTAINER_CREATED, CONTAINER_EV_START, CONTAINER_RUNNING },
		{ CONTAINER_RUNNING, CONTAINER_EV_START, -1 },
		{ CONTAINER_EXITED, CONTAINER_EV_START, -1 },
		{ CONTAINER_UNKNOWN, CONTAINER_EV_START, -1 },
		{ CONTAINER_CREATED, CONTAINER_EV_EXITED, -1 },
		{ CONTAINER_RUNNING, CONTAINER_EV_EXITED, CONTAINER_EXITED },
		{ CONTAINER_UNKNOWN, CONTAINER_EV_EXITED, CONTAINER_EXITED },
		{ CONTAINER_EXITED, CONTAINER_EV_EXITED, -1 },
		{ CONTAINER_CREATED, CONTAINER_EV_STOP, CONTAINER_CREATED },
		{ CONTAINER_RUNNING, CONTAINER_EV_STOP, CONTAINER_EXITED },
		{ CONTAINER_EXITED, CONTAINER_EV_STOP, CONTAINER_EXITED },
		{ CONTAINER_UNKNOWN, CONTAINER_EV_STOP, CONTAINER_EXITED },
		{ CONTAINER_CREATED, CONTAINER_EV_REMOVE, CONTAINER_REMOVED },
		{ CONTAINER_RUNNING, CONTAINER_EV_REMOVE, CONTAINER_REMOVED },
		{ CONTAINER_EXITED, CONTAINER_EV_REMOVE, CONTAINER_REMOVED },
		{ CONTAINER_UNKNOWN, CONTAINER_EV_REMOVE, CONTAINER_REMOVED },
		{ CONTAINER_RUNNING, CONTAINER_EV_EXEC, CONTAINER_RUNNING },
		{ CONTAINER_CREATED, CONTAINER_EV_EXEC, -1 },
		{ CONTAINER_EXITED, CONTAINER_EV_EXEC, -1 },
		{ CONTAINER_RUNNING, CONTAINER_EV_REOPEN_LOG, CONTAINER_RUNNING },
		{ CONTAINER_EXITED, CONTAINER_EV_REOPEN_LOG, -1 },
		{ CONTAINER_CREATED, CONTAINER_EV_LOST, CONTAINER_UNKNOWN },
		{ CONTAINER_RUNNING, CONTAINER_EV_LOST, CONTAINER_UNKNOWN },
		{ CONTAINER_EXITED, CONTAINER_EV_LOST, CONTAINER_EXITED },
	};
	enum container_state next;
	char msg[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool ok = container_transition(cases[i].from, cases[i].ev, &next, msg, sizeof(msg));

		assert_int_equal(ok, cases[i].to >= 0);
		if (ok)
			assert_int_equal(next, cases[i].to);
		else
			assert_non_null(strstr(msg, container_state_name(cases[i].from)));
	}
	/* Every refusal, in every state, names that state and says what it needs. */
	for (int st = 0; st < CONTAINER_NR_STATES; st++)
		for (int ev = 0; ev < CONTAINER_NR_EVENTS; ev++)
			if (!container_transition(st, ev, &next, msg, sizeof(msg))) {
				assert_non_null(strstr(msg, container_state_name(st)));
				assert_non_null(strstr(msg, "only possible"));
			}
	/* Nothing at all once removed. */
	for (int ev = 0; ev < CONTAINER_NR_EVENTS; ev++) {
		assert_false(container_transition(CONTAINER_REMOVED, ev, &next, msg, sizeof(msg)));
		assert_non_null(strstr(msg, "CONTAINER_REMOVED"));
		assert_non_null(strstr(msg, "cannot "));
	}
	assert_false(container_transition(CONTAINER_NR_STATES, 0, &next, msg, sizeof(msg)));
	assert_false(container_transition(0, CONTAINER_NR_EVENTS, &next, msg, sizeof(msg)));
	assert_false(container_transition(CONTAINER_RUNNING, CONTAINER_EV_START, &next, msg,
					  sizeof(msg)));
	assert_string_equal(msg, "cannot start the container: it is CONTAINER_RUNNING "
				 "(only possible when it is CONTAINER_CREATED)");
}

static void test_sandbox_table(void **state)
{
	enum sandbox_state next;
	char msg[200];

	assert_true(sandbox_transition(SANDBOX_READY, SANDBOX_EV_STOP, &next, msg, sizeof(msg)));
	assert_int_equal(next, SANDBOX_NOTREADY);
	assert_true(sandbox_transition(SANDBOX_NOTREADY, SANDBOX_EV_STOP, &next, msg, sizeof(msg)));
	assert_int_equal(next, SANDBOX_NOTREADY);
	assert_true(sandbox_transition(SANDBOX_READY, SANDBOX_EV_ADD_CONTAINER, &next, msg,
				       sizeof(msg)));
	assert_int_equal(next, SANDBOX_READY);
	assert_false(sandbox_transition(SANDBOX_NOTREADY, SANDBOX_EV_ADD_CONTAINER, &next, msg,
					sizeof(msg)));
	assert_non_null(strstr(msg, "SANDBOX_NOTREADY"));
	assert_true(
		sandbox_transition(SANDBOX_NOTREADY, SANDBOX_EV_REMOVE, &next, msg, sizeof(msg)));
	assert_int_equal(next, SANDBOX_REMOVED);
	assert_true(sandbox_transition(SANDBOX_READY, SANDBOX_EV_LOST, &next, msg, sizeof(msg)));
	assert_int_equal(next, SANDBOX_NOTREADY);
	for (int st = 0; st < SANDBOX_NR_STATES; st++)
		for (int ev = 0; ev < SANDBOX_NR_EVENTS; ev++)
			if (!sandbox_transition(st, ev, &next, msg, sizeof(msg)))
				assert_non_null(strstr(msg, sandbox_state_name(st)));
	for (int ev = 0; ev < SANDBOX_NR_EVENTS; ev++) {
		assert_false(sandbox_transition(SANDBOX_REMOVED, ev, &next, msg, sizeof(msg)));
		assert_non_null(strstr(msg, "SANDBOX_REMOVED"));
	}
	/* Names round-trip, and are CRI's. */
	for (int s = 0; s < SANDBOX_NR_STATES; s++)
		assert_int_equal(sandbox_state_parse(sandbox_state_name(s)), s);
	for (int s = 0; s < CONTAINER_NR_STATES; s++)
		assert_int_equal(container_state_parse(container_state_name(s)), s);
	assert_int_equal(container_state_parse("RUNNING"), -1);
	assert_string_equal(container_state_name(CONTAINER_EXITED), "CONTAINER_EXITED");
}

static void test_ids(void **state)
{
	char a[POD_ID_LEN + 1], b[POD_ID_LEN + 1];

	assert_int_equal(pod_id_new(a), 0);
	assert_int_equal(pod_id_new(b), 0);
	assert_true(pod_id_valid(a));
	assert_string_not_equal(a, b);
	assert_false(pod_id_valid(""));
	assert_false(pod_id_valid(NULL));
	a[10] = 'A';
	assert_false(pod_id_valid(a)); /* upper case */
	a[10] = '0';
	a[63] = '\0';
	assert_false(pod_id_valid(a)); /* short */
	assert_false(pod_id_valid("../../../../etc/passwd"));
	char longer[POD_ID_LEN + 2];

	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_false(pod_id_valid(longer));
}

#define KV(k, v)                                                        \
	{                                                               \
		PROTOBUF_C_MESSAGE_INIT(NULL), (char *)(k), (char *)(v) \
	}

static void test_selectors(void **state)
{
	struct pod_kv l1 = KV("app", "web"), l2 = KV("io.kubernetes.pod.uid", "u1"),
		      l3 = KV("empty", "");
	const struct pod_kv *labels[] = { &l1, &l2, &l3 };
	struct pod_kv s1 = KV("app", "web"), s2 = KV("io.kubernetes.pod.uid", "u2"),
		      s3 = KV("missing", "x"), s4 = KV("empty", "");
	const struct pod_kv *sel_ok[] = { &s1, &s4 }, *sel_bad[] = { &s1, &s2 },
			    *sel_missing[] = { &s3 };

	assert_true(pod_labels_match(labels, 3, NULL, 0));
	assert_true(pod_labels_match(labels, 3, sel_ok, 2));
	assert_false(pod_labels_match(labels, 3, sel_bad, 2));
	assert_false(pod_labels_match(labels, 3, sel_missing, 1));
	assert_false(pod_labels_match(NULL, 0, sel_ok, 1));
	assert_string_equal(pod_kv_get(labels, 3, "app"), "web");
	assert_null(pod_kv_get(labels, 3, "nope"));
}

static void test_checks(void **state)
{
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__ContainerConfig cc = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__ContainerMetadata cm = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__PodSandboxConfig__LabelsEntry
		le = RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
		*lp[] = { &le };
	char big[400];
	struct err err = { 0 };

	assert_int_equal(pod_check_sandbox_config(NULL, &err), -EINVAL);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_sandbox_config(&cfg, &err), -EINVAL);
	assert_string_equal(err.msg, "config.metadata: missing");
	cfg.metadata = &md;
	md.name = S("p");
	md.namespace_ = S("default");
	md.uid = S("");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_sandbox_config(&cfg, &err), -EINVAL);
	assert_string_equal(err.msg, "config.metadata.uid: missing");
	md.uid = S("uid-1");
	assert_int_equal(pod_check_sandbox_config(&cfg, &err), 0);
	memset(big, 'n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	md.name = big;
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_sandbox_config(&cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "config.metadata.name"));
	md.name = S("p");
	cfg.n_labels = 1;
	cfg.labels = lp;
	le.key = big;
	le.value = S("v");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_sandbox_config(&cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "config.labels"));
	le.key = S("");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_sandbox_config(&cfg, &err), -EINVAL);
	le.key = S("k");
	assert_int_equal(pod_check_sandbox_config(&cfg, &err), 0);
	cfg.log_directory = S("relative/dir");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_sandbox_config(&cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "log_directory"));

	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_container_config(&cc, &err), -EINVAL);
	cc.metadata = &cm;
	cm.name = S("c");
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_container_config(&cc, &err), -EINVAL);
	assert_string_equal(err.msg, "config.image.image: missing");
	cc.image = &img;
	img.image = S("x");
	assert_int_equal(pod_check_container_config(&cc, &err), 0);
	big[64] = '\0';
	cm.name = big; /* 64 > a DNS label */
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_check_container_config(&cc, &err), -EINVAL);
}

static char tmp[256];

static void test_log_path(void **state)
{
	char dir[PATH_MAX], out[PATH_MAX], p[PATH_MAX + 64];
	struct err err = { 0 };

	snprintf(dir, sizeof(dir), "%s/logs", tmp);
	/* No log at all. */
	assert_int_equal(pod_log_path(dir, "", out, sizeof(out), &err), 0);
	assert_string_equal(out, "");
	/* The ordinary case: kubelet's <container>/<restart>.log, directories made. */
	assert_int_equal(pod_log_path(dir, "fw/0.log", out, sizeof(out), &err), 0);
	snprintf(p, sizeof(p), "%s/fw/0.log", dir);
	assert_string_equal(out, p);
	snprintf(p, sizeof(p), "%s/fw", dir);
	assert_int_equal(access(p, F_OK), 0);
	/* Escapes. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_log_path(dir, "/etc/passwd", out, sizeof(out), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "absolute"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_log_path(dir, "fw/../../x.log", out, sizeof(out), &err), -EINVAL);
	assert_non_null(strstr(err.msg, ".."));
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_log_path("", "fw/0.log", out, sizeof(out), &err), -EINVAL);
	/* A symlink out of the log directory, in the middle or at the end. */
	snprintf(p, sizeof(p), "%s/out", dir);
	assert_int_equal(symlink(tmp, p), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_log_path(dir, "out/0.log", out, sizeof(out), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "outside"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_log_path(dir, "out/new/0.log", out, sizeof(out), &err), -EINVAL);
	snprintf(p, sizeof(p), "%s/new", tmp);
	assert_int_not_equal(access(p, F_OK), 0); /* nothing made outside */
	snprintf(p, sizeof(p), "%s/fw/1.log", dir);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_log_path(dir, "fw/1.log", out, sizeof(out), &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
	/* A symlink that stays inside is fine. */
	snprintf(p, sizeof(p), "%s/alias", dir);
	assert_int_equal(symlink("fw", p), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_log_path(dir, "alias/2.log", out, sizeof(out), &err), 0);
}

static void test_cgroup(void **state)
{
	char out[PATH_MAX], p[PATH_MAX + 64];
	struct err err = { 0 };

	assert_int_equal(pod_cgroup_relpath("/kubepods/burstable/pod12", out, sizeof(out), &err),
			 0);
	assert_string_equal(out, "kubepods/burstable/pod12");
	assert_int_equal(pod_cgroup_relpath("/kubepods/../../etc", out, sizeof(out), &err),
			 -EINVAL);
	/* A v2-like root: one tree. */
	snprintf(p, sizeof(p), "%s/cg", tmp);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/cg/cgroup.controllers", tmp);
	fclose(fopen(p, "w"));
	snprintf(p, sizeof(p), "%s/cg", tmp);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_cgroup_ensure(p, "/kubepods/pod1", &err), 0);
	snprintf(p, sizeof(p), "%s/cg/kubepods/pod1", tmp);
	assert_int_equal(access(p, F_OK), 0);
}

static void test_netns(void **state)
{
	char path[PATH_MAX];
	struct err err = { 0 };

	if (geteuid() != 0) {
		skip(); /* unshare(CLONE_NEWNET) and mount need root */
		return;
	}
	snprintf(path, sizeof(path), "%s/netns/0123", tmp);
	assert_int_equal(pod_netns_create(path, &err), 0);
	assert_true(pod_netns_alive(path));
	/* Once made, the name is taken. */
	assert_int_not_equal(pod_netns_create(path, &err), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(pod_netns_remove(path, &err), 0);
	assert_false(pod_netns_alive(path));
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(pod_netns_remove(path, &err), 0); /* idempotent */
	assert_int_equal(pod_netns_remove("", &err), 0);
	/* A plain file is no namespace. */
	snprintf(path, sizeof(path), "%s/plain", tmp);
	fclose(fopen(path, "w"));
	assert_false(pod_netns_alive(path));
}

static void test_record_state(void **state)
{
	struct record_state st = { .created_at = 1765152000123456789LL, .exit_code = -9 }, back;
	struct err err = { 0 };
	char *text;

	snprintf(st.state, sizeof(st.state), "CONTAINER_EXITED");
	snprintf(st.reason, sizeof(st.reason), "Error \"quoted\"");
	text = record_state_json(&st);
	assert_non_null(text);
	assert_int_equal(record_state_parse(text, strlen(text), &back, &err), 0);
	assert_int_equal(back.created_at, st.created_at); /* exact beyond 2^53 */
	assert_int_equal(back.exit_code, -9);
	assert_string_equal(back.reason, st.reason);
	free(text);
	assert_int_equal(record_state_parse("{\"state\": 5}", 12, &back, &err), -EINVAL);
	memset(&err, 0, sizeof(err));
	assert_int_equal(record_state_parse("{}", 2, &back, &err), -EINVAL);
	memset(&err, 0, sizeof(err));
	assert_int_equal(record_state_parse("[", 1, &back, &err), -EINVAL);
}

static int setup(void **state)
{
	snprintf(tmp, sizeof(tmp), "/tmp/kvmlet-pod-state-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_container_table),
		cmocka_unit_test(test_sandbox_table),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_selectors),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_log_path),
		cmocka_unit_test(test_cgroup),
		cmocka_unit_test(test_record_state),
		cmocka_unit_test(test_netns),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
