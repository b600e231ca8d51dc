// SPDX-License-Identifier: Apache-2.0
/*
 * The RuntimeService handlers over the pod layer and a fake VM backend,
 * through the method table as the gRPC server calls them: labels and
 * annotations come back unchanged, List filters, ids and hostile requests
 * get the codes kubelet expects.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cri/methods.h"
#include "agent/cri/runtime.h"
#include "fake_vm.h"
#include "runtime/v1/api.pb-c.h"

#define S(s) ((char *)(s))
#define RS   "/runtime.v1.RuntimeService/"

static char tmp[256];
static struct fake f;
static struct pods *pods;
static struct cri_runtime rt;

static enum cri_code call(const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
			  struct cri_status *st)
{
	const struct cri_method *m = cri_method_find(method);
	size_t len = req ? protobuf_c_message_get_packed_size(req) : 0, out_len;
	uint8_t *buf = malloc(len + 1), *out;
	enum cri_code code;

	assert_non_null(m);
	if (req)
		protobuf_c_message_pack(req, buf);
	code = cri_method_invoke(m, &rt, buf, len, &out, &out_len, st);
	free(buf);
	if (resp)
		*resp = code == CRI_OK ? protobuf_c_message_unpack(m->response, NULL, out_len, out)
				       : NULL;
	free(out);
	return code;
}

static void unref(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

static int setup(void **state)
{
	char root[300], netns[300];
	struct pods_options o = { .root = root, .netns_dir = netns };
	struct err err = { 0 };

	snprintf(tmp, sizeof(tmp), "/tmp/kvmlet-cri-pods-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(root, sizeof(root), "%s/pods", tmp);
	snprintf(netns, sizeof(netns), "%s/netns", tmp);
	fake_init(&f);
	fake_backend(&f, &o.backend);
	fake_sys(&f, &o.sys);
	if (pods_open(&o, &pods, &err))
		return -1;
	cri_runtime_init(&rt, "/nonexistent", "{}");
	cri_runtime_set_pods(&rt, pods, tmp);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	pods_close(pods);
	cri_runtime_destroy(&rt);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd);
}

static Runtime__V1__PodSandboxConfig__LabelsEntry lab[2] = {
	RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
	RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT
};
static Runtime__V1__PodSandboxConfig__LabelsEntry *labp[2] = { &lab[0], &lab[1] };
static Runtime__V1__PodSandboxConfig__AnnotationsEntry ann =
	RUNTIME__V1__POD_SANDBOX_CONFIG__ANNOTATIONS_ENTRY__INIT;
static Runtime__V1__PodSandboxConfig__AnnotationsEntry *annp[1] = { &ann };

/* RunPodSandbox for pod name with kubelet's uid label; the id into id. */
static enum cri_code run(const char *name, const char *uid, char id[65], struct cri_status *st)
{
	Runtime__V1__RunPodSandboxRequest q = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__RunPodSandboxResponse *r;
	char logs[300];
	enum cri_code code;

	snprintf(logs, sizeof(logs), "%s/logs/%s", tmp, name);
	md.name = (char *)name;
	md.namespace_ = S("default");
	md.uid = (char *)uid;
	lab[0].key = S("io.kubernetes.pod.uid");
	lab[0].value = (char *)uid;
	lab[1].key = S("tier");
	lab[1].value = S("a value with spaces, UTF-8 \xc3\xa9 and = signs");
	ann.key = S("kubernetes.io/config.source");
	ann.value = S("api\n{\"json\": true}");
	cfg.metadata = &md;
	cfg.labels = labp;
	cfg.n_labels = 2;
	cfg.annotations = annp;
	cfg.n_annotations = 1;
	cfg.log_directory = logs;
	q.config = &cfg;
	q.runtime_handler = S("kvmlet");
	code = call(RS "RunPodSandbox", &q.base, (ProtobufCMessage **)&r, st);
	if (code == CRI_OK) {
		assert_int_equal(strlen(r->pod_sandbox_id), 64);
		strcpy(id, r->pod_sandbox_id);
	}
	unref(r);
	return code;
}

static enum cri_code create(const char *sb, const char *name, uint32_t attempt, const char *log,
			    char id[65], struct cri_status *st)
{
	Runtime__V1__CreateContainerRequest q = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	Runtime__V1__ContainerConfig cfg = RUNTIME__V1__CONTAINER_CONFIG__INIT;
	Runtime__V1__ContainerMetadata md = RUNTIME__V1__CONTAINER_METADATA__INIT;
	Runtime__V1__ImageSpec img = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__ContainerConfig__LabelsEntry
		l = RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT,
		*lp[1] = { &l };
	Runtime__V1__Mount m = RUNTIME__V1__MOUNT__INIT, *mp[1] = { &m };
	Runtime__V1__CreateContainerResponse *r;
	enum cri_code code;

	md.name = (char *)name;
	md.attempt = attempt;
	img.image = S(FAKE_IMAGE);
	l.key = S("io.kubernetes.container.name");
	l.value = (char *)name;
	m.container_path = S("/var/run/secrets/kubernetes.io/serviceaccount");
	m.host_path = S("/var/lib/kubelet/pods/x/volumes/token");
	m.readonly = 1;
	cfg.metadata = &md;
	cfg.image = &img;
	cfg.labels = lp;
	cfg.n_labels = 1;
	cfg.mounts = mp;
	cfg.n_mounts = 1;
	cfg.log_path = (char *)log;
	q.pod_sandbox_id = (char *)sb;
	q.config = &cfg;
	code = call(RS "CreateContainer", &q.base, (ProtobufCMessage **)&r, st);
	if (code == CRI_OK)
		strcpy(id, r->container_id);
	unref(r);
	return code;
}

static enum cri_code by_id(const char *method, const char *id, struct cri_status *st)
{
	/* Every one of these requests has the id as field 1, a string. */
	Runtime__V1__StartContainerRequest q = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
	uint8_t buf[512];
	size_t len;
	const struct cri_method *m = cri_method_find(method);
	uint8_t *out;
	size_t out_len;
	enum cri_code code;

	q.container_id = (char *)id;
	len = protobuf_c_message_pack(&q.base, buf);
	code = cri_method_invoke(m, &rt, buf, len, &out, &out_len, st);
	free(out);
	return code;
}

static void test_sandbox(void **state)
{
	Runtime__V1__PodSandboxStatusRequest sq = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	Runtime__V1__ListPodSandboxRequest lq = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__PodSandboxFilter filt = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	Runtime__V1__PodSandboxStateValue sv = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry
		se = RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT,
		*sep[1] = { &se };
	Runtime__V1__PodSandboxStatusResponse *s;
	Runtime__V1__ListPodSandboxResponse *l;
	struct cri_status st;
	char a[65], b[65];

	assert_int_equal(run("pod-a", "uid-a", a, &st), CRI_OK);
	assert_int_equal(run("pod-b", "uid-b", b, &st), CRI_OK);
	assert_int_equal(run("pod-a", "uid-a", b, &st), CRI_ALREADY_EXISTS);
	sq.pod_sandbox_id = a;
	sq.verbose = 1;
	assert_int_equal(call(RS "PodSandboxStatus", &sq.base, (ProtobufCMessage **)&s, &st),
			 CRI_OK);
	assert_string_equal(s->status->id, a);
	assert_string_equal(s->status->metadata->name, "pod-a");
	assert_int_equal(s->status->state, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY);
	assert_true(s->status->created_at > 1700000000000000000LL);
	assert_int_equal(s->status->n_labels, 2);
	assert_string_equal(s->status->labels[1]->value,
			    "a value with spaces, UTF-8 \xc3\xa9 and = signs");
	assert_string_equal(s->status->annotations[0]->value, "api\n{\"json\": true}");
	assert_string_equal(s->status->runtime_handler, "kvmlet");
	assert_non_null(s->status->network);
	assert_int_equal(s->n_info, 1);
	assert_non_null(strstr(s->info[0]->value, "\"netns\""));
	unref(s);

	/* Filters: kubelet's uid selector, state, id. */
	se.key = S("io.kubernetes.pod.uid");
	se.value = S("uid-b");
	filt.label_selector = sep;
	filt.n_label_selector = 1;
	lq.filter = &filt;
	assert_int_equal(call(RS "ListPodSandbox", &lq.base, (ProtobufCMessage **)&l, &st), CRI_OK);
	assert_int_equal(l->n_items, 1);
	assert_string_equal(l->items[0]->id, b);
	assert_string_equal(l->items[0]->labels[0]->value, "uid-b");
	unref(l);
	assert_int_equal(by_id(RS "StopPodSandbox", b, &st), CRI_OK);
	filt.n_label_selector = 0;
	sv.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
	filt.state = &sv;
	assert_int_equal(call(RS "ListPodSandbox", &lq.base, (ProtobufCMessage **)&l, &st), CRI_OK);
	assert_int_equal(l->n_items, 1);
	assert_string_equal(l->items[0]->id, a);
	unref(l);
	filt.state = NULL;
	filt.id = b;
	assert_int_equal(call(RS "ListPodSandbox", &lq.base, (ProtobufCMessage **)&l, &st), CRI_OK);
	assert_int_equal(l->n_items, 1);
	assert_int_equal(l->items[0]->state, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY);
	unref(l);
	assert_int_equal(call(RS "ListPodSandbox", NULL, (ProtobufCMessage **)&l, &st), CRI_OK);
	assert_int_equal(l->n_items, 2);
	unref(l);
	assert_int_equal(by_id(RS "RemovePodSandbox", b, &st), CRI_OK);
	assert_int_equal(by_id(RS "RemovePodSandbox", b, &st), CRI_OK);
	assert_int_equal(by_id(RS "StopPodSandbox", b, &st), CRI_NOT_FOUND);
	assert_int_equal(by_id(RS "PodSandboxStatus", b, &st), CRI_NOT_FOUND);
	assert_int_equal(by_id(RS "RemovePodSandbox", a, &st), CRI_OK);
}

static void test_container(void **state)
{
	Runtime__V1__ContainerStatusRequest sq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	Runtime__V1__ListContainersRequest lq = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
	Runtime__V1__ContainerFilter filt = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ContainerStateValue sv = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
	Runtime__V1__ExecSyncRequest eq = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
	Runtime__V1__StopContainerRequest stq = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
	Runtime__V1__ListContainerStatsRequest csq =
		RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
	char *cmd[] = { S("echo"), S("hi") };
	Runtime__V1__ContainerStatusResponse *s;
	Runtime__V1__ListContainersResponse *l;
	Runtime__V1__ExecSyncResponse *x;
	Runtime__V1__ListContainerStatsResponse *cs;
	struct cri_status st;
	char sb[65], ct[65], ct2[65], want[400];

	assert_int_equal(run("pod-c", "uid-c", sb, &st), CRI_OK);
	assert_int_equal(create(sb, "fw", 0, "fw/0.log", ct, &st), CRI_OK);
	assert_int_equal(create(sb, "init", 0, "init/0.log", ct2, &st), CRI_INVALID_ARGUMENT);
	assert_non_null(strstr(st.message, "kvmlet runs one VM per pod"));
	assert_int_equal(create(sb, "fw", 1, "/etc/shadow", ct2, &st), CRI_INVALID_ARGUMENT);
	assert_int_equal(by_id(RS "StartContainer", ct, &st), CRI_OK);
	assert_int_equal(by_id(RS "StartContainer", ct, &st), CRI_FAILED_PRECONDITION);
	assert_non_null(strstr(st.message, "CONTAINER_RUNNING"));

	sq.container_id = ct;
	assert_int_equal(call(RS "ContainerStatus", &sq.base, (ProtobufCMessage **)&s, &st),
			 CRI_OK);
	assert_int_equal(s->status->state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
	assert_string_equal(s->status->image->image, FAKE_IMAGE);
	assert_string_equal(s->status->image_ref, "registry.local/fw@" FAKE_IMAGE_ID);
	snprintf(want, sizeof(want), "%s/logs/pod-c/fw/0.log", tmp);
	assert_string_equal(s->status->log_path, want);
	assert_int_equal(s->status->n_mounts, 1);
	assert_int_equal(s->status->mounts[0]->readonly, 1);
	assert_string_equal(s->status->labels[0]->value, "fw");
	unref(s);

	eq.container_id = ct;
	eq.cmd = cmd;
	eq.n_cmd = 2;
	eq.timeout = 1;
	assert_int_equal(call(RS "ExecSync", &eq.base, (ProtobufCMessage **)&x, &st), CRI_OK);
	assert_int_equal(x->stdout.len, 2);
	assert_memory_equal(x->stdout.data, "hi", 2);
	unref(x);
	f.fail[FAKE_EXEC] = -ETIMEDOUT;
	assert_int_equal(call(RS "ExecSync", &eq.base, NULL, &st), CRI_DEADLINE_EXCEEDED);
	f.fail[FAKE_EXEC] = -ENOTCONN;
	assert_int_equal(call(RS "ExecSync", &eq.base, NULL, &st), CRI_FAILED_PRECONDITION);
	eq.n_cmd = 0;
	assert_int_equal(call(RS "ExecSync", &eq.base, NULL, &st), CRI_INVALID_ARGUMENT);

	assert_int_equal(call(RS "ListContainerStats", &csq.base, (ProtobufCMessage **)&cs, &st),
			 CRI_OK);
	assert_int_equal(cs->n_stats, 1);
	assert_string_equal(cs->stats[0]->attributes->id, ct);
	assert_int_equal(cs->stats[0]->memory->working_set_bytes->value, 64 << 20);
	assert_string_equal(cs->stats[0]->writable_layer->fs_id->mountpoint, tmp);
	unref(cs);

	stq.container_id = ct;
	stq.timeout = 10;
	assert_int_equal(call(RS "StopContainer", &stq.base, NULL, &st), CRI_OK);
	assert_int_equal(call(RS "StopContainer", &stq.base, NULL, &st), CRI_OK);
	assert_int_equal(by_id(RS "ReopenContainerLog", ct, &st), CRI_FAILED_PRECONDITION);

	sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
	filt.state = &sv;
	filt.pod_sandbox_id = sb;
	lq.filter = &filt;
	assert_int_equal(call(RS "ListContainers", &lq.base, (ProtobufCMessage **)&l, &st), CRI_OK);
	assert_int_equal(l->n_containers, 1);
	assert_string_equal(l->containers[0]->id, ct);
	assert_string_equal(l->containers[0]->pod_sandbox_id, sb);
	unref(l);
	sv.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	assert_int_equal(call(RS "ListContainers", &lq.base, (ProtobufCMessage **)&l, &st), CRI_OK);
	assert_int_equal(l->n_containers, 0);
	unref(l);

	assert_int_equal(call(RS "ContainerStatus", &sq.base, (ProtobufCMessage **)&s, &st),
			 CRI_OK);
	assert_int_equal(s->status->state, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
	assert_int_equal(s->status->exit_code, 0);
	assert_true(s->status->finished_at >= s->status->started_at);
	unref(s);
	assert_int_equal(by_id(RS "RemoveContainer", ct, &st), CRI_OK);
	assert_int_equal(by_id(RS "RemoveContainer", ct, &st), CRI_OK);
	assert_int_equal(by_id(RS "ContainerStatus", ct, &st), CRI_NOT_FOUND);
	assert_int_equal(by_id(RS "StopContainer", ct, &st), CRI_NOT_FOUND);
	assert_int_equal(by_id(RS "RemovePodSandbox", sb, &st), CRI_OK);
}

static void test_hostile(void **state)
{
	static const char *const methods[] = {
		"StartContainer",   "StopContainer",	  "RemoveContainer", "ContainerStatus",
		"ContainerStats",   "ReopenContainerLog", "StopPodSandbox",  "RemovePodSandbox",
		"PodSandboxStatus", "PodSandboxStats",
	};
	static const char *const bad[] = {
		"", "abc", "../../../../etc/passwd",
		"ABCDEF0000000000000000000000000000000000000000000000000000000000"
	};
	Runtime__V1__RunPodSandboxRequest q = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	struct cri_status st;
	char sb[65], ct[65];

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			char path[100];

			snprintf(path, sizeof(path), RS "%s", methods[i]);
			assert_int_equal(by_id(path, bad[j], &st), CRI_INVALID_ARGUMENT);
		}
	assert_int_equal(call(RS "RunPodSandbox", &q.base, NULL, &st), CRI_INVALID_ARGUMENT);
	assert_string_equal(st.message, "config: missing");
	assert_int_equal(call(RS "CreateContainer", NULL, NULL, &st), CRI_INVALID_ARGUMENT);
	/* A container in a sandbox that does not exist; one without metadata. */
	memset(sb, 'a', 64);
	sb[64] = '\0';
	assert_int_equal(create(sb, "fw", 0, "", ct, &st), CRI_NOT_FOUND);
	assert_int_equal(run("pod-h", "uid-h", sb, &st), CRI_OK);
	assert_int_equal(create(sb, "", 0, "", ct, &st), CRI_INVALID_ARGUMENT);
	assert_int_equal(create(sb, "fw", 0, "a/../../../x", ct, &st), CRI_INVALID_ARGUMENT);
	assert_int_equal(by_id(RS "RemovePodSandbox", sb, &st), CRI_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_container),
		cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
