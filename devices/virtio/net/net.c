// SPDX-License-Identifier: Apache-2.0
/* Placeholder until the virtio-net device lands: refuses to be created. */
#include <errno.h>
#include <stddef.h>

#include "devices/virtio/net/net.h"

struct virtio_net *virtio_net_create(const struct net_params *p, const struct guest_memory *mem,
				     struct err *err)
{
	err_set(err, -ENOSYS, "virtio-net is not available in this build");
	return NULL;
}

void virtio_net_destroy(struct virtio_net *net)
{
}

struct virtio_dev *virtio_net_dev(struct virtio_net *net)
{
	return NULL;
}
