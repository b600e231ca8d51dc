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

/* Why KVM_RUN returned, as counted for metrics. */
enum vcpu_exit_kind {
	VCPU_EXIT_IO,
	VCPU_EXIT_MMIO,
	VCPU_EXIT_HLT,
	VCPU_EXIT_SHUTDOWN,
	VCPU_EXIT_SYSTEM_EVENT,
	VCPU_EXIT_INTERNAL_ERROR,
	VCPU_EXIT_FAIL_ENTRY,
	VCPU_EXIT_SIGNAL, /* EINTR: a kick (pause, stop) */
	VCPU_EXIT_OTHER,
	VCPU_NR_EXIT_KINDS
};

/* Written by the vCPU thread only; read with stats_get() from anywhere. */
struct vcpu_stats {
	uint64_t exits[VCPU_NR_EXIT_KINDS];
	uint64_t run_ns; /* time spent inside KVM_RUN */
};

const char *vcpu_exit_kind_name(enum vcpu_exit_kind k);

struct vcpu {
	struct vm *vm;
	unsigned int id; /* also its APIC ID */
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	uint64_t throttle_until; /* auto-converge: runs until then, then sleeps */
	struct vcpu_stats stats;
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
