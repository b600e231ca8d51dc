/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net (virtio 1.2, 5.1) on a TAP device opened with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, with RX and TX on io_uring.
 */
#ifndef KVMLET_DEVICES_VIRTIO_NET_H
#define KVMLET_DEVICES_VIRTIO_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/stats.h"
#include "devices/virtio/virtio.h"
#include "lib/err.h"

#define NET_ID_MAX 31

struct net_params {
	char *id;
	char *tap; /* interface name, < IFNAMSIZ */
	uint8_t mac[6];
	bool has_mac; /* else a locally administered MAC derived from the id */
};

/* Counters for metrics: written on the event loop, read anywhere (devices/stats.h). */
struct net_stats {
	uint64_t tx_packets, tx_bytes, tx_drops;
	uint64_t rx_packets, rx_bytes, rx_drops;
	uint64_t errors; /* malformed chains and backend failures */
};

struct virtio_net;

/*
 * How the device drives the TAP, for tests and logs; what happened to
 * packets is in struct net_stats (virtio_net_stats()).
 */
struct virtio_net_io {
	uint64_t rx_reads; /* reads submitted on the TAP */
	uint64_t tx_full;  /* writes the TAP refused with EAGAIN, retried on POLLOUT */
};

struct virtio_net *virtio_net_create(const struct net_params *p, const struct guest_memory *mem,
				     struct err *err);
void virtio_net_destroy(struct virtio_net *net);
struct virtio_dev *virtio_net_dev(struct virtio_net *net);
const char *virtio_net_id(const struct virtio_net *net);
/*
 * rx_drops: did not fit the guest's buffers, arrived while not live, or
 * malformed from the TAP; tx_drops: chains refused by net_tx_prepare();
 * errors: those chains and the TAP's failures (link down, bad header).
 */
const struct net_stats *virtio_net_stats(const struct virtio_net *net);
void virtio_net_get_io(struct virtio_net *net, struct virtio_net_io *io);

#endif
