/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Completion interrupts. Drivers here poll; each test proves once that a
 * completion also raises the device's line (the VMM's irqfd path): the GSI
 * from virtio_mmio.device= is routed through its I/O APIC to VEC_VIRTIO,
 * whose handler (entry.S) only counts, and ring 3 reads and acknowledges
 * InterruptStatus.
 */
#ifndef FW_VIRTIO_IRQ_H
#define FW_VIRTIO_IRQ_H

#include <stdbool.h>
#include <stddef.h>
#include "virtio.h"

/*
 * Turns interrupts on for @vq, runs @submit (which adds a request and
 * kicks), waits up to a second for the interrupt, then checks and
 * acknowledges InterruptStatus and turns interrupts off again. The
 * completion stays in the used ring for the caller. False, with a reason.
 */
bool virtio_irq_roundtrip(struct virtq *vq, void (*submit)(void *ctx), void *ctx, char *why,
			  size_t len);

#endif
