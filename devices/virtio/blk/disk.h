/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The image behind a virtio-blk device: a raw regular file or a block
 * device, opened with O_DIRECT when the backend allows 512-byte direct I/O.
 */
#ifndef KVMLET_DEVICES_VIRTIO_BLK_DISK_H
#define KVMLET_DEVICES_VIRTIO_BLK_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct blk_disk {
	int fd;
	uint64_t size; /* bytes, a multiple of 512 */
	bool blkdev;
	bool direct;		/* O_DIRECT: guest buffers must meet mem_align */
	uint32_t mem_align;	/* buffer address alignment for direct I/O; 1 if buffered */
	uint32_t discard_align; /* bytes: the backend's allocation unit */
};

/*
 * Opens `path` for drive `id`. A missing or unopenable image, one that is
 * not writable when !readonly, not a regular file or block device, or not a
 * multiple of 512 bytes long, is an error naming the drive and the path.
 */
int blk_disk_open(struct blk_disk *d, const char *id, const char *path, bool readonly,
		  struct err *err);
void blk_disk_close(struct blk_disk *d);

#endif
