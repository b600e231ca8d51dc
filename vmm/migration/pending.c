// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "memory/dirty.h"
#include "vmm/migration/pending.h"

int mig_pending_refill(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err)
{
	memset(bm, 0, gm_bitmap_words(gm) * sizeof(uint64_t));
	return dirty_peek(gm, vm_fd, bm, err);
}

int mig_pending_final(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err)
{
	/*
	 * No reset: a device write (an io_uring read's data, say) harvested by
	 * the last pre-copy peek is only in bm now, and the guest, paused,
	 * will never write that page again to make it dirty a second time.
	 */
	return dirty_peek(gm, vm_fd, bm, err);
}
