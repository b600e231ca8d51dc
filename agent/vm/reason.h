/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How a VM ended, in CRI terms: exit code, reason and a message, from what
 * kvmlet-shim recorded (record.h) or from its absence. The table is in
 * docs/cri.md "From the pod to the VM"; the VMM's statuses are those of
 * include/kvmlet/exit_codes.h (the agent may not include it: tests/layering).
 *
 * Threads: no state; any thread.
 */
#ifndef KVMLET_AGENT_VM_REASON_H
#define KVMLET_AGENT_VM_REASON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/vm/record.h"

/* The exit code of a VM whose end nobody saw (shim gone, host rebooted). */
#define VM_EXIT_UNKNOWN 255

/*
 * e NULL: the shim is gone without recording the end. stop_requested: a
 * StopContainer asked the guest to shut down, so a power-off or a reset
 * (how Linux answers Ctrl+Alt+Del) is 0, "Completed"; otherwise a reset
 * is 5, "GuestReset" (a crashed guest rebooting with panic=N has not
 * succeeded).
 */
void vm_reason_explain(const struct vm_exit *e, bool stop_requested, int32_t *code, char *reason,
		       size_t reason_size, char *msg, size_t msg_size);

#endif
