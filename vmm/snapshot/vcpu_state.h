/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One vCPU's architectural state as a snapshot section (id
 * SNAPSHOT_SECTION_VCPU): registers, FPU/XSAVE, MSRs, LAPIC, pending
 * events, run state, debug registers and CPUID. Layout: docs/snapshot.md.
 *
 * Restoring is split in two: vcpu_state_parse() turns untrusted bytes into
 * a struct vcpu_state without touching KVM (the fuzzer runs it), and
 * vcpu_state_apply() hands a parsed state to KVM in the order the KVM API
 * requires. The vCPU must not be inside KVM_RUN during any of these calls.
 */
#ifndef KVMLET_VMM_SNAPSHOT_VCPU_STATE_H
#define KVMLET_VMM_SNAPSHOT_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/state.h"

struct vcpu;

#define VCPU_STATE_VERSION   1
/* Limits on what a state may claim, checked before anything is allocated. */
#define VCPU_STATE_MAX_MSRS  1024
#define VCPU_STATE_MAX_CPUID 1024
#define VCPU_STATE_MAX_XSAVE (64u << 10)
#define VCPU_STATE_MIN_XSAVE 4096 /* sizeof(struct kvm_xsave) */

/* Record tags inside the section; each is u32 tag, u32 length, bytes. */
enum vcpu_state_record {
	VCPU_REC_REGS = 1,
	VCPU_REC_SREGS = 2,
	VCPU_REC_SREGS2 = 3, /* optional: only from hosts with KVM_CAP_SREGS2 */
	VCPU_REC_FPU = 4,
	VCPU_REC_XSAVE = 5, /* length 0: the source had no KVM_CAP_XSAVE */
	VCPU_REC_XCRS = 6,  /* length 0: no KVM_CAP_XCRS */
	VCPU_REC_MSRS = 7,
	VCPU_REC_LAPIC = 8,
	VCPU_REC_EVENTS = 9,
	VCPU_REC_MP_STATE = 10,
	VCPU_REC_DEBUGREGS = 11, /* length 0: no KVM_CAP_DEBUGREGS */
	VCPU_REC_CPUID = 12,
	VCPU_REC_MAX = 12,
};

struct vcpu_state {
	uint32_t id;
	uint32_t present; /* bit (1 << tag) for each record seen */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_sregs2 sregs2;
	struct kvm_fpu fpu;
	uint8_t *xsave; /* xsave_len bytes; NULL when absent */
	uint32_t xsave_len;
	struct kvm_xcrs xcrs; /* nr_xcrs == 0 when absent */
	bool has_debugregs;
	struct kvm_debugregs debugregs;
	struct kvm_msrs *msrs; /* nmsrs entries */
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_cpuid2 *cpuid; /* nent entries */
};

/* Reads everything from KVM and appends one vCPU section to w. */
int vcpu_state_save(struct vcpu *v, struct state_writer *w, struct err *err);
/*
 * Takes the next section of r, which must be this vCPU's, and loads it
 * into v. Refuses another vCPU's state or an unknown layout.
 */
int vcpu_state_restore(struct vcpu *v, struct state_reader *r, struct err *err);

/* The pieces, for callers that walk sections themselves, and for tests. */
int vcpu_state_get(struct vcpu *v, struct vcpu_state *s, struct err *err);
void vcpu_state_encode(const struct vcpu_state *s, struct state_writer *w);
/* body and version as state_next_section() returned them for a vCPU section. */
int vcpu_state_parse(struct state_reader *body, uint32_t version, struct vcpu_state *s,
		     struct err *err);
int vcpu_state_apply(struct vcpu *v, const struct vcpu_state *s, struct err *err);
void vcpu_state_free(struct vcpu_state *s);

#endif
