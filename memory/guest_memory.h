/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest RAM: one host mapping, split into a region below the 32-bit MMIO
 * hole and one above 4 GiB. Every guest-physical access from the VMM goes
 * through gm_ptr(), which refuses ranges that are not wholly inside RAM.
 */
#ifndef KVMLET_MEMORY_GUEST_MEMORY_H
#define KVMLET_MEMORY_GUEST_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "memory/slots.h"

#define GM_MAX_REGIONS 2

enum mem_backend {
	MEM_BACKEND_ANON,  /* private anonymous memory */
	MEM_BACKEND_MEMFD, /* shared memfd, so snapshots and migration can hand it over */
};

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
	int slot; /* the KVM slot that maps it (gm_kvm_map), -1 before */
};

struct guest_memory {
	struct mem_region region[GM_MAX_REGIONS];
	unsigned int nr_regions;
	uint8_t *base; /* host mapping of all regions, in order */
	uint64_t size; /* total RAM in bytes */
	int memfd;     /* -1 for anonymous memory */
	/*
	 * Pages the VMM itself wrote (device DMA, used rings) while dirty
	 * tracking is on; KVM's dirty log only sees the guest's own writes.
	 * One bit per 4 KiB page of base[], set atomically; NULL when off.
	 */
	uint64_t *dirty;
	struct mem_slots slots; /* KVM memory slots of this VM, RAM and others */
};

/*
 * Walks the RAM regions in gpa order (which is also their order in base[]):
 *	const struct mem_region *r;
 *	gm_for_each_region(gm, r) ...
 * Snapshot files, migration streams and DMA mappings all start here.
 */
#define gm_for_each_region(gm, r) \
	for ((r) = (gm)->region; (r) < (gm)->region + (gm)->nr_regions; (r)++)

#define GM_PAGE_SIZE 4096

/* Fills region gpa/size for `bytes` of RAM around the MMIO hole; returns the count. */
unsigned int gm_layout(uint64_t bytes, struct mem_region out[GM_MAX_REGIONS]);

int gm_alloc(struct guest_memory *gm, uint64_t bytes, enum mem_backend backend, struct err *err);
void gm_free(struct guest_memory *gm);

/*
 * Gives every RAM region a KVM memory slot from gm->slots (set up with
 * KVM's limit unless the caller initialised the table first) and maps it
 * with KVM_SET_USER_MEMORY_REGION. Call it once per VM, before the vCPUs run.
 */
int gm_kvm_map(struct guest_memory *gm, int vm_fd, struct err *err);

/* Host address of [gpa, gpa + len), or NULL unless it lies inside one region. */
void *gm_ptr(const struct guest_memory *gm, uint64_t gpa, uint64_t len);

/*
 * Maps guest RAM from a snapshot's memory file privately: pages are read on
 * first touch and the guest's writes never reach the file.
 */
int gm_map_file(struct guest_memory *gm, uint64_t bytes, const char *path, struct err *err);

/* VMM-side dirty tracking for diff snapshots and migration. */
int gm_dirty_enable(struct guest_memory *gm);
void gm_dirty_disable(struct guest_memory *gm);
/* Records that [host, host + len) inside guest RAM was written; no-op when off. */
void gm_mark_dirty(const struct guest_memory *gm, const void *host, uint64_t len);

/* Bitmaps over guest RAM: one bit per page of base[], as gm->dirty. */
uint64_t gm_nr_pages(const struct guest_memory *gm);
uint64_t gm_bitmap_words(const struct guest_memory *gm);

/* End of RAM below the MMIO hole. */
uint64_t gm_low_end(const struct guest_memory *gm);

#endif
