// SPDX-License-Identifier: Apache-2.0
/* Placeholder until the virtio-blk device lands: refuses to be created. */
#include <errno.h>
#include <stddef.h>

#include "devices/virtio/blk/blk.h"

struct virtio_blk *virtio_blk_create(const struct blk_params *p, const struct guest_memory *mem,
				     struct err *err)
{
	err_set(err, -ENOSYS, "virtio-blk is not available in this build");
	return NULL;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *blk)
{
	return NULL;
}
