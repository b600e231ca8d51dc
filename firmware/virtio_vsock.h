/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock driver (virtio 1.2, 5.10), stream sockets only, polled:
 * queue 0 receive, 1 transmit, 2 event. Every packet starts with the
 * 44-byte struct virtio_vsock_hdr (little-endian; x86 is too). Chains are
 * two descriptors, header then payload, over contiguous memory, so a
 * device may treat them either way.
 *
 * Connections live in a small table. Received payload is copied at once
 * into the connection's receive ring (VSOCK_CONN_BUF bytes, the buf_alloc
 * we advertise), so receive buffers go straight back to the device; the
 * peer may never send more than that (its credit), and fwd_cnt counts what
 * the application has read. Sends never exceed the peer's credit
 * (buf_alloc - (tx_cnt - fwd_cnt)). Control packets (RESPONSE,
 * CREDIT_UPDATE, SHUTDOWN, RST...) are pending bits flushed from
 * vsock_poll() when a transmit buffer is free, so nothing ever waits on
 * the transmit ring while received packets pile up.
 */
#ifndef FW_VIRTIO_VSOCK_H
#define FW_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_vsock.h>
#include "virtio.h"

#ifndef VIRTIO_ID_VSOCK
#define VIRTIO_ID_VSOCK 19
#endif

#define VSOCK_HDR_LEN	     sizeof(struct virtio_vsock_hdr) /* 44 */
#define VSOCK_HOST_CID	     2
#define VSOCK_MAX_CONNS	     32
#define VSOCK_CONN_BUF	     65536 /* receive ring per connection = our buf_alloc */
#define VSOCK_RX_PAYLOAD     4096  /* per receive buffer */
#define VSOCK_TX_PAYLOAD     16384 /* per transmit packet, at most */
#define VSOCK_RST_QUEUE	     16	   /* RSTs to packets without a connection */
#define VSOCK_EVENT_BUFS     4
#define VSOCK_QUEUE_SIZE     256
/*
 * Sends limited by credit wait for a useful amount (a quarter of the
 * peer's buffer or a full packet) rather than trickle out as the peer
 * frees a few bytes at a time; after this long without, a CREDIT_REQUEST
 * goes out and whatever credit there is gets used.
 */
#define VSOCK_CREDIT_WAIT_US 10000

enum vsock_state {
	VS_FREE,
	VS_CONNECTING, /* we sent REQUEST */
	VS_ESTABLISHED,
	VS_CLOSING, /* we sent SHUTDOWN, waiting for the peer's RST */
	VS_CLOSED,  /* reset (by either side); the slot waits for vsock_release() */
};

/* Pending control packets. */
#define VP_REQUEST	  (1u << 0)
#define VP_RESPONSE	  (1u << 1)
#define VP_CREDIT_REQUEST (1u << 2)
#define VP_CREDIT_UPDATE  (1u << 3)
#define VP_SHUTDOWN	  (1u << 4)
#define VP_RST		  (1u << 5)

struct vsock_conn {
	enum vsock_state state;
	bool owned;	   /* handed to the application, not yet released */
	bool incoming;	   /* accepted by the transport, not yet by vsock_accept() */
	bool peer_rst;	   /* the peer reset the connection */
	bool refused;	   /* RST in answer to our REQUEST */
	bool peer_no_send; /* peer's SHUTDOWN with SEND: no more data will come */
	bool peer_no_rcv;  /* peer's SHUTDOWN with RCV: it will not read */
	bool credit_asked; /* a CREDIT_REQUEST is out and not yet answered */
	uint32_t pending;  /* VP_* */
	uint32_t local_port, peer_port;
	uint64_t peer_cid;
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the peer's last word on its credit */
	uint32_t tx_cnt;		       /* payload bytes sent */
	uint32_t rx_cnt, fwd_cnt;	       /* payload bytes received, and consumed */
	uint32_t fwd_advertised;	       /* fwd_cnt the peer last heard */
	uint64_t close_deadline;	       /* TSC: CLOSING gives up, sends RST */
	uint64_t credit_wait_tsc;	       /* since when sends wait for credit; 0: not */
	uint8_t *rx_buf;		       /* VSOCK_CONN_BUF bytes */
	uint64_t rx_bytes, tx_bytes;
};

struct vsock_rst {
	uint64_t dst_cid;
	uint32_t src_port, dst_port;
};

struct vsock {
	struct virtio_dev dev;
	struct virtq *rxq, *txq, *evq;
	uint64_t guest_cid;
	uint8_t *rx_bufs; /* rxq->size / 2 chains */
	uint8_t *tx_bufs; /* txq->size / 2 packets */
	uint16_t *tx_free;
	unsigned int nr_tx, nr_tx_free;
	uint32_t *ev_bufs;
	struct vsock_conn conns[VSOCK_MAX_CONNS];
	uint32_t listen_port;
	bool listening;
	uint32_t next_port; /* ephemeral ports for vsock_connect() */
	struct vsock_rst rsts[VSOCK_RST_QUEUE];
	unsigned int nr_rsts;
	uint64_t rx_packets, tx_packets, rx_dropped, transport_resets;
	uint64_t last_rx_tsc; /* when a packet last arrived */
};

/*
 * Negotiates VERSION_1 (+ EVENT_IDX), sets up the three queues, posts
 * receive and event buffers, reads guest_cid. Live until vsock_close().
 */
bool vsock_open(struct vsock *v, const struct virtio_dev *d, char *why, size_t len);
/* Lets transmit completions drain (up to @drain_us), then resets the device. */
void vsock_close(struct vsock *v, uint64_t drain_us);

/*
 * Receives and dispatches packets, reclaims transmit buffers, sends
 * pending control packets, times out closing connections. Returns the
 * number of things done (0: idle, the caller may cpu_relax()).
 */
unsigned int vsock_poll(struct vsock *v);

/* Accept connections to @port (0: stop listening; new REQUESTs get RST). */
void vsock_listen(struct vsock *v, uint32_t port);
/* The next connection the transport accepted, now owned by the caller; NULL if none. */
struct vsock_conn *vsock_accept(struct vsock *v);
/* A new connection to @cid:@port (REQUEST goes out from vsock_poll()); NULL if the table is full. */
struct vsock_conn *vsock_connect(struct vsock *v, uint64_t cid, uint32_t port);

/* Bytes waiting to be read. */
static inline uint32_t vsock_readable(const struct vsock_conn *c)
{
	return c->rx_cnt - c->fwd_cnt;
}
/* Reads up to @max bytes; the peer hears of the space freed (CREDIT_UPDATE) in batches. */
size_t vsock_read(struct vsock *v, struct vsock_conn *c, void *buf, size_t max);
/* Bytes vsock_write() would take now: the peer's credit, bounded by free transmit buffers. */
size_t vsock_writable(struct vsock *v, struct vsock_conn *c);
/*
 * Queues up to @len bytes as RW packets and notifies the device; returns
 * how many were taken. Credit-limited, it holds back a small packet for up
 * to VSOCK_CREDIT_WAIT_US, then sends a CREDIT_REQUEST (once per stall)
 * and what credit allows.
 */
size_t vsock_write(struct vsock *v, struct vsock_conn *c, const void *data, size_t len);
/* The peer will send nothing more and everything it sent has been read. */
static inline bool vsock_eof(const struct vsock_conn *c)
{
	return (c->peer_no_send || c->state == VS_CLOSED) && !vsock_readable(c);
}
/*
 * The application is done with @c: an open connection is shut down
 * (SHUTDOWN both ways, then RST when the peer answers with RST or after
 * @linger_us), a peer that already shut down both ways gets RST at once.
 * The slot is reused afterwards; @c must not be touched again.
 */
void vsock_release(struct vsock *v, struct vsock_conn *c, uint64_t linger_us);
/* Connections not yet back to VS_FREE (closing ones included). */
unsigned int vsock_active(const struct vsock *v);
/* Transmit buffers the device still holds. */
static inline unsigned int vsock_tx_in_flight(const struct vsock *v)
{
	return v->nr_tx - v->nr_tx_free;
}

#endif
