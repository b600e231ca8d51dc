// SPDX-License-Identifier: Apache-2.0
/*
 * The migrate test: a guest that dirties memory at a set rate and measures
 * how long it was away. It runs until kvmlet.migrate_seconds have passed
 * (default 0: forever), so a VMM can pause, snapshot or migrate it under
 * way, and tests and benchmarks read the guest's own view from the console.
 *
 * The loop spins in ring 3 (no VM exits) and each turn is a tick:
 *
 *  - the gap: the time between two consecutive ticks, on the TSC and on
 *    kvmclock. A loop turn takes well under a microsecond, so the largest
 *    gap is how long the vCPU did not run: a pause, host preemption, the
 *    stop-and-copy of a migration. The TSC shows it only if the VMM let
 *    the TSC run on (a pause does; a restore that sets the saved TSC value
 *    does not); kvmclock shows it if the VMM carried the clock forward.
 *  - the dirtying (kvmlet.dirty_mibps=N): N MiB/s of distinct pages, one
 *    word per 4 KiB page, going round an area of kvmlet.dirty_mib MiB. The
 *    rate is paced on the calibrated TSC in slices of at most SLICE_PAGES
 *    per tick, so it is smooth at any time scale above a few microseconds.
 *    Time the vCPU lost is made up for only up to BACKLOG_NS, so a pause is
 *    not followed by a burst. Each page's word is checked before it is
 *    rewritten (zero on the first round, the previous round's pattern
 *    after), so a migration that lost or mixed up a page is caught.
 *
 * Every kvmlet.gap_ms (default 1000), and at once when a byte arrives on
 * COM1, one line reports the period just ended (the maxima reset on
 * print): see README.md. The report's own cost (console exits) falls
 * inside the gap measured across it, as it would for any guest.
 */
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "dma.h"
#include "fmt.h"
#include "io.h"
#include "kvmclock.h"
#include "libc.h"
#include "tests.h"
#include "uart.h"

#define PAGE		  4096
#define SLICE_PAGES	  16
#define BACKLOG_NS	  10000000ULL /* at most 10 ms of lost time made up */
#define NS_PER_S	  1000000000ULL
#define DEFAULT_AREA_MIB  256
#define MAX_AREA_MIB	  65536
#define MAX_RATE_MIBPS	  65536
#define DEFAULT_REPORT_MS 1000
#define MAX_REPORT_MS	  3600000
#define RX_POLL_MS	  50 /* each poll of COM1 is a VM exit */

static inline uint64_t pattern(uint64_t round, uint64_t addr)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ULL ^ round * 0xc2b2ae3d27d4eb4fULL;

	return (x ^ (x >> 31)) | 1; /* never 0, the first round's value */
}

struct dirtier {
	volatile uint64_t *base;
	uint64_t pages, next, round;
	uint64_t pages_per_s;
	uint64_t credit; /* page-nanoseconds owed: a page per NS_PER_S */
	uint64_t done;	 /* pages dirtied in this report period */
	uint64_t total;
	uint64_t bad_addr, bad_value, bad_want;
};

/* The gap counter: the period's maxima (reset on print) and the test's. */
struct gaps {
	bool kvmclock;
	uint64_t prev_tsc, prev_kvmclock;
	uint64_t ticks; /* since the start: a migrated guest continues it */
	uint64_t max_tsc, max_kvmclock_ns;
	uint64_t all_max_tsc, all_max_kvmclock_ns;
	uint64_t kvmclock_back; /* times kvmclock went backwards */
	uint64_t period_start;
};

/* One tick at TSC @now: returns the TSC time since the previous one. */
static uint64_t gaps_tick(struct gaps *g, uint64_t now)
{
	uint64_t d = now - g->prev_tsc;

	g->ticks++;
	if ((int64_t)d < 0)
		d = 0; /* a TSC set back by a restore is no gap */
	g->max_tsc = MAX(g->max_tsc, d);
	if (g->kvmclock) {
		uint64_t k = kvmclock_ns();

		if (k < g->prev_kvmclock)
			g->kvmclock_back++;
		else
			g->max_kvmclock_ns = MAX(g->max_kvmclock_ns, k - g->prev_kvmclock);
		g->prev_kvmclock = k;
	}
	/* What happens after this tick (a report's console time) is in the next gap. */
	g->prev_tsc = now;
	return d;
}

static bool dirty_page(struct dirtier *w)
{
	volatile uint64_t *p = w->base + w->next * (PAGE / sizeof(uint64_t));
	uint64_t addr = (uint64_t)p;
	uint64_t want = w->round ? pattern(w->round, addr) : 0;
	uint64_t v = *p;

	if (v != want) {
		w->bad_addr = addr;
		w->bad_value = v;
		w->bad_want = want;
		return false;
	}
	*p = pattern(w->round + 1, addr);
	if (++w->next == w->pages) {
		w->next = 0;
		w->round++;
	}
	w->done++;
	w->total++;
	return true;
}

/* Pays what @elapsed_tsc earned, SLICE_PAGES at most; false on a bad page. */
static bool dirty_slice(struct dirtier *w, uint64_t elapsed_tsc)
{
	uint64_t ns = clock_tsc_to_ns(elapsed_tsc);
	uint64_t cap = BACKLOG_NS * w->pages_per_s;

	w->credit += MIN(ns, BACKLOG_NS) * w->pages_per_s;
	if (w->credit > cap)
		w->credit = cap;
	for (unsigned int n = 0; n < SLICE_PAGES && w->credit >= NS_PER_S; n++) {
		if (!dirty_page(w))
			return false;
		w->credit -= NS_PER_S;
	}
	return true;
}

/*
 * The area: kvmlet.dirty_mib if given (it must fit), else DEFAULT_AREA_MIB
 * halved until it fits in the RAM left after the image.
 */
static bool dirtier_init(struct dirtier *w, uint64_t rate, char *detail, size_t len)
{
	size_t vlen;
	bool given = cmdline_get(bootinfo.cmdline, "kvmlet.dirty_mib", &vlen) != NULL;
	uint64_t mib = cmdline_get_u64(bootinfo.cmdline, "kvmlet.dirty_mib", DEFAULT_AREA_MIB);

	if (!mib || mib > MAX_AREA_MIB) {
		fmt_snprintf(detail, len, "kvmlet.dirty_mib must be 1..%u", MAX_AREA_MIB);
		return false;
	}
	for (;;) {
		w->base = dma_alloc(mib << 20, PAGE);
		if (w->base || given || mib == 1)
			break;
		mib /= 2;
	}
	if (!w->base) {
		fmt_snprintf(detail, len, "no room for a %lu MiB dirty area", mib);
		return false;
	}
	w->pages = (mib << 20) / PAGE;
	w->pages_per_s = rate * ((1 << 20) / PAGE);
	return true;
}

/* Prints the period ending at TSC @now and starts the next one. */
static void gaps_report(struct gaps *g, struct dirtier *w, uint64_t now)
{
	char kc[48] = "";

	if (g->kvmclock)
		fmt_snprintf(kc, sizeof(kc), " kvmclock_max_us=%lu", g->max_kvmclock_ns / 1000);
	cons_printf("gap max_us=%lu%s total_ticks=%lu pages=%lu period_us=%lu\n",
		    clock_tsc_to_ns(g->max_tsc) / 1000, kc, g->ticks, w->done,
		    clock_tsc_to_ns(now - g->period_start) / 1000);
	/* Out now, not when the next exit happens to flush KVM's PIO ring. */
	uart_wait_idle();
	g->all_max_tsc = MAX(g->all_max_tsc, g->max_tsc);
	g->all_max_kvmclock_ns = MAX(g->all_max_kvmclock_ns, g->max_kvmclock_ns);
	g->max_tsc = g->max_kvmclock_ns = 0;
	g->period_start = now;
	w->done = 0;
}

static bool rx_requested(void)
{
	if (!(inb(uart_port(UART_LSR)) & UART_LSR_DR))
		return false;
	uart_drain_rx();
	return true;
}

static bool fail_page(struct dirtier *w, char *detail, size_t len)
{
	cons_printf("migrate FAIL (page 0x%lx held 0x%016lx, expected 0x%016lx, round %lu)\n",
		    w->bad_addr, w->bad_value, w->bad_want, w->round);
	uart_wait_idle();
	fmt_snprintf(detail, len, "memory lost at 0x%lx in round %lu", w->bad_addr, w->round);
	return false;
}

bool test_migrate(char *detail, size_t len)
{
	uint64_t rate = cmdline_get_u64(bootinfo.cmdline, "kvmlet.dirty_mibps", 0);
	uint64_t report_ms = cmdline_get_u64(bootinfo.cmdline, "kvmlet.gap_ms", DEFAULT_REPORT_MS);
	uint64_t seconds = cmdline_get_u64(bootinfo.cmdline, "kvmlet.migrate_seconds", 0);
	uint64_t mark = dma_mark();
	uint64_t period, rx_period, start, due, rx_due;
	struct dirtier w = { 0 };
	struct gaps g = { 0 };
	bool ok = true;

	if (rate > MAX_RATE_MIBPS || !report_ms || report_ms > MAX_REPORT_MS) {
		fmt_snprintf(detail, len, "kvmlet.dirty_mibps must be 0..%u, kvmlet.gap_ms 1..%u",
			     MAX_RATE_MIBPS, MAX_REPORT_MS);
		return false;
	}
	if (rate && !dirtier_init(&w, rate, detail, len))
		return false;
	clock_init();
	g.kvmclock = kvmclock_init();
	start = rdtsc();
	period = deadline_in_us(report_ms * 1000).end - start;
	rx_period = deadline_in_us(RX_POLL_MS * 1000).end - start;
	cons_printf("migrate: dirtying %lu MiB/s over %lu MiB at 0x%lx, reporting every %lu ms%s\n",
		    rate, w.pages * PAGE >> 20, (uint64_t)w.base, report_ms,
		    g.kvmclock ? ", kvmclock on" : ", no kvmclock");
	uart_wait_idle();

	g.prev_tsc = g.period_start = rdtsc();
	g.prev_kvmclock = kvmclock_ns();
	due = g.prev_tsc + period;
	rx_due = g.prev_tsc + rx_period;
	for (;;) {
		uint64_t now = rdtsc(), d = gaps_tick(&g, now);
		bool asked = false;

		if (rate && !dirty_slice(&w, d)) {
			ok = fail_page(&w, detail, len);
			break;
		}
		if ((int64_t)(now - rx_due) >= 0) {
			rx_due = now + rx_period;
			asked = rx_requested();
		}
		if ((int64_t)(now - due) < 0 && !asked)
			continue;
		gaps_report(&g, &w, now);
		/* On schedule, or start over after a late report (a pause). */
		if (!asked)
			due = now - due > period ? now + period : due + period;
		if (seconds && clock_tsc_to_ns(now - start) >= seconds * NS_PER_S)
			break;
	}
	if (g.kvmclock_back)
		cons_printf("migrate: kvmclock went backwards %lu times\n", g.kvmclock_back);
	if (ok)
		fmt_snprintf(detail, len,
			     "%lu s, %lu pages dirtied at %lu MiB/s in %lu MiB, largest gap %lu us "
			     "(kvmclock %lu us)",
			     seconds, w.total, rate, w.pages * PAGE >> 20,
			     clock_tsc_to_ns(g.all_max_tsc) / 1000, g.all_max_kvmclock_ns / 1000);
	dma_release(mark);
	return ok;
}
