/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pod's cgroup (PodSandboxConfig.linux.cgroup_parent): kubelet creates
 * it before RunPodSandbox, but crictl and tests do not, and the VMM must
 * land in it; RunPodSandbox makes sure it exists. cgroup_parent is a path
 * ("/kubepods/burstable/pod<uid>", kubelet's cgroupfs driver) or a systemd
 * slice ("kubepods-burstable-pod<uid>.slice", the systemd driver), which
 * is expanded as systemd nests slices (kubepods.slice/kubepods-burstable.slice/...).
 * Under cgroup v2 (root/cgroup.controllers exists) it is made once;
 * under v1 in each of the cpu, cpuacct, memory and pids hierarchies found.
 *
 * Threads: any.
 */
#ifndef KVMLET_AGENT_POD_CGROUP_H
#define KVMLET_AGENT_POD_CGROUP_H

#include <stddef.h>

#include "lib/err.h"

/* The relative path cgroup_parent names into out; -EINVAL for '..' or a bad slice name. */
int pod_cgroup_relpath(const char *cgroup_parent, char *out, size_t cap, struct err *err);
/* Creates it beneath root ("/sys/fs/cgroup"); "" is 0 and creates nothing. */
int pod_cgroup_ensure(const char *root, const char *cgroup_parent, struct err *err);

#endif
