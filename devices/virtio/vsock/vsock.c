// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-vsock (virtio 1.2, 5.10), stream sockets only, relayed to Unix
 * sockets on the host the way Firecracker's hybrid vsock does it (see
 * vsock.h and docs/vsock.md).
 *
 * Threads. Kicks, host socket readiness and the timer run on the event
 * loop's thread, activate/reset/config on vCPU threads; all of it under
 * vdev->lock, including our own fd handlers.
 *
 * Connections live in a fixed table of VSOCK_MAX_CONNS slots allocated at
 * creation. The event loop hands a handler pointer back for each ready fd,
 * and one epoll_wait() batch may still hold an event for a connection that
 * an earlier event of the same batch closed: because slots are never
 * freed, such a stale event lands on a free slot (ignored) or on a reused
 * one, where it is a spurious wake-up that a nonblocking read or write
 * answers with EAGAIN.
 *
 * Guest to host (transmit queue). The header is checked by
 * vsock_pkt_parse(); a payload goes straight from the guest's buffers to
 * the host socket with sendmsg(), and only what the socket does not take
 * is copied into the connection's buffer, of VSOCK_BUF_ALLOC bytes: the
 * buf_alloc we advertise. fwd_cnt counts bytes handed to the host socket,
 * so a guest that respects its credit can never overflow the buffer, and a
 * guest that does not is reset. A slow host reader therefore stops the
 * guest by not getting credit back; CREDIT_UPDATE goes out whenever a
 * quarter of the buffer has been freed since the guest last heard.
 *
 * Host to guest (receive queue). The host socket is read straight into a
 * guest receive chain (readv() after the header), at most the guest's
 * credit (buf_alloc - (rx_cnt - fwd_cnt)) and 64 KiB. The socket is only
 * watched for input while the guest has credit for the connection and
 * receive buffers are posted; otherwise it sits in the kernel's socket
 * buffer and the host writer blocks: back-pressure, with nothing queued
 * here. An fd with nothing to wait for is taken off epoll entirely, since
 * EPOLLHUP and EPOLLERR are reported whatever the mask says.
 *
 * Control packets (REQUEST, RESPONSE, CREDIT_UPDATE, SHUTDOWN) are pending
 * bits on the connection, sent when receive buffers allow, before any more
 * data of that connection. RSTs go through a queue of their own, since the
 * connection they end is gone at once.
 *
 * Snapshots. Host sockets cannot be saved, so, as in Firecracker, no
 * connection survives: a snapshot holds no connection state, and a
 * restored device starts with none and sends VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
 * on the event queue (virtio 1.2, 5.10.6.6) as soon as the driver has an
 * event buffer posted, upon which the guest resets all its sockets. Nothing
 * is ever in flight here (every chain is returned in the turn that took
 * it), so there is nothing to quiesce.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_ids.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/vsock/packet.h"
#include "devices/stats.h"
#include "devices/virtio/vsock/vsock.h"
#include "lib/clock.h"
#include "lib/log.h"

#define VSOCK_RXQ	0
#define VSOCK_TXQ	1
#define VSOCK_EVQ	2
#define VSOCK_NR_QUEUES 3

/* Connections at once, host- and guest-initiated; more are refused (RST or close). */
#define VSOCK_MAX_CONNS	      1024
/* Our receive buffer per connection, the buf_alloc the guest sees. */
#define VSOCK_BUF_ALLOC	      (64 * 1024)
/* Freed bytes that make us tell the guest without being asked. */
#define VSOCK_CREDIT_THRESH   (VSOCK_BUF_ALLOC / 4)
/* RSTs waiting for receive buffers: one per connection, and slack for stray packets. */
#define VSOCK_RST_QUEUE	      (VSOCK_MAX_CONNS + 64)
/* Transmit packets per run, and receive packets per connection per wake-up. */
#define VSOCK_TX_BUDGET	      VQ_MAX_SIZE
#define VSOCK_RX_CONN_BUDGET  16
/* Connections accepted on the listener per wake-up. */
#define VSOCK_ACCEPT_BUDGET   16
/* Firecracker's timeout for the guest to accept a host connection. */
#define VSOCK_CONNECT_TIMEOUT 2000
/* A host client that never finishes its CONNECT line. */
#define VSOCK_LINE_TIMEOUT    5000
#define VSOCK_TIMER_MS	      250
/* Host-side ports of host-initiated connections start here, as in Firecracker. */
#define VSOCK_EPHEMERAL_FIRST (1U << 30)
#define VSOCK_HASH_SIZE	      2048

#define CTL_REQUEST  0x1
#define CTL_RESPONSE 0x2
#define CTL_CREDIT   0x4
#define CTL_SHUTDOWN 0x8

enum conn_state {
	CONN_FREE = 0,
	CONN_LINE,	  /* host client connected, reading its CONNECT line */
	CONN_CONNECTING,  /* REQUEST sent to the guest, waiting for RESPONSE */
	CONN_ESTABLISHED, /* either way round */
};

enum vsock_warning {
	W_VERDICT, /* + enum vsock_verdict */
	W_OVERRUN = W_VERDICT + VSOCK_PKT_NR_VERDICTS,
	W_PROTOCOL,
	W_FULL,
	W_RST_QUEUE,
	W_ACCEPT,
	W_HOST_IO,
	W_EVENTQ,
};

struct vsock_conn {
	struct event_handler ev; /* the host socket */
	struct virtio_vsock *vs;
	enum conn_state state;
	uint32_t local_port; /* the host side's port */
	uint32_t peer_port;  /* the guest's port */
	int hnext;	     /* hash chain, or the free list */
	int prev, next;	     /* list of live connections */
	int ctl_next;	     /* list of connections with control packets pending */
	bool in_ctl;
	uint8_t ctl;	     /* CTL_* to send */
	uint32_t shut_flags; /* of the pending SHUTDOWN */
	uint32_t watched;    /* the epoll mask registered; 0: not on epoll */

	bool host_eof;		 /* the host closed its write side; guest told with SHUTDOWN */
	bool guest_shut_send;	 /* the guest will send no more */
	bool guest_shut_rcv;	 /* the guest will read no more */
	bool host_shut_wr;	 /* shutdown(SHUT_WR) done on the host socket */
	bool close_when_drained; /* guest shut down both ways: RST once the buffer is out */

	/* Credit toward the guest. */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	uint32_t rx_cnt; /* payload bytes sent to the guest */
	/* Credit toward us. */
	uint32_t fwd_cnt;      /* guest bytes handed to the host socket */
	uint32_t fwd_cnt_told; /* fwd_cnt in the last packet the guest got */

	/* Guest bytes the host socket did not take yet: a ring of VSOCK_BUF_ALLOC. */
	uint8_t *buf;
	uint32_t buf_head, buf_len;

	char line[VSOCK_LINE_MAX];
	uint32_t line_len;
	uint64_t deadline; /* ms, CLOCK_MONOTONIC; 0: none */
};

struct vsock_rst {
	uint64_t src_cid;
	uint32_t src_port, dst_port;
};

struct virtio_vsock {
	struct virtio_dev vdev;
	char name[32];
	uint64_t guest_cid;
	char *uds_path;
	bool active;

	struct event_handler listen_ev;
	struct event_timer timer;
	bool watching;	       /* the listener is on the loop; the timer may tick */
	bool timer_armed;      /* what we asked of the loop's timer, under vdev.lock */
	unsigned int nr_timed; /* connections with a deadline */

	struct vsock_conn *conns; /* VSOCK_MAX_CONNS */
	int free_first;
	int live_first;
	unsigned int nr_conns;
	int hash[VSOCK_HASH_SIZE];
	int ctl_first, ctl_last;
	uint32_t next_port;

	struct vsock_rst rst[VSOCK_RST_QUEUE];
	unsigned int rst_first, rst_n;

	bool rx_starved;      /* the receive queue ran dry: no host reads until a kick */
	bool transport_reset; /* restored: TRANSPORT_RESET is owed to the driver */
	struct vsock_stats stats;

	/* Separate, so that a transmit chain being handled is never overwritten. */
	struct vq_chain rx_chain, tx_chain;
	uint64_t warned;
};

static void vs_warn_once(struct virtio_vsock *vs, unsigned int w, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vs_warn_once(struct virtio_vsock *vs, unsigned int w, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (vs->warned & (1ULL << w))
		return;
	vs->warned |= 1ULL << w;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("%s: %s (further ones not logged)", vs->name, msg);
}

static bool vs_live(const struct virtio_vsock *vs)
{
	return vs->active && !vs->vdev.needs_reset;
}

static int conn_idx(const struct virtio_vsock *vs, const struct vsock_conn *c)
{
	return (int)(c - vs->conns);
}

static unsigned int hash_key(uint32_t local, uint32_t peer)
{
	uint64_t k = ((uint64_t)local << 32 | peer) * 0x9e3779b97f4a7c15ULL;

	return (unsigned int)(k >> 53) & (VSOCK_HASH_SIZE - 1);
}

static struct vsock_conn *conn_lookup(struct virtio_vsock *vs, uint32_t local, uint32_t peer)
{
	for (int i = vs->hash[hash_key(local, peer)]; i >= 0; i = vs->conns[i].hnext) {
		struct vsock_conn *c = &vs->conns[i];

		if (c->local_port == local && c->peer_port == peer)
			return c;
	}
	return NULL;
}

static void conn_hash_add(struct virtio_vsock *vs, struct vsock_conn *c)
{
	unsigned int h = hash_key(c->local_port, c->peer_port);

	c->hnext = vs->hash[h];
	vs->hash[h] = conn_idx(vs, c);
}

static void conn_hash_del(struct virtio_vsock *vs, struct vsock_conn *c)
{
	int *p = &vs->hash[hash_key(c->local_port, c->peer_port)];

	for (; *p >= 0; p = &vs->conns[*p].hnext) {
		if (*p == conn_idx(vs, c)) {
			*p = c->hnext;
			return;
		}
	}
}

/* --- Timer ------------------------------------------------------------------------------- */

/* The timer ticks only while some connection has a deadline: an idle device costs nothing. */
static void timer_update(struct virtio_vsock *vs)
{
	bool want = vs->nr_timed > 0 && vs->watching;

	if (want == vs->timer_armed)
		return;
	/* Even when arming fails the timer is on the loop's list: it fires at its next dispatch. */
	if (want)
		(void)event_timer_arm(vs->vdev.loop, &vs->timer, VSOCK_TIMER_MS, VSOCK_TIMER_MS);
	else
		event_timer_cancel(vs->vdev.loop, &vs->timer);
	vs->timer_armed = want;
}

static void conn_set_deadline(struct virtio_vsock *vs, struct vsock_conn *c, unsigned int ms)
{
	if (!c->deadline)
		vs->nr_timed++;
	c->deadline = clock_mono_ms() + ms;
	timer_update(vs);
}

static void conn_clear_deadline(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->deadline)
		vs->nr_timed--;
	c->deadline = 0;
}

/* --- Connection table -------------------------------------------------------------------- */

static void conn_on_host(struct event_handler *h, uint32_t events);

static struct vsock_conn *conn_alloc(struct virtio_vsock *vs, int fd)
{
	struct vsock_conn *c;
	int i = vs->free_first;

	if (i < 0)
		return NULL;
	c = &vs->conns[i];
	vs->free_first = c->hnext;
	memset(c, 0, sizeof(*c));
	c->vs = vs;
	c->ev = (struct event_handler){ fd, conn_on_host };
	c->hnext = -1;
	c->prev = -1;
	c->next = vs->live_first;
	if (vs->live_first >= 0)
		vs->conns[vs->live_first].prev = i;
	vs->live_first = i;
	vs->nr_conns++;
	return c;
}

/* Sets the epoll mask to `want`; 0 takes the fd off epoll (see the top of the file). */
static void conn_watch(struct vsock_conn *c, uint32_t want)
{
	struct event_loop *loop = c->vs->vdev.loop;
	struct epoll_event ev = { .events = want, .data.ptr = &c->ev };
	int r;

	if (want == c->watched || !loop)
		return;
	/* No MOD in the event loop's API; its handlers are ours all the same. */
	if (!want)
		r = event_loop_del(loop, &c->ev);
	else if (!c->watched)
		r = event_loop_add(loop, &c->ev, want);
	else
		r = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, c->ev.fd, &ev) < 0 ? -errno : 0;
	if (r)
		log_debug("%s: epoll on fd %d: %s", c->vs->name, c->ev.fd, strerror(-r));
	c->watched = r && want ? 0 : want;
}

static void ctl_unlink(struct virtio_vsock *vs, struct vsock_conn *c)
{
	int prev = -1, i = vs->ctl_first;

	if (!c->in_ctl)
		return;
	while (i >= 0 && i != conn_idx(vs, c)) {
		prev = i;
		i = vs->conns[i].ctl_next;
	}
	if (i < 0)
		return;
	if (prev < 0)
		vs->ctl_first = c->ctl_next;
	else
		vs->conns[prev].ctl_next = c->ctl_next;
	if (vs->ctl_last == i)
		vs->ctl_last = prev;
	c->in_ctl = false;
}

/* Closes the host socket and frees the slot; no packet goes to the guest. */
static void conn_free(struct virtio_vsock *vs, struct vsock_conn *c)
{
	int i = conn_idx(vs, c);

	if (c->state == CONN_FREE)
		return;
	if (c->state == CONN_CONNECTING || c->state == CONN_ESTABLISHED)
		stats_add(vs->stats.conns_closed, 1);
	conn_watch(c, 0);
	if (c->ev.fd >= 0)
		close(c->ev.fd);
	if (c->state == CONN_CONNECTING || c->state == CONN_ESTABLISHED)
		conn_hash_del(vs, c);
	conn_clear_deadline(vs, c);
	ctl_unlink(vs, c);
	free(c->buf);
	if (c->prev >= 0)
		vs->conns[c->prev].next = c->next;
	else
		vs->live_first = c->next;
	if (c->next >= 0)
		vs->conns[c->next].prev = c->prev;
	memset(c, 0, sizeof(*c));
	c->vs = vs; /* stale events still find their way to the lock */
	c->ev.fd = -1;
	c->state = CONN_FREE;
	c->hnext = vs->free_first;
	vs->free_first = i;
	vs->nr_conns--;
}

/* Queues an RST for the guest, from the host's src_cid:src_port to its dst_port. */
static void rst_queue(struct virtio_vsock *vs, uint64_t src_cid, uint32_t src_port,
		      uint32_t dst_port)
{
	if (vs->rst_n == VSOCK_RST_QUEUE) {
		/* Only a guest flooding us with stray packets gets here; it loses some RSTs. */
		vs_warn_once(vs, W_RST_QUEUE, "RST queue full; RST dropped");
		return;
	}
	vs->rst[(vs->rst_first + vs->rst_n++) % VSOCK_RST_QUEUE] =
		(struct vsock_rst){ src_cid, src_port, dst_port };
}

/* Ends a connection with an RST to the guest. */
static void conn_reset(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->state == CONN_CONNECTING || c->state == CONN_ESTABLISHED) {
		rst_queue(vs, VSOCK_HOST_CID, c->local_port, c->peer_port);
		stats_add(vs->stats.conns_reset, 1);
	}
	conn_free(vs, c);
}

static void conn_queue_ctl(struct virtio_vsock *vs, struct vsock_conn *c, uint8_t bit)
{
	c->ctl |= bit;
	if (c->in_ctl)
		return;
	c->in_ctl = true;
	c->ctl_next = -1;
	if (vs->ctl_first < 0)
		vs->ctl_first = conn_idx(vs, c);
	else
		vs->conns[vs->ctl_last].ctl_next = conn_idx(vs, c);
	vs->ctl_last = conn_idx(vs, c);
}

static void close_all(struct virtio_vsock *vs)
{
	while (vs->live_first >= 0)
		conn_free(vs, &vs->conns[vs->live_first]);
	vs->rst_n = 0;
	vs->ctl_first = vs->ctl_last = -1;
	timer_update(vs);
}

/* --- Credit ------------------------------------------------------------------------------ */

/* What the guest lets us send; a guest reporting nonsense gets nothing. */
static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static bool conn_can_read(const struct virtio_vsock *vs, const struct vsock_conn *c)
{
	if (c->state == CONN_LINE)
		return true;
	return c->state == CONN_ESTABLISHED && vs_live(vs) && !vs->rx_starved && !c->ctl &&
	       !c->host_eof && !c->guest_shut_rcv && !c->close_when_drained && peer_credit(c);
}

static void conn_rearm(struct virtio_vsock *vs, struct vsock_conn *c)
{
	uint32_t want = 0;

	if (c->state == CONN_FREE)
		return;
	if (conn_can_read(vs, c))
		want |= EPOLLIN;
	if (c->buf_len)
		want |= EPOLLOUT;
	conn_watch(c, want);
}

static void rearm_all(struct virtio_vsock *vs)
{
	for (int i = vs->live_first; i >= 0; i = vs->conns[i].next)
		conn_rearm(vs, &vs->conns[i]);
}

/* The guest learns about freed room when it asks, and unasked once enough is free. */
static void conn_maybe_credit(struct virtio_vsock *vs, struct vsock_conn *c)
{
	if (c->fwd_cnt - c->fwd_cnt_told >= VSOCK_CREDIT_THRESH)
		conn_queue_ctl(vs, c, CTL_CREDIT);
}

/* --- Receive queue: packets to the guest ------------------------------------------------- */

/*
 * Takes a receive chain: 1, or 0 when there is none (kicks are then on and
 * host reads stop until one comes), or -1 when the device needs a reset.
 */
static int rx_pop(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vdev.vqs[VSOCK_RXQ];
	struct vq_chain *c = &vs->rx_chain;
	int r;

	if (!vs_live(vs) || !vq->ready)
		return 0;
	r = vq_pop(vq, c);
	if (r == 0) {
		vq_set_notification(vq, true);
		r = vq_pop(vq, c);
		if (r == 0) {
			if (!vs->rx_starved) {
				vs->rx_starved = true;
				rearm_all(vs);
			}
			return 0;
		}
	}
	if (r < 0) {
		virtio_set_needs_reset(&vs->vdev, vq_strerror(-r));
		close_all(vs);
		return -1;
	}
	vq_set_notification(vq, false);
	if (c->nr_out || c->in_len <= VSOCK_HDR_LEN) {
		/*
		 * virtio 1.2, 5.10.6.3: receive buffers are writable and hold a
		 * header; one with no room for data after it could never take a
		 * packet off a readable socket, which would then be polled forever.
		 */
		virtio_set_needs_reset(&vs->vdev, "receive chain unusable for a header");
		close_all(vs);
		return -1;
	}
	return 1;
}

static void hdr_for(struct virtio_vsock *vs, struct vsock_conn *c, struct vsock_pkt *p, uint16_t op)
{
	*p = (struct vsock_pkt){
		.src_cid = VSOCK_HOST_CID,
		.dst_cid = vs->guest_cid,
		.src_port = c->local_port,
		.dst_port = c->peer_port,
		.type = VIRTIO_VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = VSOCK_BUF_ALLOC,
		.fwd_cnt = c->fwd_cnt,
	};
	c->fwd_cnt_told = c->fwd_cnt;
}

/* Writes a header-only packet into the chain just popped and returns it. */
static void rx_push_hdr(struct virtio_vsock *vs, const struct vsock_pkt *p)
{
	uint8_t h[VSOCK_HDR_LEN];

	vsock_hdr_build(h, p);
	vq_chain_write(&vs->rx_chain, 0, h, sizeof(h));
	vq_chain_mark_written(&vs->vdev.vqs[VSOCK_RXQ], &vs->rx_chain);
	vq_push(&vs->vdev.vqs[VSOCK_RXQ], vs->rx_chain.head, VSOCK_HDR_LEN);
}

/* Sends this connection's pending control packets; false if the ring ran out first. */
static bool conn_flush_ctl(struct virtio_vsock *vs, struct vsock_conn *c)
{
	static const struct {
		uint8_t bit;
		uint16_t op;
	} order[] = {
		{ CTL_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
		{ CTL_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
		{ CTL_CREDIT, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
		{ CTL_SHUTDOWN, VIRTIO_VSOCK_OP_SHUTDOWN },
	};

	for (unsigned int i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		struct vsock_pkt p;

		if (!(c->ctl & order[i].bit))
			continue;
		if (rx_pop(vs) <= 0)
			return false;
		hdr_for(vs, c, &p, order[i].op);
		if (order[i].bit == CTL_SHUTDOWN)
			p.flags = c->shut_flags;
		rx_push_hdr(vs, &p);
		c->ctl &= ~order[i].bit;
	}
	return true;
}

/* Sends queued RSTs and control packets while the guest has buffers for them. */
static void rx_flush(struct virtio_vsock *vs)
{
	while (vs->rst_n) {
		struct vsock_rst *r = &vs->rst[vs->rst_first];
		struct vsock_pkt p = {
			.src_cid = r->src_cid,
			.dst_cid = vs->guest_cid,
			.src_port = r->src_port,
			.dst_port = r->dst_port,
			.type = VIRTIO_VSOCK_TYPE_STREAM,
			.op = VIRTIO_VSOCK_OP_RST,
		};

		if (rx_pop(vs) <= 0)
			return;
		rx_push_hdr(vs, &p);
		vs->rst_first = (vs->rst_first + 1) % VSOCK_RST_QUEUE;
		vs->rst_n--;
	}
	while (vs->ctl_first >= 0) {
		struct vsock_conn *c = &vs->conns[vs->ctl_first];

		if (!conn_flush_ctl(vs, c))
			return;
		vs->ctl_first = c->ctl_next;
		if (vs->ctl_first < 0)
			vs->ctl_last = -1;
		c->in_ctl = false;
		conn_rearm(vs, c); /* data may follow now */
	}
}

/* Reads the host socket into receive chains while credit, buffers and data last. */
static void conn_read_host(struct virtio_vsock *vs, struct vsock_conn *c)
{
	struct iovec iov[VQ_MAX_CHAIN];
	uint8_t h[VSOCK_HDR_LEN];

	for (unsigned int budget = VSOCK_RX_CONN_BUDGET; budget; budget--) {
		struct vq_chain *ch = &vs->rx_chain;
		uint32_t max;
		unsigned int niov;
		struct vsock_pkt p;
		ssize_t n;

		if (!conn_can_read(vs, c) || rx_pop(vs) <= 0)
			break;
		max = (uint32_t)(ch->in_len - VSOCK_HDR_LEN < VSOCK_MAX_PKT
					 ? ch->in_len - VSOCK_HDR_LEN
					 : VSOCK_MAX_PKT);
		if (max > peer_credit(c))
			max = peer_credit(c);
		/* The payload goes after the header, wherever the driver cut the chain. */
		niov = vq_bufs_iov(ch->buf + ch->nr_out, ch->nr_in, VSOCK_HDR_LEN, max, iov);
		n = readv(c->ev.fd, iov, (int)niov);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			vq_unpop(&vs->vdev.vqs[VSOCK_RXQ]);
			break;
		}
		if (n < 0) {
			/* ECONNRESET and the like: the guest gets the RST in this very chain. */
			hdr_for(vs, c, &p, VIRTIO_VSOCK_OP_RST);
			rx_push_hdr(vs, &p);
			stats_add(vs->stats.conns_reset, 1);
			conn_free(vs, c);
			return;
		}
		if (n == 0) {
			/* The host will send no more: tell the guest, which may still send. */
			c->host_eof = true;
			hdr_for(vs, c, &p, VIRTIO_VSOCK_OP_SHUTDOWN);
			p.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
			rx_push_hdr(vs, &p);
			break;
		}
		hdr_for(vs, c, &p, VIRTIO_VSOCK_OP_RW);
		p.len = (uint32_t)n;
		vsock_hdr_build(h, &p);
		vq_chain_write(ch, 0, h, sizeof(h));
		vq_chain_mark_written(&vs->vdev.vqs[VSOCK_RXQ], ch);
		c->rx_cnt += (uint32_t)n;
		stats_add(vs->stats.rx_bytes, n);
		vq_push(&vs->vdev.vqs[VSOCK_RXQ], ch->head, VSOCK_HDR_LEN + (uint32_t)n);
	}
	conn_rearm(vs, c);
}

/* --- Host sockets ------------------------------------------------------------------------ */

static void conn_host_shut_wr(struct vsock_conn *c)
{
	if (c->host_shut_wr)
		return;
	c->host_shut_wr = true;
	shutdown(c->ev.fd, SHUT_WR);
}

/* The buffer toward the host is empty: carry out what waited for that. */
static void conn_drained(struct virtio_vsock *vs, struct vsock_conn *c)
{
	free(c->buf);
	c->buf = NULL;
	c->buf_head = 0;
	if (c->close_when_drained) {
		conn_reset(vs, c);
		return;
	}
	if (c->guest_shut_send)
		conn_host_shut_wr(c);
}

static ssize_t send_iov(int fd, struct iovec *iov, unsigned int niov)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = niov };
	ssize_t n;

	/* MSG_NOSIGNAL: a host reader that went away is an EPIPE, not a SIGPIPE for the VMM. */
	do
		n = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	return n;
}

/* Writes buffered guest bytes to the host socket. Returns false if the connection is gone. */
static bool conn_flush_buf(struct virtio_vsock *vs, struct vsock_conn *c)
{
	while (c->buf_len) {
		uint32_t first = VSOCK_BUF_ALLOC - c->buf_head;
		struct iovec iov[2];
		unsigned int niov = 1;
		ssize_t n;

		if (first >= c->buf_len) {
			iov[0] = (struct iovec){ c->buf + c->buf_head, c->buf_len };
		} else {
			iov[0] = (struct iovec){ c->buf + c->buf_head, first };
			iov[1] = (struct iovec){ c->buf, c->buf_len - first };
			niov = 2;
		}
		n = send_iov(c->ev.fd, iov, niov);
		if (n < 0) {
			vs_warn_once(vs, W_HOST_IO, "host socket write: %s; connection reset",
				     strerror(errno));
			conn_reset(vs, c);
			return false;
		}
		if (n == 0)
			break;
		c->buf_head = (c->buf_head + (uint32_t)n) % VSOCK_BUF_ALLOC;
		c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	conn_maybe_credit(vs, c);
	if (!c->buf_len)
		conn_drained(vs, c);
	return c->state != CONN_FREE;
}

/* A host client's CONNECT line, read a byte at a time so no stream data is taken with it. */
static void conn_read_line(struct virtio_vsock *vs, struct vsock_conn *c)
{
	uint32_t port;

	while (c->line_len < sizeof(c->line)) {
		ssize_t n = read(c->ev.fd, c->line + c->line_len, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_free(vs, c);
			return;
		}
		if (c->line[c->line_len++] == '\n')
			break;
	}
	if (!vsock_parse_connect(c->line, c->line_len, &port) || !vs_live(vs)) {
		/* Malformed, or no driver to connect to: the client sees its socket closed. */
		conn_free(vs, c);
		return;
	}
	c->peer_port = port;
	/* At most VSOCK_MAX_CONNS ports are taken, so this ends quickly. */
	do {
		if (vs->next_port < VSOCK_EPHEMERAL_FIRST || vs->next_port == UINT32_MAX)
			vs->next_port = VSOCK_EPHEMERAL_FIRST; /* UINT32_MAX is VMADDR_PORT_ANY */
		c->local_port = vs->next_port++;
	} while (conn_lookup(vs, c->local_port, port));
	c->state = CONN_CONNECTING;
	conn_hash_add(vs, c);
	conn_set_deadline(vs, c, VSOCK_CONNECT_TIMEOUT);
	conn_queue_ctl(vs, c, CTL_REQUEST);
	conn_watch(c, 0); /* nothing is read from it until the guest accepts */
}

static void conn_on_host(struct event_handler *h, uint32_t events)
{
	struct vsock_conn *c = container_of(h, struct vsock_conn, ev);
	struct virtio_vsock *vs = c->vs;

	pthread_mutex_lock(&vs->vdev.lock);
	if (c->state == CONN_FREE) {
		/* A stale event for a slot freed earlier in the same batch. */
		pthread_mutex_unlock(&vs->vdev.lock);
		return;
	}
	if (c->state == CONN_LINE) {
		conn_read_line(vs, c);
	} else {
		if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && c->buf_len &&
		    !conn_flush_buf(vs, c))
			goto out;
		if (c->state != CONN_FREE && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
			conn_read_host(vs, c);
		if (c->state != CONN_FREE)
			conn_rearm(vs, c);
	}
out:
	rx_flush(vs);
	virtio_notify_used(&vs->vdev, VSOCK_RXQ);
	pthread_mutex_unlock(&vs->vdev.lock);
}

static void vs_on_listen(struct event_handler *h, uint32_t events)
{
	struct virtio_vsock *vs = container_of(h, struct virtio_vsock, listen_ev);

	pthread_mutex_lock(&vs->vdev.lock);
	for (unsigned int i = 0; i < VSOCK_ACCEPT_BUDGET; i++) {
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				vs_warn_once(vs, W_ACCEPT, "accept on %s: %s", vs->uds_path,
					     strerror(errno));
			break;
		}
		c = conn_alloc(vs, fd);
		if (!c) {
			vs_warn_once(vs, W_FULL, "%u connections open; new ones refused",
				     VSOCK_MAX_CONNS);
			close(fd);
			continue;
		}
		c->state = CONN_LINE;
		conn_set_deadline(vs, c, VSOCK_LINE_TIMEOUT);
		conn_rearm(vs, c);
	}
	pthread_mutex_unlock(&vs->vdev.lock);
}

/* Also after a cancel from a vCPU thread that raced this tick: it only checks deadlines. */
static void vs_on_timer(struct event_timer *t)
{
	struct virtio_vsock *vs = container_of(t, struct virtio_vsock, timer);
	uint64_t now = clock_mono_ms();

	pthread_mutex_lock(&vs->vdev.lock);
	for (int i = vs->live_first, next; i >= 0; i = next) {
		struct vsock_conn *c = &vs->conns[i];

		next = c->next;
		if (!c->deadline || c->deadline > now)
			continue;
		/* The guest did not accept in time: the host client sees its socket closed. */
		if (c->state == CONN_CONNECTING)
			conn_reset(vs, c);
		else
			conn_free(vs, c);
	}
	timer_update(vs);
	rx_flush(vs);
	virtio_notify_used(&vs->vdev, VSOCK_RXQ);
	pthread_mutex_unlock(&vs->vdev.lock);
}

/* --- Transmit queue: packets from the guest ---------------------------------------------- */

/* The guest connects to CID 2, port P: relay to a listener at "<uds_path>_P". */
static void guest_connect(struct virtio_vsock *vs, const struct vsock_pkt *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_conn *c;
	int fd, n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", vs->uds_path, p->dst_port);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) || vs->nr_conns == VSOCK_MAX_CONNS) {
		if (vs->nr_conns == VSOCK_MAX_CONNS)
			vs_warn_once(vs, W_FULL, "%u connections open; new ones refused",
				     VSOCK_MAX_CONNS);
		rst_queue(vs, VSOCK_HOST_CID, p->dst_port, p->src_port);
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/*
	 * A Unix connect() completes or fails at once; EAGAIN means the
	 * listener's backlog is full, which we treat as refused rather than
	 * wait for.
	 */
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug("%s: guest connection to %s: %s", vs->name, sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		rst_queue(vs, VSOCK_HOST_CID, p->dst_port, p->src_port);
		return;
	}
	c = conn_alloc(vs, fd);
	c->state = CONN_ESTABLISHED;
	stats_add(vs->stats.conns_opened, 1);
	c->local_port = p->dst_port;
	c->peer_port = p->src_port;
	c->peer_buf_alloc = p->buf_alloc;
	c->peer_fwd_cnt = p->fwd_cnt;
	conn_hash_add(vs, c);
	conn_queue_ctl(vs, c, CTL_RESPONSE);
}

/* The guest's RW payload, at offset VSOCK_HDR_LEN of the chain, goes to the host. */
static void conn_write_guest(struct virtio_vsock *vs, struct vsock_conn *c,
			     const struct vq_chain *ch, uint32_t len)
{
	struct iovec iov[VQ_MAX_CHAIN];
	uint32_t done = 0;
	unsigned int niov;

	if (c->buf_len + len > VSOCK_BUF_ALLOC) {
		vs_warn_once(vs, W_OVERRUN, "guest port %u sent past its credit; connection reset",
			     c->peer_port);
		conn_reset(vs, c);
		return;
	}
	stats_add(vs->stats.tx_bytes, len);
	if (!c->buf_len && len) {
		ssize_t n;

		niov = vq_bufs_iov(ch->buf, ch->nr_out, VSOCK_HDR_LEN, len, iov);
		n = send_iov(c->ev.fd, iov, niov);
		if (n < 0) {
			vs_warn_once(vs, W_HOST_IO, "host socket write: %s; connection reset",
				     strerror(errno));
			conn_reset(vs, c);
			return;
		}
		done = (uint32_t)n;
		c->fwd_cnt += done;
	}
	if (done < len) {
		/* The host socket is full: keep the rest, within what we advertised. */
		uint32_t rest = len - done, tail, first;

		if (!c->buf) {
			c->buf = malloc(VSOCK_BUF_ALLOC);
			if (!c->buf) {
				conn_reset(vs, c);
				return;
			}
		}
		tail = (c->buf_head + c->buf_len) % VSOCK_BUF_ALLOC;
		first = VSOCK_BUF_ALLOC - tail < rest ? VSOCK_BUF_ALLOC - tail : rest;
		vq_chain_read(ch, VSOCK_HDR_LEN + done, c->buf + tail, first);
		if (rest > first)
			vq_chain_read(ch, VSOCK_HDR_LEN + done + first, c->buf, rest - first);
		c->buf_len += rest;
	}
	conn_maybe_credit(vs, c);
	conn_rearm(vs, c);
}

static void guest_shutdown(struct virtio_vsock *vs, struct vsock_conn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_shut_rcv = true;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		c->guest_shut_send = true;
	if (c->guest_shut_rcv && c->guest_shut_send) {
		/*
		 * The guest closed: what it sent still reaches the host, then
		 * the RST that Linux waits for before it lets go of the socket.
		 */
		c->close_when_drained = true;
		if (!c->buf_len)
			conn_reset(vs, c);
		return;
	}
	if (c->guest_shut_send && !c->buf_len)
		conn_host_shut_wr(c);
	conn_rearm(vs, c);
}

static void tx_packet(struct virtio_vsock *vs, const struct vq_chain *ch)
{
	uint8_t raw[VSOCK_HDR_LEN] = { 0 };
	struct vsock_pkt p;
	struct vsock_conn *c;
	enum vsock_verdict v;

	if (ch->out_len >= VSOCK_HDR_LEN)
		vq_chain_read(ch, 0, raw, sizeof(raw));
	v = vsock_pkt_parse(raw, ch->out_len, vs->guest_cid, &p);
	c = v == VSOCK_PKT_DROP_SHORT ? NULL : conn_lookup(vs, p.dst_port, p.src_port);
	if (v != VSOCK_PKT_OK) {
		stats_add(vs->stats.invalid_packets, 1);
		vs_warn_once(vs, W_VERDICT + v, "guest packet %s: %s",
			     vsock_verdict_is_rst(v) ? "reset" : "dropped", vsock_verdict_str(v));
		if (!vsock_verdict_is_rst(v))
			return;
		if (c && p.dst_cid == VSOCK_HOST_CID) {
			conn_reset(vs, c);
		} else {
			/* Answer from the address the guest wrote to, so its socket finds it. */
			rst_queue(vs, p.dst_cid, p.dst_port, p.src_port);
		}
		return;
	}
	if (p.op == VIRTIO_VSOCK_OP_REQUEST) {
		if (c) {
			vs_warn_once(vs, W_PROTOCOL, "REQUEST for an open connection; reset");
			conn_reset(vs, c);
			return;
		}
		guest_connect(vs, &p);
		return;
	}
	if (!c) {
		/* virtio 1.2, 5.10.6.4: a packet for no connection is answered with RST. */
		if (p.op != VIRTIO_VSOCK_OP_RST)
			rst_queue(vs, VSOCK_HOST_CID, p.dst_port, p.src_port);
		return;
	}
	/* Every header carries the guest's credit. */
	c->peer_buf_alloc = p.buf_alloc;
	c->peer_fwd_cnt = p.fwd_cnt;
	switch (p.op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != CONN_CONNECTING)
			goto protocol;
		c->state = CONN_ESTABLISHED;
		stats_add(vs->stats.conns_opened, 1);
		conn_clear_deadline(vs, c);
		{
			char ok[32];
			int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
			struct iovec iov = { ok, (size_t)n };

			/*
			 * Nothing was ever written to this socket, so a dozen bytes
			 * fit; a client that shrank its buffer to less is reset.
			 */
			if (send_iov(c->ev.fd, &iov, 1) != n) {
				conn_reset(vs, c);
				return;
			}
		}
		conn_rearm(vs, c);
		return;
	case VIRTIO_VSOCK_OP_RST:
		conn_free(vs, c);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != CONN_ESTABLISHED)
			goto protocol;
		guest_shutdown(vs, c, p.flags);
		return;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED || c->guest_shut_send)
			goto protocol;
		conn_write_guest(vs, c, ch, p.len);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		conn_rearm(vs, c);
		return;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		conn_queue_ctl(vs, c, CTL_CREDIT);
		return;
	}
protocol:
	vs_warn_once(vs, W_PROTOCOL, "guest op %u out of order on port %u; reset", p.op,
		     c->peer_port);
	conn_reset(vs, c);
}

static void tx_run(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vdev.vqs[VSOCK_TXQ];
	unsigned int budget = VSOCK_TX_BUDGET;
	int r = 0;

	if (!vs_live(vs) || !vq->ready)
		return;
	for (;;) {
		vq_set_notification(vq, false);
		while (budget && (r = vq_pop(vq, &vs->tx_chain)) > 0) {
			budget--;
			/* The chain is ours until pushed; our copy of it is done with by then. */
			tx_packet(vs, &vs->tx_chain);
			vq_push(vq, vs->tx_chain.head, 0);
		}
		if (r < 0) {
			virtio_set_needs_reset(&vs->vdev, vq_strerror(-r));
			close_all(vs);
			return;
		}
		if (!budget) {
			virtio_requeue(&vs->vdev, VSOCK_TXQ);
			return;
		}
		vq_set_notification(vq, true);
		if (!vq_has_avail(vq))
			return;
	}
}

/* --- virtio_dev_ops ---------------------------------------------------------------------- */

static void vs_config_read(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len)
{
	struct virtio_vsock *vs = container_of(vdev, struct virtio_vsock, vdev);
	struct virtio_vsock_config cfg = { .guest_cid = htole64(vs->guest_cid) };

	if (off < sizeof(cfg))
		memcpy(data, (uint8_t *)&cfg + off,
		       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

static void vs_config_write(struct virtio_dev *vdev, uint64_t off, const void *data, uint32_t len)
{
	/* guest_cid is read-only (virtio 1.2, 5.10.4). */
}

static int vs_activate(struct virtio_dev *vdev)
{
	struct virtio_vsock *vs = container_of(vdev, struct virtio_vsock, vdev);
	int r;

	if (!vs->watching) {
		r = vdev->loop ? event_loop_add(vdev->loop, &vs->listen_ev, EPOLLIN) : -ENOTCONN;
		if (r) {
			log_warn("%s: watching %s: %s", vs->name, vs->uds_path, strerror(-r));
			return r;
		}
		vs->watching = true;
	}
	vs->active = true;
	vs->rx_starved = false;
	timer_update(vs);
	return 0;
}

static void vs_reset(struct virtio_dev *vdev)
{
	struct virtio_vsock *vs = container_of(vdev, struct virtio_vsock, vdev);

	/* The guest's sockets are gone with its driver: so are the host ends. */
	vs->active = false;
	close_all(vs);
	vs->rx_starved = false;
	vs->transport_reset = false; /* a new driver has no sockets to reset */
}

/*
 * The event queue only carries TRANSPORT_RESET, owed after a restore; its
 * buffers otherwise stay posted. Sent once the driver has posted one.
 */
static void vs_send_transport_reset(struct virtio_vsock *vs)
{
	struct virtqueue *vq = &vs->vdev.vqs[VSOCK_EVQ];
	struct virtio_vsock_event ev = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
	struct vq_chain *c = &vs->rx_chain;
	int r;

	if (!vs->transport_reset || !vs_live(vs) || !vq->ready)
		return;
	r = vq_pop(vq, c);
	if (r < 0) {
		virtio_set_needs_reset(&vs->vdev, vq_strerror(-r));
		return;
	}
	if (r == 0)
		return; /* the driver's kick on the event queue brings us back */
	if (c->in_len < sizeof(ev)) {
		vs_warn_once(vs, W_EVENTQ, "event buffer of %llu bytes is too small",
			     (unsigned long long)c->in_len);
		vq_push(vq, c->head, 0);
	} else {
		vq_chain_write(c, 0, &ev, sizeof(ev));
		vq_chain_mark_written(vq, c);
		vq_push(vq, c->head, sizeof(ev));
		vs->transport_reset = false;
	}
	virtio_notify_used(&vs->vdev, VSOCK_EVQ);
}

static void vs_save(struct virtio_dev *vdev, struct state_writer *w)
{
	struct virtio_vsock *vs = container_of(vdev, struct virtio_vsock, vdev);

	state_put_u64(w, vs->guest_cid);
}

static int vs_restore(struct virtio_dev *vdev, struct state_reader *r, struct err *err)
{
	struct virtio_vsock *vs = container_of(vdev, struct virtio_vsock, vdev);
	uint64_t cid = state_get_u64(r);

	if (r->bad)
		return err_set(err, -EBADMSG, "%s: device state is truncated", vs->name);
	/* The device was created from the snapshot's configuration: its cid is the one. */
	if (cid != vs->guest_cid)
		log_info("%s: guest cid %llu in the snapshot, %llu now", vs->name,
			 (unsigned long long)cid, (unsigned long long)vs->guest_cid);
	vs->transport_reset = true;
	return 0;
}

static void vs_resume(struct virtio_dev *vdev)
{
	vs_send_transport_reset(container_of(vdev, struct virtio_vsock, vdev));
}

static void vs_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_vsock *vs = container_of(vdev, struct virtio_vsock, vdev);

	if (q == VSOCK_TXQ) {
		tx_run(vs);
		virtio_notify_used(vdev, VSOCK_TXQ);
	} else if (q == VSOCK_RXQ) {
		if (vs->rx_starved) {
			vs->rx_starved = false;
			rx_flush(vs);
			rearm_all(vs);
		}
	} else {
		vs_send_transport_reset(vs);
	}
	rx_flush(vs);
	if (vdev->vqs[VSOCK_RXQ].ready)
		virtio_notify_used(vdev, VSOCK_RXQ);
}

static const struct prom_family vs_conns_family = { "kvmlet_vsock_connections_total",
						    "vsock connections opened, closed and reset.",
						    PROM_COUNTER };
static const struct prom_family vs_bytes_family = {
	"kvmlet_vsock_bytes_total", "vsock stream bytes; rx is to the guest, tx from it.",
	PROM_COUNTER
};
static const struct prom_family vs_invalid_family = { "kvmlet_vsock_invalid_packets_total",
						      "vsock packets the device refused.",
						      PROM_COUNTER };

static void vs_stats(struct virtio_dev *vdev, const struct device_stats_out *out)
{
	struct virtio_vsock *vs = container_of(vdev, struct virtio_vsock, vdev);
	const struct vsock_stats *s = &vs->stats;
	const struct {
		const struct prom_family *family;
		const char *label, *value, *field;
		bool kvmlet;
		uint64_t v;
	} m[] = {
		{ &vs_conns_family, "event", "opened", "conns_added", false,
		  stats_get(s->conns_opened) },
		{ &vs_conns_family, "event", "closed", "conns_closed", true,
		  stats_get(s->conns_closed) },
		{ &vs_conns_family, "event", "reset", "conns_reset", true,
		  stats_get(s->conns_reset) },
		{ &vs_bytes_family, "direction", "rx", "rx_bytes_count", false,
		  stats_get(s->rx_bytes) },
		{ &vs_bytes_family, "direction", "tx", "tx_bytes_count", false,
		  stats_get(s->tx_bytes) },
		{ &vs_invalid_family, NULL, NULL, "invalid_packets", true,
		  stats_get(s->invalid_packets) },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		const char *const *labels = m[i].label ? PROM_LABELS(m[i].label, m[i].value) : NULL;

		device_emit(out, &vdev->dev,
			    &(struct device_metric){ m[i].family, labels, "vsock", m[i].field,
						     m[i].kvmlet },
			    m[i].v);
	}
}

static void vs_destroy(struct virtio_dev *vdev)
{
	virtio_vsock_destroy(container_of(vdev, struct virtio_vsock, vdev));
}

static const struct virtio_dev_ops vsock_ops = {
	.kind = "virtio-vsock",
	.config_read = vs_config_read,
	.config_write = vs_config_write,
	.activate = vs_activate,
	.reset = vs_reset,
	.notify = vs_notify,
	.save = vs_save,
	.restore = vs_restore,
	.resume = vs_resume,
	.stats = vs_stats,
	.destroy = vs_destroy,
};

/* --- Creation ---------------------------------------------------------------------------- */

static int vs_listen(struct virtio_vsock *vs, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(vs->uds_path) >= sizeof(sa.sun_path))
		return err_set(err, -ENAMETOOLONG, "--vsock: uds path '%s' is too long",
			       vs->uds_path);
	/* Another VM's socket, or a leftover: either way not ours to remove. */
	if (lstat(vs->uds_path, &st) == 0)
		return err_set(err, -EEXIST, "--vsock: '%s' exists (in use, or stale: remove it)",
			       vs->uds_path);
	strcpy(sa.sun_path, vs->uds_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, -errno, "--vsock: socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return err_set(err, -e, "--vsock: binding '%s': %s", vs->uds_path, strerror(e));
	}
	if (listen(fd, 128) < 0) {
		int e = errno;

		close(fd);
		unlink(vs->uds_path);
		return err_set(err, -e, "--vsock: listening on '%s': %s", vs->uds_path,
			       strerror(e));
	}
	vs->listen_ev.fd = fd;
	return 0;
}

struct virtio_vsock *virtio_vsock_create(const struct vsock_params *p,
					 const struct guest_memory *mem, struct err *err)
{
	struct virtio_vsock *vs;

	if (p->guest_cid < 3 || p->guest_cid > 0xfffffffeULL) {
		err_set(err, -EINVAL, "--vsock: cid %llu: expected 3 to 4294967294",
			(unsigned long long)p->guest_cid);
		return NULL;
	}
	if (!p->uds_path || !*p->uds_path) {
		err_set(err, -EINVAL, "--vsock: uds path missing");
		return NULL;
	}
	vs = calloc(1, sizeof(*vs));
	if (!vs) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(vs->name, sizeof(vs->name), "virtio-vsock");
	virtio_dev_init(&vs->vdev, &vsock_ops, vs->name, VIRTIO_ID_VSOCK, 0, VSOCK_NR_QUEUES, mem);
	vs->guest_cid = p->guest_cid;
	vs->listen_ev = (struct event_handler){ -1, vs_on_listen };
	event_timer_init(&vs->timer, vs_on_timer);
	vs->free_first = vs->live_first = -1;
	vs->ctl_first = vs->ctl_last = -1;
	vs->next_port = VSOCK_EPHEMERAL_FIRST;
	for (unsigned int i = 0; i < VSOCK_HASH_SIZE; i++)
		vs->hash[i] = -1;
	vs->uds_path = strdup(p->uds_path);
	vs->conns = calloc(VSOCK_MAX_CONNS, sizeof(*vs->conns));
	if (!vs->uds_path || !vs->conns) {
		err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (int i = VSOCK_MAX_CONNS - 1; i >= 0; i--) {
		vs->conns[i].ev.fd = -1;
		vs->conns[i].vs = vs;
		vs->conns[i].hnext = vs->free_first;
		vs->free_first = i;
	}
	if (vs_listen(vs, err) < 0)
		goto fail;
	return vs;
fail:
	virtio_vsock_destroy(vs);
	return NULL;
}

void virtio_vsock_destroy(struct virtio_vsock *vs)
{
	bool loop_ok;

	if (!vs)
		return;
	loop_ok = vs->vdev.loop && vs->vdev.loop->epfd >= 0;
	if (vs->conns) {
		/* Without a loop there is nothing to take the fds off: just close them. */
		if (!loop_ok)
			for (int i = vs->live_first; i >= 0; i = vs->conns[i].next)
				vs->conns[i].watched = 0;
		close_all(vs);
	}
	if (vs->watching && loop_ok) {
		event_loop_del(vs->vdev.loop, &vs->listen_ev);
		event_timer_cancel(vs->vdev.loop, &vs->timer);
	}
	if (vs->listen_ev.fd >= 0) {
		close(vs->listen_ev.fd);
		unlink(vs->uds_path);
	}
	virtio_dev_fini(&vs->vdev);
	free(vs->conns);
	free(vs->uds_path);
	free(vs);
}

struct virtio_dev *virtio_vsock_dev(struct virtio_vsock *vs)
{
	return &vs->vdev;
}

const struct vsock_stats *virtio_vsock_stats(const struct virtio_vsock *vs)
{
	return &vs->stats;
}
