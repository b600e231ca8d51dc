/* SPDX-License-Identifier: Apache-2.0 */
/* virtio-rng (virtio 1.2, 5.4): entropy from the host's getrandom(). */
#ifndef KVMLET_DEVICES_VIRTIO_RNG_H
#define KVMLET_DEVICES_VIRTIO_RNG_H

#include <stdint.h>

#include "devices/stats.h"
#include "devices/virtio/virtio.h"

/* Counters for metrics: written on the event loop, read anywhere (devices/stats.h). */
struct rng_stats {
	uint64_t requests, bytes;
};

struct virtio_rng;

struct virtio_rng *virtio_rng_create(const struct guest_memory *mem);
void virtio_rng_destroy(struct virtio_rng *rng);
struct virtio_dev *virtio_rng_dev(struct virtio_rng *rng);
const struct rng_stats *virtio_rng_stats(const struct virtio_rng *rng);

#endif
