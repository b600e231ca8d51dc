// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/state.h"
#include "memory/dirty.h"
#include "vmm/machine_state.h"
#include "vmm/snapshot/file.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/snapshot/snapshot.h"

int snapshot_track_dirty(struct vm *vm, struct err *err)
{
	return dirty_log_start(&vm->mem, vm->fd, DIRTY_LOG_DEFAULT, err);
}

int snapshot_create(struct vm *vm, const struct vm_config *cfg,
		    const struct snapshot_create_params *p, struct err *err)
{
	struct state_writer w;
	int r;

	state_writer_init(&w);
	r = machine_state_save(vm, cfg, &w, err);
	/* Memory first: the state file appears (atomically) only once its memory is written. */
	if (!r)
		r = mem_file_write(&vm->mem, vm->fd, p->mem_file_path, p->diff, err);
	if (!r)
		r = snapshot_file_write(p->snapshot_path, w.data, w.len, err);
	state_writer_fini(&w);
	return r;
}

/* ---- load -------------------------------------------------------------- */

/* Settings of this process, not of the VM: the snapshot's configuration never has them. */
void snapshot_keep_process_settings(struct vm_config *to, const struct vm_config *from)
{
	to->serial = from->serial;
	to->serial_path = from->serial_path;
	to->mem_backend = from->mem_backend;
	to->api_sock = from->api_sock;
	to->console_sock = from->console_sock;
	to->keep_halted = from->keep_halted;
	to->migrate_from = from->migrate_from;
	to->migrate_token = from->migrate_token;
	to->seccomp_level = from->seccomp_level;
}

int snapshot_load(struct vm *vm, struct vm_config *cfg, pthread_mutex_t *cfg_lock,
		  const struct snapshot_load_params *p, struct err *err)
{
	struct vm_create_opts opts = {
		.start_ns = p->start_ns,
		.mem_file = p->mem_file_path,
		.seccomp_level = cfg->seccomp_level,
	};
	struct snapshot_blob blob = { 0 };
	struct vm_config fresh, old;
	struct state_reader r;
	int ret;

	config_init(&fresh);
	snapshot_keep_process_settings(&fresh, cfg);
	vm->fd = -1;
	ret = snapshot_file_read(p->snapshot_path, &blob, err);
	if (ret)
		goto out;
	state_reader_init(&r, blob.body, blob.body_len);
	ret = machine_state_read_config(&r, &fresh, err);
	if (!ret)
		ret = vm_create(vm, &fresh, &opts, err);
	if (!ret)
		ret = machine_state_restore(vm, &r, err);
	if (!ret && p->track_dirty_pages)
		ret = snapshot_track_dirty(vm, err);
	if (ret)
		goto out;
	fresh.track_dirty_pages = p->track_dirty_pages;
	/* The devices copied what they need; the strings move with the struct. */
	pthread_mutex_lock(cfg_lock);
	old = *cfg;
	*cfg = fresh;
	pthread_mutex_unlock(cfg_lock);
	fresh = old;
out:
	if (ret) {
		/* What went wrong inside the file, and where: its read errors name it already. */
		if (blob.data)
			err_prefix(err, ret, "'%s': ", p->snapshot_path);
		err_set(err, ret, "'%s': malformed", p->snapshot_path);
	}
	config_free(&fresh);
	snapshot_blob_free(&blob);
	return ret;
}
