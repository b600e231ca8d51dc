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

#include <stddef.h>
#include <stdint.h>

#include "agent/vm/record.h"

/* The exit code of a VM whose end nobody saw (shim gone, host rebooted). */
#define VM_EXIT_UNKNOWN 255

/* e NULL: the shim is gone without recording the end. */
void vm_reason_explain(const struct vm_exit *e, int32_t *code, char *reason, size_t reason_size,
		       char *msg, size_t msg_size);

#endif
