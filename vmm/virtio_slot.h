/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugs virtio-mmio devices into the board: an MMIO window and a GSI each,
 * ioeventfds for queue kicks and an irqfd for interrupts, so neither kicks
 * nor interrupts cost a vCPU exit, and the kernel command line entry
 * (virtio_mmio.device=<size>@<addr>:<irq>) that announces the device.
 */
#ifndef KVMLET_VMM_VIRTIO_SLOT_H
#define KVMLET_VMM_VIRTIO_SLOT_H

#include "devices/virtio/virtio.h"
#include "lib/err.h"

struct vm;

int virtio_slot_add(struct vm *vm, struct virtio_dev *vdev, struct err *err);

#endif
