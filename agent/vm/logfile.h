/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI log file of a VM, as root: kubelet's log_directory (trusted) and
 * the CRI log_path beneath it (relative, hostile). The directory that holds
 * the file is reached with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
 * from log_directory, so neither a ".." nor a symlink planted in a middle
 * component (by anyone who can write under /var/log) leads elsewhere; the
 * file itself must be a regular file with one link, and is made root's,
 * writable by the VM's group (0620). Its directory is handed back as a
 * descriptor, to be bind-mounted into the jail through /proc/self/fd/<n>:
 * the directory checked is the one mounted.
 *
 * Threads: no state; any thread.
 */
#ifndef KVMLET_AGENT_VM_LOGFILE_H
#define KVMLET_AGENT_VM_LOGFILE_H

#include <sys/types.h>

#include "lib/err.h"

/* Checks the shape of a relative CRI log path: -EINVAL with text. */
int vm_log_check(const char *log_directory, const char *relpath, struct err *err);

/*
 * Opens (creating it if needed) log_directory/relpath for gid. With dir_fd,
 * *dir_fd gets an O_PATH descriptor of the file's directory (the caller
 * closes it). -ELOOP/-EXDEV for a link on the way, -EINVAL for a file that
 * is not a regular file with a single link.
 */
int vm_log_prepare(const char *log_directory, const char *relpath, gid_t gid, int *dir_fd,
		   struct err *err);

#endif
