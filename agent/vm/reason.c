// SPDX-License-Identifier: Apache-2.0
/* The exit status table (reason.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "agent/vm/reason.h"
#include "kvmlet/exit_codes.h"

/* kvmlet-vmm's exit statuses (include/kvmlet/exit_codes.h, docs/platform.md). */
static const struct {
	const char *reason;
	const char *message;
} vmm_statuses[] = {
	[KVMLET_EXIT_OK] = { "Completed", "the guest powered off" },
	[KVMLET_EXIT_VMM_ERROR] = { "Error", "the VMM failed (KVM or host error while running)" },
	[KVMLET_EXIT_BAD_INPUT] = { "Error", "the VMM refused its options, images or host set-up" },
	[KVMLET_EXIT_GUEST_FAIL] = { "Error", "the guest reported a self-test failure" },
	[KVMLET_EXIT_GUEST_CRASH] = { "GuestCrashed",
				      "the guest crashed (triple fault or emulation failure)" },
	[KVMLET_EXIT_MIGRATED] = { "Migrated", "the guest migrated to another kvmlet-vmm" },
	[KVMLET_EXIT_GUEST_RESET] = { "GuestReset",
				      "the guest reset the machine (a reboot, or a panic with panic=N)" },
};

/* After StopContainer asked the guest to shut down, these are how it obeys. */
static bool asked_end(int exit_status)
{
	return exit_status == KVMLET_EXIT_OK || exit_status == KVMLET_EXIT_GUEST_RESET;
}

void vm_reason_explain(const struct vm_exit *e, bool stop_requested, int32_t *code, char *reason,
		       size_t reason_size, char *msg, size_t msg_size)
{
	const char *r = "Error";

	if (!e || e->lost) {
		*code = VM_EXIT_UNKNOWN;
		r = "Unknown";
		snprintf(msg, msg_size,
			 "the VM's monitor (kvmlet-shim) is gone without recording how the VM "
			 "ended (host reboot or killed monitor)");
	} else if (e->signal > 0) {
		*code = 128 + e->signal;
		if (e->oom) {
			r = "OOMKilled";
			snprintf(
				msg, msg_size,
				"the VMM was killed by signal %d after running out of its cgroup's "
				"memory",
				e->signal);
		} else if (e->killed) {
			snprintf(msg, msg_size,
				 "the VMM was killed by signal %d: the guest did not shut down "
				 "within the grace period",
				 e->signal);
		} else {
			snprintf(msg, msg_size, "the VMM was killed by signal %d", e->signal);
		}
	} else if (stop_requested && asked_end(e->exit_status)) {
		/* Ctrl+Alt+Del: the firmware powers off, Linux reboots; both are the stop. */
		*code = 0;
		r = "Completed";
		snprintf(msg, msg_size, "the guest %s after StopContainer asked it to shut down",
			 e->exit_status ? "reset the machine" : "powered off");
	} else if ((size_t)e->exit_status < sizeof(vmm_statuses) / sizeof(vmm_statuses[0])) {
		*code = e->exit_status;
		r = vmm_statuses[e->exit_status].reason;
		snprintf(msg, msg_size, "%s (exit status %d)", vmm_statuses[e->exit_status].message,
			 e->exit_status);
	} else {
		/* The guest's own debug-exit status. */
		*code = e->exit_status;
		snprintf(msg, msg_size, "the guest exited with status %d", e->exit_status);
	}
	snprintf(reason, reason_size, "%s", r);
}
