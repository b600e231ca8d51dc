// SPDX-License-Identifier: Apache-2.0
#include <stddef.h>
#include "cpu.h"
#include "dma.h"
#include "fmt.h"
#include "libc.h"
#include "virtio_net.h"

#define RXQ	    0
#define TXQ	    1
#define FRAME_SPACE 4096   /* room for a merged frame, and then some */
#define MERGE_SPIN  100000 /* a frame's later buffers are published with its first */
#define CFG(field)  offsetof(struct virtio_net_config, field)

static void rx_post(struct vnet *n, uint8_t *buf)
{
	struct vq_seg seg = { dma_addr(buf), n->rx_buf_size, true };

	virtq_add(n->rxq, &seg, 1, buf);
}

bool vnet_open(struct vnet *n, const struct virtio_dev *d, uint64_t features,
	       unsigned int queue_size, uint32_t rx_buf_size, char *why, size_t len)
{
	*n = (struct vnet){ .dev = *d };
	if (!virtio_negotiate(&n->dev, features & VNET_FEATURES, why, len) ||
	    !virtio_queue_setup(&n->dev, RXQ, queue_size, why, len) ||
	    !virtio_queue_setup(&n->dev, TXQ, queue_size, why, len))
		return false;
	n->rxq = n->dev.vqs[RXQ];
	n->txq = n->dev.vqs[TXQ];
	n->mrg = virtio_has(&n->dev, VIRTIO_NET_F_MRG_RXBUF);
	n->tx_csum = virtio_has(&n->dev, VIRTIO_NET_F_CSUM);
	n->rx_buf_size = n->mrg ? MAX(rx_buf_size, 256) : MAX(rx_buf_size, VNET_RX_MIN);

	if (virtio_has(&n->dev, VIRTIO_NET_F_MAC)) {
		for (unsigned int i = 0; i < 6; i++)
			n->mac[i] = virtio_config8(&n->dev, CFG(mac) + i);
	} else {
		/* A locally administered address of our own. */
		static const uint8_t fallback[6] = { 0x02, 0x6b, 0x76, 0x6c, 0x74, 0x01 };

		memcpy(n->mac, fallback, 6);
		n->mac[5] += (uint8_t)(n->dev.slot.base >> 9);
	}
	n->link_up = !virtio_has(&n->dev, VIRTIO_NET_F_STATUS) ||
		     (virtio_config16(&n->dev, CFG(status)) & VIRTIO_NET_S_LINK_UP);

	n->rx_bufs = dma_alloc((size_t)n->rxq->size * n->rx_buf_size, 64);
	n->frame = dma_alloc(FRAME_SPACE, 64);
	n->tx_bufs = dma_alloc((size_t)n->txq->size * VNET_TX_BUF, 64);
	n->tx_free = dma_alloc(n->txq->size * sizeof(uint16_t), 8);
	if (!n->rx_bufs || !n->frame || !n->tx_bufs || !n->tx_free) {
		fmt_snprintf(why, len, "out of DMA memory");
		return false;
	}
	for (unsigned int i = 0; i < n->txq->size; i++)
		n->tx_free[n->nr_tx_free++] = i;
	/* 5.1.6.3: receive buffers should be there before DRIVER_OK. */
	for (unsigned int i = 0; i < n->rxq->size; i++)
		rx_post(n, n->rx_bufs + (size_t)i * n->rx_buf_size);
	if (!virtio_driver_ok(&n->dev, why, len))
		return false;
	virtq_kick(n->rxq);
	return true;
}

/* The caller is done with the frame vnet_rx() returned last: its buffer goes back. */
/*
 * Returned receive buffers are published in batches, as Linux's NAPI refill
 * does: a device that ran dry asks to be kicked at the next buffer, and a
 * kick per 1-2 buffers makes it read a packet at a time.
 */
#define RX_REFILL_BATCH 16

static void rx_publish(struct vnet *n, bool force)
{
	if (force || (uint16_t)(n->rxq->avail_idx - n->rxq->kicked_idx) >= RX_REFILL_BATCH)
		virtq_kick(n->rxq);
}

static void recycle(struct vnet *n)
{
	if (!n->lent)
		return;
	rx_post(n, n->lent);
	n->lent = NULL;
}

/* The rest of a merged frame; false (buffers given back) if it cannot be put together. */
static bool merge(struct vnet *n, uint16_t nr_bufs, size_t *frame_len)
{
	size_t len = *frame_len;
	bool fits = true;

	for (uint16_t b = 1; b < nr_bufs; b++) {
		uint8_t *buf = NULL;
		uint32_t got = 0;

		for (unsigned int spin = 0; !buf && spin < MERGE_SPIN; spin++) {
			buf = virtq_get(n->rxq, &got);
			if (!buf)
				cpu_relax();
		}
		if (!buf)
			return false; /* the device broke its promise; drop what we have */
		got = MIN(got, n->rx_buf_size);
		if (len + got > FRAME_SPACE)
			fits = false;
		else
			memcpy(n->frame + len, buf, got);
		len += got;
		rx_post(n, buf);
	}
	*frame_len = len;
	return fits;
}

size_t vnet_rx(struct vnet *n, const uint8_t **frame)
{
	uint8_t *buf;
	uint32_t got;

	recycle(n);
	while ((buf = virtq_get(n->rxq, &got))) {
		const struct virtio_net_hdr_v1 *h = (const void *)buf;
		uint16_t nr_bufs = n->mrg ? h->num_buffers : 1;
		size_t len;

		got = MIN(got, n->rx_buf_size);
		if (got < VNET_HDR_LEN || !nr_bufs) {
			n->rx_dropped++;
			rx_post(n, buf);
			continue;
		}
		len = got - VNET_HDR_LEN;
		if (nr_bufs == 1) {
			n->lent = buf;
			*frame = buf + VNET_HDR_LEN;
			n->rx_frames++;
			rx_publish(n, false); /* what recycle() put back */
			return len;
		}
		memcpy(n->frame, buf + VNET_HDR_LEN, len);
		rx_post(n, buf);
		if (!merge(n, nr_bufs, &len)) {
			n->rx_dropped++;
			continue;
		}
		*frame = n->frame;
		n->rx_frames++;
		rx_publish(n, false);
		return len;
	}
	/* Nothing more to receive: give the device everything we have. */
	rx_publish(n, true);
	return 0;
}

unsigned int vnet_tx_reclaim(struct vnet *n)
{
	uint8_t *buf;

	while ((buf = virtq_get(n->txq, NULL)))
		n->tx_free[n->nr_tx_free++] = (uint16_t)((buf - n->tx_bufs) / VNET_TX_BUF);
	return n->nr_tx_free;
}

uint8_t *vnet_tx_buf(struct vnet *n)
{
	if (!n->nr_tx_free && !vnet_tx_reclaim(n))
		return NULL;
	return n->tx_bufs + (size_t)n->tx_free[--n->nr_tx_free] * VNET_TX_BUF + VNET_HDR_LEN;
}

void vnet_tx(struct vnet *n, uint8_t *buf, size_t len, uint16_t csum_start, uint16_t csum_offset)
{
	struct virtio_net_hdr_v1 *h = (void *)(buf - VNET_HDR_LEN);
	struct vq_seg seg = { dma_addr(h), (uint32_t)(VNET_HDR_LEN + len), false };

	*h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_NONE };
	if (csum_start) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = csum_start;
		h->csum_offset = csum_offset;
	}
	/* One descriptor: header and frame are contiguous (ANY_LAYOUT is part of VERSION_1). */
	virtq_add(n->txq, &seg, 1, h);
	n->tx_frames++;
}

void vnet_tx_kick(struct vnet *n)
{
	virtq_kick(n->txq);
}
