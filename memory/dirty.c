// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "memory/dirty.h"

/* Empties the VMM's bitmap word by word, racing safely with gm_mark_dirty(). */
static void take_vmm_dirty(const struct guest_memory *gm, uint64_t *bm)
{
	uint64_t words = gm_bitmap_words(gm);

	if (!gm->dirty)
		return;
	for (uint64_t w = 0; w < words; w++) {
		uint64_t bits = __atomic_exchange_n(&gm->dirty[w], 0, __ATOMIC_ACQ_REL);

		if (bm)
			bm[w] |= bits;
	}
}

/* ORs a slot's bitmap (bit 0 is page first of gm->base) into bm. */
static void merge_slot(uint64_t *bm, const uint64_t *kbm, uint64_t words, uint64_t first)
{
	for (uint64_t w = 0; w < words; w++) {
		uint64_t bits = kbm[w];

		while (bits) {
			uint64_t pg = first + w * 64 + (uint64_t)__builtin_ctzll(bits);

			bm[pg / 64] |= 1ull << (pg % 64);
			bits &= bits - 1;
		}
	}
}

static bool any_set(const uint64_t *kbm, uint64_t words)
{
	for (uint64_t w = 0; w < words; w++)
		if (kbm[w])
			return true;
	return false;
}

/*
 * Takes one RAM slot's log into bm; in manual mode, also re-protects those
 * pages unless peek.
 */
static int take_slot(const struct guest_memory *gm, int vm_fd, const struct mem_slot *sl,
		     uint64_t *kbm, uint64_t *bm, bool peek, struct err *err)
{
	uint64_t pages = sl->size / GM_PAGE_SIZE, words = (pages + 63) / 64;
	struct kvm_dirty_log log = { .slot = sl->id, .dirty_bitmap = kbm };

	memset(kbm, 0, words * sizeof(uint64_t));
	if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return err_set(err, -errno, "KVM_GET_DIRTY_LOG for RAM slot %u: %s", sl->id,
			       strerror(errno));
	if (!peek && gm->slots.manual_protect && any_set(kbm, words)) {
		struct kvm_clear_dirty_log clear = {
			.slot = sl->id,
			.first_page = 0,
			.num_pages = (uint32_t)pages,
			.dirty_bitmap = kbm,
		};

		if (ioctl(vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
			return err_set(err, -errno, "KVM_CLEAR_DIRTY_LOG for RAM slot %u: %s",
				       sl->id, strerror(errno));
	}
	if (bm)
		merge_slot(bm, kbm, words, (uint64_t)(sl->host - gm->base) / GM_PAGE_SIZE);
	return 0;
}

static bool logged_ram(const struct guest_memory *gm, const struct mem_slot *sl)
{
	return sl->kind == MEM_SLOT_RAM && (sl->flags & KVM_MEM_LOG_DIRTY_PAGES) &&
	       sl->host >= gm->base && sl->size <= gm->size &&
	       (uint64_t)(sl->host - gm->base) <= gm->size - sl->size;
}

static int dirty_take(const struct guest_memory *gm, int vm_fd, uint64_t *bm, bool peek,
		      struct err *err)
{
	const struct mem_slot *sl;
	uint64_t *kbm;
	int r = 0;

	/* The VMM's bitmap first: a device write racing with KVM's log shows next time. */
	take_vmm_dirty(gm, bm);
	if (vm_fd < 0)
		return 0;
	/* One buffer for every slot: no slot is larger than RAM. */
	kbm = calloc(gm_bitmap_words(gm) + 1, sizeof(uint64_t));
	if (!kbm)
		return err_set(err, -ENOMEM, "out of memory");
	mem_slots_for_each(&gm->slots, sl) {
		if (!logged_ram(gm, sl))
			continue;
		r = take_slot(gm, vm_fd, sl, kbm, bm, peek, err);
		if (r)
			break;
	}
	free(kbm);
	return r;
}

int dirty_harvest(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err)
{
	return dirty_take(gm, vm_fd, bm, false, err);
}

int dirty_peek(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err)
{
	return dirty_take(gm, vm_fd, bm, true, err);
}

/* Re-protects the pages of [first, first + n) set in bm that lie in slot sl. */
static int clear_slot(const struct guest_memory *gm, int vm_fd, const struct mem_slot *sl,
		      const uint64_t *bm, uint64_t first, uint64_t n, struct err *err)
{
	uint64_t start = (uint64_t)(sl->host - gm->base) / GM_PAGE_SIZE;
	uint64_t pages = sl->size / GM_PAGE_SIZE, lo, hi;
	uint64_t kbm[64] = { 0 }; /* up to 4096 pages a call */
	struct kvm_clear_dirty_log clear = { .slot = sl->id, .dirty_bitmap = kbm };

	lo = first > start ? first : start;
	hi = first + n < start + pages ? first + n : start + pages;
	while (lo < hi) {
		uint64_t len = hi - lo < 4096 ? hi - lo : 4096;
		bool any = false;

		/* KVM wants first_page 64-aligned within the slot: slots start page-aligned. */
		if ((lo - start) % 64)
			return err_set(err, -EINVAL, "dirty clear of page %llu: not 64-aligned",
				       (unsigned long long)lo);
		memset(kbm, 0, sizeof(kbm));
		for (uint64_t i = 0; i < len; i++) {
			uint64_t pg = lo + i;

			if (bm[pg / 64] & (1ull << (pg % 64))) {
				kbm[i / 64] |= 1ull << (i % 64);
				any = true;
			}
		}
		if (any) {
			clear.first_page = lo - start;
			clear.num_pages = (uint32_t)len;
			if (ioctl(vm_fd, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
				return err_set(err, -errno,
					       "KVM_CLEAR_DIRTY_LOG for RAM slot %u: %s", sl->id,
					       strerror(errno));
		}
		lo += len;
	}
	return 0;
}

int dirty_clear(const struct guest_memory *gm, int vm_fd, const uint64_t *bm, uint64_t first,
		uint64_t n, struct err *err)
{
	const struct mem_slot *sl;

	if (vm_fd < 0 || !gm->slots.manual_protect)
		return 0;
	mem_slots_for_each(&gm->slots, sl) {
		uint64_t start, pages;
		int r;

		if (!logged_ram(gm, sl))
			continue;
		start = (uint64_t)(sl->host - gm->base) / GM_PAGE_SIZE;
		pages = sl->size / GM_PAGE_SIZE;
		if (first >= start + pages || first + n <= start)
			continue;
		r = clear_slot(gm, vm_fd, sl, bm, first, n, err);
		if (r)
			return r;
	}
	return 0;
}

static int set_manual_protect(struct guest_memory *gm, int vm_fd, bool on, struct err *err)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args = { on ? KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE : 0 },
	};
	int have;

	if (gm->slots.manual_protect == on)
		return 0;
	have = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (on && (have <= 0 || !(have & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)))
		return err_set(err, -EOPNOTSUPP,
			       "this host's KVM has no manual dirty log protection");
	if (ioctl(vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return err_set(err, -errno, "%s manual dirty log protection: %s",
			       on ? "enabling" : "disabling", strerror(errno));
	gm->slots.manual_protect = on;
	return 0;
}

/* Sets or clears KVM_MEM_LOG_DIRTY_PAGES on every RAM slot. */
static int set_slot_logging(struct guest_memory *gm, int vm_fd, bool on, struct err *err)
{
	const struct mem_slot *sl;

	mem_slots_for_each(&gm->slots, sl) {
		uint32_t flags = on ? sl->flags | KVM_MEM_LOG_DIRTY_PAGES
				    : sl->flags & ~(uint32_t)KVM_MEM_LOG_DIRTY_PAGES;
		int r;

		if (sl->kind != MEM_SLOT_RAM || flags == sl->flags)
			continue;
		r = mem_slots_set_flags(&gm->slots, vm_fd, sl->id, flags);
		if (r)
			return err_set(err, r, "%s dirty logging on RAM slot %u: %s",
				       on ? "enabling" : "disabling", sl->id, strerror(-r));
	}
	return 0;
}

int dirty_log_start(struct guest_memory *gm, int vm_fd, enum dirty_log_mode mode, struct err *err)
{
	int r;

	/* A mode switch under a running log could drop pages: stop first. */
	if (gm->dirty && gm->slots.manual_protect != (mode == DIRTY_LOG_MANUAL_PROTECT))
		return err_set(err, -EBUSY, "dirty tracking is already on in the other mode");
	/* The VMM's bitmap is on before KVM's log and off after it: no write slips by. */
	if (gm_dirty_enable(gm) < 0)
		return err_set(err, -ENOMEM, "out of memory for the dirty page bitmap");
	if (vm_fd < 0)
		return 0;
	/* The mode first: turning logging on write-protects the pages either way. */
	r = set_manual_protect(gm, vm_fd, mode == DIRTY_LOG_MANUAL_PROTECT, err);
	return r ? r : set_slot_logging(gm, vm_fd, true, err);
}

int dirty_log_stop(struct guest_memory *gm, int vm_fd, struct err *err)
{
	int r = 0;

	if (vm_fd >= 0) {
		r = set_slot_logging(gm, vm_fd, false, err);
		if (!r)
			r = set_manual_protect(gm, vm_fd, false, err);
	}
	if (!r)
		gm_dirty_disable(gm);
	return r;
}
