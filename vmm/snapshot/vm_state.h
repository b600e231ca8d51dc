/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VM-wide KVM state as a snapshot section (id SNAPSHOT_SECTION_VM): the
 * in-kernel PIC pair and I/O APIC, the PIT, and the KVM clock. As for
 * vCPUs, parsing (no KVM, fuzzed) is apart from applying.
 */
#ifndef KVMLET_VMM_SNAPSHOT_VM_STATE_H
#define KVMLET_VMM_SNAPSHOT_VM_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/state.h"

#define VM_STATE_VERSION 1

enum vm_state_record {
	VM_REC_PIC_MASTER = 1, /* struct kvm_irqchip, chip_id KVM_IRQCHIP_PIC_MASTER */
	VM_REC_PIC_SLAVE = 2,
	VM_REC_IOAPIC = 3,
	VM_REC_PIT2 = 4,     /* struct kvm_pit_state2 */
	VM_REC_CLOCK = 5,    /* struct kvm_clock_data */
	VM_REC_REALTIME = 6, /* u64 host CLOCK_REALTIME ns when the clock was read */
	VM_REC_MAX = 6,
};

struct vm_state {
	struct kvm_irqchip chip[3]; /* PIC master, PIC slave, I/O APIC */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	/*
	 * The VMM's own reading of the host's real time next to KVM_GET_CLOCK,
	 * so that restore can account for the time spent saved even when KVM
	 * could not pair the clock with real time (no KVM_CLOCK_REALTIME).
	 */
	uint64_t realtime_ns;
};

/* Reads the state from KVM and appends one VM section to w. */
int vm_state_save(int vm_fd, struct state_writer *w, struct err *err);
/*
 * Takes the next section of r, which must be a VM section, and loads it.
 * The KVM clock is moved forward by the real time elapsed since the save.
 */
int vm_state_restore(int vm_fd, struct state_reader *r, struct err *err);

int vm_state_get(int vm_fd, struct vm_state *s, struct err *err);
void vm_state_encode(const struct vm_state *s, struct state_writer *w);
int vm_state_parse(struct state_reader *body, uint32_t version, struct vm_state *s,
		   struct err *err);
int vm_state_apply(int vm_fd, const struct vm_state *s, struct err *err);

#endif
