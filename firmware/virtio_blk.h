/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk driver (virtio 1.2, 5.2): one request queue, polled. A
 * request is a header, data and a status byte; the caller picks how the
 * chain is laid out so that tests can exercise each layout.
 */
#ifndef FW_VIRTIO_BLK_H
#define FW_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_blk.h>
#include "virtio.h"

#define VBLK_SECTOR	 512
#define VBLK_MAX_SEGS	 32 /* data descriptors per request (SPLIT layout) */
#define VBLK_SPLIT_CHUNK 4096
#define VBLK_TIMEOUT_US	 5000000
#define VBLK_STATUS_NONE 0xff /* what status holds until the device writes it */
#define VBLK_ERR_TIMEOUT (-1)
#define VBLK_ERR_FULL	 (-2)
#define VBLK_ERR_TOO_BIG (-3)

/* Everything this driver can use; callers may take away from it. */
#define VBLK_FEATURES                                                              \
	((1ULL << VIRTIO_BLK_F_SIZE_MAX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |        \
	 (1ULL << VIRTIO_BLK_F_RO) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |             \
	 (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |           \
	 (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) | (1ULL << VIRTIO_RING_F_EVENT_IDX) | \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

enum vblk_layout {
	VBLK_FLAT,	    /* header, data in one buffer (or size_max pieces), status */
	VBLK_SPLIT,	    /* data cut into 4 KiB descriptors: a long direct chain */
	VBLK_INDIRECT,	    /* the SPLIT chain, through one indirect table */
	VBLK_INDIRECT_FLAT, /* the FLAT chain, through one indirect table */
};

/* One request; lives in DMA memory (vblk_reqs()) until it completes. */
struct vblk_req {
	struct virtio_blk_outhdr hdr;
	struct virtio_blk_discard_write_zeroes dwz; /* DISCARD / WRITE_ZEROES payload */
	uint8_t status;
	struct vring_desc table[VBLK_MAX_SEGS + 2]; /* for VBLK_INDIRECT */
	uint64_t tsc;				    /* when submitted, for benchmarks */
	uint32_t tag;				    /* the caller's */
};

struct vblk {
	struct virtio_dev dev;
	struct virtq *vq;
	uint64_t capacity; /* in 512-byte sectors */
	bool ro;
	uint32_t size_max; /* 0: no limit */
	uint32_t seg_max;  /* 0: no limit */
	uint32_t max_discard_sectors, discard_align;
	uint32_t max_write_zeroes_sectors;
};

/*
 * Negotiates (@features & VBLK_FEATURES & offered), sets up a queue of up
 * to @queue_size entries and reads the configuration. The device stays
 * live until virtio_reset(&b->dev).
 */
bool vblk_open(struct vblk *b, const struct virtio_dev *d, uint64_t features,
	       unsigned int queue_size, char *why, size_t len);
static inline bool vblk_has(const struct vblk *b, unsigned int bit)
{
	return virtio_has(&b->dev, bit);
}

/* @n zeroed requests in DMA memory; NULL if out of memory. */
struct vblk_req *vblk_reqs(unsigned int n);

/*
 * Adds a request of @type (VIRTIO_BLK_T_*) for @sector with @len bytes at
 * @data (device-writable for IN and GET_ID, readable otherwise; ignored
 * for DISCARD and WRITE_ZEROES, whose range is r->dwz). Does not kick.
 * 0, or VBLK_ERR_FULL / VBLK_ERR_TOO_BIG.
 */
int vblk_add(struct vblk *b, struct vblk_req *r, uint32_t type, uint64_t sector, void *data,
	     uint32_t len, enum vblk_layout layout);
/* A completed request, or NULL. */
static inline struct vblk_req *vblk_poll(struct vblk *b)
{
	return virtq_get(b->vq, NULL);
}
/*
 * Adds, kicks and waits (VBLK_TIMEOUT_US) for one request; returns its
 * status byte, or VBLK_ERR_*.
 */
int vblk_sync(struct vblk *b, struct vblk_req *r, uint32_t type, uint64_t sector, void *data,
	      uint32_t len, enum vblk_layout layout);
/* DISCARD or WRITE_ZEROES of [sector, sector + count), synchronously. */
int vblk_dwz_sync(struct vblk *b, struct vblk_req *r, uint32_t type, uint64_t sector,
		  uint32_t count, uint32_t flags);

#endif
