// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-mmio transport (version 2) and split virtqueues, driver side.
 *
 * Memory ordering: x86 keeps stores in order and loads in order, so the
 * driver only needs the compiler to keep its accesses in program order
 * (release/acquire atomics) — except where a store must be visible before
 * a later load of the device's fields (publishing avail->idx, then reading
 * avail_event or used->flags): that needs a full fence, as in Linux's
 * virtio_mb().
 */
#include <linux/virtio_ids.h>
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "dma.h"
#include "fmt.h"
#include "io.h"
#include "libc.h"
#include "virtio.h"

#define VIRTIO_MMIO_MAGIC  0x74726976 /* "virt" */
#define VIRTIO_MMIO_CONFIG 0x100
#define RESET_TIMEOUT_US   1000000
#define PAGE_SIZE	   4096

/* ---- finding devices ---- */

/* Linux's memparse(): a number with an optional K, M or G suffix. */
static bool parse_size(const char **p, const char *end, uint64_t *v)
{
	if (!cmdline_parse_u64(p, end, v))
		return false;
	if (*p < end) {
		unsigned int shift = 0;

		switch (**p) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		}
		if (shift) {
			*v <<= shift;
			(*p)++;
		}
	}
	return true;
}

/* <size>@<addr>:<irq>[:<id>], as Linux's virtio_mmio_cmdline_set() takes it. */
static bool parse_slot(const char *p, size_t len, struct virtio_slot *s)
{
	const char *end = p + len;
	uint64_t irq;

	if (!parse_size(&p, end, &s->size) || p == end || *p++ != '@' ||
	    !cmdline_parse_u64(&p, end, &s->base) || p == end || *p++ != ':' ||
	    !cmdline_parse_u64(&p, end, &irq) || irq > UINT32_MAX)
		return false;
	if (p < end && *p != ':')
		return false;
	s->irq = (uint32_t)irq;
	/* Registers up to 0x100 and at least a little config space, below 4 GiB (mapped). */
	return s->size >= 0x200 && s->base && s->base + s->size <= (1ULL << 32) && !(s->base & 3);
}

unsigned int virtio_find_slots(const char *cmdline, struct virtio_slot *slots, unsigned int max)
{
	const char *cursor = cmdline, *v;
	unsigned int n = 0;
	size_t len;

	while ((v = cmdline_next(&cursor, "virtio_mmio.device", &len))) {
		struct virtio_slot s;

		if (!parse_slot(v, len, &s)) {
			cons_printf("virtio: ignoring malformed virtio_mmio.device=%.*s\n",
				    (int)len, v);
			continue;
		}
		if (n < max)
			slots[n++] = s;
	}
	/* Both sources may name a transport; the command line's word wins. */
	if (n < max) {
		struct virtio_slot acpi[VIRTIO_MAX_SLOTS];
		unsigned int na = virtio_acpi_slots(acpi, VIRTIO_MAX_SLOTS), have = n;

		for (unsigned int i = 0; i < na && n < max; i++) {
			bool dup = false;

			for (unsigned int j = 0; j < have; j++)
				dup |= slots[j].base == acpi[i].base;
			if (!dup)
				slots[n++] = acpi[i];
		}
	}
	return n;
}

uint32_t virtio_read(const struct virtio_dev *d, uint32_t reg)
{
	return mmio_read32(d->slot.base + reg);
}

void virtio_write(const struct virtio_dev *d, uint32_t reg, uint32_t val)
{
	mmio_write32(d->slot.base + reg, val);
}

uint32_t virtio_status(const struct virtio_dev *d)
{
	return virtio_read(d, VIRTIO_MMIO_STATUS);
}

bool virtio_probe(struct virtio_dev *d, const struct virtio_slot *s, char *why, size_t len)
{
	uint32_t magic, version;

	*d = (struct virtio_dev){ .slot = *s };
	magic = virtio_read(d, VIRTIO_MMIO_MAGIC_VALUE);
	if (magic != VIRTIO_MMIO_MAGIC) {
		fmt_snprintf(why, len, "bad magic 0x%08x", magic);
		return false;
	}
	version = virtio_read(d, VIRTIO_MMIO_VERSION);
	d->device_id = virtio_read(d, VIRTIO_MMIO_DEVICE_ID);
	if (version == 1) {
		fmt_snprintf(why, len, "legacy virtio-mmio (version 1) is not supported");
		return false;
	}
	if (version != 2) {
		fmt_snprintf(why, len, "unknown virtio-mmio version %u", version);
		return false;
	}
	d->vendor_id = virtio_read(d, VIRTIO_MMIO_VENDOR_ID);
	return true;
}

unsigned int virtio_find(uint32_t device_id, struct virtio_dev *devs, unsigned int max)
{
	struct virtio_slot slots[VIRTIO_MAX_SLOTS];
	unsigned int nr = virtio_find_slots(bootinfo.cmdline, slots, VIRTIO_MAX_SLOTS), n = 0;

	for (unsigned int i = 0; i < nr && n < max; i++) {
		char why[80];

		if (!virtio_probe(&devs[n], &slots[i], why, sizeof(why))) {
			cons_printf("virtio@0x%lx: %s\n", slots[i].base, why);
			continue;
		}
		if (devs[n].device_id == device_id && device_id)
			n++;
	}
	return n;
}

const char *virtio_type_name(uint32_t device_id, char *buf, size_t len)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return "net";
	case VIRTIO_ID_BLOCK:
		return "blk";
	case VIRTIO_ID_RNG:
		return "rng";
	case VIRTIO_ID_VSOCK:
		return "vsock";
	}
	fmt_snprintf(buf, len, "dev%u", device_id);
	return buf;
}

/* ---- device status and features ---- */

void virtio_reset(struct virtio_dev *d)
{
	struct deadline dl;

	clock_init(); /* for this timeout and those of every user */
	dl = deadline_in_us(RESET_TIMEOUT_US);
	virtio_write(d, VIRTIO_MMIO_STATUS, 0);
	/* 4.2.3.1: a driver waits for the reset to finish by reading 0 back. */
	while (virtio_status(d) && !deadline_passed(&dl))
		cpu_relax();
	for (unsigned int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		d->vqs[q] = NULL;
	d->features = 0;
}

static void add_status(struct virtio_dev *d, uint32_t bits)
{
	virtio_write(d, VIRTIO_MMIO_STATUS, virtio_status(d) | bits);
}

bool virtio_negotiate(struct virtio_dev *d, uint64_t wanted, char *why, size_t len)
{
	uint64_t lo, hi;

	virtio_reset(d);
	add_status(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	add_status(d, VIRTIO_CONFIG_S_DRIVER);

	virtio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = virtio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	virtio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = virtio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
	d->offered = hi << 32 | lo;
	if (!(d->offered & (1ULL << VIRTIO_F_VERSION_1))) {
		add_status(d, VIRTIO_CONFIG_S_FAILED);
		fmt_snprintf(why, len, "VIRTIO_F_VERSION_1 not offered (features 0x%lx)",
			     d->offered);
		return false;
	}
	d->features = d->offered & (wanted | (1ULL << VIRTIO_F_VERSION_1));
	virtio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	virtio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	virtio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	virtio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	add_status(d, VIRTIO_CONFIG_S_FEATURES_OK);
	/* 3.1.1: the device may refuse the subset by leaving FEATURES_OK clear. */
	if (!(virtio_status(d) & VIRTIO_CONFIG_S_FEATURES_OK)) {
		add_status(d, VIRTIO_CONFIG_S_FAILED);
		fmt_snprintf(why, len, "device refused features 0x%lx", d->features);
		return false;
	}
	return true;
}

bool virtio_driver_ok(struct virtio_dev *d, char *why, size_t len)
{
	uint32_t st;

	add_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
	st = virtio_status(d);
	if ((st & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)) ||
	    !(st & VIRTIO_CONFIG_S_DRIVER_OK)) {
		fmt_snprintf(why, len, "status 0x%x after DRIVER_OK", st);
		return false;
	}
	return true;
}

/* ---- configuration space ---- */

uint8_t virtio_config8(const struct virtio_dev *d, uint32_t off)
{
	return mmio_read8(d->slot.base + VIRTIO_MMIO_CONFIG + off);
}

uint16_t virtio_config16(const struct virtio_dev *d, uint32_t off)
{
	return mmio_read16(d->slot.base + VIRTIO_MMIO_CONFIG + off);
}

uint32_t virtio_config32(const struct virtio_dev *d, uint32_t off)
{
	return mmio_read32(d->slot.base + VIRTIO_MMIO_CONFIG + off);
}

uint64_t virtio_config64(const struct virtio_dev *d, uint32_t off)
{
	uint32_t gen, lo, hi;

	/* Two 32-bit reads may straddle a change: retry until the generation holds. */
	do {
		gen = virtio_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
		lo = virtio_config32(d, off);
		hi = virtio_config32(d, off + 4);
	} while (gen != virtio_read(d, VIRTIO_MMIO_CONFIG_GENERATION));
	return (uint64_t)hi << 32 | lo;
}

/* ---- queues ---- */

static void write64(const struct virtio_dev *d, uint32_t lo_reg, uint32_t hi_reg, uint64_t v)
{
	virtio_write(d, lo_reg, (uint32_t)v);
	virtio_write(d, hi_reg, (uint32_t)(v >> 32));
}

/* The event-index fields trail the rings (2.7.7, 2.7.10). */
static uint16_t *used_event(const struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event(const struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/*
 * used_event for EVENT_IDX. With interrupts on: the next entry. Polling:
 * half the index space away, which the device (never more than a ring
 * ahead of us) cannot reach — a threshold just behind us would still fire
 * when we take an entry between the device's push and its check.
 */
static uint16_t irq_threshold(const struct virtq *vq)
{
	return vq->last_used + (vq->irq ? 0 : 0x8000);
}

bool virtio_queue_setup(struct virtio_dev *d, unsigned int index, unsigned int max_size, char *why,
			size_t len)
{
	struct virtq *vq;
	uint32_t num_max, size = 1;

	if (index >= VIRTIO_MAX_QUEUES) {
		fmt_snprintf(why, len, "queue %u: driver supports %u queues", index,
			     VIRTIO_MAX_QUEUES);
		return false;
	}
	virtio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
	if (virtio_read(d, VIRTIO_MMIO_QUEUE_READY)) {
		fmt_snprintf(why, len, "queue %u is already live", index);
		return false;
	}
	num_max = virtio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (!num_max) {
		fmt_snprintf(why, len, "queue %u does not exist", index);
		return false;
	}
	/* Split rings have power-of-two sizes (2.7). */
	while (size * 2 <= MIN(MIN(num_max, max_size), VIRTQ_MAX_SIZE))
		size *= 2;

	vq = dma_alloc(sizeof(*vq), 64);
	if (vq) {
		vq->desc = dma_alloc(16 * size, PAGE_SIZE);
		vq->avail = dma_alloc(6 + 2 * size, PAGE_SIZE);
		vq->used = dma_alloc(6 + 8 * size, PAGE_SIZE);
		vq->cookie = dma_alloc(sizeof(void *) * size, 8);
	}
	if (!vq || !vq->desc || !vq->avail || !vq->used || !vq->cookie) {
		fmt_snprintf(why, len, "out of memory for queue %u", index);
		return false;
	}
	vq->dev = d;
	vq->index = index;
	vq->size = size;
	vq->event_idx = virtio_has(d, VIRTIO_RING_F_EVENT_IDX);
	vq->nr_free = size;
	for (unsigned int i = 0; i < size; i++)
		vq->desc[i].next = i + 1;
	virtq_set_irq(vq, false);

	virtio_write(d, VIRTIO_MMIO_QUEUE_NUM, size);
	write64(d, VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_MMIO_QUEUE_DESC_HIGH, dma_addr(vq->desc));
	write64(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, dma_addr(vq->avail));
	write64(d, VIRTIO_MMIO_QUEUE_USED_LOW, VIRTIO_MMIO_QUEUE_USED_HIGH, dma_addr(vq->used));
	virtio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	if (virtio_read(d, VIRTIO_MMIO_QUEUE_READY) != 1) {
		fmt_snprintf(why, len, "queue %u (size %u) did not become ready, status 0x%x",
			     index, size, virtio_status(d));
		return false;
	}
	d->vqs[index] = vq;
	return true;
}

static uint16_t desc_alloc(struct virtq *vq)
{
	uint16_t i = vq->free_head;

	vq->free_head = vq->desc[i].next;
	vq->nr_free--;
	return i;
}

static void publish(struct virtq *vq, uint16_t head, void *cookie)
{
	vq->cookie[head] = cookie;
	vq->avail->ring[vq->avail_idx % vq->size] = head;
	vq->avail_idx++;
}

int virtq_add(struct virtq *vq, const struct vq_seg *segs, unsigned int n, void *cookie)
{
	uint16_t head, prev = 0;

	if (!n || n > vq->nr_free)
		return -1;
	head = vq->free_head;
	for (unsigned int i = 0; i < n; i++) {
		uint16_t d = desc_alloc(vq);

		vq->desc[d] = (struct vring_desc){
			.addr = segs[i].addr,
			.len = segs[i].len,
			.flags = segs[i].write ? VRING_DESC_F_WRITE : 0,
		};
		if (i)
			vq->desc[prev].flags |= VRING_DESC_F_NEXT, vq->desc[prev].next = d;
		prev = d;
	}
	publish(vq, head, cookie);
	return head;
}

int virtq_add_indirect(struct virtq *vq, struct vring_desc *table, const struct vq_seg *segs,
		       unsigned int n, void *cookie)
{
	uint16_t head;

	if (!n || !vq->nr_free)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		table[i] = (struct vring_desc){
			.addr = segs[i].addr,
			.len = segs[i].len,
			.flags = (segs[i].write ? VRING_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			.next = i + 1 < n ? i + 1 : 0,
		};
	}
	head = desc_alloc(vq);
	vq->desc[head] = (struct vring_desc){
		.addr = dma_addr(table),
		.len = n * sizeof(*table),
		.flags = VRING_DESC_F_INDIRECT,
	};
	publish(vq, head, cookie);
	return head;
}

void virtq_publish_raw(struct virtq *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx % vq->size] = head;
	vq->avail_idx++;
}

void virtq_kick(struct virtq *vq)
{
	uint16_t old = vq->kicked_idx, new = vq->avail_idx;
	bool kick;

	if (old == new)
		return;
	/* Ring entries before the index that publishes them. */
	__atomic_store_n(&vq->avail->idx, new, __ATOMIC_RELEASE);
	/* ...and the index before our look at what the device asked for. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx)
		kick = vring_need_event(__atomic_load_n(avail_event(vq), __ATOMIC_RELAXED), new,
					old);
	else
		kick = !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	vq->kicked_idx = new;
	if (kick) {
		virtio_write(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
		vq->kicks++;
	}
}

uint16_t virtq_pending_used(const struct virtq *vq)
{
	return __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) - vq->last_used;
}

void *virtq_get(struct virtq *vq, uint32_t *len)
{
	struct vring_used_elem e;
	uint16_t d;
	void *cookie;

	/* Acquire: the element is read only after the index that published it. */
	if (__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE) == vq->last_used)
		return NULL;
	e = vq->used->ring[vq->last_used % vq->size];
	vq->last_used++;
	if (vq->event_idx)
		__atomic_store_n(used_event(vq), irq_threshold(vq), __ATOMIC_RELAXED);
	if (e.id >= vq->size)
		return NULL; /* a device bug; the cookie is unknown */
	cookie = vq->cookie[e.id];
	if (len)
		*len = e.len;
	/* Return the chain to the free list; an indirect head is one descriptor. */
	d = e.id;
	vq->nr_free++;
	while (vq->desc[d].flags & VRING_DESC_F_NEXT) {
		d = vq->desc[d].next;
		vq->nr_free++;
	}
	vq->desc[d].next = vq->free_head;
	vq->free_head = e.id;
	return cookie;
}

void *virtq_wait(struct virtq *vq, uint32_t *len, uint64_t timeout_us)
{
	struct deadline dl = deadline_in_us(timeout_us);
	void *c;

	while (!(c = virtq_get(vq, len))) {
		if (deadline_passed(&dl))
			return NULL;
		cpu_relax();
	}
	return c;
}

void virtq_set_irq(struct virtq *vq, bool on)
{
	vq->irq = on;
	if (vq->event_idx)
		__atomic_store_n(used_event(vq), irq_threshold(vq), __ATOMIC_RELAXED);
	else
		__atomic_store_n(&vq->avail->flags, on ? 0 : VRING_AVAIL_F_NO_INTERRUPT,
				 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
