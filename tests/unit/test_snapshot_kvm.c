// SPDX-License-Identifier: Apache-2.0
/*
 * vCPU and VM state through a real /dev/kvm: a tiny real-mode guest runs,
 * its state is changed to distinctive values, saved, framed, parsed and
 * restored into a second VM, which must hold the same state and carry on
 * where the first stopped. Skipped (with SKIPPED:) when /dev/kvm is absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlet/platform.h"
#include "memory/dirty.h"
#include "tests/unit/images.h"
#include "tests/unit/kvm_usable.h"
#include "vmm/snapshot/file.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/snapshot/sections.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"
#include "vmm/vm.h"

#define GUEST_RAM  (16 * MiB)
#define GUEST_CODE 0x1000
#define GUEST_DATA 0x2000
#define GUEST_PORT 0x10

#define MSR_IA32_TSC	      0x10
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_LSTAR	      0xc0000082
#define MSR_KERNEL_GS_BASE    0xc0000102
#define APIC_TPR	      0x80
#define APIC_LVTT	      0x320
#define APIC_TMCCT	      0x390

struct tvm {
	struct vm vm;
	struct vcpu vcpu[2];
	unsigned int nr;
};

/*
 * Real mode at GUEST_CODE: inc eax; mov [GUEST_DATA], ax; out GUEST_PORT, al;
 * jmp back. Each exit reports the counter, which lives in a register and
 * in RAM, so both state and memory must survive the trip.
 */
static const uint8_t guest_code[] = { 0x66, 0x40, 0xa3, 0x00, 0x20, 0xe6, GUEST_PORT, 0xeb, 0xf7 };

static void tvm_create(struct tvm *t, unsigned int nr)
{
	struct err err = { 0 };
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	memset(t, 0, sizeof(*t));
	t->nr = nr;
	if (kvm_open(&t->vm.kvm, "/dev/kvm", &err))
		fail_msg("kvm_open: %s", err.msg);
	test_gm_alloc(&t->vm.mem, GUEST_RAM);
	t->vm.fd = ioctl(t->vm.kvm.fd, KVM_CREATE_VM, 0);
	assert_true(t->vm.fd >= 0);
	assert_int_equal(ioctl(t->vm.fd, KVM_SET_TSS_ADDR, (unsigned long)PLAT_KVM_TSS_ADDR), 0);
	if (gm_kvm_map(&t->vm.mem, t->vm.fd, &err))
		fail_msg("gm_kvm_map: %s", err.msg);
	assert_int_equal(ioctl(t->vm.fd, KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(ioctl(t->vm.fd, KVM_CREATE_PIT2, &pit), 0);
	t->vm.nr_vcpus = nr;
	t->vm.vcpus = t->vcpu;
	for (unsigned int i = 0; i < nr; i++)
		if (vcpu_create(&t->vcpu[i], &t->vm, i, &err))
			fail_msg("vcpu_create: %s", err.msg);
}

static void tvm_destroy(struct tvm *t)
{
	for (unsigned int i = 0; i < t->nr; i++)
		vcpu_destroy(&t->vcpu[i]);
	close(t->vm.fd);
	gm_free(&t->vm.mem);
	kvm_close(&t->vm.kvm);
}

static void guest_load(struct tvm *t)
{
	struct vcpu *v = &t->vcpu[0];
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = GUEST_CODE, .rflags = 2 };

	memcpy(t->vm.mem.base + GUEST_CODE, guest_code, sizeof(guest_code));
	assert_int_equal(ioctl(v->fd, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	assert_int_equal(ioctl(v->fd, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(ioctl(v->fd, KVM_SET_REGS, &regs), 0);
}

/* Runs to the next counter exit and returns the counter. */
static unsigned int guest_step(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			fail_msg("KVM_RUN: %s", strerror(errno));
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == GUEST_PORT)
			return *((uint8_t *)run + run->io.data_offset);
		fail_msg("unexpected exit %u", run->exit_reason);
	}
}

/* Completes the pending OUT so that the state read next is consistent. */
static void guest_settle(struct vcpu *v)
{
	v->run->immediate_exit = 1;
	assert_int_equal(ioctl(v->fd, KVM_RUN, 0), -1);
	assert_int_equal(errno, EINTR);
	v->run->immediate_exit = 0;
}

static void set_msr(struct vcpu *v, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e = { .index = index, .data = value } };

	assert_int_equal(ioctl(v->fd, KVM_SET_MSRS, &m), 1);
}

static uint64_t find_msr(const struct vcpu_state *s, uint32_t index)
{
	for (uint32_t i = 0; i < s->msrs->nmsrs; i++)
		if (s->msrs->entries[i].index == index)
			return s->msrs->entries[i].data;
	fail_msg("MSR 0x%x not in the state", index);
	return 0;
}

static uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned int off)
{
	uint32_t v;

	memcpy(&v, &l->regs[off], 4);
	return v;
}

static void make_distinctive(struct vcpu *v)
{
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	struct kvm_lapic_state lapic;
	struct kvm_debugregs dbg = { .db = { 0x1000, 0x2000, 0x3000, 0x4000 } };
	uint32_t val;

	assert_int_equal(ioctl(v->fd, KVM_GET_REGS, &regs), 0);
	regs.rbx = 0x1122334455667788ull;
	regs.r15 = 0xfeedfacecafebeefull;
	assert_int_equal(ioctl(v->fd, KVM_SET_REGS, &regs), 0);
	assert_int_equal(ioctl(v->fd, KVM_GET_FPU, &fpu), 0);
	for (unsigned int i = 0; i < 16; i++)
		memset(fpu.xmm[i], 0x30 + i, 16);
	fpu.fcw = 0x27f;
	assert_int_equal(ioctl(v->fd, KVM_SET_FPU, &fpu), 0);
	set_msr(v, MSR_LSTAR, 0xffffffff81234560ull);
	set_msr(v, MSR_KERNEL_GS_BASE, 0x00007f0012345000ull);
	set_msr(v, MSR_IA32_SYSENTER_ESP, 0xabcdef);
	assert_int_equal(ioctl(v->fd, KVM_GET_LAPIC, &lapic), 0);
	val = 0x20;
	memcpy(&lapic.regs[APIC_TPR], &val, 4);
	val = 0x10041; /* masked, vector 0x41 */
	memcpy(&lapic.regs[APIC_LVTT], &val, 4);
	assert_int_equal(ioctl(v->fd, KVM_SET_LAPIC, &lapic), 0);
	assert_int_equal(ioctl(v->fd, KVM_SET_DEBUGREGS, &dbg), 0);
}

static void make_distinctive_vm(struct tvm *t)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };

	assert_int_equal(ioctl(t->vm.fd, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.ioapic.redirtbl[3].bits = 0x0000000000010033ull; /* masked, vector 0x33 */
	chip.chip.ioapic.redirtbl[9].fields.dest_id = 1;
	assert_int_equal(ioctl(t->vm.fd, KVM_SET_IRQCHIP, &chip), 0);
	chip = (struct kvm_irqchip){ .chip_id = KVM_IRQCHIP_PIC_MASTER };
	assert_int_equal(ioctl(t->vm.fd, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.pic.imr = 0xa5;
	assert_int_equal(ioctl(t->vm.fd, KVM_SET_IRQCHIP, &chip), 0);
}

static void assert_same_vcpu(const struct vcpu_state *a, const struct vcpu_state *b)
{
	assert_memory_equal(&a->regs, &b->regs, sizeof(a->regs));
	assert_memory_equal(&a->sregs.cs, &b->sregs.cs, sizeof(a->sregs.cs));
	assert_memory_equal(&a->sregs.ds, &b->sregs.ds, sizeof(a->sregs.ds));
	assert_int_equal(a->sregs.cr0, b->sregs.cr0);
	assert_int_equal(a->sregs.cr4, b->sregs.cr4);
	assert_int_equal(a->sregs.efer, b->sregs.efer);
	assert_int_equal(a->sregs.apic_base, b->sregs.apic_base);
	assert_memory_equal(a->fpu.xmm, b->fpu.xmm, sizeof(a->fpu.xmm));
	assert_int_equal(a->fpu.fcw, b->fpu.fcw);
	assert_int_equal(a->xsave_len, b->xsave_len);
	if (a->xsave)
		assert_memory_equal(a->xsave, b->xsave, a->xsave_len);
	assert_int_equal(a->xcrs.nr_xcrs, b->xcrs.nr_xcrs);
	assert_int_equal(a->msrs->nmsrs, b->msrs->nmsrs);
	for (uint32_t i = 0; i < a->msrs->nmsrs; i++) {
		const struct kvm_msr_entry *e = &a->msrs->entries[i];
		uint64_t got = find_msr(b, e->index);

		/* The TSC runs on from the saved value. */
		if (e->index == MSR_IA32_TSC) {
			assert_true(got >= e->data);
			continue;
		}
		if (got != e->data)
			fail_msg("MSR 0x%x: saved 0x%llx, restored 0x%llx", e->index,
				 (unsigned long long)e->data, (unsigned long long)got);
	}
	for (unsigned int off = 0; off < KVM_APIC_REG_SIZE; off += 16)
		if (off != APIC_TMCCT && lapic_reg(&a->lapic, off) != lapic_reg(&b->lapic, off))
			fail_msg("LAPIC register 0x%x: saved 0x%x, restored 0x%x", off,
				 lapic_reg(&a->lapic, off), lapic_reg(&b->lapic, off));
	assert_memory_equal(&a->events, &b->events, sizeof(a->events));
	assert_int_equal(a->mp_state.mp_state, b->mp_state.mp_state);
	assert_int_equal(a->has_debugregs, b->has_debugregs);
	assert_memory_equal(a->debugregs.db, b->debugregs.db, sizeof(a->debugregs.db));
	assert_int_equal(a->debugregs.dr7, b->debugregs.dr7);
	assert_int_equal(a->cpuid->nent, b->cpuid->nent);
	assert_memory_equal(a->cpuid->entries, b->cpuid->entries,
			    a->cpuid->nent * sizeof(a->cpuid->entries[0]));
}

/* Saves the VM and vCPU 0 of t into a framed buffer; returns its length. */
static size_t save_all(struct tvm *t, uint8_t **out)
{
	struct state_writer w;
	struct err err = { 0 };
	size_t len;

	state_writer_init(&w);
	if (vm_state_save(t->vm.fd, &w, &err) || vcpu_state_save(&t->vcpu[0], &w, &err))
		fail_msg("save: %s", err.msg);
	assert_int_equal(state_writer_status(&w), 0);
	len = SNAPSHOT_HEADER_SIZE + w.len;
	*out = malloc(len);
	assert_non_null(*out);
	snapshot_frame_header(*out, w.data, w.len);
	memcpy(*out + SNAPSHOT_HEADER_SIZE, w.data, w.len);
	state_writer_fini(&w);
	return len;
}

static void roundtrip(void **state)
{
	struct tvm a, b;
	struct vcpu_state sa, sb;
	struct vm_state va, vb;
	struct state_reader r;
	struct err err = { 0 };
	const void *body;
	size_t body_len, len;
	uint8_t *buf;

	if (!kvm_usable())
		skip();
	tvm_create(&a, 1);
	guest_load(&a);
	for (unsigned int i = 1; i <= 5; i++)
		assert_int_equal(guest_step(&a.vcpu[0]), i);
	guest_settle(&a.vcpu[0]);
	make_distinctive(&a.vcpu[0]);
	make_distinctive_vm(&a);
	if (vcpu_state_get(&a.vcpu[0], &sa, &err) || vm_state_get(a.vm.fd, &va, &err))
		fail_msg("get: %s", err.msg);
	assert_int_equal(sa.regs.rbx, 0x1122334455667788ull);
	assert_int_equal(find_msr(&sa, MSR_LSTAR), 0xffffffff81234560ull);
	len = save_all(&a, &buf);

	tvm_create(&b, 1);
	memcpy(b.vm.mem.base, a.vm.mem.base, GUEST_RAM);
	if (snapshot_frame_parse(buf, len, &body, &body_len, &err))
		fail_msg("frame: %s", err.msg);
	state_reader_init(&r, body, body_len);
	if (vm_state_restore(b.vm.fd, &r, &err) || vcpu_state_restore(&b.vcpu[0], &r, &err))
		fail_msg("restore: %s", err.msg);
	assert_true(state_done(&r));

	if (vcpu_state_get(&b.vcpu[0], &sb, &err) || vm_state_get(b.vm.fd, &vb, &err))
		fail_msg("get: %s", err.msg);
	assert_same_vcpu(&sa, &sb);
	for (unsigned int i = 0; i < 3; i++)
		assert_memory_equal(&va.chip[i], &vb.chip[i], sizeof(va.chip[i]));
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(va.pit.channels[i].count, vb.pit.channels[i].count);
		assert_int_equal(va.pit.channels[i].mode, vb.pit.channels[i].mode);
	}
	/* Monotonic, and moved on by the time spent between save and restore. */
	assert_true(vb.clock.clock >= va.clock.clock);

	/* The restored guest carries on counting where the first one stopped. */
	assert_int_equal(guest_step(&b.vcpu[0]), 6);
	assert_int_equal(guest_step(&b.vcpu[0]), 7);
	assert_int_equal(*(uint16_t *)(b.vm.mem.base + GUEST_DATA), 7);
	/* And the source, untouched by the save, does too. */
	assert_int_equal(guest_step(&a.vcpu[0]), 6);

	vcpu_state_free(&sa);
	vcpu_state_free(&sb);
	free(buf);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

/* An application processor waiting for its SIPI keeps waiting after a restore. */
static void second_vcpu(void **state)
{
	struct tvm a, b;
	struct vcpu_state sa, sb;
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };

	if (!kvm_usable())
		skip();
	tvm_create(&a, 2);
	tvm_create(&b, 2);
	make_distinctive(&a.vcpu[1]);
	state_writer_init(&w);
	for (unsigned int i = 0; i < 2; i++)
		if (vcpu_state_save(&a.vcpu[i], &w, &err))
			fail_msg("save: %s", err.msg);
	state_reader_init(&r, w.data, w.len);
	for (unsigned int i = 0; i < 2; i++)
		if (vcpu_state_restore(&b.vcpu[i], &r, &err))
			fail_msg("restore: %s", err.msg);
	assert_true(state_done(&r));
	if (vcpu_state_get(&a.vcpu[1], &sa, &err) || vcpu_state_get(&b.vcpu[1], &sb, &err))
		fail_msg("get: %s", err.msg);
	assert_int_equal(sa.mp_state.mp_state, KVM_MP_STATE_UNINITIALIZED);
	assert_same_vcpu(&sa, &sb);
	/* Its APIC ID is its own. */
	assert_int_equal(lapic_reg(&sb.lapic, 0x20) >> 24, 1);
	vcpu_state_free(&sa);
	vcpu_state_free(&sb);
	state_writer_fini(&w);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The guest's clock shows the time the VM spent saved. */
static void clock_counts_time_saved(void **state)
{
	struct tvm a, b;
	struct vm_state va, vb;
	struct state_writer w;
	struct state_reader r, body;
	struct err err = { 0 };
	uint64_t t0, slept, advanced;

	if (!kvm_usable())
		skip();
	tvm_create(&a, 1);
	state_writer_init(&w);
	t0 = now_ns();
	if (vm_state_save(a.vm.fd, &w, &err))
		fail_msg("save: %s", err.msg);
	state_reader_init(&r, w.data, w.len);
	state_reader_init(&body, w.data + STATE_SECTION_HEADER, w.len - STATE_SECTION_HEADER);
	assert_int_equal(vm_state_parse(&body, VM_STATE_VERSION, &va, &err), 0);
	usleep(300 * 1000);
	tvm_create(&b, 1);
	if (vm_state_restore(b.vm.fd, &r, &err) || vm_state_get(b.vm.fd, &vb, &err))
		fail_msg("restore: %s", err.msg);
	slept = now_ns() - t0;
	advanced = vb.clock.clock - va.clock.clock;
	printf("clock flags 0x%x: %s; advanced %llu ms over %llu ms\n", va.clock.flags,
	       va.clock.flags & KVM_CLOCK_REALTIME ? "KVM pairs it with real time"
						   : "the VMM's real time stands in",
	       (unsigned long long)advanced / 1000000, (unsigned long long)slept / 1000000);
	assert_true(advanced >= 300 * 1000000ull);
	assert_true(advanced <= slept + 50 * 1000000ull);
	state_writer_fini(&w);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

/* XSAVE: a source without it restores from FPU alone; a larger area is refused. */
static void xsave_variants(void **state)
{
	struct tvm a, b;
	struct vcpu_state s, got;
	struct err err = { 0 };
	int host;
	uint8_t *big;

	if (!kvm_usable())
		skip();
	tvm_create(&a, 1);
	tvm_create(&b, 1);
	make_distinctive(&a.vcpu[0]);
	if (vcpu_state_get(&a.vcpu[0], &s, &err))
		fail_msg("get: %s", err.msg);
	if (!s.xsave) {
		printf("SKIPPED: no KVM_CAP_XSAVE on this host\n");
		vcpu_state_free(&s);
		tvm_destroy(&a);
		tvm_destroy(&b);
		skip();
	}
	host = ioctl(a.vm.fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	host = host > 4096 ? host : 4096;
	big = calloc(1, host + 4096);
	assert_non_null(big);
	memcpy(big, s.xsave, s.xsave_len);
	free(s.xsave);
	s.xsave = big;
	s.xsave_len = host + 4096;
	assert_int_equal(vcpu_state_apply(&b.vcpu[0], &s, &err), -ENOTSUP);
	assert_err(&err, -ENOTSUP, "XSAVE area is");

	free(s.xsave);
	s.xsave = NULL;
	s.xsave_len = 0;
	memset(&err, 0, sizeof(err));
	if (vcpu_state_apply(&b.vcpu[0], &s, &err))
		fail_msg("apply without XSAVE: %s", err.msg);
	if (vcpu_state_get(&b.vcpu[0], &got, &err))
		fail_msg("get: %s", err.msg);
	assert_memory_equal(got.fpu.xmm, s.fpu.xmm, sizeof(s.fpu.xmm));
	vcpu_state_free(&s);
	vcpu_state_free(&got);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

static void refusals(void **state)
{
	struct tvm a, b;
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };

	if (!kvm_usable())
		skip();
	tvm_create(&a, 1);
	tvm_create(&b, 2);
	state_writer_init(&w);
	if (vcpu_state_save(&a.vcpu[0], &w, &err) || vm_state_save(a.vm.fd, &w, &err))
		fail_msg("save: %s", err.msg);

	/* vCPU 0's state into vCPU 1. */
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(vcpu_state_restore(&b.vcpu[1], &r, &err), -EINVAL);
	assert_err(&err, -EINVAL, "vcpu 0's, not vcpu 1's");

	/* A VM section where the vCPU's should be. */
	memset(&err, 0, sizeof(err));
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(vm_state_restore(b.vm.fd, &r, &err), -EBADMSG);
	assert_err(&err, -EBADMSG, "expected the VM section");

	/* A layout this kvmlet does not know. */
	memset(&err, 0, sizeof(err));
	w.data[4] = 2; /* the vCPU section's version */
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(vcpu_state_restore(&b.vcpu[0], &r, &err), -EPROTONOSUPPORT);
	assert_err(&err, -EPROTONOSUPPORT, "layout version 2");

	state_writer_fini(&w);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

/* KVM's dirty log and the VMM's bitmap both feed a diff memory file. */
static void dirty_diff(void **state)
{
	struct tvm a;
	struct err err = { 0 };
	char path[] = "/tmp/kvmlet-snapkvm-XXXXXX";
	uint16_t v;
	uint8_t page[4096];
	int fd;

	if (!kvm_usable())
		skip();
	tvm_create(&a, 1);
	guest_load(&a);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	if (dirty_log_start(&a.vm.mem, a.vm.fd, DIRTY_LOG_DEFAULT, &err))
		fail_msg("dirty log: %s", err.msg);
	assert_int_equal(guest_step(&a.vcpu[0]), 1);
	guest_settle(&a.vcpu[0]);
	if (mem_file_write(&a.vm.mem, a.vm.fd, path, false, &err))
		fail_msg("full: %s", err.msg);
	/* The guest writes its counter page, the VMM a page of its own. */
	assert_int_equal(guest_step(&a.vcpu[0]), 2);
	guest_settle(&a.vcpu[0]);
	memset(a.vm.mem.base + 8 * MiB, 0x5a, 4096);
	gm_mark_dirty(&a.vm.mem, a.vm.mem.base + 8 * MiB, 4096);
	/* Changed behind the tracking's back: a diff must not pick this up. */
	a.vm.mem.base[12 * MiB] = 1;
	if (mem_file_write(&a.vm.mem, a.vm.fd, path, true, &err))
		fail_msg("diff: %s", err.msg);
	/* The full write replaced the file: read the new one. */
	close(fd);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &v, 2, GUEST_DATA), 2);
	assert_int_equal(v, 2);
	assert_int_equal(pread(fd, page, 4096, 8 * MiB), 4096);
	assert_int_equal(page[0], 0x5a);
	assert_int_equal(page[4095], 0x5a);
	assert_int_equal(pread(fd, page, 1, 12 * MiB), 1);
	assert_int_equal(page[0], 0);
	if (dirty_log_stop(&a.vm.mem, a.vm.fd, &err))
		fail_msg("dirty log off: %s", err.msg);
	assert_null(a.vm.mem.dirty);
	close(fd);
	unlink(path);
	tvm_destroy(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip),
		cmocka_unit_test(second_vcpu),
		cmocka_unit_test(clock_counts_time_saved),
		cmocka_unit_test(xsave_variants),
		cmocka_unit_test(refusals),
		cmocka_unit_test(dirty_diff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
