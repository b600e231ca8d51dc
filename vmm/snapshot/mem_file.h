/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest RAM to and from a snapshot's memory file. The file is a plain
 * image of gm->base: byte N of the file is byte N of guest RAM in region
 * order (the MMIO hole is not in it), so a restore maps it directly with
 * gm_map_file(). Full writes leave holes for zero pages; diff writes
 * overwrite only the pages dirtied since the last write, in place.
 */
#ifndef KVMLET_VMM_SNAPSHOT_MEM_FILE_H
#define KVMLET_VMM_SNAPSHOT_MEM_FILE_H

#include <stdbool.h>

#include "lib/err.h"
#include "memory/guest_memory.h"

/*
 * Writes guest RAM to path: all of it (diff false: a new file, zero pages
 * left as holes, renamed over path), or only the pages dirtied since the
 * last write (diff true: the file is updated in place and never truncated;
 * needs dirty_log_start() on). A diff must not go onto a file that other
 * running VMs were restored from: their unread pages would change. Either way the dirty state
 * is reset first, so pages written during the copy show in the next diff.
 * vm_fd < 0 means no KVM: only the VMM's own bitmap counts (tests).
 */
int mem_file_write(const struct guest_memory *gm, int vm_fd, const char *path, bool diff,
		   struct err *err);

#endif
