/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a device may ask of the machine it sits in. The VMM fills these in;
 * devices never see struct vm, which keeps them testable on their own.
 */
#ifndef KVMLET_DEVICES_MACHINE_H
#define KVMLET_DEVICES_MACHINE_H

#include <stdbool.h>

/* An interrupt line into the in-kernel irqchip. */
struct irq_line {
	void (*set)(void *ctx, unsigned int gsi, bool level);
	void *ctx;
	unsigned int gsi;
};

/* Stops the VM; the VMM exits with `code`. `reason` goes to the log. */
struct machine_exit {
	void (*request)(void *ctx, int code, const char *reason);
	void *ctx;
};

#endif
