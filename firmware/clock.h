/* SPDX-License-Identifier: Apache-2.0 */
/* Time for timeouts and delays: the TSC, calibrated against the LAPIC timer. */
#ifndef FW_CLOCK_H
#define FW_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* The TSC when ring 3 started (main.c): "since boot" for guest-get-time. */
extern uint64_t clock_boot_tsc;

/* Calibrates once (about 1 ms); uses, then frees, the LAPIC timer. */
void clock_init(void);
uint64_t clock_us_since(uint64_t tsc_start);
/* A TSC interval in nanoseconds (exact to the calibration; fine up to days). */
uint64_t clock_tsc_to_ns(uint64_t ticks);
void clock_delay_us(uint64_t us);

struct deadline {
	uint64_t end;
};

struct deadline deadline_in_us(uint64_t us);
bool deadline_passed(const struct deadline *d);

#endif
