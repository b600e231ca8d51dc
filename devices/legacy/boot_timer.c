// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "devices/legacy/boot_timer.h"
#include "kvmlet/platform.h"
#include "lib/clock.h"
#include "lib/log.h"

static void boot_timer_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	memset(data, 0, len);
}

static void boot_timer_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct boot_timer *t = opaque;
	uint8_t milestone = *(const uint8_t *)data;
	uint64_t now = clock_mono_ns(), us = (now - t->start_ns) / 1000;
	if (milestone == PLAT_BOOT_TIMER_DONE) {
		if (!t->done_ns)
			__atomic_store_n(&t->done_ns, now, __ATOMIC_RELAXED);
		log_info("guest boot time: %llu us (%llu ms)", (unsigned long long)us,
			 (unsigned long long)(us / 1000));
	} else {
		log_info("boot-timer: milestone %u at %llu us", milestone, (unsigned long long)us);
	}
}

const struct bus_ops boot_timer_bus_ops = {
	.read = boot_timer_read,
	.write = boot_timer_write,
};
