// SPDX-License-Identifier: Apache-2.0
/*
 * The dirty harvest through a real /dev/kvm, in the default and the
 * manual-protect mode. A real-mode guest increments a byte in each page
 * listed in a table and then exits; the test marks device writes of its
 * own, and each harvest must return exactly the pages written since the
 * last one. A device slot takes id 0 so that RAM is not slot 0. Skipped
 * (with SKIPPED:) when /dev/kvm cannot be used.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "kvmlet/platform.h"
#include "memory/dirty.h"
#include "tests/unit/images.h"
#include "tests/unit/kvm_usable.h"

#define GUEST_RAM   (2 * MiB)
#define GUEST_CODE  0x1000
#define GUEST_TABLE 0x3000
#define GUEST_PORT  0x10
#define DEVICE_GPA  0x10000000ULL
#define DEVICE_SIZE (1 * MiB)
#define NR_PAGES    (GUEST_RAM / GM_PAGE_SIZE)

/*
 * Real mode at GUEST_CODE:
 *	again:	mov si, GUEST_TABLE
 *	next:	lodsw			; a segment: page * 256
 *		test ax, ax
 *		jz done
 *		mov es, ax
 *		inc byte [es:0x11]
 *		jmp next
 *	done:	out GUEST_PORT, al
 *		jmp again
 */
static const uint8_t guest_code[] = {
	0xbe, 0x00, 0x30, 0xad, 0x85, 0xc0, 0x74, 0x09,	      0x8e, 0xc0, 0x26,
	0xfe, 0x06, 0x11, 0x00, 0xeb, 0xf2, 0xe6, GUEST_PORT, 0xeb, 0xeb,
};

struct tvm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	struct guest_memory gm;
	uint8_t *device;
};

static void guest_load(struct tvm *t)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = GUEST_CODE, .rflags = 2 };

	memcpy(t->gm.base + GUEST_CODE, guest_code, sizeof(guest_code));
	assert_int_equal(ioctl(t->vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	assert_int_equal(ioctl(t->vcpu, KVM_SET_SREGS, &sregs), 0);
	assert_int_equal(ioctl(t->vcpu, KVM_SET_REGS, &regs), 0);
}

/* A VM whose slot 0 is device memory and whose RAM comes after it. */
static void tvm_create(struct tvm *t)
{
	struct err err = { 0 };
	struct mem_slot dev = { .kind = MEM_SLOT_DEVICE, .gpa = DEVICE_GPA, .size = DEVICE_SIZE };
	int id;

	memset(t, 0, sizeof(*t));
	t->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	assert_true(t->kvm >= 0);
	t->vm = ioctl(t->kvm, KVM_CREATE_VM, 0);
	assert_true(t->vm >= 0);
	assert_int_equal(ioctl(t->vm, KVM_SET_TSS_ADDR, (unsigned long)PLAT_KVM_TSS_ADDR), 0);
	test_gm_alloc(&t->gm, GUEST_RAM);
	mem_slots_init(&t->gm.slots, mem_slots_kvm_limit(t->vm));
	t->device =
		mmap(NULL, DEVICE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(t->device != MAP_FAILED);
	dev.host = t->device;
	id = mem_slots_alloc(&t->gm.slots, &dev);
	assert_int_equal(id, 0);
	assert_int_equal(mem_slot_kvm_set(t->vm, mem_slots_get(&t->gm.slots, 0)), 0);
	if (gm_kvm_map(&t->gm, t->vm, &err))
		fail_msg("gm_kvm_map: %s", err.msg);
	assert_int_equal(t->gm.region[0].slot, 1);
	assert_int_equal(mem_slots_find_gpa(&t->gm.slots, 0)->kind, MEM_SLOT_RAM);
	assert_int_equal(ioctl(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
	t->vcpu = ioctl(t->vm, KVM_CREATE_VCPU, 0);
	assert_true(t->vcpu >= 0);
	t->run_size = (size_t)ioctl(t->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	t->run = mmap(NULL, t->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->vcpu, 0);
	assert_true(t->run != MAP_FAILED);
	guest_load(t);
}

static void tvm_destroy(struct tvm *t)
{
	munmap(t->run, t->run_size);
	close(t->vcpu);
	close(t->vm);
	close(t->kvm);
	munmap(t->device, DEVICE_SIZE);
	gm_free(&t->gm);
}

/* Lets the guest write one byte in each listed page, then stops it again. */
static void guest_write(struct tvm *t, const uint16_t *pages, unsigned int n)
{
	uint16_t *table = (uint16_t *)(t->gm.base + GUEST_TABLE);

	for (unsigned int i = 0; i < n; i++)
		table[i] = (uint16_t)(pages[i] * (GM_PAGE_SIZE / 16));
	table[n] = 0;
	for (;;) {
		if (ioctl(t->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			fail_msg("KVM_RUN: %s", strerror(errno));
		}
		if (t->run->exit_reason == KVM_EXIT_IO && t->run->io.port == GUEST_PORT)
			return;
		fail_msg("unexpected exit %u", t->run->exit_reason);
	}
}

/* Harvests and checks the bitmap holds exactly the n pages listed. */
static void harvest_is(struct tvm *t, const uint16_t *pages, unsigned int n)
{
	uint64_t bm[NR_PAGES / 64] = { 0 }, want[NR_PAGES / 64] = { 0 };
	struct err err = { 0 };

	if (dirty_harvest(&t->gm, t->vm, bm, &err))
		fail_msg("harvest: %s", err.msg);
	for (unsigned int i = 0; i < n; i++)
		want[pages[i] / 64] |= 1ull << (pages[i] % 64);
	for (unsigned int pg = 0; pg < NR_PAGES; pg++) {
		bool got = bm[pg / 64] >> (pg % 64) & 1, exp = want[pg / 64] >> (pg % 64) & 1;

		if (got != exp)
			fail_msg("page %u: harvested %d, expected %d", pg, got, exp);
	}
}

static void mark(struct tvm *t, unsigned int pg)
{
	gm_mark_dirty(&t->gm, t->gm.base + (uint64_t)pg * GM_PAGE_SIZE + 5, 1);
}

static void harvest_in(enum dirty_log_mode mode)
{
	static const uint16_t round1[] = { 5, 9, 10, 200 };
	static const uint16_t want1[] = { 5, 9, 10, 200, 300, NR_PAGES - 1 };
	static const uint16_t round2[] = { 9, 42 };
	static const uint16_t want2[] = { 7, 9, 42 };
	static const uint16_t round3[] = { 11 };
	struct tvm t;
	struct err err = { 0 };
	int r;

	if (!kvm_usable())
		skip();
	tvm_create(&t);
	r = dirty_log_start(&t.gm, t.vm, mode, &err);
	if (r == -EOPNOTSUPP) {
		printf("SKIPPED: %s\n", err.msg);
		tvm_destroy(&t);
		skip();
	}
	if (r)
		fail_msg("dirty_log_start: %s", err.msg);
	assert_int_equal(t.gm.slots.manual_protect, mode == DIRTY_LOG_MANUAL_PROTECT);
	/* Again in the same mode is fine, in the other one it is not. */
	assert_int_equal(dirty_log_start(&t.gm, t.vm, mode, &err), 0);
	assert_int_equal(dirty_log_start(&t.gm, t.vm,
					 mode == DIRTY_LOG_DEFAULT ? DIRTY_LOG_MANUAL_PROTECT
								   : DIRTY_LOG_DEFAULT,
					 &err),
			 -EBUSY);
	memset(&err, 0, sizeof(err));
	assert_true(mem_slots_get(&t.gm.slots, 1)->flags & KVM_MEM_LOG_DIRTY_PAGES);
	assert_int_equal(mem_slots_get(&t.gm.slots, 0)->flags, 0);
	/* Loading the guest came before tracking: nothing yet. */
	harvest_is(&t, NULL, 0);

	/* Guest and device writes merge; a page both wrote counts once. */
	guest_write(&t, round1, 4);
	mark(&t, 300);
	mark(&t, 9);
	mark(&t, NR_PAGES - 1);
	harvest_is(&t, want1, 6);
	assert_int_equal(t.gm.base[9 * GM_PAGE_SIZE + 0x11], 1);
	/* Both logs were reset. */
	harvest_is(&t, NULL, 0);

	/* Harvested pages are protected again: a second write to page 9 shows. */
	guest_write(&t, round2, 2);
	mark(&t, 7);
	harvest_is(&t, want2, 3);

	/* A harvest into no bitmap only resets. */
	guest_write(&t, round3, 1);
	mark(&t, 8);
	if (dirty_harvest(&t.gm, t.vm, NULL, &err))
		fail_msg("reset: %s", err.msg);
	harvest_is(&t, NULL, 0);
	guest_write(&t, NULL, 0);
	harvest_is(&t, NULL, 0);

	if (dirty_log_stop(&t.gm, t.vm, &err))
		fail_msg("dirty_log_stop: %s", err.msg);
	assert_null(t.gm.dirty);
	assert_false(t.gm.slots.manual_protect);
	assert_int_equal(mem_slots_get(&t.gm.slots, 1)->flags, 0);
	/* The device slot goes from KVM and the table; its id comes back. */
	assert_int_equal(mem_slots_remove(&t.gm.slots, t.vm, 0), 0);
	assert_null(mem_slots_get(&t.gm.slots, 0));
	assert_int_equal(mem_slots_remove(&t.gm.slots, t.vm, 0), -ENOENT);
	tvm_destroy(&t);
}

static void harvest_default(void **state)
{
	harvest_in(DIRTY_LOG_DEFAULT);
}

static void harvest_manual_protect(void **state)
{
	harvest_in(DIRTY_LOG_MANUAL_PROTECT);
}

/* Without KVM only the VMM's bitmap counts; with tracking off there is nothing. */
static void harvest_without_kvm(void **state)
{
	struct guest_memory gm;
	struct err err = { 0 };
	uint64_t bm[NR_PAGES / 64] = { 0 };

	test_gm_alloc(&gm, GUEST_RAM);
	gm_mark_dirty(&gm, gm.base, 1);
	assert_int_equal(dirty_harvest(&gm, -1, bm, &err), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(dirty_log_start(&gm, -1, DIRTY_LOG_DEFAULT, &err), 0);
	gm_mark_dirty(&gm, gm.base + 64 * GM_PAGE_SIZE - 1, 2);
	assert_int_equal(dirty_harvest(&gm, -1, bm, &err), 0);
	assert_int_equal(bm[0], 1ull << 63);
	assert_int_equal(bm[1], 1);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(dirty_harvest(&gm, -1, bm, &err), 0);
	assert_int_equal(bm[0] | bm[1], 0);
	assert_int_equal(dirty_log_stop(&gm, -1, &err), 0);
	assert_null(gm.dirty);
	gm_free(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(harvest_default),
		cmocka_unit_test(harvest_manual_protect),
		cmocka_unit_test(harvest_without_kvm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
