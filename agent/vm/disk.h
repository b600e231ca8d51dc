/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM's own writable copy of an image disk: a reflink (FICLONE) where the
 * file system shares extents (btrfs, XFS), otherwise a sparse copy that
 * copies only the data ranges (SEEK_DATA/SEEK_HOLE), so a mostly empty
 * 10 GiB disk costs what it holds, not 10 GiB.
 *
 * Threads: no state; any thread.
 */
#ifndef KVMLET_AGENT_VM_DISK_H
#define KVMLET_AGENT_VM_DISK_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/err.h"

/*
 * Creates dst (which must not exist) as a copy of src owned by root, group
 * gid, mode 0660: the VM writes it through its group and, not owning it,
 * cannot chmod it (setuid bits on a file it wrote). *reflinked says which
 * way it went. On failure dst is gone.
 */
int vm_disk_clone(const char *src, const char *dst, gid_t gid, bool *reflinked, struct err *err);
/* The sparse copy alone (for tests on file systems that reflink). */
int vm_disk_copy_sparse(int in, int out, struct err *err);

#endif
