// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>

#include "vmm/lifecycle.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const state_names[] = {
	[VM_STATE_NOT_STARTED] = "Not started", [VM_STATE_RUNNING] = "Running",
	[VM_STATE_PAUSED] = "Paused",		[VM_STATE_HALTED] = "Halted",
	[VM_STATE_RECEIVING] = "Receiving",	[VM_STATE_MIGRATING] = "Migrating",
	[VM_STATE_MIGRATED] = "Migrated",
};

static const char *const action_names[] = {
	[VM_ACTION_CONFIGURE] = "configure the VM",
	[VM_ACTION_START] = "start the VM",
	[VM_ACTION_LOAD] = "load a snapshot",
	[VM_ACTION_LOAD_PAUSED] = "load a snapshot",
	[VM_ACTION_PAUSE] = "pause the VM",
	[VM_ACTION_RESUME] = "resume the VM",
	[VM_ACTION_SNAPSHOT] = "create a snapshot",
	[VM_ACTION_CTRL_ALT_DEL] = "send Ctrl+Alt+Del",
	[VM_ACTION_UPDATE_DRIVE] = "update a drive",
	[VM_ACTION_HALT] = "halt the VM",
	[VM_ACTION_FLUSH_METRICS] = "flush the metrics",
	[VM_ACTION_UPDATE_NET] = "update a network interface",
	[VM_ACTION_CONSOLE_REOPEN] = "reopen the console log",
	[VM_ACTION_MIGRATE_SEND] = "migrate the VM",
	[VM_ACTION_MIGRATE_RECEIVE] = "receive a migrating VM",
	[VM_ACTION_MIGRATE_ARRIVED] = "run the migrated VM",
	[VM_ACTION_MIGRATE_RUNNING] = "abandon the migration",
	[VM_ACTION_MIGRATE_PAUSED] = "abandon the migration",
	[VM_ACTION_MIGRATE_DONE] = "complete the migration",
};

/* The whole state machine: which state each action needs, and what follows. */
static const struct {
	unsigned int from; /* bit per enum vm_state */
	enum vm_state to;
	bool stays;	   /* the state does not change: to is unused */
	const char *needs; /* for the message */
} transitions[] = {
#define S(x) (1u << VM_STATE_##x)
	[VM_ACTION_CONFIGURE] = { S(NOT_STARTED), .stays = true, .needs = "before it is started" },
	[VM_ACTION_START] = { S(NOT_STARTED), VM_STATE_RUNNING,
			      .needs = "once, before it is started" },
	[VM_ACTION_LOAD] = { S(NOT_STARTED), VM_STATE_RUNNING, .needs = "before it is started" },
	[VM_ACTION_LOAD_PAUSED] = { S(NOT_STARTED), VM_STATE_PAUSED,
				    .needs = "before it is started" },
	[VM_ACTION_PAUSE] = { S(RUNNING) | S(PAUSED), VM_STATE_PAUSED, .needs = "while it runs" },
	[VM_ACTION_RESUME] = { S(RUNNING) | S(PAUSED), VM_STATE_RUNNING,
			       .needs = "while it is paused" },
	[VM_ACTION_SNAPSHOT] = { S(PAUSED), .stays = true, .needs = "while it is paused" },
	[VM_ACTION_CTRL_ALT_DEL] = { S(RUNNING), .stays = true, .needs = "while it runs" },
	[VM_ACTION_UPDATE_DRIVE] = { S(RUNNING) | S(PAUSED), .stays = true,
				     .needs = "once it is started" },
	[VM_ACTION_UPDATE_NET] = { S(RUNNING) | S(PAUSED), .stays = true,
				   .needs = "once it is started" },
	/* Once halted nothing more is written: kubelet's rotation needs no new file. */
	[VM_ACTION_CONSOLE_REOPEN] = { S(RUNNING) | S(PAUSED), .stays = true,
				       .needs = "once it is started" },
	/* A migrated VM stays Migrated when its vCPU threads end. */
	[VM_ACTION_HALT] = { S(RUNNING) | S(PAUSED) | S(MIGRATING), VM_STATE_HALTED,
			     .needs = "while it exists" },
	/* Halted too: with --keep-halted the counters still say how the VM ended. */
	[VM_ACTION_FLUSH_METRICS] = { S(RUNNING) | S(PAUSED) | S(HALTED) | S(MIGRATING) |
					      S(MIGRATED),
				      .stays = true, .needs = "once it is started" },
	[VM_ACTION_MIGRATE_SEND] = { S(RUNNING) | S(PAUSED), VM_STATE_MIGRATING,
				     .needs = "while it runs or is paused" },
	[VM_ACTION_MIGRATE_RECEIVE] = { S(NOT_STARTED), VM_STATE_RECEIVING,
					.needs = "before it is started" },
	[VM_ACTION_MIGRATE_ARRIVED] = { S(RECEIVING), VM_STATE_RUNNING,
					.needs = "while receiving" },
	[VM_ACTION_MIGRATE_RUNNING] = { S(MIGRATING), VM_STATE_RUNNING,
					.needs = "while migrating" },
	[VM_ACTION_MIGRATE_PAUSED] = { S(MIGRATING), VM_STATE_PAUSED, .needs = "while migrating" },
	[VM_ACTION_MIGRATE_DONE] = { S(MIGRATING), VM_STATE_MIGRATED, .needs = "while migrating" },
#undef S
};

const char *vm_state_name(enum vm_state s)
{
	return (unsigned int)s < ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

const char *vm_action_name(enum vm_action a)
{
	return (unsigned int)a < ARRAY_SIZE(action_names) ? action_names[a] : "?";
}

bool vm_action_allowed(enum vm_state s, enum vm_action a, char *msg, size_t cap)
{
	if ((unsigned int)a < ARRAY_SIZE(transitions) && (transitions[a].from & (1u << s)))
		return true;
	if (msg && cap)
		snprintf(msg, cap, "cannot %s: the VM is %s (only possible %s)", vm_action_name(a),
			 vm_state_name(s),
			 (unsigned int)a < ARRAY_SIZE(transitions) ? transitions[a].needs
								   : "never");
	return false;
}

enum vm_state vm_state_after(enum vm_state s, enum vm_action a)
{
	if ((unsigned int)a >= ARRAY_SIZE(transitions) || transitions[a].stays)
		return s;
	return transitions[a].to;
}
