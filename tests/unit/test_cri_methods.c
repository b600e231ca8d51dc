// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI method table and its handlers without gRPC: lookups, the
 * decode -> handler -> encode step, the runtime-info answers, and the
 * errno -> gRPC code mapping.
 */
#include <errno.h>
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
#include "agent/cri/status.h"
#include "runtime/v1/api.pb-c.h"

#define RS "/runtime.v1.RuntimeService/"
#define IS "/runtime.v1.ImageService/"

static void test_find(void **state)
{
	const struct cri_method *m = cri_method_find(RS "Version");

	assert_non_null(m);
	assert_string_equal(m->name, "Version");
	assert_int_equal(cri_method_index(m), 0);
	assert_ptr_equal(&cri_methods[cri_method_index(m)], m);
	assert_non_null(cri_method_find(IS "PullImage"));
	assert_string_equal(cri_method_find(IS "ImageFsInfo")->name, "ImageFsInfo");
	assert_null(cri_method_find(RS "version"));
	assert_null(cri_method_find(RS "Version/"));
	assert_null(cri_method_find(RS));
	assert_null(cri_method_find("/runtime.v1alpha2.RuntimeService/Version"));
	assert_null(cri_method_find(IS "Version"));
	assert_null(cri_method_find(""));
}

/* Runs path with a packed request; returns the code, *resp unpacked if OK. */
static enum cri_code call(struct cri_runtime *rt, const char *path, const ProtobufCMessage *req,
			  ProtobufCMessage **resp, struct cri_status *st)
{
	const struct cri_method *m = cri_method_find(path);
	uint8_t buf[4096], *out;
	size_t len = 0, out_len;
	enum cri_code code;

	assert_non_null(m);
	if (req) {
		assert_ptr_equal(req->descriptor, m->request);
		len = protobuf_c_message_pack(req, buf);
	}
	code = cri_method_invoke(m, rt, buf, len, &out, &out_len, st);
	if (resp) {
		*resp = NULL;
		if (code == CRI_OK)
			*resp = protobuf_c_message_unpack(m->response, NULL, out_len, out);
	}
	if (code != CRI_OK) {
		assert_null(out);
		assert_int_equal(out_len, 0);
	}
	free(out);
	return code;
}

static void test_version(void **state)
{
	struct cri_runtime rt;
	struct cri_status st;
	Runtime__V1__VersionResponse *v;

	cri_runtime_init(&rt, "/nonexistent", "{}");
	assert_int_equal(call(&rt, RS "Version", NULL, (ProtobufCMessage **)&v, &st), CRI_OK);
	assert_non_null(v);
	assert_string_equal(v->version, "0.1.0");
	assert_string_equal(v->runtime_name, "kvmlet");
	assert_true(v->runtime_version[0]);
	assert_string_equal(v->runtime_api_version, "v1");
	runtime__v1__version_response__free_unpacked(v, NULL);
	cri_runtime_destroy(&rt);
}

static const Runtime__V1__RuntimeCondition *cond(const Runtime__V1__StatusResponse *r,
						 const char *type)
{
	for (size_t i = 0; i < r->status->n_conditions; i++)
		if (!strcmp(r->status->conditions[i]->type, type))
			return r->status->conditions[i];
	fail_msg("no condition %s", type);
	return NULL;
}

static const char *info(const Runtime__V1__StatusResponse *r, const char *key)
{
	for (size_t i = 0; i < r->n_info; i++)
		if (!strcmp(r->info[i]->key, key))
			return r->info[i]->value;
	return NULL;
}

static void test_status(void **state)
{
	char dir[] = "/tmp/kvmlet-cni-XXXXXX", file[64];
	struct cri_runtime rt;
	struct cri_status st;
	Runtime__V1__StatusRequest verbose = RUNTIME__V1__STATUS_REQUEST__INIT;
	Runtime__V1__StatusResponse *r;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	cri_runtime_init(&rt, dir, "{\"root\":\"/r\"}");
	assert_int_equal(call(&rt, RS "Status", NULL, (ProtobufCMessage **)&r, &st), CRI_OK);
	assert_int_equal(r->status->n_conditions, 2);
	assert_true(cond(r, "RuntimeReady")->status);
	assert_false(cond(r, "NetworkReady")->status);
	assert_string_equal(cond(r, "NetworkReady")->reason, "NetworkPluginNotReady");
	assert_non_null(strstr(cond(r, "NetworkReady")->message, "cni config uninitialized"));
	assert_int_equal(r->n_info, 0);
	runtime__v1__status_response__free_unpacked(r, NULL);

	/* Files libcni would not load do not count. */
	snprintf(file, sizeof(file), "%s/README", dir);
	assert_non_null(f = fopen(file, "w"));
	fclose(f);
	verbose.verbose = true;
	assert_int_equal(call(&rt, RS "Status", &verbose.base, (ProtobufCMessage **)&r, &st),
			 CRI_OK);
	assert_false(cond(r, "NetworkReady")->status);
	assert_string_equal(info(r, "config"), "{\"root\":\"/r\",\"podCIDR\":\"\"}");
	assert_non_null(strstr(info(r, "lastCNILoadStatus"), dir));
	runtime__v1__status_response__free_unpacked(r, NULL);
	unlink(file);

	snprintf(file, sizeof(file), "%s/10-net.conflist", dir);
	assert_non_null(f = fopen(file, "w"));
	fclose(f);
	assert_int_equal(call(&rt, RS "Status", &verbose.base, (ProtobufCMessage **)&r, &st),
			 CRI_OK);
	assert_true(cond(r, "NetworkReady")->status);
	assert_string_equal(cond(r, "NetworkReady")->reason, "");
	assert_string_equal(info(r, "lastCNILoadStatus"), "OK");
	runtime__v1__status_response__free_unpacked(r, NULL);
	unlink(file);
	rmdir(dir);
	cri_runtime_destroy(&rt);
}

static void test_update_runtime_config(void **state)
{
	Runtime__V1__NetworkConfig net = RUNTIME__V1__NETWORK_CONFIG__INIT;
	Runtime__V1__RuntimeConfig cfg = RUNTIME__V1__RUNTIME_CONFIG__INIT;
	Runtime__V1__UpdateRuntimeConfigRequest req =
		RUNTIME__V1__UPDATE_RUNTIME_CONFIG_REQUEST__INIT;
	struct cri_runtime rt;
	struct cri_status st;
	char cidr[CRI_POD_CIDR_MAX], big[CRI_POD_CIDR_MAX + 1];

	cri_runtime_init(&rt, NULL, NULL);
	net.pod_cidr = CRI_STR("10.244.0.0/24,fd00::/64");
	cfg.network_config = &net;
	req.runtime_config = &cfg;
	assert_int_equal(call(&rt, RS "UpdateRuntimeConfig", &req.base, NULL, &st), CRI_OK);
	cri_runtime_pod_cidr(&rt, cidr, sizeof(cidr));
	assert_string_equal(cidr, "10.244.0.0/24,fd00::/64");

	/* No CIDR: nothing changes. */
	req.runtime_config = NULL;
	assert_int_equal(call(&rt, RS "UpdateRuntimeConfig", &req.base, NULL, &st), CRI_OK);
	cri_runtime_pod_cidr(&rt, cidr, sizeof(cidr));
	assert_string_equal(cidr, "10.244.0.0/24,fd00::/64");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	net.pod_cidr = big;
	req.runtime_config = &cfg;
	assert_int_equal(call(&rt, RS "UpdateRuntimeConfig", &req.base, NULL, &st),
			 CRI_INVALID_ARGUMENT);
	cri_runtime_pod_cidr(&rt, cidr, sizeof(cidr));
	assert_string_equal(cidr, "10.244.0.0/24,fd00::/64");
	cri_runtime_destroy(&rt);
}

static void test_unimplemented(void **state)
{
	static const char *const alpha[] = { "CheckpointContainer",   "GetContainerEvents",
					     "ListMetricDescriptors", "ListPodSandboxMetrics",
					     "RuntimeConfig" };
	struct cri_runtime rt;
	struct cri_status st;
	char path[128];

	cri_runtime_init(&rt, NULL, NULL);
	for (size_t i = 0; i < sizeof(alpha) / sizeof(alpha[0]); i++) {
		snprintf(path, sizeof(path), RS "%s", alpha[i]);
		assert_int_equal(call(&rt, path, NULL, NULL, &st), CRI_UNIMPLEMENTED);
		assert_non_null(strstr(st.message, "alpha"));
	}
	assert_int_equal(call(&rt, RS "UpdateContainerResources", NULL, NULL, &st),
			 CRI_UNIMPLEMENTED);
	assert_non_null(strstr(st.message, "fixed when it boots"));
	for (size_t i = 0; i < 3; i++) {
		static const char *const streaming[] = { "Exec", "Attach", "PortForward" };

		snprintf(path, sizeof(path), RS "%s", streaming[i]);
		assert_int_equal(call(&rt, path, NULL, NULL, &st), CRI_UNIMPLEMENTED);
		assert_non_null(strstr(st.message, "issue 14"));
	}
	/* No pods (no VM backend): the RuntimeService's pods are unavailable. */
	assert_int_equal(call(&rt, RS "RunPodSandbox", NULL, NULL, &st), CRI_UNAVAILABLE);
	assert_int_equal(call(&rt, RS "ListContainers", NULL, NULL, &st), CRI_UNAVAILABLE);
	/* No image store: the ImageService is unavailable, not unimplemented. */
	assert_int_equal(call(&rt, IS "PullImage", NULL, NULL, &st), CRI_UNAVAILABLE);
	assert_int_equal(call(&rt, IS "ImageFsInfo", NULL, NULL, &st), CRI_UNAVAILABLE);
	cri_runtime_destroy(&rt);
}

static void test_undecodable(void **state)
{
	static const uint8_t garbage[][4] = { { 0xff, 0xff, 0xff, 0xff },
					      { 0x0a, 0x05, 'a', 'b' },
					      { 0x08, 0x80, 0x80, 0x80 } };
	const struct cri_method *m = cri_method_find(RS "Status");
	struct cri_runtime rt;
	struct cri_status st;
	uint8_t *out = (uint8_t *)1;
	size_t len = 1;

	cri_runtime_init(&rt, NULL, NULL);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		assert_int_equal(cri_method_invoke(m, &rt, garbage[i], 4, &out, &len, &st),
				 CRI_INVALID_ARGUMENT);
		assert_null(out);
		assert_int_equal(len, 0);
		assert_non_null(strstr(st.message, "runtime.v1.StatusRequest"));
	}
	cri_runtime_destroy(&rt);
}

static void test_codes(void **state)
{
	struct cri_status st = { 0 };
	struct err e = { 0 };

	assert_int_equal(cri_code_from_errno(-ENOENT), CRI_NOT_FOUND);
	assert_int_equal(cri_code_from_errno(-EINVAL), CRI_INVALID_ARGUMENT);
	assert_int_equal(cri_code_from_errno(-EEXIST), CRI_ALREADY_EXISTS);
	assert_int_equal(cri_code_from_errno(-ETIMEDOUT), CRI_DEADLINE_EXCEEDED);
	assert_int_equal(cri_code_from_errno(-ENOSYS), CRI_UNIMPLEMENTED);
	assert_int_equal(cri_code_from_errno(-EOPNOTSUPP), CRI_UNIMPLEMENTED);
	assert_int_equal(cri_code_from_errno(-EBUSY), CRI_FAILED_PRECONDITION);
	assert_int_equal(cri_code_from_errno(-ENOMEM), CRI_RESOURCE_EXHAUSTED);
	assert_int_equal(cri_code_from_errno(-ECANCELED), CRI_CANCELLED);
	assert_int_equal(cri_code_from_errno(-EIO), CRI_INTERNAL);
	assert_int_equal(cri_code_from_errno(ENOENT), CRI_INTERNAL); /* must be negative */

	err_set(&e, -ENOENT, "image \"%s\" not found", "busybox");
	cri_status_from_err(&st, &e);
	assert_int_equal(st.code, CRI_NOT_FOUND);
	assert_string_equal(st.message, "image \"busybox\" not found");
	cri_status_set(&st, CRI_INTERNAL, "second");
	assert_int_equal(st.code, CRI_NOT_FOUND); /* the first failure wins */

	memset(&st, 0, sizeof(st));
	cri_status_set(&st, CRI_OK, "not a failure");
	assert_int_equal(st.code, CRI_INTERNAL);

	assert_string_equal(cri_code_name(CRI_OK), "OK");
	assert_string_equal(cri_code_name(CRI_NOT_FOUND), "NotFound");
	assert_string_equal(cri_code_name(CRI_DEADLINE_EXCEEDED), "DeadlineExceeded");
	assert_string_equal(cri_code_name(CRI_UNAUTHENTICATED), "Unauthenticated");
	for (int c = 0; c < CRI_NR_CODES; c++)
		assert_non_null(cri_code_name(c));
	assert_null(cri_code_name(CRI_NR_CODES));
	assert_null(cri_code_name(-1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),	      cmocka_unit_test(test_version),
		cmocka_unit_test(test_status),	      cmocka_unit_test(test_update_runtime_config),
		cmocka_unit_test(test_unimplemented), cmocka_unit_test(test_undecodable),
		cmocka_unit_test(test_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
