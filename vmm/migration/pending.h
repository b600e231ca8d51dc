/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pages a live migration still has to send, kept across the dirty
 * harvests of pre-copy and the last one after the pause. A harvest hands
 * over (and resets) the VMM's own bitmap of device writes, and in the
 * classic dirty-log mode KVM's log too: the bits it returns exist nowhere
 * else, so a set taken but not yet sent must be carried into the next
 * pass, never rebuilt from a fresh harvest.
 *
 * Threading: the caller's (the migration's control thread); bm is one
 * caller's at a time.
 */
#ifndef KVMLET_VMM_MIGRATION_PENDING_H
#define KVMLET_VMM_MIGRATION_PENDING_H

#include <stdint.h>

#include "lib/err.h"
#include "memory/guest_memory.h"

/*
 * After a pass has sent every page in bm: bm becomes the pages written
 * since they were last harvested (gm_bitmap_words(gm) words of bm).
 */
int mig_pending_refill(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err);

/*
 * With the guest paused and its devices quiesced, before the last pass:
 * adds to bm, which still holds the last pre-copy harvest (not sent), what
 * was written since. bm then covers every page not sent since its last write.
 */
int mig_pending_final(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err);

#endif
