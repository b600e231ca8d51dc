/* SPDX-License-Identifier: Apache-2.0 */
/* The /dev/kvm system handle and the host capabilities kvmlet relies on. */
#ifndef KVMLET_VMM_KVM_H
#define KVMLET_VMM_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>

#include "lib/err.h"

struct kvm {
	int fd;
	int run_size; /* bytes of the per-vCPU kvm_run mapping */
	unsigned int max_vcpus;
	bool tsc_deadline;
	bool kvmclock_ctrl; /* KVM_KVMCLOCK_CTRL: tell a paused guest it was paused */
	struct kvm_cpuid2 *supported_cpuid;
};

/* Opens the device (path is normally "/dev/kvm") and checks what kvmlet needs. */
int kvm_open(struct kvm *kvm, const char *path, struct err *err);
void kvm_close(struct kvm *kvm);

#endif
