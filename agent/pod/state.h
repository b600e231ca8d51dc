/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI state machines of sandboxes and containers, as tables
 * (state.c): which states each event is allowed in and the state it leads
 * to. An event refused names the state the record is in and the states it
 * would need, as the VMM's lifecycle does (vmm/lifecycle.c).
 *
 * Sandbox:   READY --stop--> NOTREADY --remove--> REMOVED
 * Container: CREATED --start--> RUNNING --exit/stop--> EXITED --remove--> REMOVED
 *            UNKNOWN: the agent lost track of the VM (docs/cri.md).
 *
 * Threads: pure functions over constant tables.
 */
#ifndef KVMLET_AGENT_POD_STATE_H
#define KVMLET_AGENT_POD_STATE_H

#include <stdbool.h>
#include <stddef.h>

/* The values are CRI's PodSandboxState, plus REMOVED. */
enum sandbox_state { SANDBOX_READY = 0, SANDBOX_NOTREADY = 1, SANDBOX_REMOVED, SANDBOX_NR_STATES };

enum sandbox_event {
	SANDBOX_EV_ADD_CONTAINER, /* CreateContainer in this sandbox */
	SANDBOX_EV_STOP,
	SANDBOX_EV_REMOVE,
	SANDBOX_EV_LOST, /* its network namespace is gone (a reboot) */
	SANDBOX_NR_EVENTS
};

/* The values are CRI's ContainerState, plus REMOVED. */
enum container_state {
	CONTAINER_CREATED = 0,
	CONTAINER_RUNNING = 1,
	CONTAINER_EXITED = 2,
	CONTAINER_UNKNOWN = 3,
	CONTAINER_REMOVED,
	CONTAINER_NR_STATES
};

enum container_event {
	CONTAINER_EV_START,
	CONTAINER_EV_EXITED, /* the backend saw the VM end */
	CONTAINER_EV_STOP,
	CONTAINER_EV_REMOVE,
	CONTAINER_EV_EXEC,	 /* ExecSync: stays */
	CONTAINER_EV_REOPEN_LOG, /* stays */
	CONTAINER_EV_LOST,	 /* the backend has no such VM any more */
	CONTAINER_NR_EVENTS
};

/* "SANDBOX_READY", "CONTAINER_RUNNING", ...: CRI's enum names, as crictl shows them. */
const char *sandbox_state_name(enum sandbox_state s);
const char *container_state_name(enum container_state s);
/* From a name as sandbox_state_name() gives it; -1 if none. */
int sandbox_state_parse(const char *name);
int container_state_parse(const char *name);

/*
 * Whether ev is allowed in state s; if so *next is the state after it (s
 * itself when it stays). If not, msg (cap bytes) says why, naming s.
 */
bool sandbox_transition(enum sandbox_state s, enum sandbox_event ev, enum sandbox_state *next,
			char *msg, size_t cap);
bool container_transition(enum container_state s, enum container_event ev,
			  enum container_state *next, char *msg, size_t cap);

#endif
