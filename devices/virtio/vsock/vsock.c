// SPDX-License-Identifier: Apache-2.0
/* Placeholder until the virtio-vsock device lands: refuses to be created. */
#include <errno.h>
#include <stddef.h>

#include "devices/virtio/vsock/vsock.h"

struct virtio_vsock *virtio_vsock_create(const struct vsock_params *p,
					 const struct guest_memory *mem, struct err *err)
{
	err_set(err, -ENOSYS, "virtio-vsock is not available in this build");
	return NULL;
}

void virtio_vsock_destroy(struct virtio_vsock *vsock)
{
}

struct virtio_dev *virtio_vsock_dev(struct virtio_vsock *vsock)
{
	return NULL;
}
