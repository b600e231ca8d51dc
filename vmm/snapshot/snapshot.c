// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "devices/virtio/virtio.h"
#include "lib/state.h"
#include "vmm/config_file.h"
#include "vmm/snapshot/file.h"
#include "vmm/snapshot/mem_file.h"
#include "vmm/snapshot/sections.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

#define SNAPSHOT_CONFIG_VERSION 1
#define SNAPSHOT_MEMORY_VERSION 1
#define SNAPSHOT_DEVICE_VERSION 1
#define SNAPSHOT_MAX_CONFIG	(1 << 20) /* as CONFIG_FILE_MAX_BYTES */
#define SNAPSHOT_MAX_NAME	64

int snapshot_track_dirty(struct vm *vm, struct err *err)
{
	return mem_dirty_log_set(&vm->mem, vm->fd, true, err);
}

static int snapshot_put_config(struct state_writer *w, const struct vm_config *cfg, struct err *err)
{
	cJSON *json = config_to_json(cfg);
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;

	cJSON_Delete(json);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	state_section_begin(w, SNAPSHOT_SECTION_CONFIG, SNAPSHOT_CONFIG_VERSION);
	state_put_str(w, text);
	state_section_end(w);
	free(text);
	return 0;
}

static void snapshot_put_memory(struct state_writer *w, const struct guest_memory *gm)
{
	state_section_begin(w, SNAPSHOT_SECTION_MEMORY, SNAPSHOT_MEMORY_VERSION);
	state_put_u64(w, gm->size);
	state_put_u32(w, gm->nr_regions);
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		state_put_u64(w, gm->region[i].gpa);
		state_put_u64(w, gm->region[i].size);
	}
	state_section_end(w);
}

static void snapshot_put_devices(struct state_writer *w, struct vm *vm)
{
	state_section_begin(w, SNAPSHOT_SECTION_SERIAL, SNAPSHOT_DEVICE_VERSION);
	serial_save(vm->serial, w);
	state_section_end(w);
	state_section_begin(w, SNAPSHOT_SECTION_I8042, SNAPSHOT_DEVICE_VERSION);
	i8042_save(vm->i8042, w);
	state_section_end(w);
	for (unsigned int i = 0; i < vm->nr_virtio; i++) {
		state_section_begin(w, SNAPSHOT_SECTION_VIRTIO, SNAPSHOT_DEVICE_VERSION);
		state_put_u32(w, i);
		state_put_str(w, vm->virtio[i]->name);
		virtio_dev_save(vm->virtio[i], w);
		state_section_end(w);
	}
}

int snapshot_create(struct vm *vm, const struct vm_config *cfg,
		    const struct snapshot_create_params *p, struct err *err)
{
	struct state_writer w;
	int r;

	state_writer_init(&w);
	r = snapshot_put_config(&w, cfg, err);
	if (!r) {
		snapshot_put_memory(&w, &vm->mem);
		r = vm_state_save(vm->fd, &w, err);
	}
	for (unsigned int i = 0; !r && i < vm->nr_vcpus; i++)
		r = vcpu_state_save(&vm->vcpus[i], &w, err);
	/* Devices last: saving quiesces them, which completes requests into guest memory. */
	if (!r)
		snapshot_put_devices(&w, vm);
	if (!r && state_writer_status(&w))
		r = err_set(err, -ENOMEM, "out of memory");
	/* Memory first: the state file appears (atomically) only once its memory is written. */
	if (!r)
		r = mem_file_write(&vm->mem, vm->fd, p->mem_file_path, p->diff, err);
	if (!r)
		r = snapshot_file_write(p->snapshot_path, w.data, w.len, err);
	state_writer_fini(&w);
	return r;
}

/* ---- load -------------------------------------------------------------- */

static int snapshot_read_config(struct state_reader *body, uint32_t version, struct vm_config *cfg,
				struct err *err)
{
	char *json;
	uint32_t n;
	int r;

	if (version != SNAPSHOT_CONFIG_VERSION)
		return err_set(err, -EINVAL, "configuration section version %u is not supported",
			       version);
	n = state_get_u32(body);
	if (body->bad || n > SNAPSHOT_MAX_CONFIG || n != state_remaining(body))
		return err_set(err, -EINVAL, "configuration section is malformed");
	json = malloc((size_t)n + 1);
	if (!json)
		return err_set(err, -ENOMEM, "out of memory");
	state_get(body, json, n);
	json[n] = '\0';
	r = config_from_json(cfg, json, n, err);
	free(json);
	return err_prefix(err, r, "configuration section: ");
}

static int snapshot_check_memory(struct state_reader *body, uint32_t version,
				 const struct guest_memory *gm, struct err *err)
{
	uint64_t size = state_get_u64(body);
	uint32_t n = state_get_u32(body);

	if (version != SNAPSHOT_MEMORY_VERSION || n != gm->nr_regions || size != gm->size)
		return err_set(err, -EINVAL,
			       "memory section does not match the configuration (%llu bytes in %u "
			       "regions, expected %llu in %u)",
			       (unsigned long long)size, n, (unsigned long long)gm->size,
			       gm->nr_regions);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t gpa = state_get_u64(body), len = state_get_u64(body);

		if (gpa != gm->region[i].gpa || len != gm->region[i].size)
			return err_set(err, -EINVAL, "memory region %u does not match the board",
				       i);
	}
	if (!state_done(body))
		return err_set(err, -EINVAL, "memory section is malformed");
	return 0;
}

static int snapshot_read_virtio(struct vm *vm, struct state_reader *body, bool *seen,
				struct err *err)
{
	char name[SNAPSHOT_MAX_NAME];
	uint32_t slot = state_get_u32(body);
	int r;

	state_get_str(body, name, sizeof(name));
	if (body->bad || slot >= vm->nr_virtio)
		return err_set(err, -EINVAL, "device section for slot %u: no such device", slot);
	if (seen[slot])
		return err_set(err, -EINVAL, "two device sections for slot %u", slot);
	if (strcmp(name, vm->virtio[slot]->name))
		return err_set(err, -EINVAL, "slot %u holds '%s', the snapshot has '%s'", slot,
			       vm->virtio[slot]->name, name);
	seen[slot] = true;
	r = virtio_dev_restore(vm->virtio[slot], body, err);
	if (!r && !state_done(body))
		r = err_set(err, -EINVAL, "%s: trailing bytes in its state", name);
	return r;
}

static int snapshot_read_vcpu(struct vm *vm, struct state_reader *body, uint32_t version,
			      unsigned int *next, struct err *err)
{
	struct vcpu_state s;
	int r;

	if (*next >= vm->nr_vcpus)
		return err_set(err, -EINVAL, "more vCPU sections than the %u vCPUs configured",
			       vm->nr_vcpus);
	r = vcpu_state_parse(body, version, &s, err);
	if (!r)
		r = vcpu_state_apply(&vm->vcpus[*next], &s, err);
	vcpu_state_free(&s);
	(*next)++;
	return r;
}

static int snapshot_read_vm(struct vm *vm, struct state_reader *body, uint32_t version,
			    struct err *err)
{
	struct vm_state s;
	int r = vm_state_parse(body, version, &s, err);

	return r ? r : vm_state_apply(vm->fd, &s, err);
}

/* Everything after the configuration, which built vm; each piece exactly once. */
static int snapshot_restore_state(struct vm *vm, struct state_reader *r, struct err *err)
{
	bool seen_virtio[PLAT_VIRTIO_MAX_DEVICES] = { false };
	bool memory = false, machine = false, serial = false, i8042 = false;
	unsigned int vcpus = 0;
	struct state_reader body;
	uint32_t id, version;
	int n, ret = 0;

	while (!ret && (n = state_next_section(r, &id, &version, &body)) == 1) {
		switch (id) {
		case SNAPSHOT_SECTION_MEMORY:
			ret = memory ? -EINVAL
				     : snapshot_check_memory(&body, version, &vm->mem, err);
			memory = true;
			break;
		case SNAPSHOT_SECTION_VM:
			/* Applied before the vCPUs' LAPICs, whose interrupts route through it. */
			ret = machine ? -EINVAL : snapshot_read_vm(vm, &body, version, err);
			machine = true;
			break;
		case SNAPSHOT_SECTION_VCPU:
			ret = snapshot_read_vcpu(vm, &body, version, &vcpus, err);
			break;
		case SNAPSHOT_SECTION_SERIAL:
			ret = serial ? -EINVAL : serial_restore(vm->serial, &body, err);
			serial = true;
			break;
		case SNAPSHOT_SECTION_I8042:
			ret = i8042 ? -EINVAL : i8042_restore(vm->i8042, &body, err);
			i8042 = true;
			break;
		case SNAPSHOT_SECTION_VIRTIO:
			ret = snapshot_read_virtio(vm, &body, seen_virtio, err);
			break;
		default:
			ret = err_set(err, -EINVAL, "unknown section type");
		}
		if (ret) {
			err_prefix(err, ret, "section %u: ", id);
			ret = err_set(err, ret, "section %u is repeated or malformed", id);
		}
	}
	if (ret)
		return ret;
	if (n < 0)
		return err_set(err, -EINVAL, "a section runs past the end of the state");
	if (!memory || !machine || !serial || !i8042 || vcpus != vm->nr_vcpus)
		return err_set(err, -EINVAL, "the state is incomplete (%u of %u vCPUs%s%s%s%s)",
			       vcpus, vm->nr_vcpus, memory ? "" : ", no memory layout",
			       machine ? "" : ", no VM state", serial ? "" : ", no serial port",
			       i8042 ? "" : ", no i8042");
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		if (!seen_virtio[i])
			return err_set(err, -EINVAL, "no state for %s", vm->virtio[i]->name);
	return 0;
}

/* Settings of this process, not of the VM: the snapshot's configuration never has them. */
static void snapshot_keep_process_settings(struct vm_config *to, const struct vm_config *from)
{
	to->serial = from->serial;
	to->serial_path = from->serial_path;
	to->mem_backend = from->mem_backend;
	to->api_sock = from->api_sock;
	to->keep_halted = from->keep_halted;
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
	struct state_reader r, body;
	uint32_t id = 0, version = 0;
	int ret;

	config_init(&fresh);
	snapshot_keep_process_settings(&fresh, cfg);
	vm->fd = -1;
	ret = snapshot_file_read(p->snapshot_path, &blob, err);
	if (ret)
		goto out;
	state_reader_init(&r, blob.body, blob.body_len);
	if (state_next_section(&r, &id, &version, &body) != 1 || id != SNAPSHOT_SECTION_CONFIG) {
		ret = err_set(err, -EINVAL, "the state does not start with a configuration");
		goto out;
	}
	ret = snapshot_read_config(&body, version, &fresh, err);
	if (!ret)
		ret = vm_create(vm, &fresh, &opts, err);
	if (!ret)
		ret = snapshot_restore_state(vm, &r, err);
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
