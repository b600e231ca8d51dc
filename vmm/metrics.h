/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMM's figures for people and programs watching it: Prometheus text
 * (served by the API) and Firecracker's metrics file (one JSON object per
 * line, written on FlushMetrics and every 60 s). docs/metrics.md lists
 * every metric and field.
 *
 * Rendering runs on the API thread while the VM runs: it reads counters
 * with stats_get() and only the parts of struct vm that never change once
 * the VM is published (the vCPU array, the device registry). Devices report
 * their own samples through their stats op (devices/device.h), so this
 * module names no device.
 */
#ifndef KVMLET_VMM_METRICS_H
#define KVMLET_VMM_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "vmm/config.h"
#include "vmm/lifecycle.h"
#include "vmm/vcpu.h"
#include "vmm/vmm_stats.h"

struct vm;

/* Firecracker flushes the metrics file this often without being asked. */
#define METRICS_FLUSH_INTERVAL_MS 60000

/*
 * Prometheus text exposition format 0.0.4. vm is NULL before the VM exists.
 * Returns a malloc'd string (not NUL-counted in *len), NULL without memory.
 */
char *metrics_prometheus(const struct vm *vm, const struct vmm_stats *st, enum vm_state state,
			 size_t *len);

/* Device samples a metrics line can compare with the previous one. */
#define METRICS_MAX_DEVICE_VALUES 1024

/* Cumulative counters as of one flush; the file reports what changed since. */
struct metrics_totals {
	uint64_t vcpu_exits[VCPU_NR_EXIT_KINDS]; /* summed over the vCPUs */
	uint64_t vcpu_run_ns;
	/*
	 * Every device's samples in the order the registry walk reports them,
	 * which is fixed once the VM is published.
	 */
	uint64_t dev[METRICS_MAX_DEVICE_VALUES];
	unsigned int nr_dev;
	uint64_t pauses, resumes;
	uint64_t snapshots_full, snapshots_diff, snapshot_failures;
	uint64_t api_requests, api_client_errors, api_server_errors;
	uint64_t missed_flushes;
};

/* Owned by whoever writes the file; zero it before the first flush. */
struct metrics_flush_state {
	struct metrics_totals last; /* as reported by the previous line */
	uint64_t missed_flushes;    /* lines dropped so far (a full pipe) */
};

/*
 * One line of Firecracker's metrics file, '\n' included: most counters are
 * deltas since the previous call with the same fs, which this call advances.
 * Returns a malloc'd string, NULL without memory.
 */
char *metrics_firecracker_json(const struct vm *vm, const struct vmm_stats *st, enum vm_state state,
			       struct metrics_flush_state *fs, size_t *len);

/*
 * The metrics file of PUT /metrics. Not thread-safe: callers serialise
 * open, flush and close (FlushMetrics and the 60 s timer share a lock).
 */
struct metrics_sink {
	int fd; /* -1 when closed */
	struct metrics_flush_state fs;
	/* The rest of a line a pipe took only part of, written before anything new. */
	char *pending;
	size_t pending_len, pending_off;
};

/*
 * Opens an existing regular file or FIFO (never creates one), without
 * blocking even on a FIFO nobody reads.
 */
int metrics_sink_open(struct metrics_sink *s, const char *path, struct err *err);
/*
 * Writes one line. Never blocks: when a pipe is full the line is dropped,
 * counted (logger.missed_metrics_count) and -EAGAIN returned, in err too;
 * its deltas go into the next line. A closed sink does nothing, returns 0.
 */
int metrics_sink_flush(struct metrics_sink *s, const struct vm *vm, const struct vmm_stats *st,
		       enum vm_state state, struct err *err);
void metrics_sink_close(struct metrics_sink *s);

#endif
