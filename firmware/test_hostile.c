// SPDX-License-Identifier: Apache-2.0
/*
 * The hostile test: drive every virtio device found with malformed
 * requests and report what it did, one line per case:
 *
 *   hostile <device> <case>: <expected> ok|FAIL (<seen>)
 *
 * Each case starts from a freshly initialised device and builds its chain
 * by hand in the descriptor table of the device's work queue (rng: 0, blk:
 * 0, net: transmit). A structurally broken chain must make the device set
 * DEVICE_NEEDS_RESET with the configuration-change bit in InterruptStatus,
 * and use nothing; the driver then resets it, initialises it again and a
 * good request must complete. blk requests that are well-formed but wrong
 * must complete with the right status, and the same live device must then
 * still serve a good request.
 *
 * The virtio spec forbids these chains only to the driver and leaves the
 * device's reaction open. kvmlet-vmm promises DEVICE_NEEDS_RESET for every
 * one (and to refuse an oversized QueueNum), so its devices (VendorID
 * "KVLT") are held to that. Other devices pass a structural case with any
 * outcome — needs-reset, served (QEMU maps a buffer outside RAM to its
 * bounce buffer and reads an indirect flag inside a table as a plain
 * buffer) or ignored (QEMU's rng waits for a request with no writable
 * bytes) — as long as they recover; the line shows what they did. The
 * blk status cases and QueueNumMax reading 0 hold for every device.
 */
#include <stddef.h>
#include <linux/virtio_ids.h>
#include "bootinfo.h"
#include "clock.h"
#include "console.h"
#include "cpu.h"
#include "dma.h"
#include "fmt.h"
#include "libc.h"
#include "tests.h"
#include "virtio_blk.h"
#include "virtio_net.h"

#define OUTCOME_TIMEOUT_US 1000000
#define SETTLE_US	   20000 /* after NEEDS_RESET: would a used entry still appear? */
#define BAD_ADDR	   0xfffffff00000ULL /* far beyond RAM, canonical */
#define WRAP_ADDR	   0xfffffffffffff000ULL
#define WRAP_LEN	   0x2000
#define BLK_T_BOGUS	   0xff
#define MAX_SEGS	   6

/* Scratch layout (one DMA page pair per device). */
#define S_HDR	  0x000 /* blk header */
#define S_STATUS  0x040
#define S_EXTRA_W 0x080
#define S_EXTRA_R 0x0c0
#define S_TABLE1  0x100
#define S_TABLE2  0x200
#define S_FRAME	  0x400 /* virtio-net header + frame */
#define S_DATA	  0x800
#define S_SIZE	  0x1000
#define DATA_LEN  512
#define FRAME_LEN 60

struct hdev {
	struct virtio_dev probe; /* as found; every set-up starts from it */
	struct virtio_dev dev;	 /* as set up */
	char name[16];
	unsigned int wq, nr_queues;
	uint64_t features;
	uint64_t capacity; /* blk */
	bool ro;	   /* blk */
	bool kvmlet;	   /* strict expectations */
	uint8_t *scratch;
	struct virtq *vq;
};

struct seen {
	uint32_t status, isr;
	uint16_t used;
	uint32_t used_len;
	uint8_t blk_status;
};

struct tally {
	unsigned int cases, failed;
};

static uint64_t sa(const struct hdev *h, unsigned int off)
{
	return dma_addr(h->scratch + off);
}

static bool hdev_setup(struct hdev *h, uint64_t features, char *why, size_t len)
{
	h->dev = h->probe;
	if (!virtio_negotiate(&h->dev, features, why, len))
		return false;
	for (unsigned int q = 0; q < h->nr_queues; q++)
		if (!virtio_queue_setup(&h->dev, q, 16, why, len))
			return false;
	h->vq = h->dev.vqs[h->wq];
	return virtio_driver_ok(&h->dev, why, len);
}

/* A good request of the device's kind, as buffers. */
static unsigned int good_segs(struct hdev *h, struct vq_seg *s)
{
	struct virtio_blk_outhdr *bh = (void *)(h->scratch + S_HDR);

	switch (h->probe.device_id) {
	case VIRTIO_ID_BLOCK:
		*bh = (struct virtio_blk_outhdr){ .type = VIRTIO_BLK_T_IN, .sector = 0 };
		h->scratch[S_STATUS] = VBLK_STATUS_NONE;
		s[0] = (struct vq_seg){ sa(h, S_HDR), sizeof(*bh), false };
		s[1] = (struct vq_seg){ sa(h, S_DATA), DATA_LEN, true };
		s[2] = (struct vq_seg){ sa(h, S_STATUS), 1, true };
		return 3;
	case VIRTIO_ID_NET:
		/* Broadcast, to the local-experimental EtherType: nobody minds it. */
		memset(h->scratch + S_FRAME, 0, VNET_HDR_LEN + FRAME_LEN);
		memset(h->scratch + S_FRAME + VNET_HDR_LEN, 0xff, 6);
		h->scratch[S_FRAME + VNET_HDR_LEN + 12] = 0x88;
		h->scratch[S_FRAME + VNET_HDR_LEN + 13] = 0xb5;
		s[0] = (struct vq_seg){ sa(h, S_FRAME), VNET_HDR_LEN + FRAME_LEN, false };
		return 1;
	}
	s[0] = (struct vq_seg){ sa(h, S_DATA), DATA_LEN, true }; /* rng, and others */
	return 1;
}

/* Which buffer of good_segs() carries the payload. */
static unsigned int data_seg(const struct hdev *h)
{
	return h->probe.device_id == VIRTIO_ID_BLOCK ? 1 : 0;
}

static void to_descs(const struct vq_seg *s, unsigned int n, struct vring_desc *d)
{
	for (unsigned int i = 0; i < n; i++)
		d[i] = (struct vring_desc){
			.addr = s[i].addr,
			.len = s[i].len,
			.flags = (s[i].write ? VRING_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			.next = i + 1 < n ? i + 1 : 0,
		};
}

/* Kicks and waits for NEEDS_RESET or a used entry, whichever comes first. */
static void observe(struct hdev *h, struct seen *s)
{
	struct deadline d = deadline_in_us(OUTCOME_TIMEOUT_US);

	virtq_kick(h->vq);
	/* The kick above is skipped if the device asked for none; this one is not. */
	virtio_write(&h->dev, VIRTIO_MMIO_QUEUE_NOTIFY, h->wq);
	for (;;) {
		s->status = virtio_status(&h->dev);
		s->used = virtq_pending_used(h->vq);
		if ((s->status & VIRTIO_CONFIG_S_NEEDS_RESET) || s->used || deadline_passed(&d))
			break;
		clock_delay_us(50);
	}
	if (s->status & VIRTIO_CONFIG_S_NEEDS_RESET) {
		clock_delay_us(SETTLE_US);
		s->used = virtq_pending_used(h->vq);
	}
	s->isr = virtio_read(&h->dev, VIRTIO_MMIO_INTERRUPT_STATUS);
	if (s->used)
		s->used_len = h->vq->used->ring[0].len;
	s->blk_status = h->scratch[S_STATUS];
}

/* A good request on the live device; false (with why) if it does not complete. */
static bool good_request(struct hdev *h, char *why, size_t len)
{
	struct vq_seg segs[MAX_SEGS];
	unsigned int n = good_segs(h, segs);
	uint32_t got;

	if (virtq_add(h->vq, segs, n, h) < 0) {
		fmt_snprintf(why, len, "queue full");
		return false;
	}
	virtq_kick(h->vq);
	if (virtq_wait(h->vq, &got, OUTCOME_TIMEOUT_US) != h) {
		fmt_snprintf(why, len, "good request not completed, status 0x%x",
			     virtio_status(&h->dev));
		return false;
	}
	if (h->probe.device_id == VIRTIO_ID_BLOCK && h->scratch[S_STATUS] != VIRTIO_BLK_S_OK) {
		fmt_snprintf(why, len, "good read completed with status %u", h->scratch[S_STATUS]);
		return false;
	}
	if (h->probe.device_id == VIRTIO_ID_RNG && !got) {
		fmt_snprintf(why, len, "good request returned no entropy");
		return false;
	}
	return true;
}

/* Reset, initialise again, one good request: appends the verdict to @seen. */
static bool recover(struct hdev *h, char *seen, size_t len)
{
	size_t used = strlen(seen);
	char why[100];

	virtio_reset(&h->dev);
	if (virtio_status(&h->dev)) {
		fmt_snprintf(seen + used, len - used, "; status 0x%x after reset",
			     virtio_status(&h->dev));
		return false;
	}
	if (!hdev_setup(h, h->features, why, sizeof(why)) || !good_request(h, why, sizeof(why))) {
		fmt_snprintf(seen + used, len - used, "; not recovered: %s", why);
		return false;
	}
	fmt_snprintf(seen + used, len - used, "; recovered");
	return true;
}

static void report(struct tally *t, const struct hdev *h, const char *name, const char *expected,
		   bool ok, const char *seen)
{
	cons_printf("hostile %s %s: %s %s (%s)\n", h->name, name, expected, ok ? "ok" : "FAIL",
		    seen);
	t->cases++;
	t->failed += !ok;
}

/* ---- structurally broken chains ---- */

enum structural {
	HEAD_OOB,
	DESC_LOOP,
	ADDR_OUTSIDE_RAM,
	ADDR_OVERFLOW,
	INDIRECT_NESTED,
	INDIRECT_UNNEGOTIATED,
	READABLE_AFTER_WRITABLE,
	BLK_SHORT_HEADER,
	BLK_NO_STATUS,
};

static const char *const structural_names[] = {
	[HEAD_OOB] = "head-out-of-range",
	[DESC_LOOP] = "descriptor-loop",
	[ADDR_OUTSIDE_RAM] = "buffer-outside-ram",
	[ADDR_OVERFLOW] = "buffer-addr-len-overflow",
	[INDIRECT_NESTED] = "indirect-in-indirect",
	[INDIRECT_UNNEGOTIATED] = "indirect-not-negotiated",
	[READABLE_AFTER_WRITABLE] = "readable-after-writable",
	[BLK_SHORT_HEADER] = "header-shorter-than-16",
	[BLK_NO_STATUS] = "no-status-byte",
};

/* Builds the case's chain in the work queue and makes it available. */
static void build(struct hdev *h, enum structural c)
{
	struct vring_desc *t1 = (void *)(h->scratch + S_TABLE1);
	struct vring_desc *t2 = (void *)(h->scratch + S_TABLE2);
	struct vring_desc *desc = h->vq->desc;
	struct vq_seg segs[MAX_SEGS];
	unsigned int n = good_segs(h, segs), d = data_seg(h);

	switch (c) {
	case HEAD_OOB:
		virtq_publish_raw(h->vq, h->vq->size);
		return;
	case DESC_LOOP:
		to_descs(segs, n, desc);
		desc[n - 1].flags |= VRING_DESC_F_NEXT;
		desc[n - 1].next = n - 1; /* itself: keeps the readable/writable order */
		break;
	case ADDR_OUTSIDE_RAM:
		segs[d].addr = BAD_ADDR;
		to_descs(segs, n, desc);
		break;
	case ADDR_OVERFLOW:
		segs[d].addr = WRAP_ADDR;
		segs[d].len = WRAP_LEN;
		to_descs(segs, n, desc);
		break;
	case INDIRECT_NESTED:
		to_descs(segs, n, t2);
		t1[0] = (struct vring_desc){ sa(h, S_TABLE2), n * 16, VRING_DESC_F_INDIRECT, 0 };
		desc[0] = (struct vring_desc){ sa(h, S_TABLE1), 16, VRING_DESC_F_INDIRECT, 0 };
		break;
	case INDIRECT_UNNEGOTIATED:
		to_descs(segs, n, t1);
		desc[0] = (struct vring_desc){ sa(h, S_TABLE1), n * 16, VRING_DESC_F_INDIRECT, 0 };
		break;
	case READABLE_AFTER_WRITABLE:
		segs[n++] = (struct vq_seg){ sa(h, S_EXTRA_W), 16, true };
		segs[n++] = (struct vq_seg){ sa(h, S_EXTRA_R), 16, false };
		to_descs(segs, n, desc);
		break;
	case BLK_SHORT_HEADER:
		segs[0].len = 8;
		to_descs(segs, n, desc);
		break;
	case BLK_NO_STATUS:
		to_descs(segs, 1, desc); /* the header alone: nothing writable */
		break;
	}
	virtq_publish_raw(h->vq, 0);
}

static void run_structural(struct tally *t, struct hdev *h, enum structural c)
{
	uint64_t features = h->features, mark = dma_mark();
	bool strict = h->kvmlet;
	const char *expected = strict ? "needs-reset" : "needs-reset|served|ignored";
	char seen[200], why[100];
	struct seen s = { 0 };
	bool ok;

	if (c == INDIRECT_UNNEGOTIATED)
		features &= ~(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	if (!hdev_setup(h, features, why, sizeof(why))) {
		fmt_snprintf(seen, sizeof(seen), "set-up failed: %s", why);
		report(t, h, structural_names[c], expected, false, seen);
		virtio_reset(&h->dev);
		dma_release(mark);
		return;
	}
	build(h, c);
	observe(h, &s);
	if (s.status & VIRTIO_CONFIG_S_NEEDS_RESET) {
		ok = (s.isr & VIRTIO_MMIO_INT_CONFIG) && !s.used;
		fmt_snprintf(seen, sizeof(seen), "needs-reset, status 0x%x, isr 0x%x, %u used",
			     s.status, s.isr, s.used);
	} else if (s.used) {
		ok = !strict;
		fmt_snprintf(seen, sizeof(seen), "served, %u used (len %u), status 0x%x", s.used,
			     s.used_len, s.status);
	} else {
		ok = !strict;
		fmt_snprintf(seen, sizeof(seen), "ignored for %u ms, status 0x%x, isr 0x%x",
			     OUTCOME_TIMEOUT_US / 1000, s.status, s.isr);
	}
	ok &= recover(h, seen, sizeof(seen));
	report(t, h, structural_names[c], expected, ok, seen);
	virtio_reset(&h->dev);
	dma_release(mark);
}

/* ---- well-formed but wrong blk requests: a status, and the device lives on ---- */

enum blk_case { BLK_PAST_END, BLK_WRITE_RO, BLK_UNKNOWN_TYPE };

static void run_blk_status(struct tally *t, struct hdev *h, enum blk_case c)
{
	static const char *const names[] = { "sector-past-end", "write-on-ro-disk",
					     "unknown-request-type" };
	struct virtio_blk_outhdr *bh = (void *)(h->scratch + S_HDR);
	uint8_t want = c == BLK_UNKNOWN_TYPE ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
	const char *expected = c == BLK_UNKNOWN_TYPE ? "UNSUPP" : "IOERR";
	uint64_t mark = dma_mark();
	struct vq_seg segs[MAX_SEGS];
	unsigned int n;
	char seen[200], why[100];
	struct seen s = { 0 };
	bool ok;

	if (!hdev_setup(h, h->features, why, sizeof(why))) {
		fmt_snprintf(seen, sizeof(seen), "set-up failed: %s", why);
		report(t, h, names[c], expected, false, seen);
		goto out;
	}
	n = good_segs(h, segs);
	if (c == BLK_PAST_END) {
		bh->sector = h->capacity;
	} else if (c == BLK_WRITE_RO) {
		bh->type = VIRTIO_BLK_T_OUT;
		segs[1].write = false;
	} else {
		bh->type = BLK_T_BOGUS;
		segs[1] = segs[2];
		n = 2;
	}
	virtq_add(h->vq, segs, n, h);
	observe(h, &s);
	if (s.used) {
		virtq_get(h->vq, NULL);
		ok = s.blk_status == want && !(s.status & VIRTIO_CONFIG_S_NEEDS_RESET);
		fmt_snprintf(seen, sizeof(seen), "status byte %u, device status 0x%x", s.blk_status,
			     s.status);
	} else {
		ok = false;
		fmt_snprintf(seen, sizeof(seen), "no completion, device status 0x%x, isr 0x%x",
			     s.status, s.isr);
	}
	/* No reset: a request error must not have broken the device. */
	if (ok && !good_request(h, why, sizeof(why))) {
		size_t used = strlen(seen);

		fmt_snprintf(seen + used, sizeof(seen) - used, "; then %s", why);
		ok = false;
	} else if (ok) {
		size_t used = strlen(seen);

		fmt_snprintf(seen + used, sizeof(seen) - used, "; next request ok");
	}
	report(t, h, names[c], expected, ok, seen);
out:
	virtio_reset(&h->dev);
	dma_release(mark);
}

/* ---- the transport's queue registers ---- */

/* QueueNum above QueueNumMax, not a power of two, then QueueReady=1. */
static void run_queue_num(struct tally *t, struct hdev *h)
{
	const char *expected = h->kvmlet ? "refused" : "refused|accepted";
	uint64_t mark = dma_mark();
	uint32_t num_max, bad, ready, status;
	char seen[200], why[100];
	struct virtio_dev *d = &h->dev;
	uint8_t *ring = dma_alloc(3 * 4096 * 4, 4096); /* room for whatever size it takes */
	bool ok;

	h->dev = h->probe;
	if (!ring || !virtio_negotiate(d, h->features, why, sizeof(why))) {
		fmt_snprintf(seen, sizeof(seen), "set-up failed: %s", ring ? why : "no memory");
		report(t, h, "queue-num-invalid", expected, false, seen);
		goto out;
	}
	virtio_write(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	num_max = virtio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	bad = num_max + 3;
	if (!(bad & (bad - 1)))
		bad++;
	virtio_write(d, VIRTIO_MMIO_QUEUE_NUM, bad);
	virtio_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)dma_addr(ring));
	virtio_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	virtio_write(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)dma_addr(ring + 4 * 4096));
	virtio_write(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	virtio_write(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)dma_addr(ring + 8 * 4096));
	virtio_write(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	virtio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	ready = virtio_read(d, VIRTIO_MMIO_QUEUE_READY);
	status = virtio_status(d);
	ok = !ready || !h->kvmlet;
	fmt_snprintf(seen, sizeof(seen), "QueueNum %u (max %u): QueueReady %u, status 0x%x%s", bad,
		     num_max, ready, status,
		     status & VIRTIO_CONFIG_S_NEEDS_RESET ? " (needs-reset)" : "");
	ok &= recover(h, seen, sizeof(seen));
	report(t, h, "queue-num-invalid", expected, ok, seen);
out:
	virtio_reset(&h->dev);
	dma_release(mark);
}

/*
 * QueueSel beyond the device's queues: QueueNumMax must read 0, writes
 * there must go nowhere (kvmlet: QueueReady stays 0), and the device must
 * then be set up and work normally, without a reset in between. 1023 is
 * past any device's queues; 0xffffffff is ignored by QEMU, which keeps
 * the 1023.
 */
static void run_queue_sel(struct tally *t, struct hdev *h)
{
	static const uint32_t sels[] = { 1023, 0xffffffff };
	uint64_t mark = dma_mark();
	struct virtio_dev *d = &h->dev;
	char seen[200], why[100];
	uint32_t num_max[2], ready[2];
	bool ok = true;

	h->dev = h->probe;
	if (!virtio_negotiate(d, h->features, why, sizeof(why))) {
		fmt_snprintf(seen, sizeof(seen), "set-up failed: %s", why);
		report(t, h, "queue-sel-out-of-range", "num-max-0", false, seen);
		goto out;
	}
	for (unsigned int i = 0; i < 2; i++) {
		virtio_write(d, VIRTIO_MMIO_QUEUE_SEL, sels[i]);
		num_max[i] = virtio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
		virtio_write(d, VIRTIO_MMIO_QUEUE_NUM, 8);
		virtio_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
		virtio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
		ready[i] = virtio_read(d, VIRTIO_MMIO_QUEUE_READY);
		ok &= !num_max[i] && (!ready[i] || !h->kvmlet);
	}
	fmt_snprintf(seen, sizeof(seen),
		     "QueueNumMax %u and %u, QueueReady after writing 1: %u and %u", num_max[0],
		     num_max[1], ready[0], ready[1]);
	/* Carry on with the real queues on the same, unreset device. */
	for (unsigned int q = 0; q < h->nr_queues && ok; q++)
		ok = virtio_queue_setup(d, q, 16, why, sizeof(why));
	if (ok) {
		h->vq = d->vqs[h->wq];
		ok = virtio_driver_ok(d, why, sizeof(why)) && good_request(h, why, sizeof(why));
	}
	{
		size_t used = strlen(seen);

		fmt_snprintf(seen + used, sizeof(seen) - used,
			     ok ? "; then set-up and request ok" : "; then %s", why);
	}
	report(t, h, "queue-sel-out-of-range", h->kvmlet ? "num-max-0,not-ready" : "num-max-0", ok,
	       seen);
out:
	virtio_reset(&h->dev);
	dma_release(mark);
}

static void run_device(struct tally *t, struct hdev *h)
{
	enum structural last = READABLE_AFTER_WRITABLE;

	if (h->probe.device_id == VIRTIO_ID_BLOCK) {
		char why[100];

		/* Capacity and read-only-ness, from a normal set-up. */
		if (hdev_setup(h, h->features, why, sizeof(why))) {
			h->capacity = virtio_config64(&h->dev,
						      offsetof(struct virtio_blk_config, capacity));
			h->ro = virtio_has(&h->dev, VIRTIO_BLK_F_RO);
		}
		virtio_reset(&h->dev);
		last = BLK_NO_STATUS;
	}
	run_queue_num(t, h);
	run_queue_sel(t, h);
	for (enum structural c = HEAD_OOB; c <= last; c++)
		run_structural(t, h, c);
	if (h->probe.device_id == VIRTIO_ID_BLOCK) {
		run_blk_status(t, h, BLK_PAST_END);
		if (h->ro)
			run_blk_status(t, h, BLK_WRITE_RO);
		run_blk_status(t, h, BLK_UNKNOWN_TYPE);
	}
}

bool test_hostile(char *detail, size_t len)
{
	struct virtio_slot slots[VIRTIO_MAX_SLOTS];
	unsigned int nr = virtio_find_slots(bootinfo.cmdline, slots, VIRTIO_MAX_SLOTS);
	unsigned int per_type[64] = { 0 }, devices = 0;
	struct tally t = { 0 };
	uint64_t mark = dma_mark();

	for (unsigned int i = 0; i < nr; i++) {
		struct hdev h = { .wq = 0, .nr_queues = 1 };
		char why[80], tbuf[16];

		if (!virtio_probe(&h.probe, &slots[i], why, sizeof(why))) {
			cons_printf("virtio@0x%lx: %s\n", slots[i].base, why);
			continue;
		}
		if (!h.probe.device_id)
			continue;
		fmt_snprintf(h.name, sizeof(h.name), "%s%u",
			     virtio_type_name(h.probe.device_id, tbuf, sizeof(tbuf)),
			     per_type[h.probe.device_id % 64]++);
		h.kvmlet = h.probe.vendor_id == VIRTIO_VENDOR_KVMLET;
		h.features =
			(1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
		if (h.probe.device_id == VIRTIO_ID_BLOCK) {
			h.features |= VBLK_FEATURES;
		} else if (h.probe.device_id == VIRTIO_ID_NET) {
			h.features |= VNET_FEATURES;
			h.wq = 1;
			h.nr_queues = 2;
		} else if (h.probe.device_id != VIRTIO_ID_RNG) {
			cons_printf("hostile: skipping %s at 0x%lx (no driver)\n", h.name,
				    slots[i].base);
			continue;
		}
		h.scratch = dma_alloc(S_SIZE, 4096);
		if (!h.scratch) {
			fmt_snprintf(detail, len, "out of DMA memory");
			return false;
		}
		devices++;
		run_device(&t, &h);
	}
	dma_release(mark);
	if (!devices) {
		fmt_snprintf(detail, len, "no virtio device to test");
		return false;
	}
	if (t.failed) {
		fmt_snprintf(detail, len, "%u of %u cases on %u device(s) failed", t.failed,
			     t.cases, devices);
		return false;
	}
	fmt_snprintf(detail, len, "%u cases on %u device(s)", t.cases, devices);
	return true;
}
