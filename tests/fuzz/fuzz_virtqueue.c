// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the guest owns a split virtqueue. The input is its
 * descriptor table, available ring and the memory around them, plus a
 * script of device actions (pop, push, notify, ...) interleaved with guest
 * actions (publishing more, rewriting descriptors). The device must never
 * touch memory outside guest RAM, hand out a buffer that is not wholly
 * inside one RAM region, or loop.
 *
 * Input layout (missing bytes read as zero):
 *   0      queue size: 1 << (b % 9), or b - 0xf0 when b >= 0xf0 (bad sizes)
 *   1      flags: FL_*
 *   2..13  desc, avail, used guest addresses (u32 LE), with FL_RINGS
 *   14     number of script bytes
 *   then   the descriptor table (16 * size), the available ring incl.
 *          used_event (6 + 2 * size), the script, and the rest of guest RAM
 *          from DATA_GPA on, then from HIGH_GPA (indirect tables, buffers);
 *          the rings are written over the rest where they overlap
 *
 * Guest RAM is two regions, as around the MMIO hole, contiguous on the host
 * and allocated with malloc() so that ASan sees any access past either end.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/queue.h"
#include "memory/guest_memory.h"

#define LOW_SIZE  0x8000ULL
#define HIGH_GPA  0x100000ULL
#define HIGH_SIZE 0x8000ULL
#define RAM_BYTES (LOW_SIZE + HIGH_SIZE)

#define DESC_GPA  0x1000ULL
#define AVAIL_GPA 0x2000ULL
#define USED_GPA  0x3000ULL
#define DATA_GPA  0x4000ULL /* the rest of the input lands here, and at HIGH_GPA */

#define FL_EVENT_IDX 0x01
#define FL_INDIRECT  0x02
#define FL_FOLD	     0x04 /* fold descriptor addresses near RAM, lengths small */
#define FL_RINGS     0x08 /* ring addresses from the input */

#define COPY_MAX (64 * 1024)

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t in_byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint32_t in_u32(struct input *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)in_byte(in) << (8 * i);
	return v;
}

/* Copies up to len input bytes to dst; the rest of dst stays zero. */
static void in_copy(struct input *in, void *dst, size_t len)
{
	size_t n = len < in->left ? len : in->left;

	memcpy(dst, in->p, n);
	in->p += n;
	in->left -= n;
}

static void fold(struct vring_desc *d)
{
	/* Half of these land in a RAM region, half just outside one. */
	d->addr = (d->addr & 0xffff) | (d->addr & 0x10000 ? HIGH_GPA : 0);
	d->len &= 0x3fff;
}

static const struct mem_region *region_of(const struct guest_memory *gm, const uint8_t *p)
{
	const struct mem_region *r;

	gm_for_each_region(gm, r)
		if (p >= r->host && p < r->host + r->size)
			return r;
	return NULL;
}

/* Every host range the queue hands out lies inside one region. */
static void check_range(const struct guest_memory *gm, const void *p, uint64_t len)
{
	const struct mem_region *r = region_of(gm, p);

	if (!r || len > r->size - (uint64_t)((const uint8_t *)p - r->host))
		__builtin_trap();
}

static void check_chain(const struct virtqueue *vq, const struct vq_chain *c)
{
	uint64_t out = 0, in = 0;
	unsigned int n = c->nr_out + c->nr_in;

	if (c->head >= vq->size || n == 0 || n > VQ_MAX_CHAIN)
		__builtin_trap();
	for (unsigned int i = 0; i < n; i++) {
		if (c->buf[i].len)
			check_range(vq->mem, c->buf[i].addr, c->buf[i].len);
		if (i < c->nr_out)
			out += c->buf[i].len;
		else
			in += c->buf[i].len;
	}
	if (out != c->out_len || in != c->in_len || out > UINT32_MAX || in > UINT32_MAX)
		__builtin_trap();
}

static uint8_t scratch[COPY_MAX];

/* What a device does with a chain: reads the request, writes a reply. */
static uint32_t consume(const struct vq_chain *c, uint8_t op)
{
	size_t off = op & 0x1f, want = c->out_len < COPY_MAX ? c->out_len : COPY_MAX;
	size_t got = vq_chain_read(c, 0, scratch, want), wrote;

	if (got != want)
		__builtin_trap();
	got = vq_chain_read(c, off, scratch, COPY_MAX);
	if (got !=
	    (c->out_len > off ? (c->out_len - off < COPY_MAX ? c->out_len - off : COPY_MAX) : 0))
		__builtin_trap();
	want = c->in_len < COPY_MAX ? c->in_len : COPY_MAX;
	wrote = vq_chain_write(c, 0, scratch, want);
	if (wrote != want)
		__builtin_trap();
	return (uint32_t)(op & 0x80 ? wrote : wrote / 2);
}

static bool same_chain(const struct vq_chain *a, const struct vq_chain *b)
{
	unsigned int n = a->nr_out + a->nr_in;

	if (a->head != b->head || a->nr_out != b->nr_out || a->nr_in != b->nr_in ||
	    a->out_len != b->out_len || a->in_len != b->in_len)
		return false;
	for (unsigned int i = 0; i < n; i++)
		if (a->buf[i].addr != b->buf[i].addr || a->buf[i].len != b->buf[i].len)
			return false;
	return true;
}

static struct vq_chain chain, again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct guest_memory gm = { .memfd = -1 };
	struct virtqueue vq = { 0 };
	uint8_t sel = in_byte(&in), flags = in_byte(&in), nops, ops[256] = { 0 };
	uint8_t desc_img[16 * VQ_MAX_SIZE] = { 0 }, avail_img[6 + 2 * VQ_MAX_SIZE] = { 0 };
	uint32_t ring_gpa[3];
	uint8_t *ram = calloc(1, RAM_BYTES);
	bool broken = false;
	int r;

	if (!ram)
		return 0;
	gm.base = ram;
	gm.size = RAM_BYTES;
	gm.nr_regions = 2;
	gm.region[0] = (struct mem_region){ 0, LOW_SIZE, ram, -1 };
	gm.region[1] = (struct mem_region){ HIGH_GPA, HIGH_SIZE, ram + LOW_SIZE, -1 };

	vq.size = sel >= 0xf0 ? sel - 0xf0 : 1u << (sel % 9);
	for (int i = 0; i < 3; i++)
		ring_gpa[i] = in_u32(&in);
	vq.desc_gpa = flags & FL_RINGS ? ring_gpa[0] : DESC_GPA;
	vq.avail_gpa = flags & FL_RINGS ? ring_gpa[1] : AVAIL_GPA;
	vq.used_gpa = flags & FL_RINGS ? ring_gpa[2] : USED_GPA;
	nops = in_byte(&in);

	if (vq_enable(&vq, &gm, flags & FL_EVENT_IDX, flags & FL_INDIRECT) != VQ_OK) {
		if (vq.ready || vq_pop(&vq, &chain) != 0 || vq_has_avail(&vq))
			__builtin_trap();
		free(ram);
		return 0;
	}
	check_range(&gm, vq.desc, 16ULL * vq.size);
	check_range(&gm, vq.avail, 6 + 2ULL * vq.size);
	check_range(&gm, vq.used, 6 + 8ULL * vq.size);

	/*
	 * Guest memory from the input: the data first, then the rings on top
	 * (they may overlap each other and the data: the guest's choice).
	 */
	in_copy(&in, desc_img, 16ULL * vq.size);
	in_copy(&in, avail_img, 6 + 2ULL * vq.size);
	in_copy(&in, ops, nops);
	in_copy(&in, gm_ptr(&gm, DATA_GPA, LOW_SIZE - DATA_GPA), LOW_SIZE - DATA_GPA);
	in_copy(&in, gm_ptr(&gm, HIGH_GPA, HIGH_SIZE), HIGH_SIZE);
	if (flags & FL_FOLD)
		for (uint64_t off = DATA_GPA; off + 16 <= RAM_BYTES; off += 16)
			fold((struct vring_desc *)(ram + off));
	memcpy(vq.desc, desc_img, 16ULL * vq.size);
	if (flags & FL_FOLD)
		for (unsigned int i = 0; i < vq.size; i++)
			fold(&vq.desc[i]);
	memcpy(vq.avail, avail_img, 6 + 2ULL * vq.size);

	for (unsigned int i = 0; i < nops && !broken; i++) {
		uint8_t op = ops[i];

		switch (op & 7) {
		case 0:
		case 1: /* serve one request */
			r = vq_pop(&vq, &chain);
			if (r > 0) {
				check_chain(&vq, &chain);
				vq_push(&vq, chain.head, consume(&chain, op));
			}
			broken = r < 0;
			break;
		case 2:
			vq_should_notify(&vq);
			break;
		case 3:
			if (op & 0x80) {
				/*
				 * The driver takes the queue down (and maybe writes
				 * QueueNum 0), then a request in flight completes.
				 */
				vq.ready = false;
				if (op & 0x40)
					vq.size = 0;
				vq_push(&vq, 0, 0);
				vq_should_notify(&vq);
				if (vq_pop(&vq, &chain) != 0 || vq_has_avail(&vq))
					__builtin_trap();
				broken = true;
				break;
			}
			vq_set_notification(&vq, op & 8);
			vq_has_avail(&vq);
			break;
		case 4: /* take a request, give it back, take it again */
			r = vq_pop(&vq, &chain);
			if (r > 0) {
				check_chain(&vq, &chain);
				vq_unpop(&vq);
				r = vq_pop(&vq, &again);
				if (r <= 0) {
					/* Only rings that overlap can change under the device. */
					if (!(flags & FL_RINGS))
						__builtin_trap();
					broken = true;
					break;
				}
				check_chain(&vq, &again);
				if (!(flags & FL_RINGS) && !same_chain(&chain, &again))
					__builtin_trap();
				if (op & 8)
					vq_unpop(&vq);
				else
					vq_push(&vq, again.head, 0);
			}
			broken = r < 0;
			break;
		case 5: /* the guest makes more available */
			vq.avail->idx += (op >> 3) & 7;
			break;
		case 6: /* the guest rewrites a descriptor flag */
			vq.desc[((op >> 3) & 7) % vq.size].flags ^= 1 << (op >> 6);
			break;
		default: /* the guest moves used_event, or toggles NO_INTERRUPT */
			if (op & 0x80)
				vq.avail->flags ^= VRING_AVAIL_F_NO_INTERRUPT;
			else
				vq.avail->ring[vq.size] = vq.used_idx + ((op >> 3) & 0xf) - 8;
			break;
		}
	}

	/*
	 * Then the device drains the ring. Each vq_pop() is bounded by itself;
	 * the harness bounds the loop, since buffers the device writes may
	 * alias the rings and make more available.
	 */
	for (unsigned int i = 0; !broken && i < 2 * VQ_MAX_SIZE; i++) {
		r = vq_pop(&vq, &chain);
		if (r <= 0)
			break;
		check_chain(&vq, &chain);
		vq_push(&vq, chain.head, consume(&chain, (uint8_t)i));
		vq_should_notify(&vq);
	}
	free(ram);
	return 0;
}
