/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Split virtqueues (virtio 1.2, 2.7), as seen from the device. The guest
 * writes every byte these functions read, so every index, address, length
 * and flag is checked before use; a malformed chain is reported, never
 * followed.
 */
#ifndef KVMLET_DEVICES_VIRTIO_QUEUE_H
#define KVMLET_DEVICES_VIRTIO_QUEUE_H

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "memory/guest_memory.h"

#define VQ_MAX_SIZE  256	 /* QueueNumMax of every kvmlet device */
#define VQ_MAX_CHAIN VQ_MAX_SIZE /* buffers in one chain, indirect or not */

/* One guest buffer of a chain, already translated to a host address. */
struct vq_buf {
	uint8_t *addr;
	uint32_t len;
};

/* A descriptor chain: device-readable buffers first, then device-writable. */
struct vq_chain {
	uint16_t head;
	uint16_t nr_out; /* readable */
	uint16_t nr_in;	 /* writable, at buf[nr_out ...] */
	uint64_t out_len;
	uint64_t in_len;
	struct vq_buf buf[VQ_MAX_CHAIN];
};

struct virtqueue {
	/* Set by the driver through the transport before the queue is ready. */
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool ready;

	/* Derived when the queue is enabled. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	bool event_idx;	     /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;	     /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint16_t last_avail; /* next avail entry the device will take */
	uint16_t used_idx;   /* the device's copy of used->idx */
	uint16_t signalled;  /* used_idx when the guest was last interrupted */
	const struct guest_memory *mem;
};

enum vq_error {
	VQ_OK = 0,
	VQ_ERR_RING,	  /* ring addresses or size unusable */
	VQ_ERR_AVAIL_IDX, /* the driver claims more new buffers than the ring holds */
	VQ_ERR_HEAD,	  /* head index out of range */
	VQ_ERR_NEXT,	  /* next index out of range */
	VQ_ERR_LOOP,	  /* more descriptors than the chain may have: a loop */
	VQ_ERR_ADDR,	  /* buffer not inside guest RAM */
	VQ_ERR_INDIRECT,  /* bad indirect table, or one inside another */
	VQ_ERR_ORDER,	  /* a readable buffer after a writable one */
	VQ_ERR_LEN,	  /* total length overflows */
};

const char *vq_strerror(enum vq_error e);

/* Validates the ring addresses and readies the queue; VQ_ERR_RING if unusable. */
enum vq_error vq_enable(struct virtqueue *vq, const struct guest_memory *mem, bool event_idx,
			bool indirect);
void vq_reset(struct virtqueue *vq);

/*
 * Takes the next available chain. Returns 1 and fills `c`, 0 when the ring
 * is empty, or -vq_error when the chain is malformed (the queue is then
 * unusable until the device is reset).
 */
int vq_pop(struct virtqueue *vq, struct vq_chain *c);
/* Gives the chain back for a later vq_pop(), e.g. when the backend is full. */
void vq_unpop(struct virtqueue *vq);
/* Returns a chain to the driver with `written` bytes in its writable part. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* Whether the driver wants an interrupt for what was pushed since the last one. */
bool vq_should_notify(struct virtqueue *vq);
/*
 * Asks for (or stops asking for) a kick when new buffers arrive. Buffers
 * already available are not announced again: after enabling, check
 * vq_has_avail() and serve what is there rather than wait.
 */
void vq_set_notification(struct virtqueue *vq, bool enable);
/* Whether buffers are waiting, without taking one. */
bool vq_has_avail(const struct virtqueue *vq);

/*
 * Describes bytes [off, off + len) of the buffers b[0..n), taken as one
 * byte string, as at most n iovecs pointing into guest memory; returns how
 * many. Lets devices hand guest buffers to readv/writev without copying.
 */
unsigned int vq_bufs_iov(const struct vq_buf *b, unsigned int n, uint64_t off, uint64_t len,
			 struct iovec *iov);

/* Copies between a chain's buffers and flat memory; they return bytes copied. */
size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len);
size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len);
/*
 * Marks the chain's writable buffers dirty again, once the device has
 * written them and before vq_push(): vq_pop() marked them when it took
 * them, but a migration's harvest on another thread may have taken that
 * mark and copied a page before the write landed.
 */
void vq_chain_mark_written(const struct virtqueue *vq, const struct vq_chain *c);

#endif
