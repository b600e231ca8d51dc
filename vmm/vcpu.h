/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One vCPU: its KVM file descriptor, its architectural set-up, and the
 * thread that runs the KVM_RUN loop and dispatches exits to the buses.
 */
#ifndef KVMLET_VMM_VCPU_H
#define KVMLET_VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "lib/err.h"
#include "vmm/boot/boot.h"

struct vm;

struct vcpu {
	struct vm *vm;
	unsigned int id; /* also its APIC ID */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
};

/* Creates the vCPU with CPUID, MSRs, FPU and LAPIC as a board would set them. */
int vcpu_create(struct vcpu *v, struct vm *vm, unsigned int id, struct err *err);
/* Registers for the boot processor's first instruction. */
int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry, struct err *err);
int vcpu_start(struct vcpu *v, struct err *err);
/* Makes KVM_RUN return soon, from any thread. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

/* Installs the handler for the kick signal; once per process. */
int vcpu_signals_init(void);
/* The signal vcpu_kick() sends; other threads keep it blocked. */
int vcpu_kick_signal(void);

#endif
