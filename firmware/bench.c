// SPDX-License-Identifier: Apache-2.0
/* The benchmark table, the latency histogram and the result line. */
#include "bench.h"
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "dma.h"
#include "libc.h"

#define KIB		1024
#define MIB		(1024 * 1024)
#define DEFAULT_SECONDS 2
#define MAX_SECONDS	3600

static const struct bench_mode modes[] = {
	{ "blk-randread-4k-qd1", bench_blk, 4 * KIB, 1, false, true, false },
	{ "blk-randread-4k-qd32", bench_blk, 4 * KIB, 32, false, true, false },
	{ "blk-randread-4k-qd128", bench_blk, 4 * KIB, 128, false, true, false },
	{ "blk-randwrite-4k-qd1", bench_blk, 4 * KIB, 1, true, true, false },
	{ "blk-randwrite-4k-qd32", bench_blk, 4 * KIB, 32, true, true, false },
	{ "blk-randwrite-4k-qd128", bench_blk, 4 * KIB, 128, true, true, false },
	/* Sequential 1 MiB requests, eight in flight. */
	{ "blk-seqread-1m", bench_blk, MIB, 8, false, false, false },
	{ "blk-seqwrite-1m", bench_blk, MIB, 8, true, false, false },
	{ "net-tx", bench_net, 0, 0, false, false, true },
	{ "net-rx", bench_net, 0, 0, false, false, false },
};

void bench_lat_add(struct bench_result *r, uint64_t ns)
{
	unsigned int bits = 64 - __builtin_clzll(ns | 1), idx;

	/* Below 2^5 ns every value has its own bucket; above, 16 per power of two. */
	if (bits <= 5)
		idx = (unsigned int)ns;
	else
		idx = (bits - 4) * LAT_SUB + (unsigned int)((ns >> (bits - 5)) & (LAT_SUB - 1));
	if (idx >= LAT_BUCKETS)
		idx = LAT_BUCKETS - 1;
	r->lat[idx]++;
	r->lat_count++;
	r->has_lat = true;
}

/* The lower bound of bucket @idx, in ns (the inverse of bench_lat_add()). */
static uint64_t bucket_ns(unsigned int idx)
{
	unsigned int bits, sub;

	if (idx < 2 * LAT_SUB)
		return idx;
	bits = idx / LAT_SUB + 4;
	sub = idx % LAT_SUB;
	return (1ULL << (bits - 1)) | ((uint64_t)sub << (bits - 5));
}

static uint64_t percentile_us(const struct bench_result *r, unsigned int pct)
{
	uint64_t want = (r->lat_count * pct + 99) / 100, seen = 0;

	if (!r->lat_count)
		return 0;
	for (unsigned int i = 0; i < LAT_BUCKETS; i++) {
		seen += r->lat[i];
		if (seen >= want)
			return (bucket_ns(i) + 500) / 1000;
	}
	return 0;
}

static void print_result(const struct bench_mode *m, const struct bench_result *r)
{
	uint64_t us = r->ns / 1000 ? r->ns / 1000 : 1;
	uint64_t ms = us / 1000;
	uint64_t iops = r->ops * 1000000 / us;
	/* Tenths of MiB/s; bytes * 10^6 stays within 64 bits up to ~18 TB. */
	uint64_t tenths = r->bytes * 1000000 / us * 10 / MIB;

	cons_printf("bench %s: ops=%lu bytes=%lu seconds=%lu.%03lu iops=%lu mibps=%lu.%lu "
		    "lat_p50_us=%lu lat_p99_us=%lu\n",
		    m->name, r->ops, r->bytes, ms / 1000, ms % 1000, iops, tenths / 10, tenths % 10,
		    r->has_lat ? percentile_us(r, 50) : 0, r->has_lat ? percentile_us(r, 99) : 0);
}

static bool run_one(const char *name, size_t nlen, uint64_t seconds)
{
	const struct bench_mode *m = NULL;
	struct bench_result *r;
	char why[160] = "out of memory";
	uint64_t mark;
	bool ok;

	for (unsigned int i = 0; i < ARRAY_SIZE(modes); i++)
		if (strlen(modes[i].name) == nlen && !memcmp(modes[i].name, name, nlen))
			m = &modes[i];
	if (!m) {
		cons_printf("bench %.*s: FAIL (unknown mode)\n", (int)nlen, name);
		return false;
	}
	mark = dma_mark();
	r = dma_alloc(sizeof(*r), 64); /* 4 KiB of histogram: the arena, not the stack */
	ok = r && m->run(m, seconds, r, why, sizeof(why));
	if (ok)
		print_result(m, r);
	else
		cons_printf("bench %s: FAIL (%s)\n", m->name, why);
	dma_release(mark);
	return ok;
}

unsigned int bench_run_list(const char *list, size_t len)
{
	uint64_t seconds =
		cmdline_get_u64(bootinfo.cmdline, "kvmlet.bench_seconds", DEFAULT_SECONDS);
	unsigned int failed = 0;

	if (!seconds || seconds > MAX_SECONDS)
		seconds = DEFAULT_SECONDS;
	clock_init();
	while (len) {
		size_t n = 0;

		while (n < len && list[n] != ',')
			n++;
		if (n)
			failed += !run_one(list, n, seconds);
		list += n;
		len -= n;
		if (len) {
			list++;
			len--;
		}
	}
	return failed;
}
