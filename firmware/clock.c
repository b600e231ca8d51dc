// SPDX-License-Identifier: Apache-2.0
/*
 * The LAPIC timer's rate is known under KVM (lapic.h) but reading it is a
 * VM exit; the TSC is read natively in ring 3 but its rate is not known.
 * So the TSC is timed against the LAPIC current-count register once.
 */
#include "clock.h"
#include "cpu.h"
#include "lapic.h"

#define CALIBRATE_TICKS	    (LAPIC_TIMER_HZ / 1000) /* 1 ms */
#define CALIBRATE_TSC_LIMIT (1ULL << 34)	    /* seconds at any TSC rate */
#define FALLBACK_TSC_PER_MS 1000000ULL

static uint64_t tsc_per_ms;
uint64_t clock_boot_tsc;

void clock_init(void)
{
	uint32_t c0, c1;
	uint64_t t0, t1;

	if (tsc_per_ms)
		return;
	lapic_enable();
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_TIMER_DCR, LAPIC_DCR_DIV1);
	lapic_write(LAPIC_TIMER_ICR, 0xffffffff);
	c0 = lapic_read(LAPIC_TIMER_CCR);
	t0 = rdtsc();
	do {
		c1 = lapic_read(LAPIC_TIMER_CCR);
		t1 = rdtsc();
	} while (c0 - c1 < CALIBRATE_TICKS && t1 - t0 < CALIBRATE_TSC_LIMIT);
	lapic_write(LAPIC_TIMER_ICR, 0);

	if (c0 - c1 >= CALIBRATE_TICKS)
		tsc_per_ms = (t1 - t0) * (LAPIC_TIMER_HZ / 1000) / (c0 - c1);
	if (!tsc_per_ms)
		tsc_per_ms = FALLBACK_TSC_PER_MS; /* timer not counting: guess 1 GHz */
}

uint64_t clock_us_since(uint64_t tsc_start)
{
	return (rdtsc() - tsc_start) * 1000 / tsc_per_ms;
}

uint64_t clock_tsc_to_ns(uint64_t ticks)
{
	return ticks / tsc_per_ms * 1000000 + ticks % tsc_per_ms * 1000000 / tsc_per_ms;
}

struct deadline deadline_in_us(uint64_t us)
{
	return (struct deadline){ .end = rdtsc() + us * tsc_per_ms / 1000 };
}

bool deadline_passed(const struct deadline *d)
{
	return (int64_t)(rdtsc() - d->end) >= 0;
}

void clock_delay_us(uint64_t us)
{
	struct deadline d = deadline_in_us(us);

	while (!deadline_passed(&d))
		cpu_relax();
}
