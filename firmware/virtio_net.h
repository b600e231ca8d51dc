/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net driver (virtio 1.2, 5.1): receive queue 0 and transmit queue
 * 1, polled. Every frame carries the 12-byte struct virtio_net_hdr_v1
 * (VERSION_1 fixes its size). Receive buffers are one descriptor each; with
 * MRG_RXBUF a frame may span several, which are copied together.
 */
#ifndef FW_VIRTIO_NET_H
#define FW_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/virtio_net.h>
#include "virtio.h"

#define VNET_HDR_LEN   sizeof(struct virtio_net_hdr_v1)
#define VNET_MAX_FRAME 1514 /* no GSO is negotiated: one Ethernet frame, no FCS */
#define VNET_TX_BUF    2048
#define VNET_RX_MIN    (VNET_HDR_LEN + VNET_MAX_FRAME) /* a buffer without MRG_RXBUF */

#define VNET_FEATURES                                                    \
	((1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_MRG_RXBUF) | \
	 (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_STATUS) |   \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX))

struct vnet {
	struct virtio_dev dev;
	struct virtq *rxq, *txq;
	uint8_t mac[6];
	bool mrg;     /* MRG_RXBUF: frames may span buffers */
	bool tx_csum; /* CSUM: the device completes checksums we mark */
	bool link_up; /* per the status field, or assumed without STATUS */
	uint32_t rx_buf_size;
	uint8_t *rx_bufs;  /* rxq->size buffers of rx_buf_size */
	uint8_t *frame;	   /* a merged frame */
	uint8_t *lent;	   /* the buffer of the frame last returned, if unmerged */
	uint8_t *tx_bufs;  /* txq->size buffers of VNET_TX_BUF */
	uint16_t *tx_free; /* stack of free transmit buffer indexes */
	unsigned int nr_tx_free;
	uint64_t rx_frames, rx_dropped, tx_frames;
};

/*
 * Negotiates (@features & VNET_FEATURES & offered), sets up both queues
 * with up to @queue_size entries, fills the receive ring with buffers of
 * @rx_buf_size bytes (at least VNET_RX_MIN without MRG_RXBUF) and reads
 * the MAC. Live until virtio_reset(&n->dev).
 */
bool vnet_open(struct vnet *n, const struct virtio_dev *d, uint64_t features,
	       unsigned int queue_size, uint32_t rx_buf_size, char *why, size_t len);

/*
 * The next received frame (Ethernet header first, virtio header stripped),
 * valid until the next call; its length, or 0 if none arrived.
 */
size_t vnet_rx(struct vnet *n, const uint8_t **frame);

/*
 * A transmit buffer for a frame of up to VNET_MAX_FRAME bytes, or NULL if
 * all are in flight (completed ones are reclaimed first).
 */
uint8_t *vnet_tx_buf(struct vnet *n);
/*
 * Queues the frame in @buf (from vnet_tx_buf()). With @csum_start, the
 * device is asked to complete the checksum at csum_start + csum_offset
 * (needs tx_csum). Call vnet_tx_kick() to start sending.
 */
void vnet_tx(struct vnet *n, uint8_t *buf, size_t len, uint16_t csum_start, uint16_t csum_offset);
void vnet_tx_kick(struct vnet *n);
/* Takes back completed transmit buffers; returns how many are free. */
unsigned int vnet_tx_reclaim(struct vnet *n);

#endif
