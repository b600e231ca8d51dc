/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's cgroup, which kvmlet-jailer creates (docs/jailer.md) and the
 * backend reads and removes: <parent>/<id> in the unified hierarchy (v2) or
 * in each v1 hierarchy the VM uses (memory, cpu, cpuacct). Which one is
 * decided as the jailer does: v2 when /sys/fs/cgroup is a cgroup2 mount,
 * otherwise v1 (which includes the hybrid layout).
 *
 * Threads: no state; any thread.
 */
#ifndef KVMLET_AGENT_VM_CGROUP_H
#define KVMLET_AGENT_VM_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define VM_CGROUP_ROOT "/sys/fs/cgroup"

struct vm_cgroup_stats {
	uint64_t cpu_usage_ns;
	uint64_t memory_usage;
	uint64_t memory_working_set; /* usage minus inactive file pages, as kubelet */
};

int vm_cgroup_version(void);
/*
 * The parent for the jailer's --parent-cgroup from CRI's cgroup_parent
 * ("/kubepods/pod..." or ""): without its leading '/', "kvmlet" if empty.
 * -EINVAL for "..", "." or empty components, or anything but printable ASCII.
 * A systemd slice name (kubelet's systemd cgroup driver) is expanded by its
 * dashes: "kubepods-burstable-pod1.slice" is "kubepods.slice/kubepods-
 * burstable.slice/kubepods-burstable-pod1.slice"; "-.slice" is the root.
 */
int vm_cgroup_parent(const char *cgroup_parent, char *buf, size_t size, struct err *err);
/*
 * The jailer's --cgroup values for a VM: memory limit (bytes) and CPU
 * bandwidth (quota 0: none), in the names of version v. Each value goes to
 * push(ctx, "--cgroup") then push(ctx, "FILE=VALUE").
 */
int vm_cgroup_jailer_args(int v, uint64_t memory_bytes, int64_t quota_us, int64_t period_us,
			  int (*push)(void *ctx, const char *arg), void *ctx);
/* rel is relative to each hierarchy's root ("kvmlet/<id>", or a pod's parent). */
int vm_cgroup_stats(int v, const char *rel, struct vm_cgroup_stats *out, struct err *err);
/* Whether the group has seen an OOM kill (v1 memory.oom_control, v2 memory.events). */
bool vm_cgroup_oom(int v, const char *rel);
/* Whether any task is in the group (v2 cgroup.events, v1 any cgroup.procs). */
bool vm_cgroup_populated(int v, const char *rel);
/*
 * SIGKILL to every process in the group, until it is empty or timeout_ms
 * has passed (-EBUSY): nothing of a VM outlives its removal. v2 writes
 * cgroup.kill (Linux 5.14+); otherwise each listed pid is pinned with a
 * pidfd and signalled only if /proc/<pid>/cgroup still puts it in the
 * group, so a pid reused by a host process is never killed.
 */
int vm_cgroup_kill(int v, const char *rel, unsigned int timeout_ms);
/* Removes the group from each hierarchy; absent is fine. Bounded wait for its tasks to go. */
int vm_cgroup_remove(int v, const char *rel, struct err *err);
/*
 * kvmlet-shim's own leaf group, kvmlet-shims/<id>, in every mounted
 * hierarchy (v1: every controller's and name=systemd's; v2: the tree):
 * the shim leaves the agent's groups (its systemd unit's, which a restart
 * of the agent would kill) before it runs the jailer, which then moves the
 * VMM on into the VM's group. Negative errno from the first that failed;
 * the others are still tried.
 */
#define VM_SHIM_CGROUP "kvmlet-shims"
int vm_cgroup_enter_shim(const char *id);
/* Removes those groups once the shim has gone; absent is fine. */
int vm_cgroup_remove_shim(const char *id);
/* Whether the group exists (for tests and checks). */
bool vm_cgroup_exists(int v, const char *rel);

#endif
