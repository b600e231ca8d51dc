// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvmlet/exit_codes.h"
#include "kvmlet/platform.h"
#include "devices/stats.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "vmm/boot/gdt.h"
#include "vmm/cpuid.h"
#include "vmm/seccomp.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define MSR_IA32_TSC		0x00000010
#define MSR_IA32_SYSENTER_CS	0x00000174
#define MSR_IA32_SYSENTER_ESP	0x00000175
#define MSR_IA32_SYSENTER_EIP	0x00000176
#define MSR_IA32_MISC_ENABLE	0x000001a0
#define MSR_MTRR_DEF_TYPE	0x000002ff
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MISC_ENABLE_FAST_STRING 0x1
#define MTRR_ENABLE_WB		((1ULL << 11) | 6) /* MTRRs on, default write-back */

#define APIC_LVT_LINT0	 0x350
#define APIC_LVT_LINT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_SHIFT	 8
#define APIC_MODE_MASK	 (0x7 << APIC_MODE_SHIFT)

#define CR0_PE		(1ULL << 0)
#define CR0_MP		(1ULL << 1)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_WP		(1ULL << 16)
#define CR0_AM		(1ULL << 18)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)
#define RFLAGS_RESERVED 0x2

#define FPU_DEFAULT_FCW	  0x37f
#define FPU_DEFAULT_MXCSR 0x1f80

int vcpu_kick_signal(void)
{
	return SIGRTMIN;
}

static void vcpu_kick_handler(int sig)
{
	/* Only here so that the signal interrupts KVM_RUN. */
}

int vcpu_signals_init(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	return sigaction(vcpu_kick_signal(), &sa, NULL) < 0 ? -errno : 0;
}

static int vcpu_set_cpuid(struct vcpu *v, struct err *err)
{
	const struct kvm_cpuid2 *host = v->vm->kvm.supported_cpuid;
	size_t size = sizeof(*host) + host->nent * sizeof(host->entries[0]);
	struct cpuid_topology topo = {
		.cpu_index = v->id,
		.nr_cpus = v->vm->nr_vcpus,
		.tsc_deadline = v->vm->kvm.tsc_deadline,
	};
	struct kvm_cpuid2 *c = malloc(size);
	int r = 0;

	if (!c)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(c, host, size);
	cpuid_shape(c, &topo);
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		r = err_set(err, -errno, "vcpu %u: KVM_SET_CPUID2: %s", v->id, strerror(errno));
	free(c);
	return r;
}

static int vcpu_set_msrs(struct vcpu *v, struct err *err)
{
	static const struct kvm_msr_entry boot_msrs[] = {
		{ .index = MSR_IA32_SYSENTER_CS },
		{ .index = MSR_IA32_SYSENTER_ESP },
		{ .index = MSR_IA32_SYSENTER_EIP },
		{ .index = MSR_STAR },
		{ .index = MSR_CSTAR },
		{ .index = MSR_KERNEL_GS_BASE },
		{ .index = MSR_SYSCALL_MASK },
		{ .index = MSR_LSTAR },
		{ .index = MSR_IA32_TSC },
		{ .index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING },
		{ .index = MSR_MTRR_DEF_TYPE, .data = MTRR_ENABLE_WB },
	};
	enum { N = sizeof(boot_msrs) / sizeof(boot_msrs[0]) };
	struct kvm_msrs *m = calloc(1, sizeof(*m) + sizeof(boot_msrs));
	int n;

	if (!m)
		return err_set(err, -ENOMEM, "out of memory");
	m->nmsrs = N;
	memcpy(m->entries, boot_msrs, sizeof(boot_msrs));
	n = ioctl(v->fd, KVM_SET_MSRS, m);
	free(m);
	if (n != N)
		return err_set(err, -EIO,
			       "vcpu %u: KVM_SET_MSRS set %d of %d MSRs (stopped at 0x%x)", v->id,
			       n, N, n >= 0 && n < N ? boot_msrs[n].index : 0);
	return 0;
}

static int vcpu_set_fpu(struct vcpu *v, struct err *err)
{
	struct kvm_fpu fpu = { .fcw = FPU_DEFAULT_FCW, .mxcsr = FPU_DEFAULT_MXCSR };

	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
		return err_set(err, -errno, "vcpu %u: KVM_SET_FPU: %s", v->id, strerror(errno));
	return 0;
}

static void lapic_set_mode(struct kvm_lapic_state *l, unsigned int reg, uint32_t mode)
{
	uint32_t val;

	memcpy(&val, &l->regs[reg], 4);
	val = (val & ~APIC_MODE_MASK) | (mode << APIC_MODE_SHIFT);
	memcpy(&l->regs[reg], &val, 4);
}

static int vcpu_set_lapic(struct vcpu *v, struct err *err)
{
	struct kvm_lapic_state l;

	if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
		return err_set(err, -errno, "vcpu %u: KVM_GET_LAPIC: %s", v->id, strerror(errno));
	/* Virtual wire mode: the 8259 on LINT0, NMIs on LINT1. */
	lapic_set_mode(&l, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lapic_set_mode(&l, APIC_LVT_LINT1, APIC_MODE_NMI);
	if (ioctl(v->fd, KVM_SET_LAPIC, &l) < 0)
		return err_set(err, -errno, "vcpu %u: KVM_SET_LAPIC: %s", v->id, strerror(errno));
	return 0;
}

int vcpu_create(struct vcpu *v, struct vm *vm, unsigned int id, struct err *err)
{
	int r;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
	if (v->fd < 0)
		return err_set(err, -errno, "vcpu %u: KVM_CREATE_VCPU: %s", id, strerror(errno));
	v->run = mmap(NULL, vm->kvm.run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		return err_set(err, -errno, "vcpu %u: mapping kvm_run: %s", id, strerror(errno));
	}
	r = vcpu_set_cpuid(v, err);
	if (!r)
		r = vcpu_set_msrs(v, err);
	if (!r)
		r = vcpu_set_fpu(v, err);
	if (!r)
		r = vcpu_set_lapic(v, err);
	return r;
}

int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry, struct err *err)
{
	struct kvm_regs regs = { .rip = entry->entry, .rflags = RFLAGS_RESERVED };
	struct kvm_sregs sregs;
	struct kvm_segment data = gdt_segment(PLAT_SEL_DATA);

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return err_set(err, -errno, "vcpu %u: KVM_GET_SREGS: %s", v->id, strerror(errno));
	sregs.gdt.base = PLAT_GDT_ADDR;
	sregs.gdt.limit = gdt_write(&v->vm->mem);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = gdt_segment(PLAT_SEL_TSS);
	if (entry->mode == BOOT_MODE_PVH) {
		/* PVH: flat 32-bit protected mode, paging off, %ebx -> start_info. */
		sregs.cs = gdt_segment(PLAT_SEL_CODE32);
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = entry->info_gpa;
	} else {
		/* Linux 64-bit boot protocol: long mode on identity-mapped tables. */
		sregs.cs = gdt_segment(PLAT_SEL_CODE64);
		sregs.cr3 = PLAT_PML4_ADDR;
		sregs.cr4 = CR4_PAE;
		sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
		sregs.efer = EFER_LME | EFER_LMA;
		regs.rsi = entry->info_gpa;
		regs.rsp = regs.rbp = PLAT_BOOT_STACK;
	}
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return err_set(err, -errno, "vcpu %u: KVM_SET_SREGS: %s", v->id, strerror(errno));
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return err_set(err, -errno, "vcpu %u: KVM_SET_REGS: %s", v->id, strerror(errno));
	return 0;
}

static void vcpu_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool out = run->io.direction == KVM_EXIT_IO_OUT;

	/* String instructions hand over `count` items at once. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		if (bus_access(&v->vm->pio, run->io.port, data, run->io.size, out))
			continue;
		if (!out)
			memset(data, 0xff, run->io.size); /* nothing there: a floating bus */
		log_debug("vcpu %u: unclaimed port %s 0x%x", v->id, out ? "write" : "read",
			  run->io.port);
	}
}

static void vcpu_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len <= sizeof(run->mmio.data) ? run->mmio.len : 0;

	if (len &&
	    bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write))
		return;
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0, sizeof(run->mmio.data));
	log_debug("vcpu %u: unclaimed MMIO %s 0x%llx len %u", v->id,
		  run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr,
		  run->mmio.len);
}

static void vcpu_fail(struct vcpu *v, int code, const char *what)
{
	struct kvm_regs regs;
	char why[256];

	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		snprintf(why, sizeof(why), "vcpu %u: %s at rip 0x%llx", v->id, what,
			 (unsigned long long)regs.rip);
	else
		snprintf(why, sizeof(why), "vcpu %u: %s", v->id, what);
	vm_request_exit(v->vm, code, why);
}

/* Returns false when the loop must stop. */
static bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[128];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		vcpu_handle_mmio(v);
		return true;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(v, KVMLET_EXIT_GUEST_CRASH, "guest triple fault (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vm_request_exit(v->vm, KVMLET_EXIT_GUEST_RESET, "guest reset the machine");
		else
			vm_request_exit(v->vm, KVMLET_EXIT_OK, "guest powered off");
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error, suberror %u%s",
			 run->internal.suberror,
			 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				 ? " (instruction emulation failed)"
				 : "");
		vcpu_fail(v, KVMLET_EXIT_GUEST_CRASH, what);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed, hardware reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(v, KVMLET_EXIT_VMM_ERROR, what);
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; a halted CPU simply waits. */
		return true;
	default:
		snprintf(what, sizeof(what), "unexpected KVM exit reason %u", run->exit_reason);
		vcpu_fail(v, KVMLET_EXIT_VMM_ERROR, what);
		return false;
	}
}

static enum vcpu_exit_kind vcpu_exit_kind(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO:
		return VCPU_EXIT_IO;
	case KVM_EXIT_MMIO:
		return VCPU_EXIT_MMIO;
	case KVM_EXIT_HLT:
		return VCPU_EXIT_HLT;
	case KVM_EXIT_SHUTDOWN:
		return VCPU_EXIT_SHUTDOWN;
	case KVM_EXIT_SYSTEM_EVENT:
		return VCPU_EXIT_SYSTEM_EVENT;
	case KVM_EXIT_INTERNAL_ERROR:
		return VCPU_EXIT_INTERNAL_ERROR;
	case KVM_EXIT_FAIL_ENTRY:
		return VCPU_EXIT_FAIL_ENTRY;
	default:
		return VCPU_EXIT_OTHER;
	}
}

const char *vcpu_exit_kind_name(enum vcpu_exit_kind k)
{
	static const char *const names[VCPU_NR_EXIT_KINDS] = {
		[VCPU_EXIT_IO] = "io",
		[VCPU_EXIT_MMIO] = "mmio",
		[VCPU_EXIT_HLT] = "hlt",
		[VCPU_EXIT_SHUTDOWN] = "shutdown",
		[VCPU_EXIT_SYSTEM_EVENT] = "system_event",
		[VCPU_EXIT_INTERNAL_ERROR] = "internal_error",
		[VCPU_EXIT_FAIL_ENTRY] = "fail_entry",
		[VCPU_EXIT_SIGNAL] = "signal",
		[VCPU_EXIT_OTHER] = "other",
	};

	return (unsigned int)k < VCPU_NR_EXIT_KINDS ? names[k] : "?";
}

/*
 * Waits here while the VM is paused. Called only when the last KVM_RUN
 * returned EINTR: with immediate_exit set, KVM first completes a pending
 * port or MMIO access, so the state is consistent for a snapshot and
 * resuming continues at the next instruction.
 */
/*
 * Marks the guest's kvmclock as paused, so that on resume its soft-lockup
 * watchdog does not take the pause for a hung CPU. EINVAL: the guest has
 * no kvmclock page yet (still booting, or not using kvmclock).
 */
static void vcpu_tell_paused(struct vcpu *v)
{
	if (v->vm->kvm.kvmclock_ctrl && ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0) < 0 && errno != EINVAL)
		log_debug("vcpu%u: KVM_KVMCLOCK_CTRL: %s", v->id, strerror(errno));
}

static void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	vcpu_tell_paused(v);
	pthread_mutex_lock(&vm->run_lock);
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->run_cond);
	while (__atomic_load_n(&vm->pause_requested, __ATOMIC_SEQ_CST) && !vm_exiting(vm))
		pthread_cond_wait(&vm->run_cond, &vm->run_lock);
	vm->nr_parked--;
	pthread_mutex_unlock(&vm->run_lock);
}

/* Auto-converge's time slice: a throttle of p% sleeps p% of each. */
#define VCPU_THROTTLE_SLICE_NS 10000000ull

/*
 * While a migration throttles the guest (vm->throttle_pct), the vCPU
 * sleeps its share of each slice; the migration thread kicks it out of
 * KVM_RUN every slice so that a guest that never exits is throttled too.
 */
static void vcpu_throttle(struct vcpu *v)
{
	unsigned int pct = __atomic_load_n(&v->vm->throttle_pct, __ATOMIC_RELAXED);
	uint64_t now, ns;
	struct timespec ts;

	if (!pct)
		return;
	now = clock_mono_ns();
	if (now < v->throttle_until)
		return;
	ns = VCPU_THROTTLE_SLICE_NS * pct / 100;
	ts = (struct timespec){ 0, (long)ns };
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
	v->throttle_until = clock_mono_ns() + VCPU_THROTTLE_SLICE_NS * (100 - pct) / 100;
}

static void vcpu_thread_done(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->run_lock);
	vm->nr_alive--;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->run_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct err err = { 0 };
	bool settled = true; /* no exit is half handled: safe to park */
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (seccomp_install(SECCOMP_ROLE_VCPU, v->vm->seccomp_level, &err)) {
		vm_request_exit(v->vm, KVMLET_EXIT_VMM_ERROR, err.msg);
		vcpu_thread_done(v);
		return NULL;
	}

	while (!vm_exiting(v->vm)) {
		uint64_t t0;
		int r;

		if (settled && __atomic_load_n(&v->vm->pause_requested, __ATOMIC_SEQ_CST)) {
			vcpu_park(v);
			continue;
		}
		vcpu_throttle(v);
		t0 = clock_mono_ns();
		r = ioctl(v->fd, KVM_RUN, 0);
		stats_add(v->stats.run_ns, clock_mono_ns() - t0);

		/* Batched serial output goes first: it happened before this exit. */
		serial_coalesce_drain(&v->vm->coalesce);
		if (r < 0) {
			if (errno == EINTR) {
				stats_add(v->stats.exits[VCPU_EXIT_SIGNAL], 1);
				/*
				 * Cleared before the loop looks at the pause flag
				 * again; a kicker sets the flag first, so no kick
				 * is lost between the two.
				 */
				__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
				settled = true;
				continue;
			}
			if (errno == EAGAIN)
				continue;
			char what[96];

			snprintf(what, sizeof(what), "KVM_RUN failed: %s", strerror(errno));
			vcpu_fail(v, KVMLET_EXIT_VMM_ERROR, what);
			break;
		}
		settled = false;
		stats_add(v->stats.exits[vcpu_exit_kind(v->run->exit_reason)], 1);
		if (!vcpu_handle_exit(v))
			break;
	}
	vcpu_thread_done(v);
	return NULL;
}

int vcpu_start(struct vcpu *v, struct err *err)
{
	int r;

	pthread_mutex_lock(&v->vm->run_lock);
	v->vm->nr_alive++;
	pthread_mutex_unlock(&v->vm->run_lock);
	r = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (r) {
		vcpu_thread_done(v);
		return err_set(err, -r, "vcpu %u: creating thread: %s", v->id, strerror(r));
	}
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers a signal that lands just before KVM_RUN. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(v->thread, vcpu_kick_signal());
}

void vcpu_join(struct vcpu *v)
{
	if (v->started)
		pthread_join(v->thread, NULL);
	v->started = false;
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->run)
		munmap(v->run, v->vm->kvm.run_size);
	if (v->fd > 0)
		close(v->fd);
	v->run = NULL;
	v->fd = -1;
}
