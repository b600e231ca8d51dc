// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config_file.h"
#include "vmm/machine_state.h"
#include "vmm/snapshot/sections.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

#define MACHINE_CONFIG_VERSION 1
#define MACHINE_MEMORY_VERSION 1
#define MACHINE_MAX_CONFIG     (1 << 20) /* as CONFIG_FILE_MAX_BYTES */

/* ---- save -------------------------------------------------------------- */

static int machine_put_config(struct state_writer *w, const struct vm_config *cfg, struct err *err)
{
	cJSON *json = config_to_json(cfg);
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;

	cJSON_Delete(json);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	state_section_begin(w, SNAPSHOT_SECTION_CONFIG, MACHINE_CONFIG_VERSION);
	state_put_str(w, text);
	state_section_end(w);
	free(text);
	return 0;
}

static void machine_put_memory(struct state_writer *w, const struct guest_memory *gm)
{
	const struct mem_region *r;

	state_section_begin(w, SNAPSHOT_SECTION_MEMORY, MACHINE_MEMORY_VERSION);
	state_put_u64(w, gm->size);
	state_put_u32(w, gm->nr_regions);
	gm_for_each_region(gm, r) {
		state_put_u64(w, r->gpa);
		state_put_u64(w, r->size);
	}
	state_section_end(w);
}

/* A device's place among the devices that share its section. */
static uint32_t machine_device_number(const struct registry *reg, unsigned int at)
{
	uint32_t n = 0;

	for (unsigned int i = 0; i < at; i++)
		n += reg->dev[i]->ops->section == reg->dev[at]->ops->section;
	return n;
}

static void machine_put_devices(struct state_writer *w, struct registry *reg)
{
	for (unsigned int i = 0; i < reg->nr; i++) {
		struct device *d = reg->dev[i];

		if (!d->ops->save)
			continue;
		state_section_begin(w, d->ops->section, DEVICE_SECTION_VERSION);
		if (d->ops->numbered)
			state_put_u32(w, machine_device_number(reg, i));
		d->ops->save(d, w);
		state_section_end(w);
	}
}

int machine_state_save(struct vm *vm, const struct vm_config *cfg, struct state_writer *w,
		       struct err *err)
{
	int r = machine_put_config(w, cfg, err);

	if (!r) {
		machine_put_memory(w, &vm->mem);
		r = vm_state_save(vm->fd, w, err);
	}
	for (unsigned int i = 0; !r && i < vm->nr_vcpus; i++)
		r = vcpu_state_save(&vm->vcpus[i], w, err);
	if (!r)
		machine_put_devices(w, &vm->devices);
	if (!r && state_writer_status(w))
		r = err_set(err, -ENOMEM, "out of memory");
	return r;
}

/* ---- restore ----------------------------------------------------------- */

int machine_state_read_config(struct state_reader *r, struct vm_config *cfg, struct err *err)
{
	struct state_reader body;
	uint32_t id = 0, version = 0, n;
	char *json;
	int ret;

	if (state_next_section(r, &id, &version, &body) != 1 || id != SNAPSHOT_SECTION_CONFIG)
		return err_set(err, -EINVAL, "the state does not start with a configuration");
	if (version != MACHINE_CONFIG_VERSION)
		return err_set(err, -EINVAL, "configuration section version %u is not supported",
			       version);
	n = state_get_u32(&body);
	if (body.bad || n > MACHINE_MAX_CONFIG || n != state_remaining(&body))
		return err_set(err, -EINVAL, "configuration section is malformed");
	json = malloc((size_t)n + 1);
	if (!json)
		return err_set(err, -ENOMEM, "out of memory");
	state_get(&body, json, n);
	json[n] = '\0';
	ret = config_from_json(cfg, json, n, err);
	free(json);
	return err_prefix(err, ret, "configuration section: ");
}

/* What a restore has seen so far: each piece exactly once. */
struct machine_seen {
	bool memory, vm;
	unsigned int vcpus;
	bool dev[REGISTRY_MAX_DEVICES];
};

static int machine_check_memory(struct vm *vm, struct state_reader *body, uint32_t version,
				struct machine_seen *seen, struct err *err)
{
	const struct guest_memory *gm = &vm->mem;
	const struct mem_region *r;
	uint64_t size = state_get_u64(body);
	uint32_t n = state_get_u32(body);

	if (seen->memory)
		return err_set(err, -EINVAL, "two memory sections");
	seen->memory = true;
	if (version != MACHINE_MEMORY_VERSION || n != gm->nr_regions || size != gm->size)
		return err_set(err, -EINVAL,
			       "memory section does not match the configuration (%llu bytes in %u "
			       "regions, expected %llu in %u)",
			       (unsigned long long)size, n, (unsigned long long)gm->size,
			       gm->nr_regions);
	gm_for_each_region(gm, r) {
		uint64_t gpa = state_get_u64(body), len = state_get_u64(body);

		if (gpa != r->gpa || len != r->size)
			return err_set(err, -EINVAL, "memory region %u does not match the board",
				       (unsigned int)(r - gm->region));
	}
	if (!state_done(body))
		return err_set(err, -EINVAL, "memory section is malformed");
	return 0;
}

/* Applied before the vCPUs' LAPICs, whose interrupts route through it. */
static int machine_read_vm(struct vm *vm, struct state_reader *body, uint32_t version,
			   struct machine_seen *seen, struct err *err)
{
	struct vm_state s;
	int r;

	if (seen->vm)
		return err_set(err, -EINVAL, "two VM sections");
	seen->vm = true;
	r = vm_state_parse(body, version, &s, err);
	return r ? r : vm_state_apply(vm->fd, &s, err);
}

static int machine_read_vcpu(struct vm *vm, struct state_reader *body, uint32_t version,
			     struct machine_seen *seen, struct err *err)
{
	struct vcpu_state s;
	int r;

	if (seen->vcpus >= vm->nr_vcpus)
		return err_set(err, -EINVAL, "more vCPU sections than the %u vCPUs configured",
			       vm->nr_vcpus);
	r = vcpu_state_parse(body, version, &s, err);
	if (!r)
		r = vcpu_state_apply(&vm->vcpus[seen->vcpus], &s, err);
	vcpu_state_free(&s);
	seen->vcpus++;
	return r;
}

/*
 * The registry entry a device section belongs to: the only device with that
 * section, or for a numbered section the n-th. -1 with err set if none.
 */
static int machine_find_device(const struct registry *reg, uint32_t id, struct state_reader *body,
			       struct err *err)
{
	uint32_t want = 0, n = 0;
	bool numbered = false, known = false;

	for (unsigned int i = 0; i < reg->nr; i++) {
		const struct device *d = reg->dev[i];

		if (d->ops->section != id || !d->ops->save)
			continue;
		if (!known && d->ops->numbered) {
			numbered = true;
			want = state_get_u32(body);
			if (body->bad)
				break;
		}
		known = true;
		if (!numbered || n++ == want)
			return (int)i;
	}
	if (!known)
		return err_set(err, -EINVAL, "unknown section type");
	return err_set(err, -EINVAL, "device section for slot %u: no such device", want);
}

static int machine_read_device(struct vm *vm, struct state_reader *body, uint32_t id,
			       uint32_t version, struct machine_seen *seen, struct err *err)
{
	struct device *d;
	int i = machine_find_device(&vm->devices, id, body, err), r;

	if (i < 0)
		return i;
	d = vm->devices.dev[i];
	if (seen->dev[i])
		return err_set(err, -EINVAL, "two state sections for %s", d->name);
	seen->dev[i] = true;
	if (version != DEVICE_SECTION_VERSION)
		return err_set(err, -EINVAL, "%s: section version %u is not supported", d->name,
			       version);
	r = d->ops->restore ? d->ops->restore(d, body, err) : 0;
	if (!r && !state_done(body))
		r = err_set(err, -EINVAL, "%s: trailing bytes in its state", d->name);
	return r;
}

static int machine_read_section(struct vm *vm, struct state_reader *body, uint32_t id,
				uint32_t version, struct machine_seen *seen, struct err *err)
{
	switch (id) {
	case SNAPSHOT_SECTION_MEMORY:
		return machine_check_memory(vm, body, version, seen, err);
	case SNAPSHOT_SECTION_VM:
		return machine_read_vm(vm, body, version, seen, err);
	case SNAPSHOT_SECTION_VCPU:
		return machine_read_vcpu(vm, body, version, seen, err);
	case SNAPSHOT_SECTION_CONFIG:
		return err_set(err, -EINVAL, "a second configuration section");
	default:
		return machine_read_device(vm, body, id, version, seen, err);
	}
}

static int machine_check_complete(const struct vm *vm, const struct machine_seen *seen,
				  struct err *err)
{
	if (!seen->memory || !seen->vm || seen->vcpus != vm->nr_vcpus)
		return err_set(err, -EINVAL, "the state is incomplete (%u of %u vCPUs%s%s)",
			       seen->vcpus, vm->nr_vcpus, seen->memory ? "" : ", no memory layout",
			       seen->vm ? "" : ", no VM state");
	for (unsigned int i = 0; i < vm->devices.nr; i++)
		if (vm->devices.dev[i]->ops->save && !seen->dev[i])
			return err_set(err, -EINVAL, "the state is incomplete: no state for %s",
				       vm->devices.dev[i]->name);
	return 0;
}

int machine_state_restore(struct vm *vm, struct state_reader *r, struct err *err)
{
	struct machine_seen *seen = calloc(1, sizeof(*seen));
	struct state_reader body;
	uint32_t id, version;
	int n, ret = 0;

	if (!seen)
		return err_set(err, -ENOMEM, "out of memory");
	while (!ret && (n = state_next_section(r, &id, &version, &body)) == 1) {
		ret = machine_read_section(vm, &body, id, version, seen, err);
		if (ret) {
			/* Inner errors say what; this says where. */
			err_prefix(err, ret, "section %u: ", id);
			ret = err_set(err, ret, "section %u is repeated or malformed", id);
		}
	}
	if (!ret && n < 0)
		ret = err_set(err, -EINVAL, "a section runs past the end of the state");
	if (!ret)
		ret = machine_check_complete(vm, seen, err);
	free(seen);
	return ret;
}
