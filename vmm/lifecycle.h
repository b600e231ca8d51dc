/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's lifecycle, as one explicit state machine:
 *
 *   Not started --InstanceStart / snapshot load--> Running <--> Paused
 *   Running, Paused --guest power-off, reset, crash, stop--> Halted
 *
 * and for live migration (docs/migration.md):
 *
 *   Not started --migration receive--> Receiving --guest arrived--> Running
 *   Running, Paused --migration send--> Migrating --abandoned--> Running, Paused
 *   Migrating --the target runs the guest--> Migrated (the process exits)
 *
 * A guest reset halts the VM, as in Firecracker: whoever runs the VMM
 * decides whether to start a new one. Every action the API can ask for is
 * checked here first, so a call out of order is refused with a message
 * naming the state it met.
 */
#ifndef KVMLET_VMM_LIFECYCLE_H
#define KVMLET_VMM_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

enum vm_state {
	VM_STATE_NOT_STARTED,
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_HALTED,
	VM_STATE_RECEIVING, /* the target of a migration, before the guest arrives */
	VM_STATE_MIGRATING, /* the source: the guest runs (or stays paused) meanwhile */
	VM_STATE_MIGRATED,  /* the guest runs elsewhere now */
};

enum vm_action {
	VM_ACTION_CONFIGURE,   /* PUT of a pre-boot resource */
	VM_ACTION_START,       /* InstanceStart */
	VM_ACTION_LOAD,	       /* /snapshot/load, resume_vm */
	VM_ACTION_LOAD_PAUSED, /* /snapshot/load, the vCPUs left stopped */
	VM_ACTION_PAUSE,
	VM_ACTION_RESUME,
	VM_ACTION_SNAPSHOT,	   /* /snapshot/create: needs Paused */
	VM_ACTION_CTRL_ALT_DEL,	   /* needs a running guest */
	VM_ACTION_UPDATE_DRIVE,	   /* PATCH /drives: a started VM */
	VM_ACTION_FLUSH_METRICS,   /* FlushMetrics: a started VM, as in Firecracker */
	VM_ACTION_UPDATE_NET,	   /* PATCH /network-interfaces: a started VM */
	VM_ACTION_CONSOLE_REOPEN,  /* PUT /kvmlet/console/reopen: a started VM */
	VM_ACTION_HALT,		   /* the guest or a signal stopped it */
	VM_ACTION_MIGRATE_SEND,	   /* PUT /kvmlet/migration/send */
	VM_ACTION_MIGRATE_RECEIVE, /* PUT /kvmlet/migration/receive, --migrate-from */
	VM_ACTION_MIGRATE_ARRIVED, /* the target's vCPUs run the guest */
	VM_ACTION_MIGRATE_RUNNING, /* abandoned: the source runs the guest again */
	VM_ACTION_MIGRATE_PAUSED,  /* abandoned: the source keeps it paused, as it was */
	VM_ACTION_MIGRATE_DONE,	   /* the target confirmed: the source halts */
};

/* As Firecracker's InstanceInfo.state spells them ("Not started", ...). */
const char *vm_state_name(enum vm_state s);
const char *vm_action_name(enum vm_action a);

/*
 * Whether a may happen in state s. If not, returns false and writes why
 * into msg ("cannot pause: the VM is Not started").
 */
bool vm_action_allowed(enum vm_state s, enum vm_action a, char *msg, size_t cap);
/* The state after a (which must be allowed). */
enum vm_state vm_state_after(enum vm_state s, enum vm_action a);

#endif
