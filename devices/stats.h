/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How devices keep counters for metrics; each device's struct of them is in
 * its own header. The device's thread (the event loop) is the only writer; the API thread reads them at any time, so every
 * field is updated with relaxed atomic stores (stats_add) and read with
 * relaxed atomic loads: a reader may see one counter a little ahead of
 * another, never a torn value.
 */
#ifndef KVMLET_DEVICES_STATS_H
#define KVMLET_DEVICES_STATS_H

#include <stdint.h>

#define stats_add(field, n) __atomic_fetch_add(&(field), (uint64_t)(n), __ATOMIC_RELAXED)
#define stats_get(field)    __atomic_load_n(&(field), __ATOMIC_RELAXED)

#endif
