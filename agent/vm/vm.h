/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One VM per CRI container: the boundary between the pod layer (agent/pod/,
 * which keeps the CRI state: sandboxes, containers, labels, states) and the
 * VM backend (agent/vm/, which turns a container into a jailed kvmlet-vmm
 * and knows nothing of CRI states).
 *
 * The pod layer holds a struct vm_backend and calls only through its ops,
 * so that its tests can put a fake in its place. The real backend
 * (vm_host_open()) keeps everything it needs on disk under its state
 * directory, one directory per VM id: it survives the agent's restart, and
 * a VMM never depends on the agent being alive (it is not the agent's
 * child, and it writes the CRI log itself).
 *
 * Threads: every op may run on any CRI worker thread. The pod layer never
 * runs two of create/start/stop/remove/reopen_log for the same id at once;
 * status, exec and stats may run concurrently with anything, for any id.
 * The backend is safe for concurrent calls on different ids.
 *
 * Errors: negative errno, with err filled in. -EINVAL: the request is
 * invalid (the CRI answer is INVALID_ARGUMENT, err says which field);
 * -ENOENT: no such VM; -ETIMEDOUT: exec ran out of time (DEADLINE_EXCEEDED);
 * -ENOTCONN: the guest has no agent answering (FAILED_PRECONDITION);
 * anything else is INTERNAL or UNAVAILABLE as agent/cri/status.c maps it.
 */
#ifndef KVMLET_AGENT_VM_VM_H
#define KVMLET_AGENT_VM_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "runtime/v1/api.pb-c.h"

struct store_image;

/* What CreateContainer hands over. Everything is borrowed for the call. */
struct vm_request {
	const char *id;		 /* the container id (64 lowercase hex) */
	const char *sandbox_id;	 /* the pod sandbox id */
	const char *netns_path;	 /* the sandbox's network namespace (a bind-mounted nsfs file) */
	const char *cgroup_parent; /* PodSandboxConfig.linux.cgroup_parent, "" if none */
	/*
	 * Deprecated: the absolute log path, used only when log_directory is
	 * not given (its directory part is then taken as log_directory).
	 */
	const char *log_path;
	const Runtime__V1__PodSandboxConfig *sandbox;
	const Runtime__V1__ContainerConfig *config;
	const struct store_image *image; /* the resolved image (kernel, disks, cmdline) */
	const char *image_dir;		 /* the directory its relative paths start from */
	/*
	 * The pod network (docs/networking.md), NULL when the pod has none: the
	 * backend makes this TAP in netns_path, owned by the VM's uid, joined to
	 * the CNI's eth0 by tc redirect (agent/net/vmnet.h), and gives the VMM
	 * --net id=eth0,tap=TAP,mac=<eth0's MAC>; kernel_ip_arg ("ip=...
	 * kvmlet.ip=...") goes at the end of the kernel command line.
	 */
	const char *tap_name;
	const char *kernel_ip_arg;
	/*
	 * cloud-init network-config (v2) for the pod network: put on the
	 * cloud-init disk when there is one (a cloud-init annotation asked for
	 * it) and kvmlet.io/network-config gave none. NULL for none.
	 */
	const char *network_config;
	/*
	 * The CRI log: kubelet's log_directory (PodSandboxConfig.log_directory,
	 * trusted, absolute) and ContainerConfig.log_path (relative, hostile:
	 * the backend resolves it beneath log_directory through descriptors,
	 * refusing "..", links and anything but a regular file with one link).
	 * Both NULL or "" when kubelet gave none.
	 */
	const char *log_directory;
	const char *log_relpath;
};

enum vm_run_state {
	VM_CREATED, /* prepared, never started */
	VM_RUNNING,
	VM_EXITED,
};

struct vm_status {
	enum vm_run_state state;
	int64_t started_at;  /* ns since the epoch, 0 if never started */
	int64_t finished_at; /* ns since the epoch, 0 unless exited */
	int32_t exit_code;
	char reason[64];   /* CRI ContainerStatus.reason: "Completed", "Error", "OOMKilled", ... */
	char message[256]; /* one line for humans: what happened */
	uint32_t vsock_cid;
	uint64_t guest_memory_bytes;
	uint32_t vcpus;
};

struct vm_exec_result {
	int32_t exit_code;
	uint8_t *out; /* stdout, malloc'd, at most the cap given */
	size_t out_len;
	uint8_t *err; /* stderr, malloc'd, at most the cap given */
	size_t err_len;
};

void vm_exec_result_free(struct vm_exec_result *r);

struct vm_stats {
	int64_t timestamp;	    /* ns since the epoch */
	uint64_t cpu_usage_ns;	    /* cumulative, from the cgroup */
	uint64_t memory_working_set; /* bytes: usage minus inactive file, as kubelet computes it */
	uint64_t memory_usage;	    /* bytes */
	uint64_t disk_used_bytes;    /* bytes the VM's writable disk copies take on the host */
	uint64_t disk_inodes;
};

struct vm_backend_ops {
	/* CreateContainer: map, validate, prepare everything; nothing runs yet. */
	int (*create)(void *ctx, const struct vm_request *req, struct err *err);
	/* StartContainer: the VMM runs when this returns 0 (its API socket answers). */
	int (*start)(void *ctx, const char *id, struct err *err);
	int (*status)(void *ctx, const char *id, struct vm_status *out, struct err *err);
	/*
	 * StopContainer: asks the guest to shut down, kills the VM once
	 * timeout_s has passed (0: at once). Returns once it has exited.
	 * Stopping an exited or never-started VM is 0.
	 */
	int (*stop)(void *ctx, const char *id, int64_t timeout_s, struct err *err);
	/* RemoveContainer: stops (timeout 0) and removes every trace. Missing id: 0. */
	int (*remove)(void *ctx, const char *id, struct err *err);
	/* ReopenContainerLog: a new file at the log path; -ESRCH if not running. */
	int (*reopen_log)(void *ctx, const char *id, struct err *err);
	/* ExecSync through the guest agent; output beyond cap bytes is cut. */
	int (*exec)(void *ctx, const char *id, const char *const *argv, size_t argc,
		    int64_t timeout_ms, size_t cap, struct vm_exec_result *out, struct err *err);
	int (*stats)(void *ctx, const char *id, struct vm_stats *out, struct err *err);
	/* PodSandboxStats: the sum over the pod's cgroup (cgroup_parent). */
	int (*sandbox_stats)(void *ctx, const char *cgroup_parent, struct vm_stats *out,
			     struct err *err);
	/* Every VM id on disk, for the pod layer's checks after a restart. */
	int (*list)(void *ctx, char ***ids, size_t *nr, struct err *err);
};

struct vm_backend {
	const struct vm_backend_ops *ops;
	void *ctx;
};

/* The node's settings for the real backend (agent.conf [vm]). */
struct vm_host_config {
	const char *state_dir;	 /* per-VM state: <agent root>/vms */
	const char *jail_base;	 /* kvmlet-jailer --chroot-base-dir: <agent root>/jail */
	const char *vmm_path;	 /* kvmlet-vmm */
	const char *jailer_path; /* kvmlet-jailer */
	const char *shim_path;	 /* kvmlet-shim: waits for the VMM, records its exit */
	uint32_t uid_base;	 /* each VM runs as its own uid/gid from here ... */
	uint32_t uid_count;	 /* ... on: this many VMs at most */
	uint64_t default_memory_mib; /* guest RAM without a memory limit */
	uint64_t overhead_mib;	     /* host memory per VM beyond guest RAM (cgroup limit) */
};

int vm_host_open(const struct vm_host_config *cfg, struct vm_backend *out, struct err *err);
void vm_host_close(struct vm_backend *b);

#endif
