// SPDX-License-Identifier: Apache-2.0
/*
 * proto/runtime/v1/api.proto against cri-api v0.29.0, as far as it can be
 * checked offline: both services list exactly upstream's RPCs, in order and
 * with upstream's request and response types, and the fields kubelet reads
 * or writes have upstream's numbers, types and labels. The method table
 * (agent/cri/methods.c) must match the generated service descriptors row
 * for row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/cri/methods.h"
#include "runtime/v1/api.pb-c.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* cri-api v0.29.0 pkg/apis/runtime/v1/api.proto, service by service. */
static const struct {
	const char *name, *input, *output;
} runtime_rpcs[] = {
	{ "Version", "VersionRequest", "VersionResponse" },
	{ "RunPodSandbox", "RunPodSandboxRequest", "RunPodSandboxResponse" },
	{ "StopPodSandbox", "StopPodSandboxRequest", "StopPodSandboxResponse" },
	{ "RemovePodSandbox", "RemovePodSandboxRequest", "RemovePodSandboxResponse" },
	{ "PodSandboxStatus", "PodSandboxStatusRequest", "PodSandboxStatusResponse" },
	{ "ListPodSandbox", "ListPodSandboxRequest", "ListPodSandboxResponse" },
	{ "CreateContainer", "CreateContainerRequest", "CreateContainerResponse" },
	{ "StartContainer", "StartContainerRequest", "StartContainerResponse" },
	{ "StopContainer", "StopContainerRequest", "StopContainerResponse" },
	{ "RemoveContainer", "RemoveContainerRequest", "RemoveContainerResponse" },
	{ "ListContainers", "ListContainersRequest", "ListContainersResponse" },
	{ "ContainerStatus", "ContainerStatusRequest", "ContainerStatusResponse" },
	{ "UpdateContainerResources", "UpdateContainerResourcesRequest",
	  "UpdateContainerResourcesResponse" },
	{ "ReopenContainerLog", "ReopenContainerLogRequest", "ReopenContainerLogResponse" },
	{ "ExecSync", "ExecSyncRequest", "ExecSyncResponse" },
	{ "Exec", "ExecRequest", "ExecResponse" },
	{ "Attach", "AttachRequest", "AttachResponse" },
	{ "PortForward", "PortForwardRequest", "PortForwardResponse" },
	{ "ContainerStats", "ContainerStatsRequest", "ContainerStatsResponse" },
	{ "ListContainerStats", "ListContainerStatsRequest", "ListContainerStatsResponse" },
	{ "PodSandboxStats", "PodSandboxStatsRequest", "PodSandboxStatsResponse" },
	{ "ListPodSandboxStats", "ListPodSandboxStatsRequest", "ListPodSandboxStatsResponse" },
	{ "UpdateRuntimeConfig", "UpdateRuntimeConfigRequest", "UpdateRuntimeConfigResponse" },
	{ "Status", "StatusRequest", "StatusResponse" },
	{ "CheckpointContainer", "CheckpointContainerRequest", "CheckpointContainerResponse" },
	{ "GetContainerEvents", "GetEventsRequest", "ContainerEventResponse" },
	{ "ListMetricDescriptors", "ListMetricDescriptorsRequest",
	  "ListMetricDescriptorsResponse" },
	{ "ListPodSandboxMetrics", "ListPodSandboxMetricsRequest",
	  "ListPodSandboxMetricsResponse" },
	{ "RuntimeConfig", "RuntimeConfigRequest", "RuntimeConfigResponse" },
}, image_rpcs[] = {
	{ "ListImages", "ListImagesRequest", "ListImagesResponse" },
	{ "ImageStatus", "ImageStatusRequest", "ImageStatusResponse" },
	{ "PullImage", "PullImageRequest", "PullImageResponse" },
	{ "RemoveImage", "RemoveImageRequest", "RemoveImageResponse" },
	{ "ImageFsInfo", "ImageFsInfoRequest", "ImageFsInfoResponse" },
};

static void check_service(const ProtobufCServiceDescriptor *sd, const char *name, const void *rpcs_,
			  size_t n)
{
	const struct {
		const char *name, *input, *output;
	} *rpcs = rpcs_;

	assert_string_equal(sd->name, name);
	assert_int_equal(sd->n_methods, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(sd->methods[i].name, rpcs[i].name);
		assert_string_equal(sd->methods[i].input->short_name, rpcs[i].input);
		assert_string_equal(sd->methods[i].output->short_name, rpcs[i].output);
	}
}

static void test_services(void **state)
{
	check_service(&runtime__v1__runtime_service__descriptor, "runtime.v1.RuntimeService",
		      runtime_rpcs, ARRAY_SIZE(runtime_rpcs));
	check_service(&runtime__v1__image_service__descriptor, "runtime.v1.ImageService",
		      image_rpcs, ARRAY_SIZE(image_rpcs));
	assert_int_equal(ARRAY_SIZE(runtime_rpcs), 29);
	assert_int_equal(ARRAY_SIZE(image_rpcs), 5);
}

/* Every RPC of both services has its row, with the same path and types, and no other row. */
static void test_table_matches_services(void **state)
{
	const ProtobufCServiceDescriptor *services[] = { &runtime__v1__runtime_service__descriptor,
							 &runtime__v1__image_service__descriptor };
	size_t rows = 0;

	for (size_t s = 0; s < ARRAY_SIZE(services); s++) {
		for (unsigned int i = 0; i < services[s]->n_methods; i++, rows++) {
			const ProtobufCMethodDescriptor *md = &services[s]->methods[i];
			char path[128];
			const struct cri_method *m;

			snprintf(path, sizeof(path), "/%s/%s", services[s]->name, md->name);
			m = cri_method_find(path);
			assert_non_null(m);
			assert_string_equal(m->name, md->name);
			assert_ptr_equal(m->request, md->input);
			assert_ptr_equal(m->response, md->output);
			assert_non_null(m->fn);
		}
	}
	assert_int_equal(cri_nr_methods, rows);
}

#define STR  PROTOBUF_C_TYPE_STRING
#define MSG  PROTOBUF_C_TYPE_MESSAGE
#define I64  PROTOBUF_C_TYPE_INT64
#define BOOL PROTOBUF_C_TYPE_BOOL
#define ENUM PROTOBUF_C_TYPE_ENUM
#define REP  true
#define ONE  false

/* The fields kubelet 1.26-1.29 depends on (docs/cri.md), numbers from cri-api v0.29.0. */
static const struct {
	const ProtobufCMessageDescriptor *msg;
	const char *field;
	unsigned int number;
	ProtobufCType type;
	bool repeated;
} fields[] = {
	{ &runtime__v1__version_response__descriptor, "version", 1, STR, ONE },
	{ &runtime__v1__version_response__descriptor, "runtime_name", 2, STR, ONE },
	{ &runtime__v1__version_response__descriptor, "runtime_version", 3, STR, ONE },
	{ &runtime__v1__version_response__descriptor, "runtime_api_version", 4, STR, ONE },
	{ &runtime__v1__status_request__descriptor, "verbose", 1, BOOL, ONE },
	{ &runtime__v1__status_response__descriptor, "status", 1, MSG, ONE },
	{ &runtime__v1__status_response__descriptor, "info", 2, MSG, REP },
	{ &runtime__v1__runtime_status__descriptor, "conditions", 1, MSG, REP },
	{ &runtime__v1__runtime_condition__descriptor, "type", 1, STR, ONE },
	{ &runtime__v1__runtime_condition__descriptor, "status", 2, BOOL, ONE },
	{ &runtime__v1__runtime_condition__descriptor, "reason", 3, STR, ONE },
	{ &runtime__v1__runtime_condition__descriptor, "message", 4, STR, ONE },
	{ &runtime__v1__update_runtime_config_request__descriptor, "runtime_config", 1, MSG, ONE },
	{ &runtime__v1__runtime_config__descriptor, "network_config", 1, MSG, ONE },
	{ &runtime__v1__network_config__descriptor, "pod_cidr", 1, STR, ONE },
	{ &runtime__v1__run_pod_sandbox_request__descriptor, "config", 1, MSG, ONE },
	{ &runtime__v1__run_pod_sandbox_request__descriptor, "runtime_handler", 2, STR, ONE },
	{ &runtime__v1__pod_sandbox_config__descriptor, "log_directory", 3, STR, ONE },
	{ &runtime__v1__pod_sandbox_config__descriptor, "labels", 6, MSG, REP },
	{ &runtime__v1__pod_sandbox_config__descriptor, "linux", 8, MSG, ONE },
	{ &runtime__v1__pod_sandbox_metadata__descriptor, "uid", 2, STR, ONE },
	{ &runtime__v1__pod_sandbox_metadata__descriptor, "namespace", 3, STR, ONE },
	{ &runtime__v1__pod_sandbox_status__descriptor, "state", 3, ENUM, ONE },
	{ &runtime__v1__pod_sandbox_status__descriptor, "created_at", 4, I64, ONE },
	{ &runtime__v1__pod_sandbox_status__descriptor, "network", 5, MSG, ONE },
	{ &runtime__v1__pod_sandbox_network_status__descriptor, "ip", 1, STR, ONE },
	{ &runtime__v1__pod_sandbox_network_status__descriptor, "additional_ips", 2, MSG, REP },
	{ &runtime__v1__container_config__descriptor, "log_path", 11, STR, ONE },
	{ &runtime__v1__container_config__descriptor, "linux", 15, MSG, ONE },
	{ &runtime__v1__container_config__descriptor, "CDI_devices", 17, MSG, REP },
	{ &runtime__v1__container_status__descriptor, "exit_code", 7, PROTOBUF_C_TYPE_INT32, ONE },
	{ &runtime__v1__container_status__descriptor, "image_ref", 9, STR, ONE },
	{ &runtime__v1__container_status__descriptor, "log_path", 15, STR, ONE },
	{ &runtime__v1__container_status__descriptor, "resources", 16, MSG, ONE },
	{ &runtime__v1__linux_container_resources__descriptor, "cpu_quota", 2, I64, ONE },
	{ &runtime__v1__linux_container_resources__descriptor, "memory_limit_in_bytes", 4, I64,
	  ONE },
	{ &runtime__v1__linux_container_resources__descriptor, "memory_swap_limit_in_bytes", 10,
	  I64, ONE },
	{ &runtime__v1__exec_sync_request__descriptor, "timeout", 3, I64, ONE },
	{ &runtime__v1__exec_sync_response__descriptor, "stdout", 1, PROTOBUF_C_TYPE_BYTES, ONE },
	{ &runtime__v1__exec_sync_response__descriptor, "exit_code", 3, PROTOBUF_C_TYPE_INT32,
	  ONE },
	{ &runtime__v1__image__descriptor, "size", 4, PROTOBUF_C_TYPE_UINT64, ONE },
	{ &runtime__v1__image__descriptor, "uid", 5, MSG, ONE },
	{ &runtime__v1__image__descriptor, "pinned", 8, BOOL, ONE },
	{ &runtime__v1__image_fs_info_response__descriptor, "image_filesystems", 1, MSG, REP },
	{ &runtime__v1__image_fs_info_response__descriptor, "container_filesystems", 2, MSG, REP },
	{ &runtime__v1__filesystem_usage__descriptor, "timestamp", 1, I64, ONE },
	{ &runtime__v1__filesystem_usage__descriptor, "used_bytes", 3, MSG, ONE },
};

static void test_fields(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
			fields[i].msg, fields[i].field);

		if (!f)
			fail_msg("%s.%s: missing", fields[i].msg->name, fields[i].field);
		if (f->id != fields[i].number || f->type != fields[i].type ||
		    (f->label == PROTOBUF_C_LABEL_REPEATED) != fields[i].repeated)
			fail_msg("%s.%s: number %u type %d label %d", fields[i].msg->name,
				 fields[i].field, f->id, f->type, f->label);
	}
}

/* The generated code must see the `linux` fields: GNU C's `linux` macro would rename them. */
static void test_linux_fields(void **state)
{
	Runtime__V1__PodSandboxConfig c = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;

	assert_null(c.linux);
	assert_non_null(protobuf_c_message_descriptor_get_field_by_name(
		&runtime__v1__container_config__descriptor, "linux"));
	assert_string_equal(runtime__v1__pod_sandbox_state__descriptor.name,
			    "runtime.v1.PodSandboxState");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_table_matches_services),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_linux_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
