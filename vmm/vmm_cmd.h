/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Commands: requests the API thread hands to the main thread (vmm_post),
 * which carries them out and replies. A command's arguments are the member
 * of the union its kind names. To add a command: a kind, a member if it
 * takes arguments, a handler in vmm.c's cmd_handlers[], and a route that
 * fills the member.
 *
 * A command belongs to one thread at a time: the one that made it until it
 * is posted, then the main thread, which frees it.
 */
#ifndef KVMLET_VMM_VMM_CMD_H
#define KVMLET_VMM_VMM_CMD_H

#include <stdbool.h>

#include "vmm/migration/source.h"
#include "vmm/migration/target.h"
#include "vmm/snapshot/snapshot.h"

struct http_call;

enum vmm_cmd_kind {
	VMM_CMD_START,
	VMM_CMD_LOAD,
	VMM_CMD_PAUSE,
	VMM_CMD_RESUME,
	VMM_CMD_SNAPSHOT,
	VMM_CMD_CTRL_ALT_DEL,
	VMM_CMD_UPDATE_DRIVE,
	VMM_CMD_CONSOLE_REOPEN,
	VMM_CMD_MIGRATE_SEND,
	VMM_CMD_MIGRATE_RECEIVE,
};

/* VMM_CMD_LOAD: PUT /snapshot/load. p.start_ns is the main thread's to set. */
struct vmm_cmd_load {
	struct snapshot_load_params p;
	bool resume; /* resume_vm: run the vCPUs, else leave the VM Paused */
};

/* VMM_CMD_UPDATE_DRIVE: PATCH /drives/{id} with a new path_on_host. */
struct vmm_cmd_update_drive {
	const char *id;
	const char *path;
};

#define VMM_CMD_MAX_STRINGS 2

struct vmm_cmd {
	enum vmm_cmd_kind kind;
	struct http_call *call;
	struct vmm_cmd *next;
	union {
		struct vmm_cmd_load load;		  /* VMM_CMD_LOAD */
		struct snapshot_create_params snapshot;	  /* VMM_CMD_SNAPSHOT */
		struct vmm_cmd_update_drive update_drive; /* VMM_CMD_UPDATE_DRIVE */
		struct mig_send_params migrate_send;	  /* VMM_CMD_MIGRATE_SEND */
		struct mig_recv_params migrate_receive;	  /* VMM_CMD_MIGRATE_RECEIVE */
	};
	/*
	 * The strings the member points to are copies the command owns
	 * (vmm_cmd_own), so the request's body may go once it is posted.
	 */
	char *strings[VMM_CMD_MAX_STRINGS];
	unsigned int nr_strings;
};

/* A command of kind that replies to call; NULL when out of memory. Any thread. */
struct vmm_cmd *vmm_cmd_new(enum vmm_cmd_kind kind, struct http_call *call);
/*
 * Points *field, a string of c's member, at a copy that c owns; NULL stays
 * NULL. -ENOMEM leaves *field as it was.
 */
int vmm_cmd_own(struct vmm_cmd *c, const char **field);
/* Frees c and every string it owns; the one place a command is freed. */
void vmm_cmd_free(struct vmm_cmd *c);

#endif
