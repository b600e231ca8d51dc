/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk (virtio 1.2, 5.2) on a raw image file or block device, with
 * its I/O on io_uring.
 */
#ifndef KVMLET_DEVICES_VIRTIO_BLK_H
#define KVMLET_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>

#include "devices/stats.h"
#include "devices/virtio/virtio.h"
#include "lib/err.h"

#define BLK_ID_MAX     31 /* drive ids, as Firecracker's drive_id */
#define BLK_MAX_QUEUES 8

struct blk_params {
	char *id;
	char *path;
	bool readonly;
	char *serial;	     /* GET_ID string; NULL means the id */
	unsigned int queues; /* request queues, 1..BLK_MAX_QUEUES */
};

/* Counters for metrics: written on the event loop, read anywhere (devices/stats.h). */
struct blk_stats {
	uint64_t read_ops, write_ops, flush_ops, discard_ops, write_zeroes_ops, get_id_ops;
	uint64_t read_bytes, write_bytes;
	uint64_t io_errors;	   /* requests answered VIRTIO_BLK_S_IOERR */
	uint64_t invalid_requests; /* malformed or unsupported: IOERR/UNSUPP */
};

struct virtio_blk;

/* Opens the backend; a missing, unwritable or misaligned image is an error. */
struct virtio_blk *virtio_blk_create(const struct blk_params *p, const struct guest_memory *mem,
				     struct err *err);
void virtio_blk_destroy(struct virtio_blk *blk);
struct virtio_dev *virtio_blk_dev(struct virtio_blk *blk);
/* The drive behind a registry entry, or NULL if dev is not a virtio-blk. */
struct virtio_blk *virtio_blk_from_device(struct device *dev);
const char *virtio_blk_id(const struct virtio_blk *blk);
const struct blk_stats *virtio_blk_stats(const struct virtio_blk *blk);

/*
 * Puts the drive on another image (Firecracker's PATCH /drives/{id}), on
 * the event loop's thread: the I/O in flight completes on the old one, the
 * new one is opened with the checks of virtio_blk_create(), and the driver
 * gets a configuration interrupt for the new capacity. On error the old
 * image stays.
 */
int virtio_blk_update_backend(struct virtio_blk *blk, const char *path, struct err *err);

#endif
