/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An i8042 keyboard controller with a keyboard behind it and no mouse: the
 * status, command and data ports, the command byte, the keyboard commands
 * Linux's atkbd probes with, and the reset line (controller command 0xfe).
 * The host can press Ctrl+Alt+Del (Firecracker's SendCtrlAltDel), which
 * Linux turns into an orderly reboot.
 */
#ifndef KVMLET_DEVICES_I8042_H
#define KVMLET_DEVICES_I8042_H

#include "devices/bus.h"
#include "devices/device.h"
#include "devices/machine.h"
#include "lib/err.h"
#include "lib/state.h"

/* Covers ports PLAT_I8042_DATA_PORT..PLAT_I8042_CMD_PORT; opaque is a struct i8042. */
#define I8042_NR_PORTS 5

struct i8042;

/* exit stops the VM on a reset; kbd_irq is ISA IRQ 1. */
struct i8042 *i8042_create(struct machine_exit *exit, struct irq_line kbd_irq);
void i8042_destroy(struct i8042 *k);

extern const struct bus_ops i8042_bus_ops;

/*
 * Presses and releases Ctrl+Alt+Del; any thread. -EBUSY when the guest has
 * disabled the keyboard (no driver would see it), -ENOSPC when the guest
 * has not read earlier keys yet.
 */
int i8042_send_ctrl_alt_del(struct i8042 *k);

/* Command byte, pending command, keyboard state and unread bytes. */
void i8042_save(struct i8042 *k, struct state_writer *w);
int i8042_restore(struct i8042 *k, struct state_reader *r, struct err *err);

/* The controller as a device of the machine; destroying that destroys it. */
struct device *i8042_device(struct i8042 *k);
/* The controller behind dev, or NULL if dev is not an i8042. */
struct i8042 *i8042_from_device(struct device *dev);

#endif
