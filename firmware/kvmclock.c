// SPDX-License-Identifier: Apache-2.0
/*
 * The pvclock ABI (Linux Documentation/virt/kvm/x86/msr.rst): the
 * hypervisor fills a 32-byte record with a TSC timestamp, the system time
 * at that timestamp and a scale; readers add the scaled TSC delta. An odd
 * or changed version means an update was under way: read again.
 */
#include "cpu.h"
#include "kvmclock.h"

#define KVM_CPUID_SIGNATURE	 0x40000000
#define KVM_CPUID_FEATURES	 0x40000001
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)
#define MSR_KVM_SYSTEM_TIME_NEW	 0x4b564d01
#define KVM_SYSTEM_TIME_ENABLE	 1

struct pvclock_vcpu_time_info {
	uint32_t version;
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};

/* Written by the hypervisor: 32-byte aligned, so never across a page. */
static volatile struct pvclock_vcpu_time_info pvti __attribute__((aligned(32)));
static bool enabled;

static bool kvm_offers_clock(void)
{
	uint32_t r[4];

	if (!cpu_has_hypervisor())
		return false;
	cpuid(KVM_CPUID_SIGNATURE, 0, r);
	/* "KVMKVMKVM\0\0\0" in EBX, ECX, EDX */
	if (r[1] != 0x4b4d564b || r[2] != 0x564b4d56 || r[3] != 0x0000004d ||
	    r[0] < KVM_CPUID_FEATURES)
		return false;
	cpuid(KVM_CPUID_FEATURES, 0, r);
	return r[0] & KVM_FEATURE_CLOCKSOURCE2;
}

bool kvmclock_init(void)
{
	if (enabled)
		return true;
	if (!kvm_offers_clock())
		return false;
	cpu_wrmsr(MSR_KVM_SYSTEM_TIME_NEW, (uint64_t)&pvti | KVM_SYSTEM_TIME_ENABLE);
	/* KVM fills the record before the vCPU runs again. */
	enabled = pvti.version != 0 && pvti.tsc_to_system_mul != 0;
	return enabled;
}

uint64_t kvmclock_ns(void)
{
	uint32_t v;
	uint64_t ns;

	if (!enabled)
		return 0;
	do {
		uint64_t delta;
		int8_t shift;

		v = pvti.version;
		barrier();
		delta = rdtsc() - pvti.tsc_timestamp;
		shift = pvti.tsc_shift;
		if (shift < 0)
			delta >>= -shift;
		else
			delta <<= shift;
		ns = pvti.system_time +
		     (uint64_t)(((unsigned __int128)delta * pvti.tsc_to_system_mul) >> 32);
		barrier();
	} while ((v & 1) || v != pvti.version);
	return ns;
}
