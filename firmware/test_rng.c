// SPDX-License-Identifier: Apache-2.0
/*
 * The rng test: for each virtio-rng device, entropy through a one-buffer
 * chain, a four-buffer chain and an indirect table, the last completed
 * with an interrupt; then again without EVENT_IDX and INDIRECT_DESC, so
 * that notifications and interrupts go by the ring flags instead (no
 * indirect request that time). The simplest device exercises the
 * transport and the ring code that blk and net build on.
 */
#include <linux/virtio_ids.h>
#include "dma.h"
#include "fmt.h"
#include "libc.h"
#include "tests.h"
#include "virtio.h"
#include "virtio_irq.h"

#define RNG_MAX_DEVS   8
#define RNG_CHUNK      64
#define RNG_TIMEOUT_US 1000000
#define RNG_FEATURES   ((1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

struct rng_ctx {
	struct virtq *vq;
	uint8_t *buf;
	struct vring_desc *table;
	int how; /* 0: one buffer, 1: chain of four, 2: indirect table of four */
};

static void rng_submit(void *opaque)
{
	struct rng_ctx *c = opaque;
	struct vq_seg segs[4];

	for (unsigned int i = 0; i < 4; i++)
		segs[i] = (struct vq_seg){ dma_addr(c->buf + i * RNG_CHUNK / 4), RNG_CHUNK / 4,
					   true };
	if (c->how == 0) {
		segs[0].len = RNG_CHUNK;
		virtq_add(c->vq, segs, 1, c);
	} else if (c->how == 1) {
		virtq_add(c->vq, segs, 4, c);
	} else {
		virtq_add_indirect(c->vq, c->table, segs, 4, c);
	}
	virtq_kick(c->vq);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

static bool rng_one(struct virtio_dev *d, unsigned int idx, uint64_t features, uint64_t *bytes,
		    char *detail, size_t len)
{
	struct rng_ctx c;
	char why[120];
	uint32_t got;
	int last;

	if (!virtio_negotiate(d, features, why, sizeof(why)) ||
	    !virtio_queue_setup(d, 0, 16, why, sizeof(why)) ||
	    !virtio_driver_ok(d, why, sizeof(why))) {
		fmt_snprintf(detail, len, "rng%u: %s", idx, why);
		return false;
	}
	c = (struct rng_ctx){ .vq = d->vqs[0] };
	c.buf = dma_alloc(RNG_CHUNK, 64);
	c.table = dma_alloc(4 * sizeof(struct vring_desc), 16);
	if (!c.buf || !c.table) {
		fmt_snprintf(detail, len, "out of DMA memory");
		return false;
	}
	last = virtio_has(d, VIRTIO_RING_F_INDIRECT_DESC) ? 2 : 1;
	for (c.how = 0; c.how <= last; c.how++) {
		memset(c.buf, 0, RNG_CHUNK);
		if (c.how == last) {
			if (!virtio_irq_roundtrip(c.vq, rng_submit, &c, why, sizeof(why))) {
				fmt_snprintf(detail, len, "rng%u: %s", idx, why);
				return false;
			}
		} else {
			rng_submit(&c);
		}
		if (virtq_wait(c.vq, &got, RNG_TIMEOUT_US) != &c) {
			fmt_snprintf(detail, len, "rng%u: request %d not completed (status 0x%x)",
				     idx, c.how, virtio_status(d));
			return false;
		}
		if (got == 0 || got > RNG_CHUNK || all_zero(c.buf, got)) {
			fmt_snprintf(detail, len, "rng%u: request %d returned %u bytes", idx, c.how,
				     got);
			return false;
		}
		*bytes += got;
	}
	virtio_reset(d);
	return true;
}

bool test_rng(char *detail, size_t len)
{
	struct virtio_dev devs[RNG_MAX_DEVS];
	unsigned int n = virtio_find(VIRTIO_ID_RNG, devs, RNG_MAX_DEVS);
	uint64_t mark = dma_mark(), bytes = 0;
	bool ok = true;

	if (!n) {
		fmt_snprintf(detail, len, "no virtio-rng device");
		return false;
	}
	for (unsigned int i = 0; i < n && ok; i++)
		ok = rng_one(&devs[i], i, RNG_FEATURES, &bytes, detail, len) &&
		     rng_one(&devs[i], i, 0, &bytes, detail, len);
	for (unsigned int i = 0; i < n; i++)
		virtio_reset(&devs[i]);
	dma_release(mark);
	if (ok)
		fmt_snprintf(detail, len,
			     "%u device(s), %lu bytes, with and without event-idx/indirect, "
			     "interrupt ok",
			     n, bytes);
	return ok;
}
