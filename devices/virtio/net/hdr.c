// SPDX-License-Identifier: Apache-2.0
#include <endian.h>
#include <string.h>

#include "devices/virtio/net/hdr.h"

static const char *const net_tx_errors[] = {
	[NET_TX_OK] = "no error",
	[NET_TX_WRITABLE] = "transmit chain has device-writable buffers",
	[NET_TX_SHORT] = "transmit chain shorter than the header and an Ethernet header",
	[NET_TX_LONG] = "transmit chain longer than 64 KiB plus headers",
	[NET_TX_CSUM] = "checksum offload not negotiated or offsets outside the frame",
	[NET_TX_GSO] = "segmentation offload not negotiated or malformed",
};

const char *net_tx_strerror(enum net_tx_err e)
{
	return (unsigned int)e < NET_TX_NR_ERRORS ? net_tx_errors[e] : "unknown error";
}

static bool has(uint64_t features, unsigned int bit)
{
	return features & (1ULL << bit);
}

/* Checks the header copy in f->hdr and rewrites the fields the device ignores. */
static enum net_tx_err tx_check_hdr(struct net_tx_frame *f, uint64_t features)
{
	struct virtio_net_hdr_v1 *h = &f->hdr;
	uint16_t start = le16toh(h->csum_start), off = le16toh(h->csum_offset);
	uint8_t gso = h->gso_type;

	/*
	 * Only NEEDS_CSUM means something on transmit. DATA_VALID and RSC_INFO
	 * are receive-side flags the driver must not set, and unknown bits are
	 * to be ignored (virtio 1.2, 5.1.6.2.2): clearing them keeps a guest
	 * from marking its packets "checksum verified" for the host's stack.
	 */
	h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM;
	if (h->flags) {
		if (!has(features, VIRTIO_NET_F_CSUM))
			return NET_TX_CSUM;
		if ((uint32_t)start + off + sizeof(uint16_t) > f->len)
			return NET_TX_CSUM;
	}
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		if (!has(features, VIRTIO_NET_F_HOST_TSO4))
			return NET_TX_GSO;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (!has(features, VIRTIO_NET_F_HOST_TSO6))
			return NET_TX_GSO;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		if (!has(features, VIRTIO_NET_F_HOST_UFO))
			return NET_TX_GSO;
		break;
	default:
		/* Includes the ECN bit: HOST_ECN is not offered. */
		return NET_TX_GSO;
	}
	if (gso != VIRTIO_NET_HDR_GSO_NONE && h->gso_size == 0)
		return NET_TX_GSO;
	if (gso == VIRTIO_NET_HDR_GSO_NONE)
		h->gso_size = 0;
	/*
	 * hdr_len is only a hint the device must not rely on; the TAP refuses
	 * one longer than the frame, so a wrong hint is clamped, not punished.
	 */
	if (le16toh(h->hdr_len) > f->len)
		h->hdr_len = htole16((uint16_t)f->len);
	/* The driver leaves num_buffers zero on transmit; the TAP ignores it. */
	h->num_buffers = 0;
	return NET_TX_OK;
}

/* The header as it is now, from however many buffers it spans. */
static void tx_copy_hdr(const struct vq_chain *c, struct virtio_net_hdr_v1 *h)
{
	uint8_t *dst = (uint8_t *)h;
	size_t done = 0;

	for (unsigned int i = 0; i < c->nr_out && done < NET_HDR_LEN; i++) {
		size_t n = c->buf[i].len < NET_HDR_LEN - done ? c->buf[i].len : NET_HDR_LEN - done;

		/* Empty descriptors have no address (vq_pop() leaves it NULL). */
		if (!n)
			continue;
		memcpy(dst + done, c->buf[i].addr, n);
		done += n;
	}
}

enum net_tx_err net_tx_prepare(const struct vq_chain *c, uint64_t features, struct net_tx_frame *f)
{
	size_t skip = NET_HDR_LEN;
	enum net_tx_err e;

	f->niov = 0;
	f->len = 0;
	/*
	 * Writable buffers in a transmit chain break the driver's side of
	 * virtio 1.2, 5.1.6.2; the device never writes to a TX chain.
	 */
	if (c->nr_in)
		return NET_TX_WRITABLE;
	if (c->out_len < NET_HDR_LEN + ETH_HLEN)
		return NET_TX_SHORT;
	if (c->out_len > NET_MAX_PACKET)
		return NET_TX_LONG;
	f->len = (uint32_t)(c->out_len - NET_HDR_LEN);
	/* One copy of the header; the checks below only look at the copy. */
	tx_copy_hdr(c, &f->hdr);
	e = tx_check_hdr(f, features);
	if (e)
		return e;

	f->iov[f->niov++] = (struct iovec){ &f->hdr, NET_HDR_LEN };
	for (unsigned int i = 0; i < c->nr_out; i++) {
		const struct vq_buf *b = &c->buf[i];

		if (skip >= b->len) {
			skip -= b->len;
			continue;
		}
		f->iov[f->niov++] = (struct iovec){ b->addr + skip, b->len - skip };
		skip = 0;
	}
	return NET_TX_OK;
}

bool net_rx_fixup(struct virtio_net_hdr_v1 *hdr, uint64_t features)
{
	bool csum = has(features, VIRTIO_NET_F_GUEST_CSUM);

	/* Without GUEST_CSUM the flags must be zero (virtio 1.2, 5.1.6.4.1). */
	hdr->flags &= csum ? VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID : 0;
	hdr->num_buffers = htole16(1);
	switch (hdr->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		hdr->gso_size = 0;
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return csum && has(features, VIRTIO_NET_F_GUEST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return csum && has(features, VIRTIO_NET_F_GUEST_TSO6);
	case VIRTIO_NET_HDR_GSO_UDP:
		return csum && has(features, VIRTIO_NET_F_GUEST_UFO);
	default:
		return false;
	}
}
