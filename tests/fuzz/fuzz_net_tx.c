// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the transmit checks of virtio-net. The input is what a
 * guest controls: the features it accepted, how it cut a chain into buffers
 * (lengths, writable or not) and every byte in them. Each frame
 * net_tx_prepare() accepts is checked against what the TAP will be given,
 * and each header net_rx_fixup() lets through against the features.
 *
 * Layout: features (8 bytes, little-endian), buffer count - 1 (1 byte),
 * then 3 bytes per buffer (length, 16 bits; flags: bit 0 writable), then the
 * guest's bytes, repeated to fill the buffers.
 */
#include "tests/fuzz/fuzzer.h"
#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/net/hdr.h"

/* Guest memory behind one chain, enough for chains past the 65562-byte limit. */
#define BACKING_MAX (256 * 1024)

#define check(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static bool has(uint64_t f, unsigned int bit)
{
	return f & (1ULL << bit);
}

static void check_hdr_ok(const struct virtio_net_hdr_v1 *in, const struct net_tx_frame *f,
			 uint64_t features)
{
	const struct virtio_net_hdr_v1 *h = &f->hdr;
	uint8_t gso = h->gso_type;

	check((h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM) == 0);
	check(h->flags == (in->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM));
	if (h->flags) {
		check(has(features, VIRTIO_NET_F_CSUM));
		check((uint32_t)le16toh(h->csum_start) + le16toh(h->csum_offset) + 2 <= f->len);
	}
	check(h->csum_start == in->csum_start && h->csum_offset == in->csum_offset);
	check(gso == in->gso_type);
	check(gso == VIRTIO_NET_HDR_GSO_NONE ||
	      (gso == VIRTIO_NET_HDR_GSO_TCPV4 && has(features, VIRTIO_NET_F_HOST_TSO4)) ||
	      (gso == VIRTIO_NET_HDR_GSO_TCPV6 && has(features, VIRTIO_NET_F_HOST_TSO6)) ||
	      (gso == VIRTIO_NET_HDR_GSO_UDP && has(features, VIRTIO_NET_F_HOST_UFO)));
	if (gso != VIRTIO_NET_HDR_GSO_NONE)
		check(h->gso_size != 0 && h->gso_size == in->gso_size);
	else
		check(h->gso_size == 0);
	check(le16toh(h->hdr_len) <= f->len);
	check(h->num_buffers == 0);
}

/* The readable bytes of a chain from `off` on, flattened. */
static size_t chain_flat(const struct vq_chain *c, size_t off, uint8_t *dst, size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < c->nr_out && done < len; i++) {
		size_t n;

		if (off >= c->buf[i].len) {
			off -= c->buf[i].len;
			continue;
		}
		n = c->buf[i].len - off < len - done ? c->buf[i].len - off : len - done;
		memcpy(dst + done, c->buf[i].addr + off, n);
		done += n;
		off = 0;
	}
	return done;
}

/* The vector must be our header, then exactly the chain's bytes after the guest's header. */
static void check_iov(const struct vq_chain *c, const struct net_tx_frame *f)
{
	size_t total = 0;
	uint8_t *flat;

	check(f->niov >= 1 && f->niov <= NET_TX_MAX_IOV);
	check(f->iov[0].iov_base == &f->hdr && f->iov[0].iov_len == NET_HDR_LEN);
	flat = malloc(f->len ? f->len : 1);
	check(flat);
	check(chain_flat(c, NET_HDR_LEN, flat, f->len) == f->len);
	for (unsigned int i = 1; i < f->niov; i++) {
		const uint8_t *p = f->iov[i].iov_base;
		size_t n = f->iov[i].iov_len;
		bool inside = false;

		check(n > 0 && total + n <= f->len);
		for (unsigned int b = 0; b < c->nr_out && !inside; b++)
			inside = c->buf[b].len && p >= c->buf[b].addr &&
				 p + n <= c->buf[b].addr + c->buf[b].len;
		check(inside);
		check(memcmp(p, flat + total, n) == 0);
		total += n;
	}
	check(total == f->len);
	free(flat);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vq_chain *c;
	struct net_tx_frame *f;
	struct virtio_net_hdr_v1 in, rx;
	const uint8_t *fill;
	size_t nfill, total = 0;
	unsigned int nbufs, nw = 0;
	uint64_t features;
	uint8_t *mem;
	enum net_tx_err e;

	if (size < 9)
		return 0;
	memcpy(&features, data, 8);
	features = le64toh(features);
	nbufs = data[8] + 1u;
	if (size < 9 + 3 * (size_t)nbufs)
		return 0;
	fill = data + 9 + 3 * nbufs;
	nfill = size - 9 - 3 * nbufs;

	c = calloc(1, sizeof(*c));
	f = malloc(sizeof(*f));
	mem = malloc(BACKING_MAX);
	check(c && f && mem);

	/* Readable buffers first, then writable ones, as vq_pop() hands chains out. */
	for (unsigned int pass = 0; pass < 2; pass++) {
		for (unsigned int i = 0; i < nbufs; i++) {
			const uint8_t *d = data + 9 + 3 * i;
			uint32_t len = d[0] | (uint32_t)d[1] << 8;
			bool w = d[2] & 1;

			if (w != (pass == 1))
				continue;
			if (total + len > BACKING_MAX)
				len = (uint32_t)(BACKING_MAX - total);
			c->buf[c->nr_out + c->nr_in] =
				(struct vq_buf){ len ? mem + total : NULL, len };
			total += len;
			if (w) {
				c->nr_in++;
				c->in_len += len;
				nw++;
			} else {
				c->nr_out++;
				c->out_len += len;
			}
		}
	}
	for (size_t i = 0; i < total; i++)
		mem[i] = nfill ? fill[i % nfill] : 0;
	memset(&in, 0, sizeof(in));
	chain_flat(c, 0, (uint8_t *)&in, sizeof(in));

	e = net_tx_prepare(c, features, f);
	check((unsigned int)e < NET_TX_NR_ERRORS);
	check(net_tx_strerror(e) != NULL);
	if (nw)
		check(e == NET_TX_WRITABLE);
	if (e == NET_TX_OK) {
		check(c->nr_in == 0);
		check(c->out_len >= NET_HDR_LEN + 14 && c->out_len <= NET_MAX_PACKET);
		check(f->len == c->out_len - NET_HDR_LEN);
		check_hdr_ok(&in, f, features);
		check_iov(c, f);
	} else if (e == NET_TX_SHORT) {
		check(c->out_len < NET_HDR_LEN + 14);
	} else if (e == NET_TX_LONG) {
		check(c->out_len > NET_MAX_PACKET);
	}

	/* The receive-side fix-up, on the same bytes as if the TAP had sent them. */
	rx = in;
	if (net_rx_fixup(&rx, features)) {
		check(rx.gso_type == in.gso_type);
		if (rx.gso_type != VIRTIO_NET_HDR_GSO_NONE)
			check(has(features, VIRTIO_NET_F_GUEST_CSUM));
	}
	check(le16toh(rx.num_buffers) == 1);
	if (!has(features, VIRTIO_NET_F_GUEST_CSUM))
		check(rx.flags == 0);
	check((rx.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) == 0);

	free(mem);
	free(f);
	free(c);
	return 0;
}
