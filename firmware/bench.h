/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks, run after the tests: kvmlet.bench=<mode>[,<mode>...] for
 * kvmlet.bench_seconds=N (default 2) each. One line per mode:
 *
 *   bench <mode>: ops=<n> bytes=<n> seconds=<s.ms> iops=<n> mibps=<x.y> lat_p50_us=<x> lat_p99_us=<x>
 *   bench <mode>: FAIL (<reason>)
 *
 * Time is the TSC, calibrated against the LAPIC timer (clock.c).
 */
#ifndef FW_BENCH_H
#define FW_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Log-linear latency histogram: 16 sub-buckets per power of two of nanoseconds. */
#define LAT_SUB	    16
#define LAT_BUCKETS (64 * LAT_SUB)

struct bench_result {
	uint64_t ops, bytes;
	uint64_t ns; /* measured interval */
	bool has_lat;
	uint64_t lat_count;
	uint32_t lat[LAT_BUCKETS];
};

struct bench_mode;
typedef bool (*bench_fn)(const struct bench_mode *m, uint64_t seconds, struct bench_result *r,
			 char *why, size_t len);

struct bench_mode {
	const char *name;
	bench_fn run;
	uint32_t io_size; /* blk */
	unsigned int qd;  /* blk */
	bool write;	  /* blk */
	bool random;	  /* blk */
	bool tx;	  /* net */
};

void bench_lat_add(struct bench_result *r, uint64_t ns);

/* Runs the comma-separated modes; returns how many failed. */
unsigned int bench_run_list(const char *list, size_t len);

bool bench_blk(const struct bench_mode *m, uint64_t seconds, struct bench_result *r, char *why,
	       size_t len);
bool bench_net(const struct bench_mode *m, uint64_t seconds, struct bench_result *r, char *why,
	       size_t len);

#endif
