/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock (virtio 1.2, 5.10) in userspace, with Firecracker's hybrid
 * design: guest streams are relayed to Unix sockets on the host.
 *
 * - Host-initiated: a process connects to uds_path and writes
 *   "CONNECT <port>\n"; the device answers "OK <host port>\n" once the guest
 *   accepted, and from then on the Unix stream is the guest connection.
 * - Guest-initiated: a guest connection to CID 2, port P, is relayed to a
 *   listener at "<uds_path>_P".
 * docs/vsock.md describes the wire format.
 */
#ifndef KVMLET_DEVICES_VIRTIO_VSOCK_H
#define KVMLET_DEVICES_VIRTIO_VSOCK_H

#include <stdint.h>

#include "devices/stats.h"
#include "devices/virtio/virtio.h"
#include "lib/err.h"

struct vsock_params {
	uint64_t guest_cid; /* 3 .. 2^32 - 2 */
	char *uds_path;
};

/* Counters for metrics: written on the event loop, read anywhere (devices/stats.h). */
struct vsock_stats {
	uint64_t conns_opened, conns_closed, conns_reset;
	uint64_t tx_bytes; /* guest to host */
	uint64_t rx_bytes; /* host to guest */
	uint64_t invalid_packets;
};

struct virtio_vsock;

/* Binds and listens on uds_path (which must not exist yet). */
struct virtio_vsock *virtio_vsock_create(const struct vsock_params *p,
					 const struct guest_memory *mem, struct err *err);
void virtio_vsock_destroy(struct virtio_vsock *vsock);
struct virtio_dev *virtio_vsock_dev(struct virtio_vsock *vsock);
const struct vsock_stats *virtio_vsock_stats(const struct virtio_vsock *vsock);

#endif
