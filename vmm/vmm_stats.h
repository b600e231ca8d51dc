/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process-level counters: lifecycle, snapshots and the API. Written by the
 * thread doing the work with stats_add()/__atomic stores, read by the API
 * thread for metrics at any time (devices/stats.h explains the rule).
 */
#ifndef KVMLET_VMM_STATS_H
#define KVMLET_VMM_STATS_H

#include <stdint.h>

#include "devices/stats.h"

struct vmm_stats {
	uint64_t start_ns;	    /* CLOCK_MONOTONIC at exec */
	uint64_t instance_start_ns; /* when the vCPUs first ran (boot or load); 0 before */
	uint64_t pauses, resumes;
	uint64_t pause_ns_last, pause_ns_max; /* request until every vCPU stopped */
	uint64_t snapshots_full, snapshots_diff, snapshot_failures;
	uint64_t snapshot_create_ns_last;
	uint64_t snapshot_load_ns_last; /* request until the guest can run */
	/* Live migrations, either role, by result; the main thread counts them at the end. */
	uint64_t migrations_completed, migrations_failed, migrations_cancelled;
	uint64_t migration_bytes;	     /* stream bytes sent or received */
	uint64_t migration_iterations;	     /* pre-copy passes (source) */
	uint64_t migration_downtime_ns_last; /* source: pause until the target runs it */
	/* Copied from the API server's own counts by vmm_sync_api_stats(). */
	uint64_t api_requests;
	uint64_t api_client_errors; /* 4xx answers */
	uint64_t api_server_errors; /* 5xx answers */
};

#endif
