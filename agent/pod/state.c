// SPDX-License-Identifier: Apache-2.0
/* The sandbox and container state machines (state.h). */
#include <stdio.h>
#include <string.h>

#include "agent/pod/state.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A cell: the next state plus one, so that 0 (an empty cell) means refused. */
#define TO(x) ((x) + 1)

static const char *const sandbox_names[] = {
	[SANDBOX_READY] = "SANDBOX_READY",
	[SANDBOX_NOTREADY] = "SANDBOX_NOTREADY",
	[SANDBOX_REMOVED] = "SANDBOX_REMOVED",
};

static const char *const container_names[] = {
	[CONTAINER_CREATED] = "CONTAINER_CREATED", [CONTAINER_RUNNING] = "CONTAINER_RUNNING",
	[CONTAINER_EXITED] = "CONTAINER_EXITED",   [CONTAINER_UNKNOWN] = "CONTAINER_UNKNOWN",
	[CONTAINER_REMOVED] = "CONTAINER_REMOVED",
};

static const struct {
	const char *what;  /* "stop the sandbox" */
	const char *needs; /* when it is allowed, for the message */
} sandbox_events[] = {
	[SANDBOX_EV_ADD_CONTAINER] = { "create a container in the sandbox", "while it is READY" },
	[SANDBOX_EV_STOP] = { "stop the sandbox", "before it is removed" },
	[SANDBOX_EV_REMOVE] = { "remove the sandbox", "once" },
	[SANDBOX_EV_LOST] = { "lose the sandbox's network", "before it is removed" },
};

static const unsigned char sandbox_next[SANDBOX_NR_STATES][SANDBOX_NR_EVENTS] = {
	[SANDBOX_READY] = {
		[SANDBOX_EV_ADD_CONTAINER] = TO(SANDBOX_READY),
		[SANDBOX_EV_STOP] = TO(SANDBOX_NOTREADY),
		[SANDBOX_EV_REMOVE] = TO(SANDBOX_REMOVED),
		[SANDBOX_EV_LOST] = TO(SANDBOX_NOTREADY),
	},
	[SANDBOX_NOTREADY] = {
		[SANDBOX_EV_STOP] = TO(SANDBOX_NOTREADY),
		[SANDBOX_EV_REMOVE] = TO(SANDBOX_REMOVED),
		[SANDBOX_EV_LOST] = TO(SANDBOX_NOTREADY),
	},
	/* SANDBOX_REMOVED: nothing. */
};

static const struct {
	const char *what;
	const char *needs;
} container_events[] = {
	[CONTAINER_EV_START] = { "start the container", "when it is CONTAINER_CREATED" },
	[CONTAINER_EV_EXITED] = { "record the container's exit",
				  "while it is CONTAINER_RUNNING or CONTAINER_UNKNOWN" },
	[CONTAINER_EV_STOP] = { "stop the container", "before it is removed" },
	[CONTAINER_EV_REMOVE] = { "remove the container", "once" },
	[CONTAINER_EV_EXEC] = { "exec in the container", "while it is CONTAINER_RUNNING" },
	[CONTAINER_EV_REOPEN_LOG] = { "reopen the container's log",
				      "while it is CONTAINER_RUNNING" },
	[CONTAINER_EV_LOST] = { "lose the container's VM", "before it is removed" },
};

static const unsigned char container_next[CONTAINER_NR_STATES][CONTAINER_NR_EVENTS] = {
	[CONTAINER_CREATED] = {
		[CONTAINER_EV_START] = TO(CONTAINER_RUNNING),
		/* Nothing runs yet: containerd too leaves a created container as it is. */
		[CONTAINER_EV_STOP] = TO(CONTAINER_CREATED),
		[CONTAINER_EV_REMOVE] = TO(CONTAINER_REMOVED),
		[CONTAINER_EV_LOST] = TO(CONTAINER_UNKNOWN),
	},
	[CONTAINER_RUNNING] = {
		[CONTAINER_EV_EXITED] = TO(CONTAINER_EXITED),
		[CONTAINER_EV_STOP] = TO(CONTAINER_EXITED),
		[CONTAINER_EV_REMOVE] = TO(CONTAINER_REMOVED), /* force-stopped first */
		[CONTAINER_EV_EXEC] = TO(CONTAINER_RUNNING),
		[CONTAINER_EV_REOPEN_LOG] = TO(CONTAINER_RUNNING),
		[CONTAINER_EV_LOST] = TO(CONTAINER_UNKNOWN),
	},
	[CONTAINER_EXITED] = {
		[CONTAINER_EV_STOP] = TO(CONTAINER_EXITED),
		[CONTAINER_EV_REMOVE] = TO(CONTAINER_REMOVED),
		[CONTAINER_EV_LOST] = TO(CONTAINER_EXITED), /* its exit is already known */
	},
	[CONTAINER_UNKNOWN] = {
		[CONTAINER_EV_EXITED] = TO(CONTAINER_EXITED),
		[CONTAINER_EV_STOP] = TO(CONTAINER_EXITED),
		[CONTAINER_EV_REMOVE] = TO(CONTAINER_REMOVED),
		[CONTAINER_EV_LOST] = TO(CONTAINER_UNKNOWN),
	},
	/* CONTAINER_REMOVED: nothing. */
};

const char *sandbox_state_name(enum sandbox_state s)
{
	return (unsigned int)s < ARRAY_SIZE(sandbox_names) ? sandbox_names[s] : "?";
}

const char *container_state_name(enum container_state s)
{
	return (unsigned int)s < ARRAY_SIZE(container_names) ? container_names[s] : "?";
}

int sandbox_state_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(sandbox_names); i++)
		if (!strcmp(name, sandbox_names[i]))
			return (int)i;
	return -1;
}

int container_state_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(container_names); i++)
		if (!strcmp(name, container_names[i]))
			return (int)i;
	return -1;
}

bool sandbox_transition(enum sandbox_state s, enum sandbox_event ev, enum sandbox_state *next,
			char *msg, size_t cap)
{
	unsigned char to = 0;

	if ((unsigned int)s < SANDBOX_NR_STATES && (unsigned int)ev < SANDBOX_NR_EVENTS)
		to = sandbox_next[s][ev];
	if (to) {
		*next = (enum sandbox_state)(to - 1);
		return true;
	}
	if (msg && cap)
		snprintf(msg, cap, "cannot %s: it is %s (only possible %s)",
			 (unsigned int)ev < SANDBOX_NR_EVENTS ? sandbox_events[ev].what : "?",
			 sandbox_state_name(s),
			 (unsigned int)ev < SANDBOX_NR_EVENTS ? sandbox_events[ev].needs : "never");
	return false;
}

bool container_transition(enum container_state s, enum container_event ev,
			  enum container_state *next, char *msg, size_t cap)
{
	unsigned char to = 0;

	if ((unsigned int)s < CONTAINER_NR_STATES && (unsigned int)ev < CONTAINER_NR_EVENTS)
		to = container_next[s][ev];
	if (to) {
		*next = (enum container_state)(to - 1);
		return true;
	}
	if (msg && cap)
		snprintf(msg, cap, "cannot %s: it is %s (only possible %s)",
			 (unsigned int)ev < CONTAINER_NR_EVENTS ? container_events[ev].what : "?",
			 container_state_name(s),
			 (unsigned int)ev < CONTAINER_NR_EVENTS ? container_events[ev].needs
								: "never");
	return false;
}
