// SPDX-License-Identifier: Apache-2.0
#include <stddef.h>
#include "clock.h"
#include "cpu.h"
#include "dma.h"
#include "fmt.h"
#include "libc.h"
#include "virtio_vsock.h"

#define RXQ 0
#define TXQ 1
#define EVQ 2

#define RX_STRIDE	(VSOCK_HDR_LEN + VSOCK_RX_PAYLOAD)
#define TX_STRIDE	(VSOCK_HDR_LEN + VSOCK_TX_PAYLOAD)
#define RX_REFILL_BATCH 16 /* as virtio_net.c: a kick per batch, not per buffer */
#define EPHEMERAL_FIRST 49152
#define CFG_GUEST_CID	0

/* Fast copy for payload (libc's memcpy goes a byte at a time; ring 3 runs rep movsb natively). */
static void copy(void *dst, const void *src, size_t n)
{
	asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

static inline struct virtio_vsock_hdr *hdr_of(uint8_t *buf)
{
	return (struct virtio_vsock_hdr *)buf;
}

/* ---- buffers ---- */

static void rx_post(struct vsock *v, uint8_t *buf)
{
	struct vq_seg segs[2] = {
		{ dma_addr(buf), VSOCK_HDR_LEN, true },
		{ dma_addr(buf + VSOCK_HDR_LEN), VSOCK_RX_PAYLOAD, true },
	};

	virtq_add(v->rxq, segs, 2, buf);
}

static void ev_post(struct vsock *v, uint32_t *ev)
{
	struct vq_seg seg = { dma_addr(ev), sizeof(*ev), true };

	virtq_add(v->evq, &seg, 1, ev);
}

static void tx_reclaim(struct vsock *v)
{
	uint8_t *buf;

	while ((buf = virtq_get(v->txq, NULL))) {
		size_t i = (size_t)(buf - v->tx_bufs) / TX_STRIDE;

		if (i < v->nr_tx && v->nr_tx_free < v->nr_tx)
			v->tx_free[v->nr_tx_free++] = (uint16_t)i;
	}
}

/* A transmit buffer (header first), or NULL if all are with the device. */
static uint8_t *tx_get(struct vsock *v)
{
	if (!v->nr_tx_free)
		tx_reclaim(v);
	if (!v->nr_tx_free)
		return NULL;
	return v->tx_bufs + (size_t)v->tx_free[--v->nr_tx_free] * TX_STRIDE;
}

static void tx_queue(struct vsock *v, uint8_t *buf)
{
	uint32_t len = hdr_of(buf)->len;
	struct vq_seg segs[2] = {
		{ dma_addr(buf), VSOCK_HDR_LEN, false },
		{ dma_addr(buf + VSOCK_HDR_LEN), len, false },
	};

	virtq_add(v->txq, segs, len ? 2 : 1, buf);
	v->tx_packets++;
}

/* Fills the header of a packet on @c; every packet carries our credit. */
static void fill_hdr(struct vsock *v, struct vsock_conn *c, uint8_t *buf, uint16_t op,
		     uint32_t flags, uint32_t len)
{
	*hdr_of(buf) = (struct virtio_vsock_hdr){
		.src_cid = v->guest_cid,
		.dst_cid = c->peer_cid,
		.src_port = c->local_port,
		.dst_port = c->peer_port,
		.len = len,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = op,
		.flags = flags,
		.buf_alloc = VSOCK_CONN_BUF,
		.fwd_cnt = c->fwd_cnt,
	};
	c->fwd_advertised = c->fwd_cnt;
	c->pending &= ~VP_CREDIT_UPDATE;
}

/* ---- connections ---- */

static struct vsock_conn *conn_find(struct vsock *v, uint64_t peer_cid, uint32_t peer_port,
				    uint32_t local_port)
{
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conns[i];

		if (c->state != VS_FREE && c->peer_cid == peer_cid && c->peer_port == peer_port &&
		    c->local_port == local_port)
			return c;
	}
	return NULL;
}

static struct vsock_conn *conn_alloc(struct vsock *v, uint64_t peer_cid, uint32_t peer_port,
				     uint32_t local_port)
{
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conns[i];
		uint8_t *rx_buf = c->rx_buf;

		if (c->state != VS_FREE)
			continue;
		*c = (struct vsock_conn){
			.peer_cid = peer_cid,
			.peer_port = peer_port,
			.local_port = local_port,
			.rx_buf = rx_buf,
		};
		return c;
	}
	return NULL;
}

/* The connection is gone for the transport; the slot frees once the application lets go. */
static void conn_dead(struct vsock_conn *c)
{
	c->state = c->owned ? VS_CLOSED : VS_FREE;
	c->pending = 0;
}

/* An RST to a packet that has no connection (queued; dropped if the queue is full). */
static void rst_reply(struct vsock *v, const struct virtio_vsock_hdr *h)
{
	if (v->nr_rsts < VSOCK_RST_QUEUE)
		v->rsts[v->nr_rsts++] = (struct vsock_rst){
			.dst_cid = h->src_cid,
			.src_port = h->dst_port,
			.dst_port = h->src_port,
		};
}

static void credit_from(struct vsock_conn *c, const struct virtio_vsock_hdr *h)
{
	/* News of the peer's credit: a stalled sender waits afresh before asking again. */
	if (h->buf_alloc != c->peer_buf_alloc || h->fwd_cnt != c->peer_fwd_cnt ||
	    h->op == VIRTIO_VSOCK_OP_CREDIT_UPDATE) {
		c->credit_asked = false;
		c->credit_wait_tsc = 0;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
}

static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	/* A peer that shrank its buffer (or lies) may leave us owing: no credit. */
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* ---- receive ---- */

static void rx_data(struct vsock *v, struct vsock_conn *c, const uint8_t *p, uint32_t len)
{
	uint32_t used = c->rx_cnt - c->fwd_cnt, at, first;

	if (c->peer_no_send || len > VSOCK_CONN_BUF - used) {
		/* Beyond the credit we gave (or after its own SHUTDOWN): the peer is broken. */
		v->rx_dropped++;
		c->pending = VP_RST;
		return;
	}
	at = c->rx_cnt % VSOCK_CONN_BUF;
	first = MIN(len, VSOCK_CONN_BUF - at);
	copy(c->rx_buf + at, p, first);
	copy(c->rx_buf, p + first, len - first);
	c->rx_cnt += len;
	c->rx_bytes += len;
}

static void rx_packet(struct vsock *v, const struct virtio_vsock_hdr *h, const uint8_t *payload)
{
	struct vsock_conn *c;

	if (h->type != VIRTIO_VSOCK_TYPE_STREAM || h->dst_cid != v->guest_cid) {
		v->rx_dropped++;
		if (h->op != VIRTIO_VSOCK_OP_RST && h->type != VIRTIO_VSOCK_TYPE_STREAM)
			rst_reply(v, h);
		return;
	}
	c = conn_find(v, h->src_cid, h->src_port, h->dst_port);
	if (c && c->state == VS_CLOSED) {
		/* Still held by the application; it is dead for the peer. */
		if (h->op != VIRTIO_VSOCK_OP_RST)
			rst_reply(v, h);
		return;
	}
	if (!c) {
		if (h->op == VIRTIO_VSOCK_OP_REQUEST && v->listening &&
		    h->dst_port == v->listen_port &&
		    (c = conn_alloc(v, h->src_cid, h->src_port, h->dst_port))) {
			credit_from(c, h);
			c->state = VS_ESTABLISHED;
			c->incoming = true;
			c->pending = VP_RESPONSE;
			return;
		}
		if (h->op != VIRTIO_VSOCK_OP_RST)
			rst_reply(v, h);
		return;
	}
	credit_from(c, h);
	switch (h->op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state == VS_CONNECTING)
			c->state = VS_ESTABLISHED;
		else
			c->pending = VP_RST;
		break;
	case VIRTIO_VSOCK_OP_RST:
		if (c->state == VS_CONNECTING)
			c->refused = true;
		c->peer_rst = true;
		conn_dead(c);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		c->peer_no_send |= !!(h->flags & VIRTIO_VSOCK_SHUTDOWN_SEND);
		c->peer_no_rcv |= !!(h->flags & VIRTIO_VSOCK_SHUTDOWN_RCV);
		/* Closing already and the peer has shut down too: done. */
		if (c->state == VS_CLOSING && c->peer_no_send && c->peer_no_rcv)
			c->pending |= VP_RST;
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state == VS_ESTABLISHED || c->state == VS_CLOSING)
			rx_data(v, c, payload, h->len);
		else
			c->pending = VP_RST;
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		/* credit_from() took the news. */
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= VP_CREDIT_UPDATE;
		break;
	case VIRTIO_VSOCK_OP_REQUEST: /* a duplicate for a live connection */
	default:
		c->pending = VP_RST;
		break;
	}
}

static unsigned int rx_poll(struct vsock *v)
{
	unsigned int n = 0;
	uint8_t *buf;
	uint32_t got;

	while ((buf = virtq_get(v->rxq, &got))) {
		struct virtio_vsock_hdr h = *hdr_of(buf);

		n++;
		v->rx_packets++;
		/* The header's len must fit both the buffer and what the device wrote. */
		if (got < VSOCK_HDR_LEN || got > RX_STRIDE || h.len > got - VSOCK_HDR_LEN ||
		    (h.op != VIRTIO_VSOCK_OP_RW && h.len))
			v->rx_dropped++;
		else
			rx_packet(v, &h, buf + VSOCK_HDR_LEN);
		rx_post(v, buf);
		if ((uint16_t)(v->rxq->avail_idx - v->rxq->kicked_idx) >= RX_REFILL_BATCH)
			virtq_kick(v->rxq);
	}
	/* Nothing more to receive: give the device every buffer we have. */
	virtq_kick(v->rxq);
	if (n)
		v->last_rx_tsc = rdtsc();
	return n;
}

/* Transport reset (5.10.6.6): every connection is gone; the CID may have changed. */
static unsigned int ev_poll(struct vsock *v)
{
	unsigned int n = 0;
	uint32_t *ev;

	while ((ev = virtq_get(v->evq, NULL))) {
		n++;
		if (*ev == VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) {
			v->transport_resets++;
			v->guest_cid = virtio_config64(&v->dev, CFG_GUEST_CID);
			for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
				if (v->conns[i].state != VS_FREE) {
					v->conns[i].peer_rst = true;
					conn_dead(&v->conns[i]);
				}
			}
			v->nr_rsts = 0;
		}
		ev_post(v, ev);
	}
	virtq_kick(v->evq);
	return n;
}

/* ---- transmit of control packets ---- */

static bool send_ctl(struct vsock *v, struct vsock_conn *c, uint16_t op, uint32_t flags)
{
	uint8_t *buf = tx_get(v);

	if (!buf)
		return false;
	fill_hdr(v, c, buf, op, flags, 0);
	tx_queue(v, buf);
	return true;
}

static unsigned int flush_pending(struct vsock *v)
{
	unsigned int n = 0;

	while (v->nr_rsts) {
		const struct vsock_rst *r = &v->rsts[v->nr_rsts - 1];
		struct vsock_conn tmp = { .peer_cid = r->dst_cid,
					  .peer_port = r->dst_port,
					  .local_port = r->src_port };

		if (!send_ctl(v, &tmp, VIRTIO_VSOCK_OP_RST, 0))
			goto out;
		v->nr_rsts--;
		n++;
	}
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conns[i];
		static const struct {
			uint32_t bit;
			uint16_t op;
		} order[] = {
			{ VP_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
			{ VP_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
			{ VP_CREDIT_REQUEST, VIRTIO_VSOCK_OP_CREDIT_REQUEST },
			{ VP_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
			{ VP_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
			{ VP_RST, VIRTIO_VSOCK_OP_RST },
		};

		if (c->state == VS_FREE || c->state == VS_CLOSED)
			continue;
		for (unsigned int k = 0; k < ARRAY_SIZE(order) && c->pending; k++) {
			uint32_t flags = 0;

			if (!(c->pending & order[k].bit))
				continue;
			if (order[k].bit == VP_SHUTDOWN)
				flags = VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
			if (!send_ctl(v, c, order[k].op, flags))
				goto out;
			c->pending &= ~order[k].bit;
			n++;
			if (order[k].bit == VP_RST) {
				conn_dead(c);
				break;
			}
		}
	}
out:
	virtq_kick(v->txq);
	return n;
}

/* ---- the interface ---- */

bool vsock_open(struct vsock *v, const struct virtio_dev *d, char *why, size_t len)
{
	uint8_t *conn_bufs;

	*v = (struct vsock){ .dev = *d, .next_port = EPHEMERAL_FIRST };
	if (!virtio_negotiate(&v->dev, 1ULL << VIRTIO_RING_F_EVENT_IDX, why, len) ||
	    !virtio_queue_setup(&v->dev, RXQ, VSOCK_QUEUE_SIZE, why, len) ||
	    !virtio_queue_setup(&v->dev, TXQ, VSOCK_QUEUE_SIZE, why, len) ||
	    !virtio_queue_setup(&v->dev, EVQ, VSOCK_EVENT_BUFS, why, len))
		return false;
	v->rxq = v->dev.vqs[RXQ];
	v->txq = v->dev.vqs[TXQ];
	v->evq = v->dev.vqs[EVQ];
	if (v->rxq->size < 2 || v->txq->size < 2) {
		fmt_snprintf(why, len, "queues too small (rx %u, tx %u)", v->rxq->size,
			     v->txq->size);
		return false;
	}
	v->guest_cid = virtio_config64(&v->dev, CFG_GUEST_CID);
	v->nr_tx = v->txq->size / 2;
	v->rx_bufs = dma_alloc((size_t)(v->rxq->size / 2) * RX_STRIDE, 64);
	v->tx_bufs = dma_alloc((size_t)v->nr_tx * TX_STRIDE, 64);
	v->tx_free = dma_alloc(v->nr_tx * sizeof(uint16_t), 8);
	v->ev_bufs = dma_alloc(VSOCK_EVENT_BUFS * sizeof(uint32_t), 8);
	conn_bufs = dma_alloc((size_t)VSOCK_MAX_CONNS * VSOCK_CONN_BUF, 64);
	if (!v->rx_bufs || !v->tx_bufs || !v->tx_free || !v->ev_bufs || !conn_bufs) {
		fmt_snprintf(why, len, "out of DMA memory");
		return false;
	}
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++)
		v->conns[i].rx_buf = conn_bufs + (size_t)i * VSOCK_CONN_BUF;
	for (unsigned int i = 0; i < v->nr_tx; i++)
		v->tx_free[v->nr_tx_free++] = (uint16_t)i;
	/* 5.10.6.1-ish: receive and event buffers before DRIVER_OK. */
	for (unsigned int i = 0; i < v->rxq->size / 2u; i++)
		rx_post(v, v->rx_bufs + (size_t)i * RX_STRIDE);
	for (unsigned int i = 0; i < MIN(v->evq->size, VSOCK_EVENT_BUFS); i++)
		ev_post(v, &v->ev_bufs[i]);
	if (!virtio_driver_ok(&v->dev, why, len))
		return false;
	virtq_kick(v->rxq);
	virtq_kick(v->evq);
	if (v->guest_cid <= VSOCK_HOST_CID || v->guest_cid >= 0xffffffffULL) {
		fmt_snprintf(why, len, "invalid guest_cid %lu", v->guest_cid);
		return false;
	}
	v->last_rx_tsc = rdtsc();
	return true;
}

void vsock_close(struct vsock *v, uint64_t drain_us)
{
	struct deadline dl = deadline_in_us(drain_us);

	while (vsock_tx_in_flight(v) && !deadline_passed(&dl)) {
		tx_reclaim(v);
		cpu_relax();
	}
	virtio_reset(&v->dev);
}

unsigned int vsock_poll(struct vsock *v)
{
	unsigned int n = ev_poll(v) + rx_poll(v);
	uint64_t now = rdtsc();

	tx_reclaim(v);
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conns[i];

		if (c->state == VS_CLOSING && (int64_t)(now - c->close_deadline) >= 0)
			c->pending |= VP_RST;
		/* Credit the peer has not heard of; an outgoing packet would carry it. */
		if (c->state == VS_ESTABLISHED && c->fwd_cnt != c->fwd_advertised &&
		    (c->fwd_cnt - c->fwd_advertised >= VSOCK_CONN_BUF / 4 || !vsock_readable(c)))
			c->pending |= VP_CREDIT_UPDATE;
	}
	return n + flush_pending(v);
}

void vsock_listen(struct vsock *v, uint32_t port)
{
	v->listen_port = port;
	v->listening = port != 0;
}

struct vsock_conn *vsock_accept(struct vsock *v)
{
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->conns[i];

		if (c->state != VS_FREE && c->incoming) {
			c->incoming = false;
			c->owned = true;
			return c;
		}
	}
	return NULL;
}

struct vsock_conn *vsock_connect(struct vsock *v, uint64_t cid, uint32_t port)
{
	for (unsigned int tries = 0; tries < 16384; tries++) {
		uint32_t local = v->next_port++;
		struct vsock_conn *c;

		if (v->next_port < EPHEMERAL_FIRST)
			v->next_port = EPHEMERAL_FIRST;
		if (conn_find(v, cid, port, local))
			continue;
		c = conn_alloc(v, cid, port, local);
		if (!c)
			return NULL;
		c->state = VS_CONNECTING;
		c->owned = true;
		c->pending = VP_REQUEST;
		flush_pending(v);
		return c;
	}
	return NULL;
}

size_t vsock_read(struct vsock *v, struct vsock_conn *c, void *buf, size_t max)
{
	uint32_t n = (uint32_t)MIN(max, (size_t)vsock_readable(c));
	uint32_t at = c->fwd_cnt % VSOCK_CONN_BUF, first = MIN(n, VSOCK_CONN_BUF - at);

	copy(buf, c->rx_buf + at, first);
	copy((uint8_t *)buf + first, c->rx_buf, n - first);
	c->fwd_cnt += n;
	return n;
}

/*
 * Sends are waiting for credit: true once they have waited
 * VSOCK_CREDIT_WAIT_US, when a CREDIT_REQUEST also goes out (once; any
 * change of the peer's credit re-arms it). The wait is measured, not the
 * device asked, so a slow reader costs no VM exits while we wait.
 */
static bool credit_stalled(struct vsock_conn *c)
{
	if (!c->credit_wait_tsc)
		c->credit_wait_tsc = rdtsc() | 1;
	if (clock_us_since(c->credit_wait_tsc) < VSOCK_CREDIT_WAIT_US)
		return false;
	if (!c->credit_asked) {
		c->credit_asked = true;
		c->pending |= VP_CREDIT_REQUEST;
	}
	return true;
}

size_t vsock_writable(struct vsock *v, struct vsock_conn *c)
{
	if (c->state != VS_ESTABLISHED || c->peer_no_rcv || (c->pending & VP_RESPONSE))
		return 0;
	if (!v->nr_tx_free)
		tx_reclaim(v);
	if (!peer_credit(c))
		credit_stalled(c);
	else
		c->credit_wait_tsc = 0;
	return MIN((size_t)peer_credit(c), (size_t)v->nr_tx_free * VSOCK_TX_PAYLOAD);
}

size_t vsock_write(struct vsock *v, struct vsock_conn *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t done = 0;

	/* The RESPONSE must precede data; control packets go first. */
	if (c->pending & VP_RESPONSE)
		flush_pending(v);
	if (c->state != VS_ESTABLISHED || c->peer_no_rcv || (c->pending & VP_RESPONSE))
		return 0;
	while (done < len) {
		uint32_t want = (uint32_t)MIN(len - done, (size_t)VSOCK_TX_PAYLOAD);
		uint32_t n = MIN(want, peer_credit(c));
		uint32_t useful = MIN((uint32_t)VSOCK_TX_PAYLOAD, c->peer_buf_alloc / 4);
		uint8_t *buf;

		/* No silly windows: a credit-limited small packet waits for more credit. */
		if (n < want && n < useful) {
			if (!credit_stalled(c) || !n)
				break;
		}
		c->credit_wait_tsc = 0;
		buf = tx_get(v);
		if (!buf)
			break;
		fill_hdr(v, c, buf, VIRTIO_VSOCK_OP_RW, 0, n);
		copy(buf + VSOCK_HDR_LEN, p + done, n);
		tx_queue(v, buf);
		c->tx_cnt += n;
		c->tx_bytes += n;
		done += n;
	}
	if (done)
		virtq_kick(v->txq);
	return done;
}

void vsock_release(struct vsock *v, struct vsock_conn *c, uint64_t linger_us)
{
	c->owned = false;
	c->incoming = false;
	switch (c->state) {
	case VS_CLOSED:
		c->state = VS_FREE;
		break;
	case VS_CONNECTING:
		c->pending = VP_RST;
		break;
	case VS_ESTABLISHED:
		if (c->peer_no_send && c->peer_no_rcv) {
			c->pending |= VP_RST;
			break;
		}
		c->pending |= VP_SHUTDOWN;
		c->state = VS_CLOSING;
		c->close_deadline = deadline_in_us(linger_us).end;
		break;
	default:
		break;
	}
	flush_pending(v);
}

unsigned int vsock_active(const struct vsock *v)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++)
		n += v->conns[i].state != VS_FREE;
	return n;
}
