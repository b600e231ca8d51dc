/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk requests (virtio 1.2, 5.2.6): turning a descriptor chain into
 * a checked operation on the disk. blk_request_parse() is a pure function of
 * the chain and the disk's geometry: it reads the guest's bytes once, writes
 * nothing, and everything it returns lies inside the chain's buffers and
 * inside the disk, so the backend can use it without checking again.
 */
#ifndef KVMLET_DEVICES_VIRTIO_BLK_REQUEST_H
#define KVMLET_DEVICES_VIRTIO_BLK_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/queue.h"

#define BLK_SECTOR_SHIFT 9
#define BLK_SECTOR_SIZE	 (1U << BLK_SECTOR_SHIFT)
#define BLK_ID_BYTES	 20 /* VIRTIO_BLK_ID_BYTES */
#define BLK_HDR_BYTES	 16 /* struct virtio_blk_outhdr */
#define BLK_DWZ_BYTES	 16 /* struct virtio_blk_discard_write_zeroes */
/* Discard / write-zeroes segments per request: a small fixed bound keeps requests fixed-size. */
#define BLK_DWZ_MAX_SEG	 16

/* What a request is checked against. */
struct blk_geometry {
	uint64_t sectors; /* capacity in 512-byte sectors */
	bool readonly;
	bool discard;	   /* VIRTIO_BLK_F_DISCARD negotiated */
	bool write_zeroes; /* VIRTIO_BLK_F_WRITE_ZEROES negotiated */
	uint32_t max_discard_sectors, max_discard_seg;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
};

enum blk_op {
	BLK_OP_NONE,	     /* nothing to do: complete with `status` */
	BLK_OP_READ,	     /* disk [offset, offset + len) into iov */
	BLK_OP_WRITE,	     /* iov to disk [offset, offset + len) */
	BLK_OP_FLUSH,	     /* make every completed write durable */
	BLK_OP_GET_ID,	     /* the serial into iov (len <= BLK_ID_BYTES) */
	BLK_OP_DISCARD,	     /* ranges[] may be deallocated */
	BLK_OP_WRITE_ZEROES, /* ranges[] must read back as zeroes */
};

/* A byte range of the disk, for discard and write zeroes. */
struct blk_range {
	uint64_t offset, len;
	bool unmap; /* write zeroes: VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP */
};

struct blk_request {
	enum blk_op op;
	uint8_t status;	     /* VIRTIO_BLK_S_*; OK for every op but NONE */
	uint8_t *status_ptr; /* the last device-writable byte of the chain */
	uint32_t in_len;     /* device-writable bytes, the status byte included */
	uint64_t offset;     /* READ, WRITE: byte offset on the disk */
	uint64_t len;	     /* READ, WRITE, GET_ID: bytes in iov[] */
	unsigned int nr_iov;
	struct iovec iov[VQ_MAX_CHAIN]; /* the data part of the chain's buffers */
	unsigned int nr_ranges;
	struct blk_range ranges[BLK_DWZ_MAX_SEG];
};

enum blk_parse_result {
	BLK_PARSE_OK,	     /* *req says what to do, possibly just complete with an error */
	BLK_PARSE_NO_HDR,    /* fewer than 16 device-readable bytes */
	BLK_PARSE_NO_STATUS, /* no device-writable byte for the status */
};

/*
 * Checks chain `c` against `g`. BLK_PARSE_OK means *req is complete and its
 * status byte can be written; the other results are protocol violations the
 * device cannot even answer (the caller marks the device as needing reset).
 */
enum blk_parse_result blk_request_parse(const struct vq_chain *c, const struct blk_geometry *g,
					struct blk_request *req);
const char *blk_parse_strerror(enum blk_parse_result r);

#endif
