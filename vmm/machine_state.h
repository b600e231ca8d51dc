/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state body of a whole machine, as a sequence of sections (lib/state.h,
 * docs/snapshot.md): configuration, memory layout, VM, vCPUs, then each
 * device of the registry in order. Snapshots frame it in a file; live
 * migration will send it over its stream. This module knows no device:
 * it walks vm->devices and lets each save and restore its own section.
 *
 * Threads: the main thread, with every vCPU paused (saving) or not yet
 * started (restoring).
 */
#ifndef KVMLET_VMM_MACHINE_STATE_H
#define KVMLET_VMM_MACHINE_STATE_H

#include "lib/err.h"
#include "lib/state.h"
#include "vmm/config.h"
#include "vmm/vm.h"

/*
 * Appends the whole body. Devices are saved last: saving quiesces them,
 * which completes their requests into guest memory.
 */
int machine_state_save(struct vm *vm, const struct vm_config *cfg, struct state_writer *w,
		       struct err *err);

/*
 * Reads the body's first section, which must be the configuration, into
 * cfg (config_init()ed by the caller): the VM is built from it before the
 * rest can be restored.
 */
int machine_state_read_config(struct state_reader *r, struct vm_config *cfg, struct err *err);

/*
 * Restores everything after the configuration into vm, built from it. Each
 * piece must be there exactly once; an unknown, repeated or missing
 * section is refused, each with its own message.
 */
int machine_state_restore(struct vm *vm, struct state_reader *r, struct err *err);

#endif
