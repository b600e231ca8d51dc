/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-vCPU CPUID: the host's KVM_GET_SUPPORTED_CPUID table, shaped so that
 * each vCPU reports its own APIC ID and one socket of N single-thread cores.
 */
#ifndef KVMLET_VMM_CPUID_H
#define KVMLET_VMM_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

struct cpuid_topology {
	unsigned int cpu_index; /* also the APIC ID */
	unsigned int nr_cpus;
	bool tsc_deadline; /* KVM_CAP_TSC_DEADLINE_TIMER */
};

/* Rewrites the entries of `c` in place for one vCPU. */
void cpuid_shape(struct kvm_cpuid2 *c, const struct cpuid_topology *t);

/* The entry for (function, index), or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned int function,
				    unsigned int index);

#endif
