/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When pre-copy stops, and how hard auto-converge throttles the vCPUs:
 * pure functions over what the last iteration measured, so that they can
 * be tested without a VM (tests/unit/test_migration.c).
 */
#ifndef KVMLET_VMM_MIGRATION_POLICY_H
#define KVMLET_VMM_MIGRATION_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* QEMU's defaults (research notes, part C): 20% first, 10% more each step, 99% at most. */
#define MIG_THROTTLE_INITIAL	 20
#define MIG_THROTTLE_INCREMENT	 10
#define MIG_THROTTLE_MAX	 99
/*
 * Throttle when the guest dirtied more than this share of what the link
 * carried in the same time (QEMU's throttle-trigger-threshold, 50). The
 * measured dirty rate cannot exceed the link rate by much once the whole
 * working set is dirtied every pass, so comparing the two rates directly
 * would never trigger.
 */
#define MIG_THROTTLE_TRIGGER_PCT 50

/* What one pre-copy iteration measured. */
struct mig_measure {
	uint64_t remaining_bytes; /* dirty after the iteration */
	double bandwidth_bps;	  /* bytes per second the link carried */
	double dirty_bps;	  /* bytes per second the guest dirtied */
};

enum mig_decision {
	MIG_ITERATE,	   /* another pre-copy pass */
	MIG_STOP_AND_COPY, /* the rest fits the downtime budget */
};

/* The downtime the rest would take at the measured bandwidth, in ms. */
double mig_expected_downtime_ms(const struct mig_measure *m);
/* Stop when the rest fits bandwidth x downtime_ms. */
enum mig_decision mig_decide(const struct mig_measure *m, uint64_t downtime_ms);
/*
 * The throttle for the next iteration: unchanged unless auto_converge is on
 * and the guest dirtied more than half as fast as the link carried; then
 * 20%, then +10% a step, up to 99%.
 */
unsigned int mig_next_throttle(unsigned int current, bool auto_converge,
			       const struct mig_measure *m);

#endif
