/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The dirty harvest: which pages of guest RAM were written since the last
 * harvest, from KVM's dirty log of every RAM slot (the guest's writes)
 * merged with the VMM's own bitmap (gm_mark_dirty: device writes). A
 * harvest resets both, so diff snapshots and migration pre-copy can call
 * it in a loop; a page written during or after a harvest is in the next.
 *
 * Threading: start, stop and harvest run on one thread (the VMM's main
 * thread), the vCPUs and device threads may keep writing meanwhile.
 */
#ifndef KVMLET_MEMORY_DIRTY_H
#define KVMLET_MEMORY_DIRTY_H

#include <stdint.h>

#include "lib/err.h"
#include "memory/guest_memory.h"

enum dirty_log_mode {
	/* KVM_GET_DIRTY_LOG resets the log and write-protects the pages it reports. */
	DIRTY_LOG_DEFAULT,
	/*
	 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: KVM_GET_DIRTY_LOG only reads; the
	 * harvest re-protects what it took with KVM_CLEAR_DIRTY_LOG. Cheaper on
	 * large guests (no global lock held across the whole slot).
	 */
	DIRTY_LOG_MANUAL_PROTECT,
};

/*
 * Turns dirty tracking on: the VMM's bitmap, then KVM's log on every RAM
 * slot. vm_fd < 0: the VMM's bitmap only (tests). -EOPNOTSUPP when the mode
 * needs a capability the host lacks, -EBUSY when tracking is on in the
 * other mode. Starting again in the same mode is a no-op.
 */
int dirty_log_start(struct guest_memory *gm, int vm_fd, enum dirty_log_mode mode, struct err *err);
/* Turns it off: KVM's log first, then the VMM's bitmap. */
int dirty_log_stop(struct guest_memory *gm, int vm_fd, struct err *err);

/*
 * ORs into bm (gm_bitmap_words(gm) words, one bit per page of gm->base;
 * NULL: only reset) every page written since the last harvest, and resets
 * the logs. RAM slots without KVM_MEM_LOG_DIRTY_PAGES are skipped;
 * vm_fd < 0 takes only the VMM's bitmap.
 */
int dirty_harvest(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err);

/*
 * Live migration's harvest, in two steps so that a page is re-protected
 * only just before it is sent: dirty_peek() ORs into bm what was written
 * since the pages were last cleared (the VMM's bitmap is taken and reset;
 * in manual-protect mode KVM's log is only read, otherwise it is reset as
 * by dirty_harvest()). dirty_clear() then re-protects [first, first + n)
 * (pages of gm->base, first and n multiples of 64) for the pages set in bm;
 * a no-op unless in manual-protect mode. Any thread; one caller per page
 * range at a time.
 */
int dirty_peek(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err);
int dirty_clear(const struct guest_memory *gm, int vm_fd, const uint64_t *bm, uint64_t first,
		uint64_t n, struct err *err);

#endif
