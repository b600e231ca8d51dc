// SPDX-License-Identifier: Apache-2.0
/* uid and CID allocation (ids.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/vm/ids.h"
#include "agent/vm/record.h"
#include "lib/log.h"

int vm_ids_init(struct vm_ids *ids, uint32_t uid_base, uint32_t count, struct err *err)
{
	memset(ids, 0, sizeof(*ids));
	if (!count || uid_base == 0 || (uint64_t)uid_base + count > UINT32_MAX ||
	    (uint64_t)VM_CID_FIRST + count > UINT32_MAX)
		return err_set(err, -EINVAL, "VM uids: base %u and count %u are out of range",
			       uid_base, count);
	ids->uid_base = uid_base;
	ids->count = count;
	ids->uid_used = calloc(count, 1);
	ids->cid_used = calloc(count, 1);
	if (!ids->uid_used || !ids->cid_used) {
		vm_ids_fini(ids);
		return err_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&ids->lock, NULL);
	return 0;
}

void vm_ids_fini(struct vm_ids *ids)
{
	if (ids->uid_used && ids->cid_used)
		pthread_mutex_destroy(&ids->lock);
	free(ids->uid_used);
	free(ids->cid_used);
	ids->uid_used = ids->cid_used = NULL;
}

void vm_ids_mark(struct vm_ids *ids, uint32_t uid, uint32_t cid)
{
	pthread_mutex_lock(&ids->lock);
	if (uid >= ids->uid_base && uid - ids->uid_base < ids->count)
		ids->uid_used[uid - ids->uid_base] = 1;
	if (cid >= VM_CID_FIRST && cid - VM_CID_FIRST < ids->count)
		ids->cid_used[cid - VM_CID_FIRST] = 1;
	pthread_mutex_unlock(&ids->lock);
}

int vm_ids_load(struct vm_ids *ids, const char *state_dir, struct err *err)
{
	DIR *d = opendir(state_dir);
	struct dirent *de;

	if (!d)
		return err_set(err, -errno, "VM state directory '%s': %s", state_dir,
			       strerror(errno));
	while ((de = readdir(d))) {
		char dir[PATH_MAX];
		struct vm_record rec;
		struct err e = { 0 };
		int r;

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(dir, sizeof(dir), "%s/%s", state_dir, de->d_name) >= (int)sizeof(dir))
			continue;
		r = vm_record_read(dir, &rec, &e);
		if (r) {
			if (r != -ENOENT)
				log_warn("VM state '%s': %s (its uid and CID stay free)", dir,
					 e.msg);
			continue;
		}
		vm_ids_mark(ids, rec.uid, rec.cid);
		vm_record_free(&rec);
	}
	closedir(d);
	return 0;
}

static int first_free(const uint8_t *used, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		if (!used[i])
			return (int)i;
	return -1;
}

int vm_ids_alloc(struct vm_ids *ids, uint32_t *uid, uint32_t *cid, struct err *err)
{
	int u, c;

	pthread_mutex_lock(&ids->lock);
	u = first_free(ids->uid_used, ids->count);
	c = first_free(ids->cid_used, ids->count);
	if (u >= 0 && c >= 0) {
		ids->uid_used[u] = 1;
		ids->cid_used[c] = 1;
	}
	pthread_mutex_unlock(&ids->lock);
	if (u < 0 || c < 0)
		return err_set(err, -ENOSPC, "no VM uid or vsock CID left: the node runs %u VMs",
			       ids->count);
	*uid = ids->uid_base + (uint32_t)u;
	*cid = VM_CID_FIRST + (uint32_t)c;
	return 0;
}

void vm_ids_release(struct vm_ids *ids, uint32_t uid, uint32_t cid)
{
	pthread_mutex_lock(&ids->lock);
	if (uid >= ids->uid_base && uid - ids->uid_base < ids->count)
		ids->uid_used[uid - ids->uid_base] = 0;
	if (cid >= VM_CID_FIRST && cid - VM_CID_FIRST < ids->count)
		ids->cid_used[cid - VM_CID_FIRST] = 0;
	pthread_mutex_unlock(&ids->lock);
}
