/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM's jail root, <jail_base>/<vmm file name>/<id>/root (docs/jailer.md),
 * as the backend fills it before kvmlet-jailer runs, and empties it after:
 *
 *   kernel, initrd      hard links to the image's (root-owned, not writable
 *                       by the VM), or copies across file systems
 *   disk<N>.img         the VM's writable copies (root:<VM gid>, 0660)
 *   dev<N>              block device nodes for CRI devices (mknod: see below)
 *   mount<N>.iso        read-only ISO images of CRI mounts (root, 0644)
 *   cidata.iso          the cloud-init NoCloud disk
 *   log/                the CRI log's directory, bind-mounted (nosuid,
 *                       nodev, noexec): the VMM opens its own file there,
 *                       which exists already (root:<VM gid>, 0620)
 *   api.sock, vsock.sock, console.sock: made by the VMM
 *
 * A CRI device becomes a node made with mknod (same major:minor, root:<VM
 * gid>, 0660 or 0440 when read-only: never the VM's own, or it could chmod
 * a read-only node writable) rather than a bind mount of the
 * host's /dev node: chown on a bind-mounted node would change the host's
 * node, and a node of its own needs no unmount on removal. The jail's
 * file system must allow device nodes (not mounted nodev).
 *
 * Threads: no state; any thread, one VM per call.
 */
#ifndef KVMLET_AGENT_VM_JAIL_H
#define KVMLET_AGENT_VM_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/* snprintf for paths: -ENAMETOOLONG rather than a cut path. */
int vm_pathf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* <jail_base>/<basename(vmm_path)>/<id> into buf (the root is its "root"). */
int vm_jail_dir(const char *jail_base, const char *vmm_path, const char *id, char *buf,
		size_t size);
/* A read-only file (kernel, initrd) at root/name: a hard link when safe, else a copy. */
int vm_jail_place_ro(const char *src, const char *root, const char *name, struct err *err);
/* A block device node at root/name, root:gid, for the VM's group. */
int vm_jail_mknod(const char *host_path, const char *root, const char *name, gid_t gid,
		  bool readonly, struct err *err);
/* Bind-mounts dir at root/log. */
int vm_jail_mount_log(const char *root, const char *dir, struct err *err);
/* Detaches root/log (absent or not mounted: 0). */
int vm_jail_umount_log(const char *root, struct err *err);
/* Removes the whole jail directory, never crossing a mount point or following links. */
int vm_jail_remove(const char *jail_dir, struct err *err);
/*
 * rm -r through descriptors (also for state directories): every directory
 * is entered with openat2(RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS), so a mount
 * left inside, even a same-file-system bind mount, is -EBUSY and nothing
 * beyond it is touched; links are removed, never followed.
 */
int vm_jail_remove_tree(const char *path, struct err *err);

#endif
