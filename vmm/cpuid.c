// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "vmm/cpuid.h"

#define CPUID_1_ECX_TSC_DEADLINE (1U << 24)
#define CPUID_1_ECX_HYPERVISOR	 (1U << 31)
#define CPUID_1_EDX_HTT		 (1U << 28)
#define CPUID_TOPO_LEVEL_SMT	 1
#define CPUID_TOPO_LEVEL_CORE	 2

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned int function, unsigned int index)
{
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

/* Bits needed to number n items: ceil(log2(n)). */
static unsigned int order_base_2(unsigned int n)
{
	unsigned int b = 0;

	while ((1U << b) < n)
		b++;
	return b;
}

static bool vendor_is(const struct kvm_cpuid2 *c, const char *v)
{
	char id[12];

	for (unsigned int i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 0) {
			memcpy(id, &e->ebx, 4);
			memcpy(id + 4, &e->edx, 4);
			memcpy(id + 8, &e->ecx, 4);
			return memcmp(id, v, 12) == 0;
		}
	}
	return false;
}

/* Leaves 0xb and 0x1f: SMT level of one thread, core level of nr_cpus. */
static void shape_ext_topology(struct kvm_cpuid_entry2 *e, const struct cpuid_topology *t)
{
	e->edx = t->cpu_index;
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (CPUID_TOPO_LEVEL_SMT << 8) | e->index;
		break;
	case 1:
		e->eax = order_base_2(t->nr_cpus);
		e->ebx = t->nr_cpus;
		e->ecx = (CPUID_TOPO_LEVEL_CORE << 8) | e->index;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

void cpuid_shape(struct kvm_cpuid2 *c, const struct cpuid_topology *t)
{
	bool amd = vendor_is(c, "AuthenticAMD") || vendor_is(c, "HygonGenuine");
	unsigned int cores = t->nr_cpus;

	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 0x1:
			/* Initial APIC ID, logical CPUs per package, CLFLUSH size kept. */
			e->ebx = (e->ebx & 0x0000ffff) | (t->cpu_index << 24) |
				 ((cores > 255 ? 255 : cores) << 16);
			e->ecx |= CPUID_1_ECX_HYPERVISOR;
			if (t->tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			if (cores > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 0x4:
			/* Cores per package; caches are per core except the last level. */
			if ((e->eax & 0x1f) == 0)
				break;
			e->eax &= 0x3ff;
			e->eax |= ((cores - 1 > 63 ? 63 : cores - 1) << 26);
			if (((e->eax >> 5) & 7) >= 3)
				e->eax |= (cores - 1) << 14;
			break;
		case 0xb:
		case 0x1f:
			shape_ext_topology(e, t);
			break;
		case 0x80000008:
			if (amd)
				e->ecx = (order_base_2(cores) << 12) | (cores - 1);
			break;
		case 0x8000001e:
			if (amd) {
				e->eax = t->cpu_index;
				e->ebx = t->cpu_index & 0xff; /* core ID; one thread per core */
				e->ecx = 0;		      /* node 0 */
			}
			break;
		default:
			break;
		}
	}
}
