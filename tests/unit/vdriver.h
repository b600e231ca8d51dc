/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A virtio driver for unit tests: it negotiates through the MMIO register
 * file, lays split rings out in guest memory, builds descriptor chains
 * (well-formed or not) and reads the used ring, as a guest would.
 */
#ifndef KVMLET_TESTS_VDRIVER_H
#define KVMLET_TESTS_VDRIVER_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/virtio.h"

struct vdriver_queue {
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t next_desc; /* descriptors are handed out round-robin */
	uint16_t last_used;
};

struct vdriver {
	struct guest_memory *gm;
	struct virtio_dev *vdev;
	uint64_t next_gpa; /* bump allocator for rings and buffers */
	struct vdriver_queue q[VIRTIO_MMIO_MAX_QUEUES];
};

/* One buffer of a chain to build. */
struct vdriver_buf {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

/* Binds the driver to a device and guest memory without touching a register. */
void vdriver_bind(struct vdriver *d, struct guest_memory *gm, struct virtio_dev *vdev);

uint32_t vdriver_reg_read(struct vdriver *d, uint64_t off);
void vdriver_reg_write(struct vdriver *d, uint64_t off, uint32_t val);

/*
 * Resets the device, negotiates `features` (VERSION_1 is added), sets up
 * nr_queues queues of qsize entries and sets DRIVER_OK. Returns the device
 * status after the handshake.
 */
uint32_t vdriver_init(struct vdriver *d, struct guest_memory *gm, struct virtio_dev *vdev,
		      uint64_t features, unsigned int nr_queues, uint16_t qsize);

/* Guest memory for buffers, zeroed; returns its guest-physical address. */
uint64_t vdriver_alloc(struct vdriver *d, uint64_t len);
void *vdriver_host(struct vdriver *d, uint64_t gpa, uint64_t len);

/*
 * Lays out rings of `size` entries for queue q in guest memory, programs
 * them through the registers and sets QueueReady (vdriver_init does this
 * for each queue).
 */
void vdriver_setup_queue(struct vdriver *d, unsigned int q, uint16_t size);

/* Builds a direct chain and makes it available; returns its head. */
uint16_t vdriver_add(struct vdriver *d, unsigned int q, const struct vdriver_buf *bufs,
		     unsigned int n);
/*
 * Builds an indirect table of n descriptors in fresh guest memory and a
 * one-descriptor chain pointing at it; makes it available, returns its head.
 */
uint16_t vdriver_add_indirect(struct vdriver *d, unsigned int q, const struct vdriver_buf *bufs,
			      unsigned int n);
/* Writes descriptor idx of queue q as is, for malformed-chain tests. */
void vdriver_set_desc(struct vdriver *d, unsigned int q, uint16_t idx, uint64_t gpa, uint32_t len,
		      uint16_t flags, uint16_t next);
/* Makes an arbitrary head index available, for malformed-chain tests. */
void vdriver_publish(struct vdriver *d, unsigned int q, uint16_t head);
/* What the event loop does on a queue kick. */
void vdriver_kick(struct vdriver *d, unsigned int q);
/* Takes the next used element; false when there is none. */
bool vdriver_used(struct vdriver *d, unsigned int q, uint32_t *id, uint32_t *len);
/* The event-index fields (VIRTIO_RING_F_EVENT_IDX) trailing queue q's rings. */
uint16_t *vdriver_used_event(struct vdriver *d, unsigned int q);  /* driver-written */
uint16_t *vdriver_avail_event(struct vdriver *d, unsigned int q); /* device-written */

#endif
