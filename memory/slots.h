/* SPDX-License-Identifier: Apache-2.0 */
/*
 * KVM memory slots: which slot id maps which guest-physical range, from
 * which host range, with which KVM_MEM_* flags. Guest RAM takes slots, and
 * so will VFIO BARs and other device memory, so no code may assume that
 * slot i is RAM region i: ask the table.
 *
 * The table is bookkeeping; mem_slot_kvm_set() is what tells KVM. Not
 * thread-safe: slots change on the main thread, with the vCPUs paused or
 * not yet running.
 */
#ifndef KVMLET_MEMORY_SLOTS_H
#define KVMLET_MEMORY_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

/* Slot ids every x86 KVM has had (KVM_USER_MEM_SLOTS before Linux 3.x). */
#define MEM_SLOTS_DEFAULT_LIMIT 32u

enum mem_slot_kind {
	MEM_SLOT_RAM,	 /* guest RAM: dirty-logged, saved, migrated */
	MEM_SLOT_DEVICE, /* device memory (VFIO BARs and the like): none of that */
};

struct mem_slot {
	uint32_t id;
	enum mem_slot_kind kind;
	uint32_t flags; /* KVM_MEM_* */
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct mem_slots {
	struct mem_slot *slot; /* slots in use, by rising id */
	unsigned int nr, cap;
	unsigned int limit; /* ids are below it; 0 until mem_slots_init() */
	/* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 is on: a harvest must clear what it took. */
	bool manual_protect;
};

/* The number of slot ids KVM offers on vm_fd (or /dev/kvm), or the default. */
unsigned int mem_slots_kvm_limit(int fd);

void mem_slots_init(struct mem_slots *s, unsigned int limit);
void mem_slots_fini(struct mem_slots *s);

/*
 * Records a slot as desc describes it (desc->id is ignored) under the lowest
 * free id, which it returns; -ENOSPC when every id is taken, -EINVAL for an
 * empty or unaligned range, -EEXIST when it overlaps a slot's guest range.
 */
int mem_slots_alloc(struct mem_slots *s, const struct mem_slot *desc);
/* Forgets slot id, which later allocations may hand out again; -ENOENT if unused. */
int mem_slots_free(struct mem_slots *s, uint32_t id);

const struct mem_slot *mem_slots_get(const struct mem_slots *s, uint32_t id);
/* The slot whose guest range holds gpa, or NULL. */
const struct mem_slot *mem_slots_find_gpa(const struct mem_slots *s, uint64_t gpa);

#define mem_slots_for_each(s, sl) for ((sl) = (s)->slot; (sl) < (s)->slot + (s)->nr; (sl)++)

/* KVM_SET_USER_MEMORY_REGION for the slot as recorded; -errno. */
int mem_slot_kvm_set(int vm_fd, const struct mem_slot *sl);
/* Changes a slot's flags in KVM and in the table; -errno. */
int mem_slots_set_flags(struct mem_slots *s, int vm_fd, uint32_t id, uint32_t flags);
/* Removes the slot from KVM (size 0) and from the table; -errno. */
int mem_slots_remove(struct mem_slots *s, int vm_fd, uint32_t id);

#endif
