/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the virtio core (virtio.c) and the MMIO register file (mmio.c) share;
 * private to the transport, devices use devices/virtio/virtio.h. Callers
 * hold vdev->lock.
 */
#ifndef KVMLET_DEVICES_VIRTIO_TRANSPORT_H
#define KVMLET_DEVICES_VIRTIO_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/virtio.h"

/* DRIVER_OK and not broken: the queues are served. */
bool virtio_live(const struct virtio_dev *vdev);
/* Sets reason (VIRTIO_MMIO_INT_*) in the interrupt status and raises the interrupt. */
void virtio_raise(struct virtio_dev *vdev, uint32_t reason);
/* The driver wrote 0 to the status (or a restore starts over): back to the initial state. */
void virtio_reset(struct virtio_dev *vdev);

#endif
