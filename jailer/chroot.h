/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The jail's file system: <base>/<exec-name>/<id>/root on the host, which
 * becomes "/" for the VMM in a mount namespace of its own.
 */
#ifndef KVMLET_JAILER_CHROOT_H
#define KVMLET_JAILER_CHROOT_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/err.h"

/*
 * Creates the chroot directory (and the levels above it, never following a
 * symbolic link below base) and copies exec_file into it as exec_name.
 * root receives the chroot directory's path.
 */
int chroot_prepare(const char *base, const char *exec_name, const char *id, const char *exec_file,
		   char *root, size_t root_len, struct err *err);

/*
 * Enters a new mount namespace whose root is the chroot directory: nothing
 * propagates back to the host, the old root is detached. With libs, the
 * host's library directories are visible read-only (for a dynamically
 * linked VMM). /dev is a fresh tmpfs of its own.
 */
int chroot_enter(const char *root, bool libs, struct err *err);

/* Inside the jail: /dev/kvm and /dev/net/tun for uid:gid, and "/" owned by them. */
int chroot_add_devices(uid_t uid, gid_t gid, struct err *err);

/* Whether an ELF executable names a program interpreter (is dynamically linked). */
bool chroot_needs_interpreter(const char *path);

#endif
