/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The part of the i8042 keyboard controller a VM needs: the status and data
 * ports Linux probes, and the pulse-reset command (0xfe) that reboots.
 */
#ifndef KVMLET_DEVICES_I8042_H
#define KVMLET_DEVICES_I8042_H

#include "devices/machine.h"
#include "devices/bus.h"

/* Covers ports PLAT_I8042_DATA_PORT..PLAT_I8042_CMD_PORT; opaque is a struct machine_exit. */
#define I8042_NR_PORTS 5
extern const struct bus_ops i8042_bus_ops;

#endif
