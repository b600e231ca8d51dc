// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI method table and the decode -> handler -> encode step (methods.h).
 * The rows follow api.proto's two services, every RPC of cri-api v0.29.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cri/handlers.h"
#include "agent/cri/methods.h"
#include "runtime/v1/api.pb-c.h"

#define ROW(svc, name_, fn_, req_, resp_)                                    \
	{                                                                    \
		.path = "/runtime.v1." svc "/" name_, .name = name_,         \
		.request = &runtime__v1__##req_##__descriptor,               \
		.response = &runtime__v1__##resp_##__descriptor, .fn = (fn_) \
	}
#define CRI_RUNTIME(name, fn, req, resp) ROW("RuntimeService", name, fn, req, resp)
#define CRI_IMAGE(name, fn, req, resp)	 ROW("ImageService", name, fn, req, resp)

const struct cri_method cri_methods[] = {
	CRI_RUNTIME("Version", cri_version, version_request, version_response),
	CRI_RUNTIME("RunPodSandbox", cri_run_pod_sandbox, run_pod_sandbox_request,
		    run_pod_sandbox_response),
	CRI_RUNTIME("StopPodSandbox", cri_stop_pod_sandbox, stop_pod_sandbox_request,
		    stop_pod_sandbox_response),
	CRI_RUNTIME("RemovePodSandbox", cri_remove_pod_sandbox, remove_pod_sandbox_request,
		    remove_pod_sandbox_response),
	CRI_RUNTIME("PodSandboxStatus", cri_pod_sandbox_status, pod_sandbox_status_request,
		    pod_sandbox_status_response),
	CRI_RUNTIME("ListPodSandbox", cri_list_pod_sandbox, list_pod_sandbox_request,
		    list_pod_sandbox_response),
	CRI_RUNTIME("CreateContainer", cri_create_container, create_container_request,
		    create_container_response),
	CRI_RUNTIME("StartContainer", cri_start_container, start_container_request,
		    start_container_response),
	CRI_RUNTIME("StopContainer", cri_stop_container, stop_container_request,
		    stop_container_response),
	CRI_RUNTIME("RemoveContainer", cri_remove_container, remove_container_request,
		    remove_container_response),
	CRI_RUNTIME("ListContainers", cri_list_containers, list_containers_request,
		    list_containers_response),
	CRI_RUNTIME("ContainerStatus", cri_container_status, container_status_request,
		    container_status_response),
	CRI_RUNTIME("UpdateContainerResources", cri_update_container_resources, update_container_resources_request,
		    update_container_resources_response),
	CRI_RUNTIME("ReopenContainerLog", cri_reopen_container_log, reopen_container_log_request,
		    reopen_container_log_response),
	CRI_RUNTIME("ExecSync", cri_exec_sync, exec_sync_request, exec_sync_response),
	CRI_RUNTIME("Exec", cri_streaming_pending, exec_request, exec_response),
	CRI_RUNTIME("Attach", cri_streaming_pending, attach_request, attach_response),
	CRI_RUNTIME("PortForward", cri_streaming_pending, port_forward_request, port_forward_response),
	CRI_RUNTIME("ContainerStats", cri_container_stats, container_stats_request,
		    container_stats_response),
	CRI_RUNTIME("ListContainerStats", cri_list_container_stats, list_container_stats_request,
		    list_container_stats_response),
	CRI_RUNTIME("PodSandboxStats", cri_pod_sandbox_stats, pod_sandbox_stats_request,
		    pod_sandbox_stats_response),
	CRI_RUNTIME("ListPodSandboxStats", cri_list_pod_sandbox_stats, list_pod_sandbox_stats_request,
		    list_pod_sandbox_stats_response),
	CRI_RUNTIME("UpdateRuntimeConfig", cri_update_runtime_config, update_runtime_config_request,
		    update_runtime_config_response),
	CRI_RUNTIME("Status", cri_status, status_request, status_response),
	CRI_RUNTIME("CheckpointContainer", cri_alpha, checkpoint_container_request,
		    checkpoint_container_response),
	/* Server-streaming upstream: a handler for it must stream, not answer once. */
	CRI_RUNTIME("GetContainerEvents", cri_alpha, get_events_request, container_event_response),
	CRI_RUNTIME("ListMetricDescriptors", cri_alpha, list_metric_descriptors_request,
		    list_metric_descriptors_response),
	CRI_RUNTIME("ListPodSandboxMetrics", cri_alpha, list_pod_sandbox_metrics_request,
		    list_pod_sandbox_metrics_response),
	CRI_RUNTIME("RuntimeConfig", cri_alpha, runtime_config_request, runtime_config_response),

	CRI_IMAGE("ListImages", cri_list_images, list_images_request, list_images_response),
	CRI_IMAGE("ImageStatus", cri_image_status, image_status_request, image_status_response),
	CRI_IMAGE("PullImage", cri_pull_image, pull_image_request, pull_image_response),
	CRI_IMAGE("RemoveImage", cri_remove_image, remove_image_request, remove_image_response),
	CRI_IMAGE("ImageFsInfo", cri_image_fs_info, image_fs_info_request, image_fs_info_response),
};

const size_t cri_nr_methods = sizeof(cri_methods) / sizeof(cri_methods[0]);

/* A block of cri_alloc()'d memory; the list is freed after packing. */
struct cri_arena {
	struct cri_arena *next;
	max_align_t data[];
};

const struct cri_method *cri_method_find(const char *path)
{
	for (size_t i = 0; i < cri_nr_methods; i++)
		if (!strcmp(cri_methods[i].path, path))
			return &cri_methods[i];
	return NULL;
}

size_t cri_method_index(const struct cri_method *m)
{
	return (size_t)(m - cri_methods);
}

void *cri_alloc(struct cri_call *c, size_t size)
{
	struct cri_arena *a;

	if (size > SIZE_MAX - sizeof(*a) || !(a = calloc(1, sizeof(*a) + size))) {
		c->alloc_failed = true;
		return NULL;
	}
	a->next = c->arena;
	c->arena = a;
	return a->data;
}

char *cri_strdup(struct cri_call *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = cri_alloc(c, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static void *arena_alloc(void *data, size_t size)
{
	return cri_alloc(data, size);
}

static void arena_nofree(void *data, void *ptr)
{
	(void)data;
	(void)ptr; /* the arena goes as a whole after packing */
}

void *cri_clone(struct cri_call *c, const ProtobufCMessage *m, const ProtobufCMessageDescriptor *as)
{
	ProtobufCAllocator a = { .alloc = arena_alloc, .free = arena_nofree, .allocator_data = c };
	size_t n;
	uint8_t *buf;
	void *out;

	if (!m)
		return NULL;
	n = protobuf_c_message_get_packed_size(m);
	buf = malloc(n ? n : 1);
	if (!buf) {
		c->alloc_failed = true;
		return NULL;
	}
	protobuf_c_message_pack(m, buf);
	out = protobuf_c_message_unpack(as, &a, n, buf);
	free(buf);
	if (!out)
		c->alloc_failed = true;
	return out;
}

void cri_fail(struct cri_call *c, enum cri_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cri_status_vset(&c->status, code, fmt, ap);
	va_end(ap);
}

static void arena_free(struct cri_arena *a)
{
	while (a) {
		struct cri_arena *next = a->next;

		free(a);
		a = next;
	}
}

static int pack(const ProtobufCMessage *resp, uint8_t **out, size_t *out_len)
{
	size_t n = protobuf_c_message_get_packed_size(resp);

	*out = NULL;
	*out_len = 0;
	if (!n)
		return 0;
	*out = malloc(n);
	if (!*out)
		return -ENOMEM;
	*out_len = protobuf_c_message_pack(resp, *out);
	return 0;
}

enum cri_code cri_method_invoke(const struct cri_method *m, struct cri_runtime *rt,
				const uint8_t *req, size_t len, uint8_t **out, size_t *out_len,
				struct cri_status *st)
{
	struct cri_call c = { .rt = rt };
	ProtobufCMessage *in, *resp;

	memset(st, 0, sizeof(*st));
	*out = NULL;
	*out_len = 0;
	in = protobuf_c_message_unpack(m->request, NULL, len, req);
	if (!in) {
		cri_status_set(st, CRI_INVALID_ARGUMENT, "%s: cannot decode the request as %s",
			       m->name, m->request->name);
		return st->code;
	}
	resp = calloc(1, m->response->sizeof_message);
	if (!resp) {
		protobuf_c_message_free_unpacked(in, NULL);
		cri_status_set(st, CRI_INTERNAL, "%s: out of memory", m->name);
		return st->code;
	}
	protobuf_c_message_init(m->response, resp);
	m->fn(&c, in, resp);
	if (c.status.code == CRI_OK && c.alloc_failed)
		cri_fail(&c, CRI_INTERNAL, "%s: out of memory", m->name);
	if (c.status.code == CRI_OK && pack(resp, out, out_len))
		cri_fail(&c, CRI_INTERNAL, "%s: out of memory", m->name);
	*st = c.status;
	arena_free(c.arena);
	free(resp);
	protobuf_c_message_free_unpacked(in, NULL);
	return st->code;
}
