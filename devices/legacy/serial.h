/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 16550A UART, as Linux's 8250 driver expects it: FIFOs, divisor latch,
 * loopback, and the interrupt identification priorities of the datasheet.
 * Transmitted bytes go to out_fd at once; received bytes come from the host
 * through serial_receive().
 */
#ifndef KVMLET_DEVICES_SERIAL_H
#define KVMLET_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "devices/machine.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "lib/err.h"
#include "lib/state.h"

#define SERIAL_NR_PORTS 8

struct serial;

/*
 * out_fd: where output goes (-1 discards). rx_ready_fd: an eventfd written
 * when the receive FIFO has room again after being full (-1 if unused).
 */
struct serial *serial_create(int out_fd, int rx_ready_fd, struct irq_line irq);
void serial_destroy(struct serial *s);

extern const struct bus_ops serial_bus_ops;

/*
 * fn runs once, under the device lock, the first time the guest enables the
 * THRE interrupt or loopback: from then on it relies on seeing the effect of
 * each THR write at once (the VMM stops batching them).
 */
void serial_set_tx_hook(struct serial *s, void (*fn)(void *ctx), void *ctx);

/* Registers, FIFOs and interrupt state, for snapshots and migration. */
void serial_save(struct serial *s, struct state_writer *w);
int serial_restore(struct serial *s, struct state_reader *r, struct err *err);

/* Bytes the guest sent and received, for metrics. */
void serial_stats(struct serial *s, uint64_t *tx_bytes, uint64_t *rx_bytes);
/* Output bytes out_fd did not take (a non-blocking pipe that was full); they are gone. */
uint64_t serial_tx_lost(struct serial *s);

/* Queues input for the guest; returns how many bytes fit (0 when the FIFO is full). */
/* The port as a device of the machine; destroying that destroys the port. */
struct device *serial_device(struct serial *s);
/* The port behind dev, or NULL if dev is not a serial port. */
struct serial *serial_from_device(struct device *dev);

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len);

#endif
