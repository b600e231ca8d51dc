// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk on io_uring.
 *
 * Threads. Everything here runs under vdev->lock: register accesses
 * (config reads, activate, reset) on vCPU threads, kicks and io_uring
 * completions on the VMM's event loop. Requests are only ever submitted
 * from the event loop, so the loop thread owns their task work; reset, on a
 * vCPU thread, only submits a cancel and waits.
 *
 * Rings. One io_uring per request queue, created with the device so that a
 * host without io_uring fails at start-up, not when the guest boots. All
 * queues are served on one thread, so a ring per queue buys no parallelism;
 * it buys isolation: a flush drains only its own queue (IOSQE_IO_DRAIN
 * orders against everything earlier on the ring), completion-queue space is
 * budgeted per queue, one queue's reset cannot touch another's I/O, and a
 * queue can later move to its own I/O thread unchanged.
 *
 * In flight. Each queue has VQ_MAX_SIZE request slots, of which at most the
 * queue's size are used: a guest that makes buffers available faster than
 * they complete finds the rest left in its ring until slots free up. Every
 * SQE produces one CQE, and the SQEs a queue has outstanding never exceed
 * its CQ ring, so completions are never dropped or overflowed. When a chain
 * has been popped but cannot be started (no SQ/CQ room, no bounce memory)
 * it is given back with vq_unpop() and the queue is marked stalled; the next
 * completion, which is always due because the shortage comes from requests
 * in flight, resumes it. Nothing spins.
 *
 * O_DIRECT. Guest buffers go straight to readv/writev. With O_DIRECT every
 * buffer must start on the backend's memory alignment and be a whole number
 * of sectors long; a request that is not gets a bounce buffer for its whole
 * length, bounded per device (BLK_BOUNCE_BUDGET) so a hostile guest cannot
 * make the VMM allocate without limit. Buffered backends never bounce.
 *
 * Reset. The driver's reset cancels what io_uring can cancel and waits for
 * every outstanding CQE, so no I/O lands in guest memory or completes into a
 * queue after it is reset. CQEs carry the queue's generation as a second
 * line of defence: one from before a reset is ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/uring.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/blk/disk.h"
#include "devices/virtio/blk/request.h"
#include "devices/stats.h"
#include "lib/log.h"

#define BLK_FEATURES                                                        \
	((1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) | \
	 (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_MQ) |         \
	 (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES))

#define BLK_RING_ENTRIES    VQ_MAX_SIZE
/* Data buffers per request: a chain of VQ_MAX_CHAIN less the header and the status. */
#define BLK_SEG_MAX	    (VQ_MAX_CHAIN - 2)
/* Sectors per discard / write-zeroes segment: 2 GiB, so one fallocate() stays short. */
#define BLK_DWZ_MAX_SECTORS (1U << 22)
/* Bounce memory for misaligned O_DIRECT requests, per device. */
#define BLK_BOUNCE_BUDGET   (8U << 20)
#define BLK_BOUNCE_ALIGN    4096

/*
 * user_data of an SQE: the queue's generation, the request's slot, and the
 * segment (a discard / write-zeroes range, or BLK_SEG_SYNC) with a retry bit.
 */
#define BLK_SLOT_CANCEL 0xffffU
#define BLK_SEG_INDEX	0xffU
#define BLK_SEG_SYNC	0xffU
#define BLK_UD_RETRY	0x100U /* a write-zeroes range's second attempt */
#define BLK_UD_PUNCH	0x200U /* ... made with FALLOC_FL_PUNCH_HOLE */

struct blk_req {
	struct blk_request r;
	uint16_t head;
	uint8_t status;	      /* VIRTIO_BLK_S_* so far */
	bool sync_after;      /* write-through write zeroes: fdatasync once the ranges are done */
	unsigned int pending; /* CQEs still due for this request */
	void *bounce;
	size_t bounce_len;
};

struct blk_queue {
	struct virtio_blk *blk;
	unsigned int index;
	struct io_uring ring;
	bool ring_ok;
	struct event_handler ev; /* eventfd signalled when the ring has completions */
	bool watched;
	uint32_t gen;
	unsigned int cq_entries;
	unsigned int cqes_due; /* SQEs prepared whose CQE has not been seen */
	struct blk_req *reqs;  /* VQ_MAX_SIZE slots */
	uint16_t free[VQ_MAX_SIZE];
	unsigned int nr_free;
	unsigned int inflight; /* slots in use */
	bool stalled;	       /* chains were left in the ring for lack of room */
};

struct virtio_blk {
	struct virtio_dev vdev;
	char name[16 + BLK_ID_MAX];
	char id[BLK_ID_MAX + 1];
	char serial[BLK_ID_BYTES]; /* zero-padded, not necessarily terminated */
	bool readonly;
	struct blk_disk disk;
	struct virtio_blk_config config;
	struct blk_geometry geo;
	bool write_through;	      /* FLUSH not negotiated: every write is durable */
	bool no_zero_range, no_punch; /* fallocate modes the backend refused */
	bool warned;		      /* about a backend I/O error */
	size_t bounce_bytes;
	unsigned int nr_queues;
	struct vq_chain chain; /* scratch for vq_pop, under vdev->lock */
	struct blk_queue queues[BLK_MAX_QUEUES];
	struct blk_stats stats;
};

static struct virtio_blk *to_blk(struct virtio_dev *vdev)
{
	return container_of(vdev, struct virtio_blk, vdev);
}

static uint64_t ud_make(const struct blk_queue *q, unsigned int slot, unsigned int seg)
{
	return (uint64_t)q->gen << 32 | (uint64_t)slot << 16 | seg;
}

/* ---- configuration space ---- */

static void blk_config_read(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len)
{
	const struct virtio_blk *blk = to_blk(vdev);

	memset(data, 0, len);
	if (off >= sizeof(blk->config))
		return;
	if (len > sizeof(blk->config) - off)
		len = (uint32_t)(sizeof(blk->config) - off);
	memcpy(data, (const uint8_t *)&blk->config + off, len);
}

static void blk_config_write(struct virtio_dev *vdev, uint64_t off, const void *data, uint32_t len)
{
	/* Nothing is writable: CONFIG_WCE is not offered. */
}

static void blk_config_init(struct virtio_blk *blk)
{
	struct virtio_blk_config *c = &blk->config;

	memset(c, 0, sizeof(*c));
	c->seg_max = htole32(BLK_SEG_MAX);
	c->blk_size = htole32(BLK_SECTOR_SIZE);
	c->num_queues = htole16((uint16_t)blk->nr_queues);
	c->max_discard_sectors = htole32(BLK_DWZ_MAX_SECTORS);
	c->max_discard_seg = htole32(BLK_DWZ_MAX_SEG);
	c->max_write_zeroes_sectors = htole32(BLK_DWZ_MAX_SECTORS);
	c->max_write_zeroes_seg = htole32(BLK_DWZ_MAX_SEG);
	/* Unmapped ranges of a file or a device read back as zeroes. */
	c->write_zeroes_may_unmap = 1;
}

/* What follows from the backing file, at creation and when it is swapped. */
static void blk_disk_apply(struct virtio_blk *blk)
{
	struct virtio_blk_config *c = &blk->config;

	c->capacity = htole64(blk->disk.size >> BLK_SECTOR_SHIFT);
	c->discard_sector_alignment = htole32(blk->disk.discard_align >> BLK_SECTOR_SHIFT);
	blk->geo.sectors = blk->disk.size >> BLK_SECTOR_SHIFT;
	/* A new backend gets to refuse fallocate modes, and to be warned about, afresh. */
	blk->no_zero_range = blk->no_punch = false;
	blk->warned = false;
}

/* ---- request slots ---- */

static struct blk_req *slot_get(struct blk_queue *q)
{
	struct blk_req *req = &q->reqs[q->free[--q->nr_free]];

	q->inflight++;
	req->pending = 0;
	req->sync_after = false;
	req->bounce = NULL;
	req->bounce_len = 0;
	return req;
}

static void slot_put(struct blk_queue *q, struct blk_req *req)
{
	if (req->bounce) {
		free(req->bounce);
		q->blk->bounce_bytes -= req->bounce_len;
		req->bounce = NULL;
	}
	q->free[q->nr_free++] = (uint16_t)(req - q->reqs);
	q->inflight--;
}

static void slots_init(struct blk_queue *q)
{
	/* Handed out last-in first-out: a light load keeps touching the same few slots. */
	for (unsigned int i = 0; i < VQ_MAX_SIZE; i++)
		q->free[i] = (uint16_t)(VQ_MAX_SIZE - 1 - i);
	q->nr_free = VQ_MAX_SIZE;
	q->inflight = 0;
}

/* ---- completion ---- */

static size_t iov_copy(const struct iovec *iov, unsigned int n, uint8_t *flat, size_t len,
		       bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t chunk = iov[i].iov_len < len - done ? iov[i].iov_len : len - done;

		if (to_iov)
			memcpy(iov[i].iov_base, flat + done, chunk);
		else
			memcpy(flat + done, iov[i].iov_base, chunk);
		done += chunk;
	}
	return done;
}

static void blk_count(struct blk_stats *st, const struct blk_req *req)
{
	uint64_t len = req->r.len;

	if (req->r.op == BLK_OP_NONE) {
		stats_add(st->invalid_requests, 1);
		return;
	}
	if (req->status != VIRTIO_BLK_S_OK) {
		stats_add(st->io_errors, 1);
		return;
	}
	switch (req->r.op) {
	case BLK_OP_READ:
		stats_add(st->read_ops, 1);
		stats_add(st->read_bytes, len);
		break;
	case BLK_OP_WRITE:
		stats_add(st->write_ops, 1);
		stats_add(st->write_bytes, len);
		break;
	case BLK_OP_FLUSH:
		stats_add(st->flush_ops, 1);
		break;
	case BLK_OP_DISCARD:
		stats_add(st->discard_ops, 1);
		break;
	case BLK_OP_WRITE_ZEROES:
		stats_add(st->write_zeroes_ops, 1);
		break;
	case BLK_OP_GET_ID:
		stats_add(st->get_id_ops, 1);
		break;
	case BLK_OP_NONE:
		break;
	}
}

/* Writes the status byte, returns the chain to the driver and frees the slot. */
static void blk_req_complete(struct blk_queue *q, struct blk_req *req)
{
	struct virtio_blk *blk = q->blk;
	struct virtqueue *vq = &blk->vdev.vqs[q->index];
	uint32_t used = 1; /* the status byte */

	if (req->status == VIRTIO_BLK_S_OK) {
		if (req->r.op == BLK_OP_READ && req->bounce)
			iov_copy(req->r.iov, req->r.nr_iov, req->bounce, req->r.len, true);
		if (req->r.op == BLK_OP_READ || req->r.op == BLK_OP_GET_ID) {
			used += (uint32_t)req->r.len;
			/* The kernel wrote these after vq_pop() marked them: mark again. */
			for (unsigned int i = 0; i < req->r.nr_iov; i++)
				gm_mark_dirty(blk->vdev.mem, req->r.iov[i].iov_base,
					      req->r.iov[i].iov_len);
		}
	}
	*req->r.status_ptr = req->status;
	gm_mark_dirty(blk->vdev.mem, req->r.status_ptr, 1);
	blk_count(&blk->stats, req);
	vq_push(vq, req->head, used);
	slot_put(q, req);
}

static void blk_io_error(struct virtio_blk *blk, const struct blk_req *req, unsigned int seg,
			 int res)
{
	static const char *const ops[] = {
		[BLK_OP_READ] = "read",
		[BLK_OP_WRITE] = "write",
		[BLK_OP_FLUSH] = "flush",
		[BLK_OP_DISCARD] = "discard",
		[BLK_OP_WRITE_ZEROES] = "write zeroes",
	};
	const char *op = ops[req->r.op] ? ops[req->r.op] : "request";
	const char *why = res < 0 ? strerror(-res) : "short transfer";
	uint64_t off = req->r.nr_ranges && seg < req->r.nr_ranges ? req->r.ranges[seg].offset
								  : req->r.offset;

	/* The guest sees IOERR; the host operator hears about the first one. */
	if (!blk->warned)
		log_warn("%s: %s at byte %llu failed: %s", blk->name, op, (unsigned long long)off,
			 why);
	else
		log_debug("%s: %s at byte %llu failed: %s", blk->name, op, (unsigned long long)off,
			  why);
	blk->warned = true;
}

static int blk_reserve(struct blk_queue *q, unsigned int n);

static int blk_wz_mode(const struct virtio_blk *blk, bool unmap)
{
	if (blk->no_zero_range)
		unmap = true;
	if (blk->no_punch)
		unmap = false;
	return (unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;
}

static unsigned int blk_wz_seg(int mode, unsigned int seg)
{
	return seg | (mode & FALLOC_FL_PUNCH_HOLE ? BLK_UD_PUNCH : 0);
}

/*
 * A write-zeroes range the backend refused with EOPNOTSUPP (tmpfs has no
 * ZERO_RANGE, many block devices no unmapping zeroout): remember, and try
 * the other mode once. Either mode reads back as zeroes.
 */
static bool blk_wz_retry(struct blk_queue *q, struct blk_req *req, unsigned int seg)
{
	struct virtio_blk *blk = q->blk;
	const struct blk_range *rg = &req->r.ranges[seg & BLK_SEG_INDEX];
	struct io_uring_sqe *sqe;
	int mode;

	if (seg & BLK_UD_PUNCH)
		blk->no_punch = true;
	else
		blk->no_zero_range = true;
	if ((blk->no_zero_range && blk->no_punch) || blk_reserve(q, 1))
		return false;
	mode = blk_wz_mode(blk, rg->unmap);
	sqe = io_uring_get_sqe(&q->ring);
	io_uring_prep_fallocate(sqe, blk->disk.fd, mode, (off_t)rg->offset, (off_t)rg->len);
	io_uring_sqe_set_data64(sqe,
				ud_make(q, (unsigned int)(req - q->reqs),
					blk_wz_seg(mode, (seg & BLK_SEG_INDEX) | BLK_UD_RETRY)));
	q->cqes_due++;
	return true;
}

static bool blk_sync_after(struct blk_queue *q, struct blk_req *req)
{
	struct io_uring_sqe *sqe;

	if (blk_reserve(q, 1))
		return false;
	sqe = io_uring_get_sqe(&q->ring);
	io_uring_prep_fsync(sqe, q->blk->disk.fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, ud_make(q, (unsigned int)(req - q->reqs), BLK_SEG_SYNC));
	q->cqes_due++;
	return true;
}

/* One CQE of request `req`; completes the request when it was the last one due. */
static void blk_req_cqe(struct blk_queue *q, struct blk_req *req, unsigned int seg, int res)
{
	bool ok = res >= 0;

	if ((seg & BLK_SEG_INDEX) == BLK_SEG_SYNC) {
		/* The write-through fdatasync: any failure fails the request. */
	} else if (req->r.op == BLK_OP_READ || req->r.op == BLK_OP_WRITE) {
		ok = res >= 0 && (uint64_t)res == req->r.len;
	} else if (req->r.op == BLK_OP_DISCARD) {
		/* Discard is a hint (virtio 1.2, 5.2.6.2): a backend without it did all it must. */
		ok = res >= 0 || res == -EOPNOTSUPP;
	} else if (req->r.op == BLK_OP_WRITE_ZEROES && res == -EOPNOTSUPP &&
		   !(seg & BLK_UD_RETRY) && (seg & BLK_SEG_INDEX) < req->r.nr_ranges) {
		if (blk_wz_retry(q, req, seg))
			return; /* still pending, under a new SQE */
	}
	if (!ok && req->status == VIRTIO_BLK_S_OK) {
		req->status = VIRTIO_BLK_S_IOERR;
		blk_io_error(q->blk, req, seg & BLK_SEG_INDEX, res);
	}
	if (--req->pending)
		return;
	if (req->sync_after && req->status == VIRTIO_BLK_S_OK) {
		req->sync_after = false;
		if (blk_sync_after(q, req)) {
			req->pending = 1;
			return;
		}
		req->status = VIRTIO_BLK_S_IOERR;
	}
	blk_req_complete(q, req);
}

static void blk_cqe(struct blk_queue *q, uint64_t ud, int res)
{
	unsigned int slot = (ud >> 16) & 0xffff;
	struct blk_req *req;

	if ((uint32_t)(ud >> 32) != q->gen)
		return; /* from before a reset; not counted in cqes_due */
	q->cqes_due--;
	if (slot >= VQ_MAX_SIZE)
		return; /* the cancel issued by a reset */
	req = &q->reqs[slot];
	if (!req->pending)
		return;
	blk_req_cqe(q, req, ud & 0xffff, res);
}

/* Takes every CQE; each is released before it is handled, so new SQEs always have a CQ slot. */
static void blk_reap(struct blk_queue *q)
{
	struct io_uring_cqe *cqe;

	while (!io_uring_peek_cqe(&q->ring, &cqe)) {
		uint64_t ud = cqe->user_data;
		int res = cqe->res;

		io_uring_cqe_seen(&q->ring, cqe);
		blk_cqe(q, ud, res);
	}
}

/* ---- submission ---- */

/* Pushes prepared SQEs to the kernel. Returns 0, or a negative errno if it took none. */
static int blk_ring_push(struct blk_queue *q)
{
	while (io_uring_sq_ready(&q->ring)) {
		int r = io_uring_submit(&q->ring);

		if (r == -EINTR)
			continue;
		if (r <= 0)
			return r ? r : -EAGAIN;
	}
	return 0;
}

static void blk_ring_submit(struct blk_queue *q)
{
	struct virtio_dev *vdev = &q->blk->vdev;
	int r = blk_ring_push(q);

	if (!r)
		return;
	/* Left in the SQ: retried when something completes, if something will. */
	if (q->cqes_due > io_uring_sq_ready(&q->ring)) {
		log_debug("%s: queue %u: io_uring_submit: %s; retrying on completion", q->blk->name,
			  q->index, strerror(-r));
		q->stalled = true;
		return;
	}
	log_error("%s: queue %u: io_uring_submit: %s", q->blk->name, q->index, strerror(-r));
	virtio_set_needs_reset(vdev, "the I/O backend failed");
}

/*
 * Room for n more SQEs: in the SQ (submitting what is queued if need be)
 * and in the CQ budget. -EAGAIN means requests in flight will make room.
 */
static int blk_reserve(struct blk_queue *q, unsigned int n)
{
	if (q->cqes_due + n > q->cq_entries)
		return -EAGAIN;
	if (io_uring_sq_space_left(&q->ring) < n) {
		blk_ring_submit(q);
		if (io_uring_sq_space_left(&q->ring) < n)
			return -EAGAIN;
	}
	return 0;
}

static bool iov_direct_ok(const struct virtio_blk *blk, const struct blk_request *r)
{
	uintptr_t mask = blk->disk.mem_align - 1;

	if (!blk->disk.direct)
		return true;
	for (unsigned int i = 0; i < r->nr_iov; i++)
		if (((uintptr_t)r->iov[i].iov_base & mask) ||
		    (r->iov[i].iov_len & (BLK_SECTOR_SIZE - 1)))
			return false;
	return true;
}

static int blk_start_rw(struct blk_queue *q, struct blk_req *req)
{
	struct virtio_blk *blk = q->blk;
	bool write = req->r.op == BLK_OP_WRITE;
	struct io_uring_sqe *sqe;
	int r = blk_reserve(q, 1);

	if (r)
		return r;
	if (!iov_direct_ok(blk, &req->r)) {
		size_t len = req->r.len;

		if (len > BLK_BOUNCE_BUDGET) {
			log_debug("%s: misaligned %zu-byte request is too large to bounce",
				  blk->name, len);
			req->status = VIRTIO_BLK_S_IOERR;
			blk_req_complete(q, req);
			return 0;
		}
		if (blk->bounce_bytes + len > BLK_BOUNCE_BUDGET)
			return -EAGAIN; /* the requests holding it will complete */
		if (posix_memalign(&req->bounce, BLK_BOUNCE_ALIGN, len)) {
			req->bounce = NULL;
			if (blk->bounce_bytes)
				return -EAGAIN;
			req->status = VIRTIO_BLK_S_IOERR;
			blk_req_complete(q, req);
			return 0;
		}
		req->bounce_len = len;
		blk->bounce_bytes += len;
		if (write)
			iov_copy(req->r.iov, req->r.nr_iov, req->bounce, len, false);
		sqe = io_uring_get_sqe(&q->ring);
		if (write)
			io_uring_prep_write(sqe, blk->disk.fd, req->bounce, (unsigned int)len,
					    req->r.offset);
		else
			io_uring_prep_read(sqe, blk->disk.fd, req->bounce, (unsigned int)len,
					   req->r.offset);
	} else {
		sqe = io_uring_get_sqe(&q->ring);
		if (write)
			io_uring_prep_writev(sqe, blk->disk.fd, req->r.iov, req->r.nr_iov,
					     req->r.offset);
		else
			io_uring_prep_readv(sqe, blk->disk.fd, req->r.iov, req->r.nr_iov,
					    req->r.offset);
	}
	/* Without VIRTIO_BLK_F_FLUSH the driver cannot ask later: make the write durable now. */
	if (write && blk->write_through)
		sqe->rw_flags = RWF_DSYNC;
	io_uring_sqe_set_data64(sqe, ud_make(q, (unsigned int)(req - q->reqs), 0));
	q->cqes_due++;
	req->pending = 1;
	return 0;
}

static int blk_start_flush(struct blk_queue *q, struct blk_req *req)
{
	struct io_uring_sqe *sqe;
	int r = blk_reserve(q, 1);

	if (r)
		return r;
	sqe = io_uring_get_sqe(&q->ring);
	io_uring_prep_fsync(sqe, q->blk->disk.fd, IORING_FSYNC_DATASYNC);
	/*
	 * Drain: the fdatasync starts once everything submitted before it on this
	 * queue has completed, so it covers those writes too, not only the ones
	 * the driver has seen complete (all that virtio 1.2, 5.2.6.2 requires).
	 */
	sqe->flags |= IOSQE_IO_DRAIN;
	io_uring_sqe_set_data64(sqe, ud_make(q, (unsigned int)(req - q->reqs), 0));
	q->cqes_due++;
	req->pending = 1;
	return 0;
}

static int blk_start_dwz(struct blk_queue *q, struct blk_req *req)
{
	struct virtio_blk *blk = q->blk;
	bool wz = req->r.op == BLK_OP_WRITE_ZEROES;
	int r = blk_reserve(q, req->r.nr_ranges);

	if (r)
		return r;
	for (unsigned int i = 0; i < req->r.nr_ranges; i++) {
		const struct blk_range *rg = &req->r.ranges[i];
		struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
		int mode = wz ? blk_wz_mode(blk, rg->unmap)
			      : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

		io_uring_prep_fallocate(sqe, blk->disk.fd, mode, (off_t)rg->offset, (off_t)rg->len);
		io_uring_sqe_set_data64(
			sqe, ud_make(q, (unsigned int)(req - q->reqs), blk_wz_seg(mode, i)));
		q->cqes_due++;
	}
	req->pending = req->r.nr_ranges;
	req->sync_after = wz && blk->write_through;
	return 0;
}

/* Starts a parsed request; -EAGAIN when it must wait for room. */
static int blk_req_start(struct blk_queue *q, struct blk_req *req)
{
	struct virtio_blk *blk = q->blk;

	req->status = req->r.status;
	switch (req->r.op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		return blk_start_rw(q, req);
	case BLK_OP_FLUSH:
		return blk_start_flush(q, req);
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		return blk_start_dwz(q, req);
	case BLK_OP_GET_ID:
		iov_copy(req->r.iov, req->r.nr_iov, (uint8_t *)blk->serial, BLK_ID_BYTES, true);
		break;
	case BLK_OP_NONE:
		break;
	}
	blk_req_complete(q, req);
	return 0;
}

static bool blk_live(const struct virtio_dev *vdev)
{
	return (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && !vdev->needs_reset;
}

/* Takes what the driver made available, as far as room allows, and submits it in one go. */
static void blk_queue_run(struct blk_queue *q)
{
	struct virtio_blk *blk = q->blk;
	struct virtio_dev *vdev = &blk->vdev;
	struct virtqueue *vq = &vdev->vqs[q->index];

	q->stalled = false;
	if (!q->ring_ok) {
		virtio_set_needs_reset(vdev, "the I/O backend failed");
		return;
	}
	while (blk_live(vdev)) {
		enum blk_parse_result pr;
		struct blk_req *req;
		int r;

		if (q->inflight >= vq->size) {
			q->stalled = true;
			break;
		}
		r = vq_pop(vq, &blk->chain);
		if (r < 0)
			virtio_set_needs_reset(vdev, vq_strerror(-r));
		if (r <= 0)
			break;
		req = slot_get(q);
		pr = blk_request_parse(&blk->chain, &blk->geo, &req->r);
		if (pr != BLK_PARSE_OK) {
			slot_put(q, req);
			virtio_set_needs_reset(vdev, blk_parse_strerror(pr));
			break;
		}
		req->head = blk->chain.head;
		if (blk_req_start(q, req) == -EAGAIN) {
			slot_put(q, req);
			vq_unpop(vq);
			q->stalled = true;
			break;
		}
	}
	blk_ring_submit(q);
	virtio_notify_used(vdev, q->index);
}

static void blk_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_blk *blk = to_blk(vdev);

	if (q < blk->nr_queues)
		blk_queue_run(&blk->queues[q]);
}

static void blk_on_completion(struct event_handler *h, uint32_t events)
{
	struct blk_queue *q = container_of(h, struct blk_queue, ev);
	struct virtio_blk *blk = q->blk;
	struct virtio_dev *vdev = &blk->vdev;
	uint64_t v;

	pthread_mutex_lock(&vdev->lock);
	/* Read first: a CQE posted after this read signals again. */
	if (read(h->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("%s: completion eventfd: %s", blk->name, strerror(errno));
	if (!q->ring_ok) {
		pthread_mutex_unlock(&vdev->lock);
		return;
	}
	blk_reap(q);
	/* Freed slots, SQ room or bounce memory (shared by all queues) may unblock a queue. */
	for (unsigned int i = 0; i < blk->nr_queues; i++)
		if (blk->queues[i].stalled && blk_live(vdev))
			blk_queue_run(&blk->queues[i]);
	blk_ring_submit(q); /* retries and write-through syncs queued by blk_reap */
	virtio_notify_used(vdev, q->index);
	pthread_mutex_unlock(&vdev->lock);
}

/* ---- lifecycle ---- */

/* What a request queue submits: data, flushes, discards, and cancels at reset. */
static const uint8_t blk_uring_ops[] = {
	IORING_OP_READ,	 IORING_OP_WRITE,     IORING_OP_READV,	      IORING_OP_WRITEV,
	IORING_OP_FSYNC, IORING_OP_FALLOCATE, IORING_OP_ASYNC_CANCEL,
};

static const struct uring_policy blk_uring_policy = {
	.ops = blk_uring_ops,
	.nr_ops = sizeof(blk_uring_ops),
	.sqe_flags = IOSQE_IO_DRAIN,
};

/* The queue's io_uring, its completions signalled on q->ev. */
static int blk_ring_setup(struct blk_queue *q)
{
	/* SUBMIT_ALL (5.18): one bad SQE does not hold back the rest of a batch. */
	int r = uring_init(&q->ring, BLK_RING_ENTRIES, IORING_SETUP_SUBMIT_ALL, q->ev.fd,
			   &blk_uring_policy);

	if (r == -EINVAL)
		r = uring_init(&q->ring, BLK_RING_ENTRIES, 0, q->ev.fd, &blk_uring_policy);
	if (r)
		return r;
	q->ring_ok = true;
	q->cq_entries = q->ring.cq.ring_entries;
	return 0;
}

/*
 * Waits for every CQE the kernel owes the queue. With `complete` each one is
 * handled as the event loop would (requests finish into the used ring, and
 * whatever they queue in turn is submitted and waited for too); without, it
 * is only counted. Fails if waiting fails or submission stops taking SQEs.
 */
static int blk_queue_wait(struct blk_queue *q, bool complete)
{
	struct io_uring_cqe *cqe;

	while (q->cqes_due > io_uring_sq_ready(&q->ring)) {
		uint64_t ud;
		int r = io_uring_wait_cqe(&q->ring, &cqe), res;

		if (r == -EINTR)
			continue;
		if (r < 0) {
			log_error("%s: queue %u: waiting for I/O: %s", q->blk->name, q->index,
				  strerror(-r));
			return r;
		}
		ud = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		if (!complete) {
			if ((uint32_t)(ud >> 32) == q->gen)
				q->cqes_due--;
			continue;
		}
		blk_cqe(q, ud, res);
		r = blk_ring_push(q);
		if (r)
			return r;
	}
	return 0;
}

/*
 * Waits until the kernel owes the queue nothing, then forgets every request:
 * after this no I/O of the queue touches guest memory or its rings.
 */
static void blk_queue_drain(struct blk_queue *q)
{
	struct io_uring_sqe *sqe;
	bool clean;

	if (!q->ring_ok)
		return;
	if (q->cqes_due)
		log_debug("%s: queue %u: reset with %u request(s), %u CQE(s) in flight",
			  q->blk->name, q->index, q->inflight, q->cqes_due);
	/* Whatever is still queued goes in too, so that one wait covers everything. */
	blk_ring_push(q);
	if (q->cqes_due > io_uring_sq_ready(&q->ring) && (sqe = io_uring_get_sqe(&q->ring))) {
		/* Reads and writes already running cannot be cancelled; queued ones can. */
		io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, ud_make(q, BLK_SLOT_CANCEL, 0));
		q->cqes_due++;
		blk_ring_push(q);
	}
	clean = !blk_queue_wait(q, false);
	/*
	 * SQEs the kernel would not take (submission kept failing) would run at
	 * the next submission, on slots about to be reused: drop them with the
	 * ring. A new generation ignores any CQE from before, too.
	 */
	if (io_uring_sq_ready(&q->ring) && clean) {
		log_warn("%s: queue %u: dropping %u unsubmitted I/O(s) with the ring", q->blk->name,
			 q->index, io_uring_sq_ready(&q->ring));
		io_uring_queue_exit(&q->ring);
		q->ring_ok = false;
		if (blk_ring_setup(q) < 0)
			log_error("%s: queue %u: cannot recreate the io_uring", q->blk->name,
				  q->index);
	}
	q->gen++;
	q->cqes_due = 0;
	for (unsigned int i = 0; i < VQ_MAX_SIZE; i++) {
		struct blk_req *req = &q->reqs[i];

		/* Memory the kernel may still write to is leaked rather than reused. */
		if (req->bounce && clean)
			free(req->bounce);
		q->blk->bounce_bytes -= req->bounce ? req->bounce_len : 0;
		req->bounce = NULL;
		req->pending = 0;
	}
	slots_init(q);
	q->stalled = false;
}

static void blk_unwatch(struct blk_queue *q)
{
	struct event_loop *loop = q->blk->vdev.loop;

	if (q->watched && loop && loop->epfd >= 0)
		event_loop_del(loop, &q->ev);
	q->watched = false;
}

static int blk_activate(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	struct blk_geometry *g = &blk->geo;
	int r;

	g->discard = virtio_has_feature(vdev, VIRTIO_BLK_F_DISCARD);
	g->write_zeroes = virtio_has_feature(vdev, VIRTIO_BLK_F_WRITE_ZEROES);
	blk->write_through = !virtio_has_feature(vdev, VIRTIO_BLK_F_FLUSH);
	if (!vdev->loop)
		return -EINVAL;
	for (unsigned int i = 0; i < blk->nr_queues; i++) {
		struct blk_queue *q = &blk->queues[i];

		if (q->watched)
			continue;
		r = event_loop_add(vdev->loop, &q->ev, EPOLLIN);
		if (r) {
			log_error("%s: watching queue %u's completions: %s", blk->name, i,
				  strerror(-r));
			while (i--)
				blk_unwatch(&blk->queues[i]);
			return r;
		}
		q->watched = true;
	}
	return 0;
}

static void blk_reset(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);

	for (unsigned int i = 0; i < blk->nr_queues; i++) {
		blk_queue_drain(&blk->queues[i]);
		blk_unwatch(&blk->queues[i]);
	}
}

/*
 * Completes everything in flight, so that a snapshot sees each request
 * either untouched in the avail ring or finished in the used ring.
 */
static int blk_quiesce(struct virtio_dev *vdev)
{
	struct virtio_blk *blk = to_blk(vdev);
	int r = 0;

	for (unsigned int i = 0; i < blk->nr_queues && !r; i++) {
		struct blk_queue *q = &blk->queues[i];

		if (!q->ring_ok)
			continue;
		r = blk_ring_push(q);
		if (!r)
			r = blk_queue_wait(q, true);
		if (!r && q->cqes_due)
			r = -EBUSY; /* SQEs the kernel would not take */
		virtio_notify_used(vdev, i);
		/* Chains left for lack of room wait for a completion that has now come. */
		if (q->stalled)
			virtio_requeue(vdev, i);
	}
	if (r)
		log_error("%s: cannot complete the I/O in flight: %s", blk->name, strerror(-r));
	return r;
}

/* The rest of the device follows from its parameters; these must still hold. */
static void blk_save(struct virtio_dev *vdev, struct state_writer *w)
{
	struct virtio_blk *blk = to_blk(vdev);

	state_put_u64(w, blk->geo.sectors);
	state_put_u8(w, blk->readonly);
}

static int blk_restore(struct virtio_dev *vdev, struct state_reader *r, struct err *err)
{
	struct virtio_blk *blk = to_blk(vdev);
	uint64_t sectors = state_get_u64(r);
	bool readonly = state_get_u8(r);

	if (r->bad)
		return err_set(err, -EBADMSG, "drive '%s': device state is truncated", blk->id);
	/* The guest's file system was laid out for that size. */
	if (sectors != blk->geo.sectors)
		return err_set(err, -EINVAL,
			       "drive '%s': the snapshot's disk has %llu sectors, the backing "
			       "file %llu",
			       blk->id, (unsigned long long)sectors,
			       (unsigned long long)blk->geo.sectors);
	if (readonly != blk->readonly)
		return err_set(err, -EINVAL, "drive '%s': the snapshot's disk was %s", blk->id,
			       readonly ? "read-only" : "writable");
	return 0;
}

static const struct prom_family blk_ops_family = {
	"kvmlet_block_requests_total", "Successful virtio-blk requests by drive and operation.",
	PROM_COUNTER
};
static const struct prom_family blk_bytes_family = {
	"kvmlet_block_bytes_total", "Bytes read from and written to each drive's backend.",
	PROM_COUNTER
};
static const struct prom_family blk_io_errors_family = {
	"kvmlet_block_io_errors_total",
	"Requests answered VIRTIO_BLK_S_IOERR for a backend failure.", PROM_COUNTER
};
static const struct prom_family blk_invalid_family = { "kvmlet_block_invalid_requests_total",
						       "Malformed or unsupported requests.",
						       PROM_COUNTER };

/* Firecracker's BlockDeviceMetrics fields where kvmlet counts the same thing; the rest are kvmlet's. */
static void blk_stats(struct virtio_dev *vdev, const struct device_stats_out *out)
{
	struct virtio_blk *blk = to_blk(vdev);
	const struct blk_stats *s = &blk->stats;
	const char *id = blk->id;
	const struct {
		const struct prom_family *family;
		const char *op, *field;
		bool kvmlet;
		uint64_t v;
	} m[] = {
		{ &blk_ops_family, "read", "read_count", false, stats_get(s->read_ops) },
		{ &blk_ops_family, "write", "write_count", false, stats_get(s->write_ops) },
		{ &blk_ops_family, "flush", "flush_count", false, stats_get(s->flush_ops) },
		{ &blk_ops_family, "discard", "discard_count", true, stats_get(s->discard_ops) },
		{ &blk_ops_family, "write_zeroes", "write_zeroes_count", true,
		  stats_get(s->write_zeroes_ops) },
		{ &blk_ops_family, "get_id", "get_id_count", true, stats_get(s->get_id_ops) },
		{ &blk_bytes_family, "read", "read_bytes", false, stats_get(s->read_bytes) },
		{ &blk_bytes_family, "write", "write_bytes", false, stats_get(s->write_bytes) },
		{ &blk_io_errors_family, NULL, "execute_fails", false, stats_get(s->io_errors) },
		{ &blk_invalid_family, NULL, "invalid_reqs_count", false,
		  stats_get(s->invalid_requests) },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		const char *const *labels = m[i].op ? PROM_LABELS("drive", id, "op", m[i].op)
						    : PROM_LABELS("drive", id);

		device_emit(out, &vdev->dev,
			    &(struct device_metric){ m[i].family, labels, "block", m[i].field,
						     m[i].kvmlet },
			    m[i].v);
	}
}

static void blk_destroy(struct virtio_dev *vdev)
{
	virtio_blk_destroy(to_blk(vdev));
}

static const struct virtio_dev_ops blk_ops = {
	.kind = "virtio-blk",
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.reset = blk_reset,
	.notify = blk_notify,
	.quiesce = blk_quiesce,
	.save = blk_save,
	.restore = blk_restore,
	.stats = blk_stats,
	.destroy = blk_destroy,
};

static int blk_queue_init(struct virtio_blk *blk, unsigned int i, struct err *err)
{
	struct blk_queue *q = &blk->queues[i];
	int r;

	q->blk = blk;
	q->index = i;
	q->ev = (struct event_handler){ .fd = -1, .fn = blk_on_completion };
	q->reqs = calloc(VQ_MAX_SIZE, sizeof(*q->reqs));
	if (!q->reqs)
		return err_set(err, -ENOMEM, "out of memory");
	slots_init(q);
	q->ev.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->ev.fd < 0)
		return err_set(err, -errno, "drive '%s': eventfd: %s", blk->id, strerror(errno));
	r = blk_ring_setup(q);
	if (r)
		return err_set(err, r, "drive '%s': io_uring is not available: %s", blk->id,
			       strerror(-r));
	return 0;
}

struct virtio_blk *virtio_blk_create(const struct blk_params *p, const struct guest_memory *mem,
				     struct err *err)
{
	struct virtio_blk *blk;
	uint64_t features = BLK_FEATURES;
	const char *serial = p->serial ? p->serial : p->id;
	unsigned int nq = p->queues ? p->queues : 1;

	if (nq > BLK_MAX_QUEUES || strlen(p->id) > BLK_ID_MAX) {
		err_set(err, -EINVAL, "drive '%s': bad parameters", p->id);
		return NULL;
	}
	blk = calloc(1, sizeof(*blk));
	if (!blk) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	for (unsigned int i = 0; i < BLK_MAX_QUEUES; i++) {
		blk->queues[i].blk = blk;
		blk->queues[i].ev.fd = -1;
	}
	blk->disk.fd = -1;
	blk->nr_queues = nq;
	blk->readonly = p->readonly;
	snprintf(blk->id, sizeof(blk->id), "%s", p->id);
	snprintf(blk->name, sizeof(blk->name), "virtio-blk %s", p->id);
	/* Up to 20 bytes, zero-padded; a 20-byte serial has no terminator (virtio 1.2, 5.2.6). */
	memcpy(blk->serial, serial, strnlen(serial, sizeof(blk->serial)));
	if (p->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	virtio_dev_init(&blk->vdev, &blk_ops, blk->name, VIRTIO_ID_BLOCK, features, nq, mem);
	blk->vdev.dev.id = blk->id;
	if (blk_disk_open(&blk->disk, p->id, p->path, p->readonly, err))
		goto fail;
	for (unsigned int i = 0; i < nq; i++)
		if (blk_queue_init(blk, i, err))
			goto fail;
	blk_config_init(blk);
	blk->geo = (struct blk_geometry){
		.readonly = p->readonly,
		.max_discard_sectors = BLK_DWZ_MAX_SECTORS,
		.max_discard_seg = BLK_DWZ_MAX_SEG,
		.max_write_zeroes_sectors = BLK_DWZ_MAX_SECTORS,
		.max_write_zeroes_seg = BLK_DWZ_MAX_SEG,
	};
	blk_disk_apply(blk);
	log_debug("%s: %s, %llu sectors, %s I/O, %u queue(s)", blk->name, p->path,
		  (unsigned long long)(blk->disk.size >> BLK_SECTOR_SHIFT),
		  blk->disk.direct ? "direct" : "buffered", nq);
	return blk;
fail:
	virtio_blk_destroy(blk);
	return NULL;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	/* The vCPUs are gone; nothing else can touch the device. */
	for (unsigned int i = 0; i < blk->nr_queues; i++) {
		struct blk_queue *q = &blk->queues[i];

		blk_queue_drain(q);
		blk_unwatch(q);
		if (q->ring_ok)
			io_uring_queue_exit(&q->ring);
		q->ring_ok = false;
		if (q->ev.fd >= 0)
			close(q->ev.fd);
		free(q->reqs);
	}
	blk_disk_close(&blk->disk);
	virtio_dev_fini(&blk->vdev);
	free(blk);
}

struct virtio_dev *virtio_blk_dev(struct virtio_blk *blk)
{
	return &blk->vdev;
}

struct virtio_blk *virtio_blk_from_device(struct device *dev)
{
	struct virtio_dev *vdev = virtio_from_device(dev);

	return vdev && vdev->ops == &blk_ops ? to_blk(vdev) : NULL;
}

const char *virtio_blk_id(const struct virtio_blk *blk)
{
	return blk->id;
}

const struct blk_stats *virtio_blk_stats(const struct virtio_blk *blk)
{
	return &blk->stats;
}

int virtio_blk_update_backend(struct virtio_blk *blk, const char *path, struct err *err)
{
	struct virtio_dev *vdev = &blk->vdev;
	struct blk_disk disk;
	int r;

	r = blk_disk_open(&disk, blk->id, path, blk->readonly, err);
	if (r)
		return r;
	pthread_mutex_lock(&vdev->lock);
	/* No request may straddle two backends. */
	r = blk_quiesce(vdev);
	if (r) {
		pthread_mutex_unlock(&vdev->lock);
		blk_disk_close(&disk);
		return err_set(err, r, "drive '%s': cannot complete the I/O in flight: %s", blk->id,
			       strerror(-r));
	}
	blk_disk_close(&blk->disk);
	blk->disk = disk;
	blk_disk_apply(blk);
	virtio_notify_config(vdev);
	log_info("%s: now on %s, %llu sectors", blk->name, path,
		 (unsigned long long)blk->geo.sectors);
	pthread_mutex_unlock(&vdev->lock);
	return 0;
}
