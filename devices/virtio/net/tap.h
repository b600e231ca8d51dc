/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TAP backend of virtio-net: a /dev/net/tun queue in TAP mode that
 * carries virtio-net headers, so offloads pass through unchanged.
 */
#ifndef KVMLET_DEVICES_VIRTIO_NET_TAP_H
#define KVMLET_DEVICES_VIRTIO_NET_TAP_H

#include <stdint.h>

#include "lib/err.h"

/*
 * Attaches to TAP interface `name` in the caller's network namespace,
 * creating it if it does not exist: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
 * 12-byte headers, nonblocking, close-on-exec. *offloads gets the TUN_F_*
 * flags the kernel accepts for packets towards us; none is enabled yet.
 * Returns the fd, or a negative errno with err naming `id` and the TAP.
 */
int tap_open(const char *id, const char *name, unsigned int *offloads, struct err *err);

/* The TUN_F_* offloads the reader takes, from the virtio-net features a driver accepted. */
unsigned int tap_offloads_for(uint64_t features, unsigned int supported);
int tap_set_offloads(int fd, unsigned int offloads);

#endif
