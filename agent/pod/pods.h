/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI state of the node: pod sandboxes and their containers, each
 * walking its state machine (state.h), kept on disk (record.h) and brought
 * back on start, with the VM behind each container reached only through
 * struct vm_backend (agent/vm/vm.h). agent/cri's RuntimeService handlers
 * are thin over these functions (docs/cri.md, "Pods").
 *
 * One VM per pod: a sandbox holds at most one live container; a
 * container with another name (a second container, an init container) is
 * refused, -EINVAL "kvmlet runs one VM per pod". A new attempt of the same
 * container (kubelet's restart) is allowed once the previous one exited.
 *
 * Threads: every function may be called from any CRI worker at once.
 * A mutex guards the lists and each record's mutable fields, and is never
 * held across a backend call, a netns or a disk write: a record being
 * changed is marked busy instead, so calls for one sandbox or container run
 * one at a time (in arrival order of taking the mark), calls for different
 * pods in parallel, and List and Status calls never wait for a busy record
 * (they report its last state). Records returned by the get and list
 * functions hold a reference: their immutable fields (id, config) stay
 * valid until put back, even if the record is removed meanwhile.
 */
#ifndef KVMLET_AGENT_POD_PODS_H
#define KVMLET_AGENT_POD_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/pod/id.h"
#include "agent/pod/state.h"
#include "agent/vm/vm.h"
#include "lib/err.h"
#include "runtime/v1/api.pb-c.h"

struct store_image;

/*
 * The host operations the pod layer uses beside the VM: the sandbox's
 * network namespace and cgroup, and image lookups. pod_sys_host() gives
 * the real ones (netns.c, cgroup.c, the image store); tests give fakes.
 */
struct pod_sys_ops {
	/* A new network namespace bound at path (a file that must not exist yet). */
	int (*netns_create)(void *ctx, const char *path, struct err *err);
	/* Idempotent: a path that is gone, or holds no namespace, is 0. */
	int (*netns_remove)(void *ctx, const char *path, struct err *err);
	bool (*netns_alive)(void *ctx, const char *path);
	int (*cgroup_ensure)(void *ctx, const char *cgroup_parent, struct err *err);
	/*
	 * The image name resolves to (an id, a reference): *img filled (freed
	 * with image_put), its directory into dir. -ENOENT if none.
	 */
	int (*image_get)(void *ctx, const char *name, struct store_image *img, char *dir,
			 size_t cap, struct err *err);
	void (*image_put)(void *ctx, struct store_image *img);
	/*
	 * Pod networking (agent/net, docs/networking.md); NULL for none. net_add
	 * runs the CNI ADD once the namespace exists and leaves nothing when it
	 * fails; net_del the DEL before the namespace goes (idempotent, also
	 * with the namespace gone); net_ips the pod's addresses from the cached
	 * ADD result (at most max, each without its prefix length).
	 */
	int (*net_add)(void *ctx, const char *sandbox_id, const char *netns,
		       const Runtime__V1__PodSandboxConfig *cfg, struct err *err);
	int (*net_del)(void *ctx, const char *sandbox_id, const char *netns,
		       const Runtime__V1__PodSandboxConfig *cfg, struct err *err);
	size_t (*net_ips)(void *ctx, const char *sandbox_id, char (*ips)[64], size_t max);
	/*
	 * What the guest is told from the pod's CNI result: the kernel's ip=
	 * argument and cloud-init's network-config; -ENOENT: no network.
	 */
	int (*net_guest)(void *ctx, const char *sandbox_id, const char *netns, char *kargs,
			 size_t kcap, char *netcfg, size_t ncap);
	/* Once the VM's TAP exists: its DHCP responder (kvmlet-dhcpd), detached. */
	int (*net_dhcp_start)(void *ctx, const char *sandbox_id, const char *netns,
			      struct err *err);
};

struct pod_sys {
	const struct pod_sys_ops *ops;
	void *ctx;
};

struct store;
/* The real host: cgroups under cgroup_root, images from store. */
struct pod_sys_host {
	const char *cgroup_root;
	struct store *store;
	/* CNI ([cni] in agent.conf); conf_dir NULL leaves pods without a network. */
	const char *cni_conf_dir, *cni_bin_dirs, *cni_cache_dir;
	int cni_timeout_ms;
	const char *dhcpd_path; /* kvmlet-dhcpd; NULL: no DHCP for the guests */
};
void pod_sys_host(struct pod_sys_host *host, struct pod_sys *out);

struct pods_options {
	const char *root;      /* <agent root>/pods: sandboxes/ and containers/ beneath */
	const char *netns_dir; /* sandbox network namespaces: <netns_dir>/<sandbox id> */
	struct vm_backend backend;
	struct pod_sys sys;
};

struct pods;

/*
 * Loads every record, finishes or undoes what a crash cut short, and
 * checks each container against the backend (docs/cri.md, "Restart").
 * Problems with single records are logged and that record set aside; only
 * an unusable root fails.
 */
int pods_open(const struct pods_options *opt, struct pods **out, struct err *err);
/* Frees the memory; VMs keep running (they do not depend on the agent). */
void pods_close(struct pods *p);

/* ---- records as the handlers see them ---------------------------------- */

struct pod_sandbox;
struct pod_container;

/* The immutable parts, valid while a reference is held. */
const char *pod_sandbox_id(const struct pod_sandbox *sb);
const Runtime__V1__PodSandboxConfig *pod_sandbox_config(const struct pod_sandbox *sb);
const char *pod_container_id(const struct pod_container *c);
const char *pod_container_sandbox_id(const struct pod_container *c);
const Runtime__V1__ContainerConfig *pod_container_config(const struct pod_container *c);

/* The mutable parts, copied out under the lock. */
struct pod_sandbox_info {
	enum sandbox_state state;
	int64_t created_at;
	char runtime_handler[64];
	char netns[4096];
	char container_id[POD_ID_LEN + 1]; /* its newest container, "" if none */
};

struct pod_container_info {
	enum container_state state;
	int64_t created_at, started_at, finished_at;
	int32_t exit_code;
	char reason[64];
	char message[256];
	char log_path[4096];
	char image_id[128];
	char image_ref[4096];
	char image_name[4096]; /* the image's first repo tag when created, "" if none */
};

void pod_sandbox_info(struct pods *p, struct pod_sandbox *sb, struct pod_sandbox_info *out);
/* The pod's IPs (PodSandboxStatus.network), from its CNI result: how many into ips. */
size_t pod_sandbox_ips(struct pods *p, struct pod_sandbox *sb, char (*ips)[64], size_t max);
void pod_container_info(struct pods *p, struct pod_container *c, struct pod_container_info *out);

/* A reference to the record with this id; -ENOENT (err set) if none. */
int pods_sandbox_get(struct pods *p, const char *id, struct pod_sandbox **out, struct err *err);
void pods_sandbox_put(struct pods *p, struct pod_sandbox *sb);
int pods_container_get(struct pods *p, const char *id, struct pod_container **out, struct err *err);
void pods_container_put(struct pods *p, struct pod_container *c);

/* Every record, referenced, in creation order; put each back, free the array. */
int pods_sandbox_list(struct pods *p, struct pod_sandbox ***out, size_t *nr);
int pods_container_list(struct pods *p, struct pod_container ***out, size_t *nr);

/* ---- the calls --------------------------------------------------------- */

/* RunPodSandbox: handler "" or "kvmlet"; the new id into id. */
int pods_run_sandbox(struct pods *p, const Runtime__V1__PodSandboxConfig *cfg,
		     const char *runtime_handler, char id[POD_ID_LEN + 1], struct err *err);
/* StopPodSandbox: its containers stopped at once, the netns freed; idempotent. */
int pods_stop_sandbox(struct pods *p, const char *id, struct err *err);
/* RemovePodSandbox: containers (force), netns, record; a missing id is 0. */
int pods_remove_sandbox(struct pods *p, const char *id, struct err *err);

/* CreateContainer in sandbox_id; the new id into id. */
int pods_create_container(struct pods *p, const char *sandbox_id,
			  const Runtime__V1__ContainerConfig *cfg, char id[POD_ID_LEN + 1],
			  struct err *err);
int pods_start_container(struct pods *p, const char *id, struct err *err);
/* StopContainer: timeout_s is the grace period; idempotent; -ENOENT for a missing id. */
int pods_stop_container(struct pods *p, const char *id, int64_t timeout_s, struct err *err);
/* RemoveContainer: force-stops a running one; a missing id is 0. */
int pods_remove_container(struct pods *p, const char *id, struct err *err);
int pods_reopen_log(struct pods *p, const char *id, struct err *err);
/* ExecSync: timeout_s 0 means none; out->out/err at most cap bytes each. */
int pods_exec(struct pods *p, const char *id, const char *const *argv, size_t argc,
	      int64_t timeout_s, size_t cap, struct vm_exec_result *out, struct err *err);

/*
 * Asks the backend how a RUNNING (or UNKNOWN) container is and records an
 * exit it reports. List and Status calls do this first, so that kubelet's
 * relist sees exits.
 */
void pods_container_sync(struct pods *p, struct pod_container *c);
/* The backend's own view of the container's VM (for verbose status). */
int pods_container_vm_status(struct pods *p, struct pod_container *c, struct vm_status *out,
			     struct err *err);

/*
 * Stats with usage_nano_cores from the previous sample of the same record
 * (0 at first). A sandbox without a cgroup_parent reports its running VM.
 */
struct pod_stats {
	struct vm_stats vm;
	uint64_t nano_cores;
};
int pods_container_stats(struct pods *p, struct pod_container *c, struct pod_stats *out,
			 struct err *err);
int pods_sandbox_stats(struct pods *p, struct pod_sandbox *sb, struct pod_stats *out,
		       struct err *err);

/* Whether a container record uses image id (the image store's in_use callback). */
bool pods_image_in_use(struct pods *p, const char *image_id);

/* Counts by state and the starts and exits so far, for the metrics page. */
struct pods_counts {
	uint64_t sandboxes[SANDBOX_NR_STATES];
	uint64_t containers[CONTAINER_NR_STATES];
	uint64_t starts, exits;
};
void pods_counts(struct pods *p, struct pods_counts *out);

#endif
