/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI proxy's routing table (docs/proxy.md): for every method of the
 * CRI method table, how a call finds the runtime that answers it: kvmlet
 * alone, the runtime_handler of a new pod, the owner of the sandbox or
 * container id it names, both with their lists merged, both with their
 * status combined, or the image rules. Pure data and pure functions, so
 * the table is unit-tested apart from gRPC.
 *
 * Threads: everything here is constant or reads only its arguments.
 */
#ifndef KVMLET_AGENT_PROXY_ROUTE_H
#define KVMLET_AGENT_PROXY_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/proxy/idmap.h"

enum route_policy {
	ROUTE_LOCAL,	 /* kvmlet answers (Version, the alpha methods) */
	ROUTE_HANDLER,	 /* RunPodSandbox: by runtime_handler */
	ROUTE_SANDBOX,	 /* the owner of the request's pod_sandbox_id */
	ROUTE_CONTAINER, /* the owner of the request's container_id */
	ROUTE_MERGE,	 /* both; the repeated fields of the answers concatenated */
	ROUTE_BOTH,	 /* both; OK only if both are (UpdateRuntimeConfig) */
	ROUTE_STATUS,	 /* both; conditions combined (Status) */
	ROUTE_IMAGE,	 /* the image rules (route_image()) */
	NR_ROUTE_POLICIES,
};

/* What an OK answer teaches the owner map. */
enum route_learn {
	LEARN_NONE,
	LEARN_SANDBOX,	  /* RunPodSandboxResponse.pod_sandbox_id (and the pod uid) */
	LEARN_CONTAINER,  /* CreateContainerResponse.container_id */
	LEARN_IMAGE,	  /* PullImage: the name and the image_ref */
	FORGET_SANDBOX,	  /* RemovePodSandbox: the id and its containers */
	FORGET_CONTAINER, /* RemoveContainer */
	FORGET_IMAGE,	  /* RemoveImage: the name */
};

struct route {
	const char *method; /* cri_methods[].name */
	enum route_policy policy;
	enum route_learn learn;
	/* ROUTE_MERGE: the repeated message fields of the response, NULL-ended. */
	const char *merge[3];
};

/* The row for a method name, or NULL (the proxy then refuses the call). */
const struct route *route_find(const char *method);
/* Every row, for the tests: each CRI method must have exactly one. */
const struct route *route_table(size_t *n);

#define ROUTE_VM_HANDLER "kvmlet"

/* RunPodSandbox: "kvmlet" is local, anything else (including "") the upstream's. */
enum proxy_owner route_handler(const char *runtime_handler);

/*
 * The image rules, in order: the ImageSpec's runtime_handler when set;
 * for a pull, the owner of the pod in sandbox_config (pod_owner, from the
 * map; PROXY_NONE if unknown); the owner the map has for the name
 * (name_owner, from an earlier pull); the name matching one of prefixes
 * (NULL-ended) is local; otherwise the upstream's. why gets a short
 * reason for the log.
 */
enum proxy_owner route_image(const char *runtime_handler, enum proxy_owner pod_owner,
			     enum proxy_owner name_owner, const char *name,
			     const char *const *prefixes, const char **why);

/* Whether name starts with one of prefixes (NULL-ended; NULL: none). */
bool route_prefix_match(const char *name, const char *const *prefixes);

#endif
