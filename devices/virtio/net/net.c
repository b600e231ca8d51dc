// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net (virtio 1.2, 5.1): one receive and one transmit queue on a TAP,
 * every TAP read and write on an io_uring whose eventfd the event loop
 * watches.
 *
 * Threads. Kicks and ring completions run on the event loop's thread,
 * activate/reset/config on vCPU threads; all of it under vdev->lock. SQEs
 * are only ever submitted on the event loop's thread: io_uring finishes some
 * requests (a read that waited for data, the next write of a linked batch)
 * in task work of the *submitting* thread, which for a vCPU sitting in
 * KVM_RUN means either an exit out of the guest or a completion delayed
 * until its next exit. vCPU-side paths therefore only change state and wake
 * the loop through the ring's eventfd.
 *
 * Receive. Reads go into device-owned bounce buffers of 65562 bytes (one
 * probe read, then bursts of up to NET_RX_SLOTS while the TAP has a backlog;
 * see rx_submit()), and each packet is then copied into the guest's chains.
 * We chose that over reading straight into guest buffers because:
 *  - the packet's size is known before a single guest buffer is taken, so
 *    with MRG_RXBUF exactly the chains it needs are used, and a packet that
 *    does not fit yet simply waits; a gather read would have to take chains
 *    for 64 KiB on every packet (some 40 of Linux's 1.5 KiB buffers) and
 *    give nearly all of them back with vq_unpop(), walking them again each
 *    time, or truncate the packet when fewer were posted;
 *  - a read that is still in flight when the driver resets the device lands
 *    in our memory, never in guest memory the driver has taken back;
 *  - the copy is cheap next to the rest: ~0.1 us for a 1500-byte frame
 *    against a syscall and an event-loop round trip per packet.
 * The TAP is only read while the guest has posted at least one buffer, so a
 * guest that stops receiving stops the reads (back-pressure), with at most
 * burst of packets parked in the bounce buffers until it posts more and kicks.
 *
 * Transmit. A batch of up to NET_TX_BATCH chains goes out as linked writevs
 * (our checked copy of the header, then the guest's buffers as they are),
 * with RWF_NOWAIT so a full TAP answers EAGAIN at once instead of io_uring
 * parking the write on guest memory. From the first EAGAIN on, the chains
 * are kept and written again after a POLL_ADD for POLLOUT. Kicks are off
 * while a batch is in flight and back on when the ring is drained.
 *
 * Hostile drivers. A malformed ring (vq_pop() < 0) leaves the queue
 * unusable: DEVICE_NEEDS_RESET. A transmit chain that is well formed as a
 * chain but not as a packet (writable buffers, too short, too long, header
 * asking for offloads that were not negotiated) is dropped and returned
 * with used length 0: like a NIC dropping a bad frame, it costs the guest
 * that one packet and the queue goes on; the TX used length is 0 anyway, as
 * the device writes nothing (virtio 1.2, 2.7.8). A receive chain that is
 * device-readable or smaller than the header breaks virtio 1.2, 5.1.6.3.1
 * and cannot be returned harmlessly: with MRG_RXBUF an empty used entry
 * would be counted into a neighbouring packet's num_buffers, so the device
 * asks for a reset, as QEMU does.
 */
#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <liburing.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/net/hdr.h"
#include "devices/uring.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/tap.h"
#include "lib/log.h"

#define NET_RXQ	      0
#define NET_TXQ	      1
#define NET_NR_QUEUES 2

#define NET_TX_BATCH	 32
/* Reads on the TAP per submission while it has packets for us. */
#define NET_RX_SLOTS	 16
/* Transmit chains looked at per run before the loop serves its other fds. */
#define NET_TX_BUDGET	 VQ_MAX_SIZE
/* Completions handled per wake-up, likewise. */
#define NET_CQE_BUDGET	 256
/* In flight at most: a batch, the reads or a poll, a POLLOUT, its removal, a cancel. */
#define NET_RING_ENTRIES 64

#define BIT(n) (1ULL << (n))

/* user_data: the operation in bits 0-7, a TX or RX slot in 8-15, the generation in 32-63. */
enum net_op {
	OP_RX_READ = 1,
	OP_RX_POLL,
	OP_TX_WRITE,
	OP_TX_POLL,
	OP_TX_POLL_REMOVE,
	OP_CANCEL,
};

/* Warnings a guest or the host can cause over and over: logged once each. */
enum net_warning {
	W_TX_CHAIN, /* + enum net_tx_err */
	W_TX_WRITE = W_TX_CHAIN + NET_TX_NR_ERRORS,
	W_RX_TOO_BIG,
	W_RX_NO_ROOM,
	W_RX_BAD,
	W_RX_READ,
	W_SUBMIT,
};

struct net_tx_slot {
	uint16_t head;
	int res;
	struct net_tx_frame f;
};

struct virtio_net {
	struct virtio_dev vdev;
	char name[NET_ID_MAX + 16];
	char id[NET_ID_MAX + 1];
	struct virtio_net_config config;
	int tap_fd;
	unsigned int tap_offloads; /* TUN_F_* the TAP accepts */
	uint64_t features;	   /* what the driver accepted, fixed at activation */
	bool active;
	uint32_t gen; /* bumped by every reset; TX completions of older batches are ignored */

	struct io_uring ring;
	bool ring_ok;
	unsigned int inflight;	      /* SQEs whose CQE has not been reaped */
	struct event_handler ring_ev; /* the ring's eventfd, also our wake-up */
	bool ring_watched;

	/* Receive */
	uint8_t *rx_buf;  /* NET_RX_SLOTS bounce buffers of NET_MAX_PACKET */
	uint32_t rx_free; /* bit per slot: neither read into nor holding a packet */
	uint32_t rx_slot_len[NET_RX_SLOTS];
	uint8_t rx_fifo[NET_RX_SLOTS]; /* slots holding packets, in the order they were read */
	unsigned int rx_fifo_first, rx_fifo_n;
	unsigned int rx_reading; /* reads in flight */
	uint32_t rx_len;	 /* bytes of the packet being delivered, header included; 0: none */
	uint32_t rx_done;	 /* bytes of it already copied into held chains */
	bool rx_polling;	 /* a POLLIN wait is in flight */
	bool rx_poll;		 /* the last read found nothing: poll before reading again */
	bool rx_burst;		 /* the last read found a packet: more are likely behind it */
	bool rx_stopped;	 /* the TAP failed a read: no more reads until a reset */
	uint16_t rx_nheld;	 /* chains popped for the parked packet (MRG_RXBUF) */
	uint16_t rx_head[VQ_MAX_SIZE];
	uint32_t rx_used[VQ_MAX_SIZE];
	struct vq_chain rx_first; /* holds the header; num_buffers is written last */
	struct vq_chain rx_chain;

	/* Transmit */
	struct net_tx_slot *tx;	  /* NET_TX_BATCH slots */
	unsigned int tx_n;	  /* chains in the batch; 0: no batch */
	unsigned int tx_next;	  /* first chain not yet written */
	unsigned int tx_inflight; /* writes submitted and not completed */
	uint32_t tx_gen;	  /* generation the batch belongs to */
	bool tx_poll;		  /* waiting for POLLOUT */
	bool tx_poll_removing;	  /* a stale POLLOUT wait is being cancelled */
	uint64_t tx_poll_ud;
	bool tx_nowait; /* RWF_NOWAIT is accepted by the TAP */
	struct vq_chain tx_chain;

	struct net_stats stats;
	struct virtio_net_io io;
	bool quiescing;	 /* completions only: no new chains are taken */
	uint64_t warned; /* BIT(enum net_warning) */
};

static bool net_live(const struct virtio_net *net)
{
	return net->active && !net->vdev.needs_reset;
}

static void net_warn_once(struct virtio_net *net, enum net_warning w, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void net_warn_once(struct virtio_net *net, enum net_warning w, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (net->warned & BIT(w))
		return;
	net->warned |= BIT(w);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("%s: %s (further ones not logged)", net->name, msg);
}

/* Makes the event loop run net_on_ring(), e.g. after a vCPU activated the device. */
static void net_wake(struct virtio_net *net)
{
	uint64_t one = 1;

	if (write(net->ring_ev.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("%s: wake-up eventfd: %s", net->name, strerror(errno));
}

static uint64_t net_ud(enum net_op op, unsigned int slot, uint32_t gen)
{
	return op | (uint64_t)slot << 8 | (uint64_t)gen << 32;
}

/* An SQE to fill in; the ring is sized so that it never runs out. */
static struct io_uring_sqe *net_sqe(struct virtio_net *net, uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&net->ring);

	if (!sqe) {
		io_uring_submit(&net->ring);
		sqe = io_uring_get_sqe(&net->ring);
		if (!sqe)
			abort(); /* more in flight than NET_RING_ENTRIES: a bug here */
	}
	io_uring_sqe_set_data64(sqe, ud);
	net->inflight++;
	return sqe;
}

static void net_submit(struct virtio_net *net)
{
	int r = io_uring_submit(&net->ring);

	/* The SQEs stay queued and go with the next submission. */
	if (r < 0)
		net_warn_once(net, W_SUBMIT, "io_uring submission failed: %s", strerror(-r));
}

/* --- Receive ----------------------------------------------------------------------------- */

static uint8_t *rx_slot_buf(struct virtio_net *net, unsigned int slot)
{
	return net->rx_buf + (size_t)slot * NET_MAX_PACKET;
}

/* The packet at the head of the FIFO is done with; its slot can be read into again. */
static void rx_slot_release(struct virtio_net *net)
{
	net->rx_free |= 1U << net->rx_fifo[net->rx_fifo_first];
	net->rx_fifo_first = (net->rx_fifo_first + 1) % NET_RX_SLOTS;
	net->rx_fifo_n--;
}

/* Drops the packet being delivered; chains held for it stay with us until the next packet. */
static void rx_drop(struct virtio_net *net)
{
	stats_add(net->stats.rx_drops, 1);
	net->rx_len = net->rx_done = 0;
	net->rx_nheld = 0;
	rx_slot_release(net);
}

/*
 * Takes the next receive chain. Returns 1, or 0 when the ring is empty
 * (kicks are then enabled, and the ring was looked at again after that so a
 * buffer posted meanwhile is not missed), or -1 when the device needs a reset.
 */
static int rx_pop(struct virtio_net *net, struct virtqueue *vq, struct vq_chain *c)
{
	int r = vq_pop(vq, c);

	if (r == 0) {
		vq_set_notification(vq, true);
		r = vq_pop(vq, c);
		if (r > 0)
			vq_set_notification(vq, false);
	}
	if (r < 0) {
		virtio_set_needs_reset(&net->vdev, vq_strerror(-r));
		return -1;
	}
	if (r > 0 && c->nr_out) {
		virtio_set_needs_reset(&net->vdev, "receive chain has device-readable buffers");
		return -1;
	}
	if (r > 0 && c->in_len < NET_HDR_LEN) {
		virtio_set_needs_reset(&net->vdev,
				       "receive buffer smaller than the virtio-net header");
		return -1;
	}
	return r;
}

/* Copies the parked packet into the guest's chains; false while waiting for buffers. */
static bool rx_deliver(struct virtio_net *net)
{
	struct virtqueue *vq = &net->vdev.vqs[NET_RXQ];
	bool mrg = virtio_has_feature(&net->vdev, VIRTIO_NET_F_MRG_RXBUF);

	while (net->rx_done < net->rx_len) {
		struct vq_chain *c = net->rx_nheld ? &net->rx_chain : &net->rx_first;
		uint32_t n;
		int r = rx_pop(net, vq, c);

		if (r < 0) {
			rx_drop(net);
			return true;
		}
		if (r == 0)
			return false;
		if (!mrg && c->in_len < net->rx_len) {
			/*
			 * Without MRG_RXBUF a packet takes one chain, and the driver
			 * only SHOULD post ones big enough (virtio 1.2, 5.1.6.3.1),
			 * e.g. not if the TAP's MTU was raised. Truncating would hand
			 * it a corrupt frame: drop the packet, keep the buffer.
			 */
			vq_unpop(vq);
			net_warn_once(net, W_RX_TOO_BIG,
				      "%u-byte packet dropped: receive buffer holds %llu",
				      net->rx_len, (unsigned long long)c->in_len);
			rx_drop(net);
			return true;
		}
		n = (uint32_t)vq_chain_write(
			c, 0, rx_slot_buf(net, net->rx_fifo[net->rx_fifo_first]) + net->rx_done,
			net->rx_len - net->rx_done);
		vq_chain_mark_written(vq, c);
		net->rx_head[net->rx_nheld] = c->head;
		net->rx_used[net->rx_nheld++] = n;
		net->rx_done += n;
		if (net->rx_done < net->rx_len && net->rx_nheld == vq->size) {
			/* Every chain the ring can hold is ours: no more can come. */
			for (unsigned int i = 0; i < net->rx_nheld; i++)
				vq_unpop(vq);
			net_warn_once(net, W_RX_NO_ROOM,
				      "%u-byte packet dropped: larger than the whole receive ring",
				      net->rx_len);
			rx_drop(net);
			return true;
		}
	}
	if (mrg) {
		uint16_t nb = htole16(net->rx_nheld);

		vq_chain_write(&net->rx_first, offsetof(struct virtio_net_hdr_v1, num_buffers), &nb,
			       sizeof(nb));
		vq_chain_mark_written(vq, &net->rx_first);
	}
	for (unsigned int i = 0; i < net->rx_nheld; i++)
		vq_push(vq, net->rx_head[i], net->rx_used[i]);
	stats_add(net->stats.rx_packets, 1);
	stats_add(net->stats.rx_bytes, net->rx_len - NET_HDR_LEN);
	net->rx_len = net->rx_done = 0;
	net->rx_nheld = 0;
	rx_slot_release(net);
	return true;
}

/*
 * Chains the driver has posted and we have not taken yet. Read straight off
 * the ring like vq_has_avail(); vq_pop() checks the index properly later.
 */
static unsigned int rx_avail(const struct virtqueue *vq)
{
	uint16_t n = (uint16_t)(le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE)) -
				vq->last_avail);

	return n < vq->size ? n : vq->size;
}

/*
 * Reads go into free slots, several per submission while the TAP keeps
 * having packets: one io_uring_enter() then fetches a burst instead of one
 * packet, which is what an event-loop thread sharing the CPUs with a
 * spinning vCPU and the sender needs to keep up. After the TAP ran dry, one
 * read (or the poll) probes it first, so an idle TAP costs one read and not
 * a burst of them. Never more reads than the guest has chains posted: each
 * packet takes at least one, so back-pressure holds, with at most
 * NET_RX_SLOTS packets parked here.
 *
 * Reads that wait inside io_uring (kernels that do not answer EAGAIN on an
 * O_NONBLOCK fd) may complete in any slot order, so packets are delivered
 * in completion order, which is the order the TAP handed them out.
 */
static void rx_submit(struct virtio_net *net, unsigned int avail)
{
	struct io_uring_sqe *sqe;
	unsigned int n;

	if (net->rx_poll) {
		if (net->rx_reading)
			return; /* the poll goes once every read of the burst is back */
		/* Kernels that do not wait inside io_uring on an O_NONBLOCK fd say EAGAIN. */
		sqe = net_sqe(net, net_ud(OP_RX_POLL, 0, net->gen));
		io_uring_prep_poll_add(sqe, net->tap_fd, POLLIN);
		net->rx_polling = true;
		return;
	}
	n = net->rx_burst ? NET_RX_SLOTS : 1;
	if (n > avail)
		n = avail;
	for (; net->rx_reading < n && net->rx_free; net->rx_reading++) {
		unsigned int slot = (unsigned int)__builtin_ctz(net->rx_free);

		sqe = net_sqe(net, net_ud(OP_RX_READ, slot, net->gen));
		io_uring_prep_read(sqe, net->tap_fd, rx_slot_buf(net, slot), NET_MAX_PACKET,
				   (uint64_t)-1);
		net->rx_free &= ~(1U << slot);
		net->io.rx_reads++;
	}
}

static void rx_run(struct virtio_net *net)
{
	struct virtqueue *vq = &net->vdev.vqs[NET_RXQ];
	unsigned int avail;

	if (net->quiescing)
		return;
	while (net->rx_fifo_n && net_live(net)) {
		if (!net->rx_len) {
			net->rx_len = net->rx_slot_len[net->rx_fifo[net->rx_fifo_first]];
			net->rx_done = 0;
			net->rx_nheld = 0;
		}
		if (!rx_deliver(net))
			return; /* parked until the driver posts buffers and kicks */
	}
	if (net->rx_polling || net->rx_stopped || !net_live(net))
		return;
	/* Back-pressure: nothing is taken off the TAP unless the guest has room. */
	avail = rx_avail(vq);
	if (!avail) {
		vq_set_notification(vq, true);
		avail = rx_avail(vq);
		if (!avail)
			return;
	}
	vq_set_notification(vq, false);
	rx_submit(net, avail);
}

static void rx_complete(struct virtio_net *net, enum net_op op, unsigned int slot, int res)
{
	struct virtio_net_hdr_v1 *hdr;

	if (op == OP_RX_POLL) {
		/* Readable, or in error: the read that follows tells which. */
		net->rx_polling = false;
		net->rx_poll = false;
		return;
	}
	if (slot >= NET_RX_SLOTS || (net->rx_free & (1U << slot)))
		return; /* cannot happen: every read owns its slot */
	net->rx_reading--;
	net->rx_free |= 1U << slot;
	hdr = (struct virtio_net_hdr_v1 *)rx_slot_buf(net, slot);
	if (res == -EAGAIN) {
		net->rx_poll = true;
		net->rx_burst = false;
		return;
	}
	if (res == -ECANCELED || res == -EINTR)
		return;
	if (res < 0) {
		/* EBADFD once the interface is deleted: reading again would only spin. */
		net_warn_once(net, W_RX_READ, "TAP read failed: %s; receive stopped",
			      strerror(-res));
		stats_add(net->stats.errors, 1);
		net->rx_stopped = true;
		return;
	}
	net->rx_burst = true;
	if (!net_live(net)) {
		/* Read for a driver that has reset the device since. */
		stats_add(net->stats.rx_drops, 1);
		return;
	}
	if ((uint32_t)res < NET_HDR_LEN + ETH_HLEN || (uint32_t)res > NET_MAX_PACKET ||
	    !net_rx_fixup(hdr, net->features)) {
		/* The TAP truncated a packet, or offloads it was not asked for. */
		net_warn_once(net, W_RX_BAD,
			      "%d-byte packet from the TAP dropped (size or GSO type)", res);
		stats_add(net->stats.rx_drops, 1);
		return;
	}
	net->rx_free &= ~(1U << slot);
	net->rx_slot_len[slot] = (uint32_t)res;
	net->rx_fifo[(net->rx_fifo_first + net->rx_fifo_n++) % NET_RX_SLOTS] = (uint8_t)slot;
}

/* --- Transmit ---------------------------------------------------------------------------- */

static void tx_submit(struct virtio_net *net)
{
	for (unsigned int i = net->tx_next; i < net->tx_n; i++) {
		struct net_tx_slot *s = &net->tx[i];
		struct io_uring_sqe *sqe = net_sqe(net, net_ud(OP_TX_WRITE, i, net->gen));

		io_uring_prep_writev(sqe, net->tap_fd, s->f.iov, s->f.niov, (uint64_t)-1);
		if (net->tx_nowait)
			sqe->rw_flags = RWF_NOWAIT;
		/* Linked: frames reach the TAP in order, and none passes one the TAP refused. */
		if (i + 1 < net->tx_n)
			sqe->flags |= IOSQE_IO_LINK;
		s->res = 0;
		net->tx_inflight++;
	}
	net->tx_gen = net->gen;
}

static void tx_run(struct virtio_net *net)
{
	struct virtqueue *vq = &net->vdev.vqs[NET_TXQ];
	unsigned int budget = NET_TX_BUDGET;
	int r = 0;

	if (!net_live(net) || net->tx_n || net->quiescing)
		return; /* a batch is in flight or waits for POLLOUT */
	for (;;) {
		unsigned int n = 0;

		/* The driver need not kick while we drain; we look again when the batch is done. */
		vq_set_notification(vq, false);
		while (n < NET_TX_BATCH && budget && (r = vq_pop(vq, &net->tx_chain)) > 0) {
			struct net_tx_slot *s = &net->tx[n];
			enum net_tx_err e = net_tx_prepare(&net->tx_chain, net->features, &s->f);

			budget--;
			if (e) {
				vq_push(vq, net->tx_chain.head, 0);
				stats_add(net->stats.tx_drops, 1);
				stats_add(net->stats.errors, 1);
				net_warn_once(net, W_TX_CHAIN + e, "transmit chain dropped: %s",
					      net_tx_strerror(e));
				continue;
			}
			s->head = net->tx_chain.head;
			n++;
		}
		if (r < 0) {
			virtio_set_needs_reset(&net->vdev, vq_strerror(-r));
			return;
		}
		if (n) {
			net->tx_n = n;
			net->tx_next = 0;
			tx_submit(net);
			return;
		}
		if (!budget) {
			/* A guest posting bad chains as fast as we drop them: come back later. */
			net_wake(net);
			return;
		}
		vq_set_notification(vq, true);
		if (!vq_has_avail(vq))
			return;
	}
}

/* A batch from before a reset is forgotten once nothing of it is in flight. */
static void tx_settle(struct virtio_net *net)
{
	if (net->tx_n && net->tx_gen != net->gen && !net->tx_inflight && !net->tx_poll) {
		log_debug("%s: %u frames queued before a reset dropped", net->name,
			  net->tx_n - net->tx_next);
		net->tx_n = 0;
	}
}

/* Every write of the batch has completed: return what went out, keep the rest. */
static void tx_finish(struct virtio_net *net)
{
	struct virtqueue *vq = &net->vdev.vqs[NET_TXQ];
	unsigned int i;

	if (!net_live(net))
		return; /* needs reset: the reset forgets the batch */
	for (i = net->tx_next; i < net->tx_n; i++) {
		struct net_tx_slot *s = &net->tx[i];

		if (s->res == -EAGAIN || s->res == -ECANCELED)
			break;
		if (s->res == -EOPNOTSUPP && net->tx_nowait) {
			/* No RWF_NOWAIT on this kernel's TUN: O_NONBLOCK gives EAGAIN there. */
			net->tx_nowait = false;
			break;
		}
		if (s->res < 0) {
			/* EIO while the link is down, EINVAL for a header the kernel refuses. */
			stats_add(net->stats.errors, 1);
			net_warn_once(net, W_TX_WRITE, "TAP write failed: %s; frame dropped",
				      strerror(-s->res));
		} else {
			stats_add(net->stats.tx_packets, 1);
			stats_add(net->stats.tx_bytes, s->f.len);
		}
		vq_push(vq, s->head, 0);
	}
	net->tx_next = i;
	if (i == net->tx_n) {
		net->tx_n = 0;
		tx_run(net);
		return;
	}
	if (net->tx[i].res == -EAGAIN) {
		/* The TAP is full: keep the chains and write them again once it has room. */
		struct io_uring_sqe *sqe;

		net->io.tx_full++;
		net->tx_poll_ud = net_ud(OP_TX_POLL, 0, net->gen);
		sqe = net_sqe(net, net->tx_poll_ud);
		io_uring_prep_poll_add(sqe, net->tap_fd, POLLOUT);
		net->tx_poll = true;
		return;
	}
	/* Cancelled behind a write that failed, or to be retried without RWF_NOWAIT. */
	tx_submit(net);
}

static void tx_complete(struct virtio_net *net, enum net_op op, unsigned int slot, uint32_t gen,
			int res)
{
	switch (op) {
	case OP_TX_WRITE:
		net->tx_inflight--;
		if (gen != net->gen) {
			tx_settle(net);
			return;
		}
		net->tx[slot].res = res;
		if (!net->tx_inflight)
			tx_finish(net);
		return;
	case OP_TX_POLL:
		net->tx_poll = false;
		if (gen != net->gen) {
			tx_settle(net);
			return;
		}
		/* Room, or an error that the writes will report; or a quiesce took the batch. */
		if (net_live(net) && !net->quiescing)
			tx_submit(net);
		return;
	default: /* OP_TX_POLL_REMOVE */
		net->tx_poll_removing = false;
		return;
	}
}

/* --- Ring and event loop ----------------------------------------------------------------- */

static void net_complete(struct virtio_net *net, uint64_t ud, int res)
{
	enum net_op op = ud & 0xff;
	unsigned int slot = (ud >> 8) & 0xff;
	uint32_t gen = (uint32_t)(ud >> 32);

	switch (op) {
	case OP_RX_READ:
	case OP_RX_POLL:
		rx_complete(net, op, slot, res);
		break;
	case OP_TX_WRITE:
	case OP_TX_POLL:
	case OP_TX_POLL_REMOVE:
		tx_complete(net, op, slot, gen, res);
		break;
	default:
		break;
	}
}

/* Reaps completions, moves both queues on, submits; under vdev->lock, on the loop's thread. */
static void net_process(struct virtio_net *net)
{
	unsigned int budget = NET_CQE_BUDGET;
	struct io_uring_cqe *cqe;

	/*
	 * Completions posted while we are here are reaped by this very loop:
	 * an eventfd signal for each would only wake the loop again for
	 * nothing. Signals are back on before the final look at the ring.
	 */
	io_uring_cq_eventfd_toggle(&net->ring, false);
	do {
		while (budget && io_uring_peek_cqe(&net->ring, &cqe) == 0) {
			uint64_t ud = cqe->user_data;
			int res = cqe->res;

			io_uring_cqe_seen(&net->ring, cqe);
			net->inflight--;
			budget--;
			net_complete(net, ud, res);
		}
		/* A POLLOUT wait left from before a reset would hold up the new driver's frames. */
		if (net->tx_poll && net->tx_gen != net->gen && !net->tx_poll_removing) {
			struct io_uring_sqe *sqe =
				net_sqe(net, net_ud(OP_TX_POLL_REMOVE, 0, net->gen));

			io_uring_prep_poll_remove(sqe, net->tx_poll_ud);
			net->tx_poll_removing = true;
		}
		rx_run(net);
		tx_run(net);
		/* Reads and writes that complete at once are reaped in this same pass. */
		net_submit(net);
	} while (budget && io_uring_cq_ready(&net->ring));
	io_uring_cq_eventfd_toggle(&net->ring, true);
	/* Out of budget (let the loop serve its other fds first), or posted unsignalled. */
	if (io_uring_cq_ready(&net->ring))
		net_wake(net);
	if (net->vdev.vqs[NET_RXQ].ready)
		virtio_notify_used(&net->vdev, NET_RXQ);
	if (net->vdev.vqs[NET_TXQ].ready)
		virtio_notify_used(&net->vdev, NET_TXQ);
}

static void net_on_ring(struct event_handler *h, uint32_t events)
{
	struct virtio_net *net = container_of(h, struct virtio_net, ring_ev);
	uint64_t v;

	/* Cleared first: a completion posted after this signals again. */
	if (read(h->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("%s: ring eventfd: %s", net->name, strerror(errno));
	pthread_mutex_lock(&net->vdev.lock);
	net_process(net);
	pthread_mutex_unlock(&net->vdev.lock);
}

/* --- virtio_dev_ops ---------------------------------------------------------------------- */

static void net_config_read(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len)
{
	struct virtio_net *net = container_of(vdev, struct virtio_net, vdev);

	/* Bytes past the structure read as zero (the transport cleared data). */
	if (off < sizeof(net->config))
		memcpy(data, (uint8_t *)&net->config + off,
		       len < sizeof(net->config) - off ? len : sizeof(net->config) - off);
}

static void net_config_write(struct virtio_dev *vdev, uint64_t off, const void *data, uint32_t len)
{
	/* Every field is read-only for a VERSION_1 driver (virtio 1.2, 5.1.4.2). */
}

static int net_activate(struct virtio_dev *vdev)
{
	struct virtio_net *net = container_of(vdev, struct virtio_net, vdev);
	unsigned int offloads;
	int r;

	net->features = vdev->driver_features;
	offloads = tap_offloads_for(net->features, net->tap_offloads);
	r = tap_set_offloads(net->tap_fd, offloads);
	if (r) {
		log_warn("%s: TUNSETOFFLOAD %#x: %s", net->name, offloads, strerror(-r));
		return r;
	}
	if (!net->ring_watched) {
		r = vdev->loop ? event_loop_add(vdev->loop, &net->ring_ev, EPOLLIN) : -ENOTCONN;
		if (r) {
			log_warn("%s: watching the io_uring: %s", net->name, strerror(-r));
			return r;
		}
		net->ring_watched = true;
	}
	net->active = true;
	net->rx_stopped = false;
	net->tx_nowait = true;
	/* Buffers posted before DRIVER_OK are picked up by the loop, which owns submissions. */
	net_wake(net);
	return 0;
}

static void net_reset(struct virtio_dev *vdev)
{
	struct virtio_net *net = container_of(vdev, struct virtio_net, vdev);

	net->active = false;
	net->gen++;
	/*
	 * A parked packet and the chains held for it belong to the old driver.
	 * A read in flight lands in rx_buf, ours, and is dropped or delivered
	 * to the next driver; writes never outlive their submission (RWF_NOWAIT).
	 */
	if (net->rx_len)
		rx_drop(net);
	net->rx_nheld = 0;
	/* Packets read but not delivered were meant for the old driver too. */
	while (net->rx_fifo_n) {
		stats_add(net->stats.rx_drops, 1);
		rx_slot_release(net);
	}
	tx_settle(net);
	if (net->tx_poll)
		net_wake(net); /* the loop cancels the stale POLLOUT wait */
}

static void net_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_net *net = container_of(vdev, struct virtio_net, vdev);

	if (q == NET_RXQ)
		rx_run(net);
	else if (q == NET_TXQ)
		tx_run(net);
	net_submit(net);
	virtio_notify_used(vdev, q);
}

/*
 * Leaves every guest buffer either in the avail ring or in the used ring.
 * Transmit: the writes in flight complete; frames still waiting for room
 * in the TAP are dropped (their chains cannot go back: chains refused on
 * the way were returned in between). Receive: the chains held for a
 * packet partly copied go back to the ring, and the packet stays with us,
 * delivered from its start later on (a restored device never had it).
 */
static int net_quiesce(struct virtio_dev *vdev)
{
	struct virtio_net *net = container_of(vdev, struct virtio_net, vdev);
	struct virtqueue *txq = &vdev->vqs[NET_TXQ], *rxq = &vdev->vqs[NET_RXQ];
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_cqe *cqe;
	uint64_t ud;
	int r = 0, res;

	net->quiescing = true;
	net_submit(net);
	while (net->tx_inflight || net->tx_poll || net->tx_poll_removing) {
		/* The writes are done; the wait for room is not worth finishing. */
		if (!net->tx_inflight && net->tx_poll && !net->tx_poll_removing) {
			io_uring_prep_poll_remove(
				net_sqe(net, net_ud(OP_TX_POLL_REMOVE, 0, net->gen)),
				net->tx_poll_ud);
			net->tx_poll_removing = true;
			net_submit(net);
		}
		r = io_uring_wait_cqe_timeout(&net->ring, &cqe, &ts);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		ud = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(&net->ring, cqe);
		net->inflight--;
		net_complete(net, ud, res);
		net_submit(net);
	}
	net->quiescing = false;
	if (net->tx_inflight || net->tx_poll) {
		log_error("%s: transmit still in flight: %s", net->name, strerror(-r));
		return r < 0 ? r : -EBUSY;
	}
	if (net->tx_n && net->tx_gen == net->gen && net_live(net)) {
		for (unsigned int i = net->tx_next; i < net->tx_n; i++)
			vq_push(txq, net->tx[i].head, 0);
		stats_add(net->stats.tx_drops, net->tx_n - net->tx_next);
		net->tx_n = 0;
	}
	if (net->rx_nheld) {
		for (unsigned int i = 0; i < net->rx_nheld; i++)
			vq_unpop(rxq);
		net->rx_nheld = 0;
		net->rx_done = 0;
	}
	if (txq->ready)
		virtio_notify_used(vdev, NET_TXQ);
	/* Serve what waited meanwhile, on a later turn of the loop. */
	net_wake(net);
	return 0;
}

/* After a restore: the TAP is read again and transmit chains are looked at. */
static void net_resume(struct virtio_dev *vdev)
{
	net_wake(container_of(vdev, struct virtio_net, vdev));
}

static const struct prom_family net_packets_family = {
	"kvmlet_net_packets_total", "Frames by interface; rx is to the guest, tx from it.",
	PROM_COUNTER
};
static const struct prom_family net_bytes_family = {
	"kvmlet_net_bytes_total", "Frame bytes by interface; rx is to the guest, tx from it.",
	PROM_COUNTER
};
static const struct prom_family net_drops_family = { "kvmlet_net_drops_total",
						     "Frames dropped by interface and direction.",
						     PROM_COUNTER };
static const struct prom_family net_errors_family = {
	"kvmlet_net_errors_total", "Malformed chains and TAP failures by interface.", PROM_COUNTER
};

static void net_stats(struct virtio_dev *vdev, const struct device_stats_out *out)
{
	struct virtio_net *net = container_of(vdev, struct virtio_net, vdev);
	const struct net_stats *s = &net->stats;
	const char *id = net->id;
	const struct {
		const struct prom_family *family;
		const char *dir, *field;
		bool kvmlet;
		uint64_t v;
	} m[] = {
		{ &net_packets_family, "rx", "rx_packets_count", false, stats_get(s->rx_packets) },
		{ &net_packets_family, "tx", "tx_packets_count", false, stats_get(s->tx_packets) },
		{ &net_bytes_family, "rx", "rx_bytes_count", false, stats_get(s->rx_bytes) },
		{ &net_bytes_family, "tx", "tx_bytes_count", false, stats_get(s->tx_bytes) },
		{ &net_drops_family, "rx", "rx_drops", true, stats_get(s->rx_drops) },
		{ &net_drops_family, "tx", "tx_drops", true, stats_get(s->tx_drops) },
		{ &net_errors_family, NULL, "errors", true, stats_get(s->errors) },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		const char *const *labels =
			m[i].dir ? PROM_LABELS("iface", id, "direction", m[i].dir)
				 : PROM_LABELS("iface", id);

		device_emit(out, &vdev->dev,
			    &(struct device_metric){ m[i].family, labels, "net", m[i].field,
						     m[i].kvmlet },
			    m[i].v);
	}
}

static void net_destroy(struct virtio_dev *vdev)
{
	virtio_net_destroy(container_of(vdev, struct virtio_net, vdev));
}

static const struct virtio_dev_ops net_ops = {
	.kind = "virtio-net",
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.notify = net_notify,
	.quiesce = net_quiesce,
	.resume = net_resume,
	.stats = net_stats,
	.destroy = net_destroy,
};

/* --- Creation ---------------------------------------------------------------------------- */

/* A locally administered unicast address from FNV-1a of the id: stable across restarts. */
static void net_derive_mac(const char *id, uint8_t mac[6])
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
	mac[0] = (mac[0] & 0xfc) | 0x02;
}

static uint64_t net_features(unsigned int offloads)
{
	uint64_t f = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
		     BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CSUM) |
		     BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
		     BIT(VIRTIO_NET_F_HOST_UFO);

	/* The TAP takes any of these on write; the guest-side ones need TUNSETOFFLOAD. */
	if (offloads & TUN_F_CSUM)
		f |= BIT(VIRTIO_NET_F_GUEST_CSUM);
	if (offloads & TUN_F_TSO4)
		f |= BIT(VIRTIO_NET_F_GUEST_TSO4);
	if (offloads & TUN_F_TSO6)
		f |= BIT(VIRTIO_NET_F_GUEST_TSO6);
	if (offloads & TUN_F_UFO)
		f |= BIT(VIRTIO_NET_F_GUEST_UFO);
	return f;
}

/* What the device submits: TAP reads and writes, readiness polls, and cancels. */
static const uint8_t net_uring_ops[] = {
	IORING_OP_READ,	       IORING_OP_WRITEV,       IORING_OP_POLL_ADD,
	IORING_OP_POLL_REMOVE, IORING_OP_ASYNC_CANCEL,
};

static const struct uring_policy net_uring_policy = {
	.ops = net_uring_ops,
	.nr_ops = sizeof(net_uring_ops),
	.sqe_flags = IOSQE_IO_LINK,
};

struct virtio_net *virtio_net_create(const struct net_params *p, const struct guest_memory *mem,
				     struct err *err)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	int r;

	if (!net) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	snprintf(net->name, sizeof(net->name), "virtio-net %s", p->id);
	snprintf(net->id, sizeof(net->id), "%s", p->id);
	virtio_dev_init(&net->vdev, &net_ops, net->name, VIRTIO_ID_NET, 0, NET_NR_QUEUES, mem);
	net->vdev.dev.id = net->id;
	net->tap_fd = -1;
	net->ring_ev = (struct event_handler){ -1, net_on_ring };
	/* Pages are only touched as packets land: 1.5 KiB frames use one per slot. */
	net->rx_buf = malloc((size_t)NET_RX_SLOTS * NET_MAX_PACKET);
	net->rx_free = (1U << NET_RX_SLOTS) - 1;
	net->tx = calloc(NET_TX_BATCH, sizeof(*net->tx));
	if (!net->rx_buf || !net->tx) {
		err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	r = tap_open(p->id, p->tap, &net->tap_offloads, err);
	if (r < 0)
		goto fail;
	net->tap_fd = r;
	net->ring_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (net->ring_ev.fd < 0) {
		err_set(err, -errno, "--net id=%s: eventfd: %s", p->id, strerror(errno));
		goto fail;
	}
	r = uring_init(&net->ring, NET_RING_ENTRIES, 0, net->ring_ev.fd, &net_uring_policy);
	if (r < 0) {
		err_set(err, r, "--net id=%s: io_uring: %s", p->id, strerror(-r));
		goto fail;
	}
	net->ring_ok = true;

	if (p->has_mac)
		memcpy(net->config.mac, p->mac, sizeof(net->config.mac));
	else
		net_derive_mac(p->id, net->config.mac);
	net->config.status = htole16(VIRTIO_NET_S_LINK_UP);
	net->vdev.device_features |= net_features(net->tap_offloads);
	return net;
fail:
	virtio_net_destroy(net);
	return NULL;
}

/* Cancels whatever is in flight and waits for it, so no read lands in freed memory. */
static void net_drain(struct virtio_net *net)
{
	struct __kernel_timespec ts = { .tv_sec = 1 };
	struct io_uring_cqe *cqe;

	if (!net->inflight)
		return;
	io_uring_prep_cancel64(net_sqe(net, net_ud(OP_CANCEL, 0, 0)), 0,
			       IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
	io_uring_submit(&net->ring);
	while (net->inflight && io_uring_wait_cqe_timeout(&net->ring, &cqe, &ts) == 0) {
		io_uring_cqe_seen(&net->ring, cqe);
		net->inflight--;
	}
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net)
		return;
	if (net->ring_watched && net->vdev.loop && net->vdev.loop->epfd >= 0)
		event_loop_del(net->vdev.loop, &net->ring_ev);
	if (net->ring_ok) {
		net_drain(net);
		io_uring_queue_exit(&net->ring);
	}
	if (net->ring_ev.fd >= 0)
		close(net->ring_ev.fd);
	if (net->tap_fd >= 0)
		close(net->tap_fd);
	virtio_dev_fini(&net->vdev);
	/* Should a read not have let go of it, leaking the buffer beats a write into freed memory. */
	if (!net->inflight)
		free(net->rx_buf);
	free(net->tx);
	free(net);
}

struct virtio_dev *virtio_net_dev(struct virtio_net *net)
{
	return &net->vdev;
}

const char *virtio_net_id(const struct virtio_net *net)
{
	return net->id;
}

const struct net_stats *virtio_net_stats(const struct virtio_net *net)
{
	return &net->stats;
}

void virtio_net_get_io(struct virtio_net *net, struct virtio_net_io *io)
{
	pthread_mutex_lock(&net->vdev.lock);
	*io = net->io;
	pthread_mutex_unlock(&net->vdev.lock);
}
