// SPDX-License-Identifier: Apache-2.0
/* The CRI proxy's routing table (route.h). */
#include <string.h>

#include "agent/proxy/route.h"

#define R(m, p, ...)                                      \
	{                                                 \
		.method = (m), .policy = (p), __VA_ARGS__ \
	}

static const struct route routes[] = {
	R("Version", ROUTE_LOCAL),
	R("RunPodSandbox", ROUTE_HANDLER, .learn = LEARN_SANDBOX),
	R("StopPodSandbox", ROUTE_SANDBOX),
	R("RemovePodSandbox", ROUTE_SANDBOX, .learn = FORGET_SANDBOX),
	R("PodSandboxStatus", ROUTE_SANDBOX),
	R("ListPodSandbox", ROUTE_MERGE, .merge = { "items" }),
	R("CreateContainer", ROUTE_SANDBOX, .learn = LEARN_CONTAINER),
	R("StartContainer", ROUTE_CONTAINER),
	R("StopContainer", ROUTE_CONTAINER),
	R("RemoveContainer", ROUTE_CONTAINER, .learn = FORGET_CONTAINER),
	R("ListContainers", ROUTE_MERGE, .merge = { "containers" }),
	R("ContainerStatus", ROUTE_CONTAINER),
	R("UpdateContainerResources", ROUTE_CONTAINER),
	R("ReopenContainerLog", ROUTE_CONTAINER),
	R("ExecSync", ROUTE_CONTAINER),
	/* The URL in the answer is the owner's own streaming server. */
	R("Exec", ROUTE_CONTAINER),
	R("Attach", ROUTE_CONTAINER),
	R("PortForward", ROUTE_SANDBOX),
	R("ContainerStats", ROUTE_CONTAINER),
	R("ListContainerStats", ROUTE_MERGE, .merge = { "stats" }),
	R("PodSandboxStats", ROUTE_SANDBOX),
	R("ListPodSandboxStats", ROUTE_MERGE, .merge = { "stats" }),
	R("UpdateRuntimeConfig", ROUTE_BOTH),
	R("Status", ROUTE_STATUS),
	R("CheckpointContainer", ROUTE_CONTAINER),
	/* Server-streaming: the server answers it once, so no forwarding. */
	R("GetContainerEvents", ROUTE_LOCAL),
	R("ListMetricDescriptors", ROUTE_LOCAL),
	R("ListPodSandboxMetrics", ROUTE_LOCAL),
	R("RuntimeConfig", ROUTE_LOCAL),
	R("ListImages", ROUTE_MERGE, .merge = { "images" }),
	R("ImageStatus", ROUTE_IMAGE),
	R("PullImage", ROUTE_IMAGE, .learn = LEARN_IMAGE),
	R("RemoveImage", ROUTE_IMAGE, .learn = FORGET_IMAGE),
	R("ImageFsInfo", ROUTE_MERGE, .merge = { "image_filesystems", "container_filesystems" }),
};

const struct route *route_table(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

const struct route *route_find(const char *method)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strcmp(routes[i].method, method))
			return &routes[i];
	return NULL;
}

enum proxy_owner route_handler(const char *runtime_handler)
{
	return runtime_handler && !strcmp(runtime_handler, ROUTE_VM_HANDLER) ? PROXY_LOCAL
									     : PROXY_UPSTREAM;
}

bool route_prefix_match(const char *name, const char *const *prefixes)
{
	for (size_t i = 0; name && prefixes && prefixes[i]; i++)
		if (prefixes[i][0] && !strncmp(name, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

enum proxy_owner route_image(const char *runtime_handler, enum proxy_owner pod_owner,
			     enum proxy_owner name_owner, const char *name,
			     const char *const *prefixes, const char **why)
{
	if (runtime_handler && runtime_handler[0]) {
		*why = "image runtime_handler";
		return route_handler(runtime_handler);
	}
	if (pod_owner != PROXY_NONE) {
		*why = "pulling pod's runtime";
		return pod_owner;
	}
	if (name_owner != PROXY_NONE) {
		*why = "pulled there before";
		return name_owner;
	}
	if (route_prefix_match(name, prefixes)) {
		*why = "vm_image_prefixes";
		return PROXY_LOCAL;
	}
	*why = "default";
	return PROXY_UPSTREAM;
}
