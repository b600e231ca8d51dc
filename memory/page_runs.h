/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs of guest RAM pages: the maximal stretches of pages set in a bitmap
 * (one bit per page of gm->base, as the dirty harvest fills it), each
 * inside one RAM region. A snapshot's memory file and a migration stream
 * write what this walker yields, so they agree on what a run is.
 *
 * Threading: reads guest RAM and the bitmap; the caller decides whether the
 * vCPUs may write meanwhile (a later harvest catches what they do).
 */
#ifndef KVMLET_MEMORY_PAGE_RUNS_H
#define KVMLET_MEMORY_PAGE_RUNS_H

#include <stdbool.h>
#include <stdint.h>

#include "memory/guest_memory.h"

struct gm_run {
	uint64_t gpa;
	uint64_t offset; /* into gm->base, and so into a snapshot's memory file */
	uint8_t *host;
	uint64_t len; /* bytes; whole pages, except where RAM ends mid-page */
	bool zero;    /* every byte is zero (with GM_RUNS_SPLIT_ZERO only) */
};

/*
 * Splits runs where pages turn from zero to non-zero and back, and sets
 * gm_run.zero: a writer skips zero pages (file holes) or sends them as
 * markers. Costs a read of every page in the runs.
 */
#define GM_RUNS_SPLIT_ZERO 1u

/* Returns 0 to go on; anything else stops the walk and is returned by it. */
typedef int (*gm_run_fn)(const struct gm_run *run, void *ctx);

/*
 * Calls fn for each run of pages set in bitmap (NULL: every page), in gpa
 * order. Runs never cross a region edge (the MMIO hole).
 */
int gm_for_each_run(const struct guest_memory *gm, const uint64_t *bitmap, unsigned int flags,
		    gm_run_fn fn, void *ctx);

#endif
