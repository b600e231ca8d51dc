/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-net header (virtio 1.2, 5.1.6) on both paths, as pure
 * functions: checking a transmit chain the guest wrote before any of it
 * reaches the TAP, and fixing up the header the TAP hands us for a received
 * packet before the guest sees it. No I/O here, so the fuzzer can drive it.
 */
#ifndef KVMLET_DEVICES_VIRTIO_NET_HDR_H
#define KVMLET_DEVICES_VIRTIO_NET_HDR_H

#include <linux/if_ether.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/queue.h"

/* VERSION_1 always uses the 12-byte header with num_buffers (virtio 1.2, 5.1.6). */
#define NET_HDR_LEN    sizeof(struct virtio_net_hdr_v1)
/* 64 KiB of payload plus the Ethernet header, the largest GSO frame a driver sends. */
#define NET_MAX_FRAME  (ETH_HLEN + 65536)
/* Header and largest frame: 65562 bytes, the buffer size virtio 1.2, 5.1.6.3.1 asks for. */
#define NET_MAX_PACKET (NET_HDR_LEN + NET_MAX_FRAME)
/* Our copy of the header, then at most one piece of each buffer. */
#define NET_TX_MAX_IOV (VQ_MAX_CHAIN + 1)

enum net_tx_err {
	NET_TX_OK = 0,
	NET_TX_WRITABLE, /* the chain has device-writable buffers */
	NET_TX_SHORT,	 /* shorter than the header plus an Ethernet header */
	NET_TX_LONG,	 /* longer than NET_MAX_PACKET */
	NET_TX_CSUM,	 /* NEEDS_CSUM without VIRTIO_NET_F_CSUM, or offsets past the frame */
	NET_TX_GSO,	 /* GSO type not negotiated or unknown, or gso_size 0 */
	NET_TX_NR_ERRORS
};

const char *net_tx_strerror(enum net_tx_err e);

/* A frame ready for writev() on the TAP. */
struct net_tx_frame {
	struct virtio_net_hdr_v1 hdr; /* validated copy: iov[0] points here */
	uint32_t len;		      /* frame bytes after the header */
	unsigned int niov;
	struct iovec iov[NET_TX_MAX_IOV];
};

/*
 * Checks a transmit chain against the features the driver accepted and
 * builds the vector for the TAP. The header is copied out of guest memory
 * once, checked and written from the copy, so the guest cannot change it
 * between the check and the write; the payload goes to the TAP straight from
 * the guest's buffers. The header may be split over buffers or share one
 * with the frame (virtio 1.2, 2.7.4: no assumptions about framing).
 */
enum net_tx_err net_tx_prepare(const struct vq_chain *c, uint64_t features, struct net_tx_frame *f);

/*
 * Makes a header read from the TAP fit what the driver accepted: flags and
 * GSO types it did not negotiate are never shown to it (virtio 1.2,
 * 5.1.6.4.1), and num_buffers is set to 1. Returns false if the packet
 * carries a GSO type the driver cannot take, which cannot be delivered.
 */
bool net_rx_fixup(struct virtio_net_hdr_v1 *hdr, uint64_t features);

#endif
