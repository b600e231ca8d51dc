// SPDX-License-Identifier: Apache-2.0
/*
 * blk benchmarks on the first virtio-blk device: exactly qd requests in
 * flight, each resubmitted as soon as its completion is seen (polling),
 * 4 KiB-aligned buffers and offsets. Random offsets cover the whole disk
 * and come from xorshift64*; sequential ones wrap at the end. A request is
 * one ring entry through an indirect table when the device offers them
 * (so 128 fit a 128-entry ring), else a three-descriptor chain.
 *
 * The interval runs from the first submission to the first completion
 * seen after the deadline; requests still in flight then are drained but
 * not counted. Latency is per request, submission to completion seen.
 */
#include <linux/virtio_ids.h>
#include "bench.h"
#include "clock.h"
#include "cpu.h"
#include "dma.h"
#include "fmt.h"
#include "libc.h"
#include "virtio_blk.h"

#define STALL_US 10000000 /* no completion for this long: the device is stuck */
#define SEED	 0x9e3779b97f4a7c15ULL

static uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

struct blk_run {
	struct vblk b;
	const struct bench_mode *m;
	enum vblk_layout layout;
	uint8_t *bufs;
	uint64_t blocks; /* io_size units on the disk */
	uint32_t sectors_per_io;
	uint64_t rng, next_seq;
};

static int submit(struct blk_run *br, struct vblk_req *r)
{
	uint64_t block =
		br->m->random ? xorshift64s(&br->rng) % br->blocks : br->next_seq++ % br->blocks;

	r->tsc = rdtsc();
	return vblk_add(&br->b, r, br->m->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
			block * br->sectors_per_io, br->bufs + (size_t)r->tag * br->m->io_size,
			br->m->io_size, br->layout);
}

static bool setup(struct blk_run *br, const struct bench_mode *m, struct vblk_req **reqs, char *why,
		  size_t len)
{
	struct virtio_dev d;
	unsigned int per_req;
	char e[120];

	if (!virtio_find(VIRTIO_ID_BLOCK, &d, 1)) {
		fmt_snprintf(why, len, "no virtio-blk device");
		return false;
	}
	if (!vblk_open(&br->b, &d, VBLK_FEATURES, VIRTQ_MAX_SIZE, e, sizeof(e))) {
		fmt_snprintf(why, len, "blk0: %s", e);
		return false;
	}
	if (m->write && br->b.ro) {
		fmt_snprintf(why, len, "blk0 is read-only");
		return false;
	}
	br->m = m;
	br->layout = vblk_has(&br->b, VIRTIO_RING_F_INDIRECT_DESC) ? VBLK_INDIRECT_FLAT : VBLK_FLAT;
	per_req = br->layout == VBLK_INDIRECT_FLAT ? 1 : 3;
	if (br->b.size_max && br->layout == VBLK_FLAT)
		per_req = 2 + (m->io_size + br->b.size_max - 1) / br->b.size_max;
	if (m->qd * per_req > br->b.vq->size) {
		fmt_snprintf(why, len, "a %u-entry queue cannot hold %u requests of %u descriptors",
			     br->b.vq->size, m->qd, per_req);
		return false;
	}
	br->sectors_per_io = m->io_size / VBLK_SECTOR;
	br->blocks = br->b.capacity / br->sectors_per_io;
	if (!br->blocks) {
		fmt_snprintf(why, len, "blk0 has %lu sectors", br->b.capacity);
		return false;
	}
	*reqs = vblk_reqs(m->qd);
	br->bufs = dma_alloc((size_t)m->qd * m->io_size, 4096);
	if (!*reqs || !br->bufs) {
		fmt_snprintf(why, len, "out of memory for %u x %u bytes", m->qd, m->io_size);
		return false;
	}
	br->rng = SEED;
	/* Incompressible data, should the backend care. */
	for (size_t i = 0; i < (size_t)m->qd * m->io_size; i += 8) {
		uint64_t v = xorshift64s(&br->rng);

		memcpy(br->bufs + i, &v, 8);
	}
	for (unsigned int i = 0; i < m->qd; i++)
		(*reqs)[i].tag = i;
	return true;
}

static bool run(struct blk_run *br, struct vblk_req *reqs, uint64_t seconds,
		struct bench_result *res, char *why, size_t len)
{
	unsigned int inflight = br->m->qd;
	struct deadline end, stall;
	uint64_t start, stop = 0;
	int e;

	start = rdtsc();
	for (unsigned int i = 0; i < br->m->qd; i++) {
		e = submit(br, &reqs[i]);
		if (e) {
			fmt_snprintf(why, len, "submitting request %u: error %d", i, e);
			return false;
		}
	}
	virtq_kick(br->b.vq);
	end = deadline_in_us(seconds * 1000000);
	stall = deadline_in_us(STALL_US);

	while (inflight) {
		struct vblk_req *r;
		bool any = false;

		while ((r = vblk_poll(&br->b))) {
			uint64_t now = rdtsc();

			any = true;
			if (r->status != VIRTIO_BLK_S_OK) {
				fmt_snprintf(why, len, "request at sector %lu: status %u",
					     (unsigned long)r->hdr.sector, r->status);
				return false;
			}
			if (!stop) {
				res->ops++;
				res->bytes += br->m->io_size;
				bench_lat_add(res, clock_tsc_to_ns(now - r->tsc));
				if (deadline_passed(&end))
					stop = now;
			}
			if (stop) {
				inflight--;
			} else if ((e = submit(br, r))) {
				fmt_snprintf(why, len, "resubmitting: error %d", e);
				return false;
			}
		}
		if (any) {
			virtq_kick(br->b.vq);
			stall = deadline_in_us(STALL_US);
		} else if (deadline_passed(&stall)) {
			fmt_snprintf(why, len, "no completion for %u s with %u in flight",
				     STALL_US / 1000000, inflight);
			return false;
		} else {
			cpu_relax();
		}
	}
	res->ns = clock_tsc_to_ns(stop - start);
	return true;
}

bool bench_blk(const struct bench_mode *m, uint64_t seconds, struct bench_result *res, char *why,
	       size_t len)
{
	struct blk_run br = { 0 };
	struct vblk_req *reqs = NULL;
	bool ok = setup(&br, m, &reqs, why, len) && run(&br, reqs, seconds, res, why, len);

	if (br.b.dev.slot.base)
		virtio_reset(&br.b.dev);
	return ok;
}
