/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's monitor process (kvmlet-shim) as the backend sees it: not its
 * child, identified by pid *and* start time (/proc/<pid>/stat field 22), so
 * that after an agent restart a reused pid is never taken for the shim.
 *
 * Threads: no state; any thread.
 */
#ifndef KVMLET_AGENT_VM_PROC_H
#define KVMLET_AGENT_VM_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

/* Start time in clock ticks since boot; -ESRCH if pid is gone (or a zombie). */
int vm_proc_start_ticks(pid_t pid, uint64_t *ticks);
/* pid runs and is the process that started at ticks. */
bool vm_proc_same(pid_t pid, uint64_t ticks);
/*
 * A pidfd for pid if it is still the process that started at ticks
 * (checked after opening, so the fd cannot name a reused pid); -ESRCH if not.
 */
int vm_proc_open(pid_t pid, uint64_t ticks);
/* Waits up to timeout_ms for the pidfd's process to end: 1 ended, 0 timed out. */
int vm_proc_wait(int pidfd, int timeout_ms);

/*
 * Starts argv[0] detached from the caller: its own session, stdio on
 * /dev/null, no other descriptor, not the caller's child (double fork), so
 * that killing the caller, even with SIGKILL, leaves it running. Its pid
 * and start time come back, and it waits before exec until the caller has
 * recorded them: vm_proc_go(*go_fd, true) lets it run, false (or the
 * caller's death) ends it unrun. So a process runs only if it is on record.
 */
int vm_proc_spawn_detached(char *const *argv, pid_t *pid, uint64_t *ticks, int *go_fd,
			   struct err *err);
/* Closes go_fd, after sending the go byte when go; -EPIPE if the process is gone. */
int vm_proc_go(int go_fd, bool go);

#endif
