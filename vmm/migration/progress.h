/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A migration's progress, as GET /kvmlet/migration reports it: written by
 * the migration's threads (and the main thread), read by the API thread,
 * all under its own lock. Also the cancel flag the API sets.
 */
#ifndef KVMLET_VMM_MIGRATION_PROGRESS_H
#define KVMLET_VMM_MIGRATION_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/json.h"

enum mig_phase {
	MIG_PHASE_NONE,
	MIG_PHASE_LISTENING,
	MIG_PHASE_RECEIVING,
	MIG_PHASE_PRECOPY,
	MIG_PHASE_STOP_AND_COPY,
	MIG_PHASE_COMPLETING,
	MIG_PHASE_COMPLETED,
	MIG_PHASE_FAILED,
	MIG_PHASE_CANCELLED,
};

enum mig_role { MIG_ROLE_NONE, MIG_ROLE_SOURCE, MIG_ROLE_TARGET };

struct mig_progress {
	pthread_mutex_t lock;
	enum mig_phase phase;
	enum mig_role role;
	uint64_t iteration;
	uint64_t bytes_sent, pages_sent, pages_remaining;
	double dirty_rate_mibps, bandwidth_mibps, expected_downtime_ms;
	unsigned int throttle_percent;
	unsigned int throttle_max_percent; /* the most applied in this migration */
	double downtime_ms, total_ms;
	char error[256];
	bool cancel; /* asked for by the API; the source thread polls it */
	/* Totals over the process's life, for metrics. */
	uint64_t nr_completed, nr_failed, nr_cancelled;
	uint64_t total_bytes, total_iterations;
	double last_downtime_ms;
};

const char *mig_phase_name(enum mig_phase p);
void mig_progress_init(struct mig_progress *p);
/* Whether a migration is under way (not none and not finished). */
bool mig_progress_active(struct mig_progress *p);
/* Starts a new migration's report in phase for role. */
void mig_progress_begin(struct mig_progress *p, enum mig_role role, enum mig_phase phase);
void mig_progress_set_phase(struct mig_progress *p, enum mig_phase phase);
/* Ends it: COMPLETED, FAILED (with why) or CANCELLED; counts it. */
void mig_progress_end(struct mig_progress *p, enum mig_phase phase, const char *why);
/* Asks the migration to stop; false (and the phase in msg) when none is under way. */
bool mig_progress_request_cancel(struct mig_progress *p, char *msg, size_t cap);
bool mig_progress_cancelled(struct mig_progress *p);
/* The body of GET /kvmlet/migration. */
cJSON *mig_progress_json(struct mig_progress *p);

#endif
