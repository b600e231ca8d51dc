/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-thread seccomp-bpf filters (libseccomp). Each kind of thread gets a
 * list of exactly the system calls it makes, with their arguments pinned
 * where that matters (ioctl request numbers, socket families, mmap flags);
 * anything else kills the process (SIGSYS), as in Firecracker.
 *
 * A thread installs its own filter once its set-up is done, and never
 * installs one before creating threads that need another list: filters
 * are inherited and stack.
 */
#ifndef KVMLET_VMM_SECCOMP_H
#define KVMLET_VMM_SECCOMP_H

#include "lib/err.h"

enum seccomp_role {
	SECCOMP_ROLE_VMM,  /* main thread: event loop, devices, snapshots */
	SECCOMP_ROLE_API,  /* the control API's thread */
	SECCOMP_ROLE_VCPU, /* each KVM_RUN thread */
	SECCOMP_ROLE_MIGRATION, /* a live migration's sending threads */
};

enum seccomp_level {
	SECCOMP_LEVEL_NONE = 0,	    /* no filter: debugging only */
	SECCOMP_LEVEL_BASIC = 1,    /* system call numbers only */
	SECCOMP_LEVEL_ADVANCED = 2, /* numbers and arguments: the default */
};

#define SECCOMP_LEVEL_DEFAULT SECCOMP_LEVEL_ADVANCED

/* Parses "0", "1" or "2"; -EINVAL otherwise. */
int seccomp_parse_level(const char *s, enum seccomp_level *out);

/* Installs role's filter on the calling thread (nothing at LEVEL_NONE). */
int seccomp_install(enum seccomp_role role, enum seccomp_level level, struct err *err);

#endif
