/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The debug-exit port (PLAT_DEBUG_EXIT_PORT): a guest writes a status byte
 * and the VMM stops and exits with it. Tests and benchmarks end this way.
 */
#ifndef KVMLET_DEVICES_DEBUG_EXIT_H
#define KVMLET_DEVICES_DEBUG_EXIT_H

#include "devices/machine.h"
#include "devices/bus.h"

/* opaque is a struct machine_exit. */
#define DEBUG_EXIT_NR_PORTS 4
extern const struct bus_ops debug_exit_bus_ops;

#endif
