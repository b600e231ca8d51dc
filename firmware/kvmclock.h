/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KVM's paravirtual clock (kvmclock, MSR_KVM_SYSTEM_TIME_NEW) for the BSP:
 * nanoseconds the hypervisor keeps. Unlike the TSC, which a VMM restores to
 * its saved value, a VMM may carry kvmclock forward over the time a VM spent
 * saved or in flight (kvmlet-vmm does, docs/snapshot.md), so comparing the
 * two shows what a guest sees of a restore or a migration. BSP only.
 */
#ifndef FW_KVMCLOCK_H
#define FW_KVMCLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Enables kvmclock once if CPUID offers it; false if there is none. */
bool kvmclock_init(void);
/* Nanoseconds on the hypervisor's clock; 0 without kvmclock_init(). */
uint64_t kvmclock_ns(void);

#endif
