/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-VM uids and vsock CIDs, unique on the node: uid/gid from
 * [uid_base, uid_base + count), CID from [3, 3 + count) (0-2 are reserved
 * by vsock). The used sets are rebuilt from the state directory's vm.json
 * files on open, so an agent restart never hands out one twice.
 *
 * Threads: a mutex guards the sets; any thread.
 */
#ifndef KVMLET_AGENT_VM_IDS_H
#define KVMLET_AGENT_VM_IDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

#define VM_CID_FIRST 3

struct vm_ids {
	pthread_mutex_t lock;
	uint32_t uid_base;
	uint32_t count;
	uint8_t *uid_used; /* count entries */
	uint8_t *cid_used; /* count entries */
};

int vm_ids_init(struct vm_ids *ids, uint32_t uid_base, uint32_t count, struct err *err);
void vm_ids_fini(struct vm_ids *ids);
/* Marks what every <state_dir>/<id>/vm.json holds; unreadable ones are logged and skipped. */
int vm_ids_load(struct vm_ids *ids, const char *state_dir, struct err *err);
/* Marks one pair (out-of-range values are ignored: the config changed). */
void vm_ids_mark(struct vm_ids *ids, uint32_t uid, uint32_t cid);
/* The lowest free uid and CID; -ENOSPC when the node runs count VMs already. */
int vm_ids_alloc(struct vm_ids *ids, uint32_t *uid, uint32_t *cid, struct err *err);
void vm_ids_release(struct vm_ids *ids, uint32_t uid, uint32_t cid);

#endif
