// SPDX-License-Identifier: Apache-2.0
/*
 * The vCPU and VM state parsers on their own, without KVM: a valid state
 * round-trips, and each kind of hostile record is refused by name before
 * anything is allocated for it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tests/unit/images.h"
#include "vmm/snapshot/sections.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

/* A plausible vCPU state built by hand; free with vcpu_state_free(). */
static void sample_vcpu(struct vcpu_state *s)
{
	memset(s, 0, sizeof(*s));
	s->id = 3;
	s->present = (1u << VCPU_REC_SREGS2);
	s->regs.rip = 0xfff0;
	s->regs.rbx = 0x1122334455667788ull;
	s->sregs.cr0 = 0x60000010;
	s->sregs2.efer = 0x500;
	s->fpu.fcw = 0x37f;
	s->xsave_len = 4096;
	s->xsave = calloc(1, 4096);
	s->xsave[0] = 0x7f;
	s->xcrs.nr_xcrs = 1;
	s->xcrs.xcrs[0].value = 1;
	s->msrs = calloc(1, sizeof(*s->msrs) + 2 * sizeof(s->msrs->entries[0]));
	s->msrs->nmsrs = 2;
	s->msrs->entries[0] = (struct kvm_msr_entry){ .index = 0x10, .data = 12345 };
	s->msrs->entries[1] = (struct kvm_msr_entry){ .index = 0xc0000082, .data = 0xffff8000 };
	s->lapic.regs[0x20 + 3] = 3;
	s->events.nmi.masked = 1;
	s->mp_state.mp_state = KVM_MP_STATE_RUNNABLE;
	s->has_debugregs = true;
	s->debugregs.dr7 = 0x400;
	s->cpuid = calloc(1, sizeof(*s->cpuid) + sizeof(s->cpuid->entries[0]));
	s->cpuid->nent = 1;
	s->cpuid->entries[0].function = 0x40000000;
	s->cpuid->entries[0].ebx = 0x4b4d564b;
}

static int parse_vcpu(const struct state_writer *w, struct vcpu_state *s, struct err *err)
{
	struct state_reader r, body;
	uint32_t id, version;

	state_reader_init(&r, w->data, w->len);
	assert_int_equal(state_next_section(&r, &id, &version, &body), 1);
	assert_int_equal(id, SNAPSHOT_SECTION_VCPU);
	return vcpu_state_parse(&body, version, s, err);
}

static void vcpu_roundtrip(void **state)
{
	struct vcpu_state a, b;
	struct state_writer w;
	struct err err = { 0 };

	sample_vcpu(&a);
	state_writer_init(&w);
	vcpu_state_encode(&a, &w);
	assert_int_equal(parse_vcpu(&w, &b, &err), 0);
	assert_int_equal(b.id, 3);
	assert_true(b.present & (1u << VCPU_REC_SREGS2));
	assert_memory_equal(&a.regs, &b.regs, sizeof(a.regs));
	assert_memory_equal(&a.sregs, &b.sregs, sizeof(a.sregs));
	assert_memory_equal(&a.sregs2, &b.sregs2, sizeof(a.sregs2));
	assert_memory_equal(&a.fpu, &b.fpu, sizeof(a.fpu));
	assert_int_equal(b.xsave_len, 4096);
	assert_memory_equal(a.xsave, b.xsave, 4096);
	assert_int_equal(b.xcrs.nr_xcrs, 1);
	assert_int_equal(b.xcrs.xcrs[0].value, 1);
	assert_int_equal(b.msrs->nmsrs, 2);
	assert_memory_equal(a.msrs->entries, b.msrs->entries, 2 * sizeof(a.msrs->entries[0]));
	assert_memory_equal(&a.lapic, &b.lapic, sizeof(a.lapic));
	assert_memory_equal(&a.events, &b.events, sizeof(a.events));
	assert_int_equal(b.mp_state.mp_state, KVM_MP_STATE_RUNNABLE);
	assert_true(b.has_debugregs);
	assert_memory_equal(&a.debugregs, &b.debugregs, sizeof(a.debugregs));
	assert_int_equal(b.cpuid->nent, 1);
	assert_memory_equal(a.cpuid->entries, b.cpuid->entries, sizeof(a.cpuid->entries[0]));
	vcpu_state_free(&b);

	/* Without XSAVE, XCRS or DEBUGREGS (hosts lacking them): empty records. */
	free(a.xsave);
	a.xsave = NULL;
	a.xsave_len = 0;
	a.xcrs.nr_xcrs = 0;
	a.has_debugregs = false;
	state_writer_fini(&w);
	state_writer_init(&w);
	vcpu_state_encode(&a, &w);
	assert_int_equal(parse_vcpu(&w, &b, &err), 0);
	assert_null(b.xsave);
	assert_int_equal(b.xcrs.nr_xcrs, 0);
	assert_false(b.has_debugregs);
	vcpu_state_free(&b);
	vcpu_state_free(&a);
	state_writer_fini(&w);
}

static void vcpu_truncated_anywhere(void **state)
{
	struct vcpu_state a, b;
	struct state_writer w;
	struct state_reader body;
	struct err err;

	sample_vcpu(&a);
	state_writer_init(&w);
	vcpu_state_encode(&a, &w);
	/* Every cut of the section body fails cleanly (ASan watches). */
	for (size_t n = 0; n < w.len - STATE_SECTION_HEADER; n++) {
		memset(&err, 0, sizeof(err));
		state_reader_init(&body, w.data + STATE_SECTION_HEADER, n);
		assert_int_equal(vcpu_state_parse(&body, VCPU_STATE_VERSION, &b, &err), -EBADMSG);
		assert_null(b.msrs);
		assert_null(b.xsave);
	}
	vcpu_state_free(&a);
	state_writer_fini(&w);
}

/* A section body: vCPU id 0 and the records the caller adds. */
static void rec(struct state_writer *w, uint32_t tag, uint32_t len, size_t have)
{
	uint8_t *zero = calloc(1, have ? have : 1);

	state_put_u32(w, tag);
	state_put_u32(w, len);
	state_put(w, zero, have);
	free(zero);
}

static void expect_vcpu_refused(struct state_writer *w, int code, const char *substr)
{
	struct state_reader body;
	struct vcpu_state s;
	struct err err = { 0 };

	state_reader_init(&body, w->data, w->len);
	assert_int_equal(vcpu_state_parse(&body, VCPU_STATE_VERSION, &s, &err), code);
	assert_err(&err, code, substr);
	state_writer_fini(w);
	state_writer_init(w);
	state_put_u32(w, 0);
}

static void vcpu_hostile_records(void **state)
{
	struct state_writer w;
	struct state_reader body;
	struct vcpu_state s;
	struct err err = { 0 };

	state_writer_init(&w);
	state_put_u32(&w, 0);
	state_reader_init(&body, w.data, w.len);
	assert_int_equal(vcpu_state_parse(&body, 2, &s, &err), -EPROTONOSUPPORT);
	assert_err(&err, -EPROTONOSUPPORT, "layout version 2");

	rec(&w, 99, 0, 0);
	expect_vcpu_refused(&w, -EBADMSG, "unknown record 99");
	rec(&w, VCPU_REC_REGS, sizeof(struct kvm_regs), sizeof(struct kvm_regs));
	rec(&w, VCPU_REC_REGS, sizeof(struct kvm_regs), sizeof(struct kvm_regs));
	expect_vcpu_refused(&w, -EBADMSG, "REGS record appears twice");
	rec(&w, VCPU_REC_REGS, sizeof(struct kvm_regs) - 1, sizeof(struct kvm_regs) - 1);
	expect_vcpu_refused(&w, -EBADMSG, "malformed REGS record (143 bytes)");
	/* A length past the end is caught before the record is looked at. */
	rec(&w, VCPU_REC_XSAVE, 0x7fffffff, 16);
	expect_vcpu_refused(&w, -EBADMSG, "record header is truncated");
	rec(&w, VCPU_REC_XSAVE, 100, 100);
	expect_vcpu_refused(&w, -EBADMSG, "XSAVE record of 100 bytes");
	rec(&w, VCPU_REC_XSAVE, 128 << 10, 128 << 10);
	expect_vcpu_refused(&w, -EBADMSG, "XSAVE record of 131072 bytes");
	rec(&w, VCPU_REC_MSRS, 13, 13);
	expect_vcpu_refused(&w, -EBADMSG, "MSR record of 13 bytes");
	rec(&w, VCPU_REC_MSRS, 12 * 1025, 12 * 1025);
	expect_vcpu_refused(&w, -EBADMSG, "at most 1024 MSRs");
	rec(&w, VCPU_REC_XCRS, 12 * 17, 12 * 17);
	expect_vcpu_refused(&w, -EBADMSG, "at most 16 XCRs");
	rec(&w, VCPU_REC_CPUID, 41, 41);
	expect_vcpu_refused(&w, -EBADMSG, "CPUID record of 41 bytes");
	rec(&w, VCPU_REC_MP_STATE, 8, 8);
	expect_vcpu_refused(&w, -EBADMSG, "malformed MP_STATE record");
	rec(&w, VCPU_REC_DEBUGREGS, 64, 64);
	expect_vcpu_refused(&w, -EBADMSG, "malformed DEBUGREGS record");
	rec(&w, VCPU_REC_REGS, sizeof(struct kvm_regs), sizeof(struct kvm_regs));
	expect_vcpu_refused(&w, -EBADMSG, "the SREGS record is missing");
	state_writer_fini(&w);
}

static void sample_vm(struct vm_state *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < 3; i++)
		s->chip[i].chip_id = i;
	s->chip[0].chip.pic.imr = 0xfb;
	s->chip[2].chip.ioapic.redirtbl[4].bits = 0x10034;
	s->pit.channels[0].count = 0x4000;
	s->clock.clock = 123456789;
	s->clock.flags = KVM_CLOCK_REALTIME;
	s->clock.realtime = 1700000000000000000ull;
	s->realtime_ns = 1700000000000000001ull;
}

static int parse_vm(const struct state_writer *w, size_t len, struct vm_state *s, struct err *err)
{
	struct state_reader body;

	state_reader_init(&body, w->data + STATE_SECTION_HEADER, len - STATE_SECTION_HEADER);
	return vm_state_parse(&body, VM_STATE_VERSION, s, err);
}

static void vm_roundtrip_and_hostile(void **state)
{
	struct vm_state a, b;
	struct state_writer w;
	struct err err = { 0 };

	sample_vm(&a);
	state_writer_init(&w);
	vm_state_encode(&a, &w);
	assert_int_equal(parse_vm(&w, w.len, &b, &err), 0);
	assert_memory_equal(&a, &b, sizeof(a));

	for (size_t n = STATE_SECTION_HEADER; n < w.len; n += 7) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse_vm(&w, n, &b, &err), -EBADMSG);
	}
	/* The I/O APIC record claiming to be the PIC master. */
	memset(&err, 0, sizeof(err));
	w.data[STATE_SECTION_HEADER + 2 * (8 + sizeof(struct kvm_irqchip)) + 8] = 0;
	assert_int_equal(parse_vm(&w, w.len, &b, &err), -EBADMSG);
	assert_err(&err, -EBADMSG, "malformed I/O APIC record");
	memset(&err, 0, sizeof(err));
	assert_int_equal(
		vm_state_parse(&(struct state_reader){ .data = w.data, .len = 0 }, 9, &b, &err),
		-EPROTONOSUPPORT);
	assert_err(&err, -EPROTONOSUPPORT, "layout version 9");
	state_writer_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vcpu_roundtrip),
		cmocka_unit_test(vcpu_truncated_anywhere),
		cmocka_unit_test(vcpu_hostile_records),
		cmocka_unit_test(vm_roundtrip_and_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
