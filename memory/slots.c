// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "memory/slots.h"

#define MEM_SLOT_ALIGN 4096u

unsigned int mem_slots_kvm_limit(int fd)
{
	int n = fd >= 0 ? ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS) : -1;

	/* Address-space bits live above the id: never hand those out. */
	if (n <= 0)
		return MEM_SLOTS_DEFAULT_LIMIT;
	return n > 0x8000 ? 0x8000u : (unsigned int)n;
}

void mem_slots_init(struct mem_slots *s, unsigned int limit)
{
	memset(s, 0, sizeof(*s));
	s->limit = limit ? limit : MEM_SLOTS_DEFAULT_LIMIT;
}

void mem_slots_fini(struct mem_slots *s)
{
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

static bool overlaps(const struct mem_slot *a, const struct mem_slot *b)
{
	return a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size;
}

static int slot_index(const struct mem_slots *s, uint32_t id)
{
	for (unsigned int i = 0; i < s->nr; i++)
		if (s->slot[i].id == id)
			return (int)i;
	return -1;
}

static int check_desc(const struct mem_slots *s, const struct mem_slot *d)
{
	const struct mem_slot *sl;

	if (!d->size || d->size % MEM_SLOT_ALIGN || d->gpa % MEM_SLOT_ALIGN ||
	    d->gpa + d->size < d->gpa || (uintptr_t)d->host % MEM_SLOT_ALIGN)
		return -EINVAL;
	mem_slots_for_each(s, sl)
		if (overlaps(sl, d))
			return -EEXIST;
	return 0;
}

static int grow(struct mem_slots *s)
{
	unsigned int cap = s->cap ? s->cap * 2 : 4;
	struct mem_slot *p;

	if (s->nr < s->cap)
		return 0;
	p = realloc(s->slot, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	s->slot = p;
	s->cap = cap;
	return 0;
}

int mem_slots_alloc(struct mem_slots *s, const struct mem_slot *desc)
{
	unsigned int i = 0;
	uint32_t id = 0;
	int r = check_desc(s, desc);

	if (r)
		return r;
	/* The table is sorted by id: the first gap is the lowest free id. */
	while (i < s->nr && s->slot[i].id == id) {
		i++;
		id++;
	}
	if (id >= (s->limit ? s->limit : MEM_SLOTS_DEFAULT_LIMIT))
		return -ENOSPC;
	r = grow(s);
	if (r)
		return r;
	memmove(&s->slot[i + 1], &s->slot[i], (s->nr - i) * sizeof(s->slot[0]));
	s->slot[i] = *desc;
	s->slot[i].id = id;
	s->nr++;
	return (int)id;
}

int mem_slots_free(struct mem_slots *s, uint32_t id)
{
	int i = slot_index(s, id);

	if (i < 0)
		return -ENOENT;
	memmove(&s->slot[i], &s->slot[i + 1], (s->nr - (unsigned int)i - 1) * sizeof(s->slot[0]));
	s->nr--;
	return 0;
}

const struct mem_slot *mem_slots_get(const struct mem_slots *s, uint32_t id)
{
	int i = slot_index(s, id);

	return i < 0 ? NULL : &s->slot[i];
}

const struct mem_slot *mem_slots_find_gpa(const struct mem_slots *s, uint64_t gpa)
{
	const struct mem_slot *sl;

	mem_slots_for_each(s, sl)
		if (gpa >= sl->gpa && gpa - sl->gpa < sl->size)
			return sl;
	return NULL;
}

static int kvm_set(int vm_fd, const struct mem_slot *sl, uint64_t size, uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = sl->id,
		.flags = flags,
		.guest_phys_addr = sl->gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)sl->host,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -errno : 0;
}

int mem_slot_kvm_set(int vm_fd, const struct mem_slot *sl)
{
	return kvm_set(vm_fd, sl, sl->size, sl->flags);
}

int mem_slots_set_flags(struct mem_slots *s, int vm_fd, uint32_t id, uint32_t flags)
{
	int i = slot_index(s, id), r;

	if (i < 0)
		return -ENOENT;
	r = kvm_set(vm_fd, &s->slot[i], s->slot[i].size, flags);
	if (!r)
		s->slot[i].flags = flags;
	return r;
}

int mem_slots_remove(struct mem_slots *s, int vm_fd, uint32_t id)
{
	int i = slot_index(s, id), r;

	if (i < 0)
		return -ENOENT;
	r = kvm_set(vm_fd, &s->slot[i], 0, 0);
	return r ? r : mem_slots_free(s, id);
}
