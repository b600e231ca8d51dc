/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots of a whole VM: the state file (configuration, memory layout,
 * VM, vCPUs, devices; framed by file.c) and the memory file (mem_file.c).
 * docs/snapshot.md describes both. Live migration sends the same sections.
 */
#ifndef KVMLET_VMM_SNAPSHOT_H
#define KVMLET_VMM_SNAPSHOT_H

#include <pthread.h>
#include <stdbool.h>

#include "lib/err.h"
#include "vmm/config.h"
#include "vmm/vm.h"

struct snapshot_create_params {
	const char *snapshot_path;
	const char *mem_file_path;
	bool diff; /* only pages dirtied since the last snapshot, written in place */
};

struct snapshot_load_params {
	const char *snapshot_path;
	const char *mem_file_path;
	bool track_dirty_pages; /* keep tracking, for diff snapshots of the restored VM */
	uint64_t start_ns;
};

/* Turns on dirty page tracking (KVM dirty log and the VMM's own bitmap). */
int snapshot_track_dirty(struct vm *vm, struct err *err);

/*
 * Saves a paused VM: quiesces the devices, writes guest memory, then the
 * state file (last, and atomically, so a state file always has its memory).
 */
int snapshot_create(struct vm *vm, const struct vm_config *cfg,
		    const struct snapshot_create_params *p, struct err *err);

/*
 * Builds vm from a snapshot: reads and checks the state file, replaces
 * *cfg (under cfg_lock) with the snapshot's configuration, keeping the
 * process's own settings (serial, API socket, seccomp), maps the memory
 * file privately (pages load on first touch) and restores every state.
 * The vCPUs are not started. On failure vm is still to be destroyed and
 * *cfg is unchanged.
 */
/*
 * Copies the settings of this process, not of the VM (serial, API socket,
 * seccomp, ...), which a snapshot's or a migration's configuration never has.
 */
void snapshot_keep_process_settings(struct vm_config *to, const struct vm_config *from);

int snapshot_load(struct vm *vm, struct vm_config *cfg, pthread_mutex_t *cfg_lock,
		  const struct snapshot_load_params *p, struct err *err);

#endif
