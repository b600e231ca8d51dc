/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod's cgroup (PodSandboxConfig.linux.cgroup_parent): kubelet creates
 * it before RunPodSandbox, but crictl and tests do not, and the VMM must
 * land in it; RunPodSandbox makes sure it exists. cgroup_parent is a path
 * beneath each hierarchy's root ("/kubepods/burstable/pod<uid>", kubelet's
 * cgroupfs driver), read as the VM backend reads it (agent/vm/cgroup.h);
 * systemd slice names (the systemd driver) are taken as plain names too,
 * so kubelet must use the cgroupfs driver (docs/cri.md).
 * Under cgroup v2 (root/cgroup.controllers exists) it is made once;
 * under v1 in each of the cpu, cpuacct, memory and pids hierarchies found.
 *
 * Threads: any.
 */
#ifndef KVMLET_AGENT_POD_CGROUP_H
#define KVMLET_AGENT_POD_CGROUP_H

#include <stddef.h>

#include "lib/err.h"

/* The relative path cgroup_parent names into out; -EINVAL for a '..' component. */
int pod_cgroup_relpath(const char *cgroup_parent, char *out, size_t cap, struct err *err);
/* Creates it beneath root ("/sys/fs/cgroup"); "" is 0 and creates nothing. */
int pod_cgroup_ensure(const char *root, const char *cgroup_parent, struct err *err);

#endif
