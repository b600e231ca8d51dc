/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a CRI container to a VM's shape (docs/cri.md "From the pod to the
 * VM"): vCPUs, guest RAM, the kernel command line and the kvmlet.io/
 * annotations. Pure: it reads the request and touches nothing, so every
 * rule is checked by unit tests. Parse apart from apply: vm_host's create
 * applies what this returns.
 *
 * Threads: no state; any thread, each on its own spec.
 */
#ifndef KVMLET_AGENT_VM_SPEC_H
#define KVMLET_AGENT_VM_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/vm/vm.h"
#include "lib/err.h"

/* The VMM's own bounds (kvmlet-vmm --help). */
#define VM_SPEC_MAX_VCPUS      254
#define VM_SPEC_MIN_MEMORY_MIB 4

/* Bounds on annotation values, in bytes. */
#define VM_SPEC_KERNEL_ARGS_MAX 2048
#define VM_SPEC_CLOUD_INIT_MAX	(64 * 1024)
#define VM_SPEC_CMDLINE_MAX	4096

struct vm_spec {
	uint32_t vcpus;
	uint64_t memory_mib;
	/* CPU bandwidth for the cgroup: 0 when the container has no CPU limit. */
	int64_t cpu_quota_us;
	int64_t cpu_period_us;
	char *cmdline; /* the image's arguments, then kvmlet.io/kernel-args */
	bool rng;
	/* Borrowed from the request (valid while it is). NULL when not given. */
	const char *user_data;
	const char *meta_data;
	const char *network_config;
};

/* Maps req; -EINVAL with err naming the field or annotation. */
int vm_spec_map(const struct vm_request *req, uint64_t default_memory_mib, struct vm_spec *out,
		struct err *err);
/* Any cloud-init annotation was given: the VM gets a NoCloud disk. */
bool vm_spec_wants_cidata(const struct vm_spec *s);
void vm_spec_free(struct vm_spec *s);

#endif
