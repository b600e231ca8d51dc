/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Firecracker's boot-timer: the guest writes a byte to PLAT_BOOT_TIMER_ADDR
 * to mark a milestone, and PLAT_BOOT_TIMER_DONE when boot is complete. The
 * VMM logs the time since it started.
 */
#ifndef KVMLET_DEVICES_BOOT_TIMER_H
#define KVMLET_DEVICES_BOOT_TIMER_H

#include <stdint.h>

#include "devices/bus.h"

struct boot_timer {
	uint64_t start_ns; /* CLOCK_MONOTONIC when the VMM started */
	uint64_t done_ns;  /* when the guest wrote PLAT_BOOT_TIMER_DONE; 0 before */
};

extern const struct bus_ops boot_timer_bus_ops;

#endif
