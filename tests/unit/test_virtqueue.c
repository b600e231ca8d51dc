// SPDX-License-Identifier: Apache-2.0
/*
 * Split virtqueues from the device's side: the test plays the guest and
 * writes descriptor tables and rings straight into guest memory, then
 * checks what vq_pop() accepts, what it refuses and why, and what the
 * device writes back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio/queue.h"
#include "kvmlet/platform.h"
#include "memory/guest_memory.h"

#define RAM_SIZE  0x100000ULL /* 1 MiB */
#define DESC_GPA  0x1000ULL
#define AVAIL_GPA 0x2000ULL
#define USED_GPA  0x3000ULL
#define IND_GPA	  0x8000ULL  /* indirect tables, up to 0x4000 bytes */
#define BUF_GPA	  0x10000ULL /* data buffers */

#define F_NEXT	VRING_DESC_F_NEXT
#define F_WRITE VRING_DESC_F_WRITE
#define F_IND	VRING_DESC_F_INDIRECT

struct fixture {
	struct guest_memory gm;
	struct virtqueue vq;
	struct vq_chain c;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

static void *host(struct fixture *f, uint64_t gpa, uint64_t len)
{
	void *p = gm_ptr(&f->gm, gpa, len);

	assert_non_null(p);
	return p;
}

/* (Re)creates the queue with fresh, zeroed rings at the usual places. */
static void enable(struct fixture *f, uint16_t size, bool event_idx, bool indirect)
{
	vq_reset(&f->vq);
	memset(host(f, DESC_GPA, BUF_GPA - DESC_GPA), 0, BUF_GPA - DESC_GPA);
	f->vq.size = size;
	f->vq.desc_gpa = DESC_GPA;
	f->vq.avail_gpa = AVAIL_GPA;
	f->vq.used_gpa = USED_GPA;
	assert_int_equal(vq_enable(&f->vq, &f->gm, event_idx, indirect), VQ_OK);
	assert_true(f->vq.ready);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(gm_alloc(&f->gm, RAM_SIZE, MEM_BACKEND_ANON, NULL), 0);
	f->desc = host(f, DESC_GPA, 16 * VQ_MAX_SIZE);
	f->avail = host(f, AVAIL_GPA, 6 + 2 * VQ_MAX_SIZE);
	f->used = host(f, USED_GPA, 6 + 8 * VQ_MAX_SIZE);
	enable(f, 16, false, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gm_free(&f->gm);
	free(f);
	return 0;
}

static void set_desc(struct fixture *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	f->desc[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

static struct vring_desc *ind_table(struct fixture *f, uint64_t gpa, unsigned int n)
{
	return host(f, gpa, 16ULL * n);
}

static void publish(struct fixture *f, uint16_t head)
{
	f->avail->ring[f->avail->idx % f->vq.size] = head;
	f->avail->idx++;
}

static int pop(struct fixture *f)
{
	return vq_pop(&f->vq, &f->c);
}

static uint16_t *used_event(struct fixture *f)
{
	return &f->avail->ring[f->vq.size];
}

static uint16_t *avail_event(struct fixture *f)
{
	return (uint16_t *)&f->used->ring[f->vq.size];
}

/* Publishes a one-descriptor chain `head` and expects vq_pop to refuse it with e. */
static void expect_error(struct fixture *f, uint16_t head, enum vq_error e)
{
	uint16_t last = f->vq.last_avail;

	publish(f, head);
	assert_int_equal(pop(f), -(int)e);
	/* Nothing was consumed. */
	assert_int_equal(f->vq.last_avail, last);
	assert_string_not_equal(vq_strerror(e), "unknown error");
}

/* ---- vq_enable ---- */

static void try_enable(struct fixture *f, uint16_t size, uint64_t desc, uint64_t avail,
		       uint64_t used, enum vq_error want)
{
	vq_reset(&f->vq);
	f->vq.size = size;
	f->vq.desc_gpa = desc;
	f->vq.avail_gpa = avail;
	f->vq.used_gpa = used;
	assert_int_equal(vq_enable(&f->vq, &f->gm, true, true), want);
	assert_int_equal(f->vq.ready, want == VQ_OK);
}

static void enable_sizes(void **state)
{
	struct fixture *f = *state;
	static const uint16_t bad[] = {
		0, 3, 6, 12, 100, 255, 257, 384, 512, 1024, 0x8000, 0xffff
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		try_enable(f, bad[i], DESC_GPA, AVAIL_GPA, USED_GPA, VQ_ERR_RING);
		/* Not ready: nothing is ever taken from it. */
		assert_int_equal(pop(f), 0);
		assert_false(vq_has_avail(&f->vq));
	}
	for (uint16_t n = 1; n <= VQ_MAX_SIZE; n *= 2)
		try_enable(f, n, DESC_GPA, AVAIL_GPA, USED_GPA, VQ_OK);
}

static void enable_alignment(void **state)
{
	struct fixture *f = *state;

	/* desc 16, avail 2, used 4 (virtio 1.2, 2.7). */
	try_enable(f, 8, DESC_GPA + 8, AVAIL_GPA, USED_GPA, VQ_ERR_RING);
	try_enable(f, 8, DESC_GPA + 1, AVAIL_GPA, USED_GPA, VQ_ERR_RING);
	try_enable(f, 8, DESC_GPA, AVAIL_GPA + 1, USED_GPA, VQ_ERR_RING);
	try_enable(f, 8, DESC_GPA, AVAIL_GPA, USED_GPA + 2, VQ_ERR_RING);
	try_enable(f, 8, DESC_GPA, AVAIL_GPA, USED_GPA + 1, VQ_ERR_RING);
	/* The least alignment each ring needs is enough. */
	try_enable(f, 8, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4, VQ_OK);
}

static void enable_outside_ram(void **state)
{
	struct fixture *f = *state;
	const uint64_t far[] = { RAM_SIZE, RAM_SIZE + 0x1000, PLAT_MMIO_HOLE_START,
				 PLAT_MMIO_HOLE_END, 0xfffffffffffff000ULL };

	for (unsigned int i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
		try_enable(f, 8, far[i], AVAIL_GPA, USED_GPA, VQ_ERR_RING);
		try_enable(f, 8, DESC_GPA, far[i], USED_GPA, VQ_ERR_RING);
		try_enable(f, 8, DESC_GPA, AVAIL_GPA, far[i], VQ_ERR_RING);
	}
}

static void enable_straddling_ram_end(void **state)
{
	struct fixture *f = *state;
	const uint64_t n = 16, desc = 16 * n, avail = 6 + 2 * n, used = 6 + 8 * n;

	/* Each ring exactly at the end of RAM fits... */
	try_enable(f, n, RAM_SIZE - desc, AVAIL_GPA, USED_GPA, VQ_OK);
	try_enable(f, n, DESC_GPA, RAM_SIZE - avail, USED_GPA, VQ_OK);
	try_enable(f, n, DESC_GPA, AVAIL_GPA, RAM_SIZE - used - 2, VQ_OK); /* 4-aligned */
	/* ...one that runs past it by a ring entry or less does not. */
	try_enable(f, n, RAM_SIZE - desc + 16, AVAIL_GPA, USED_GPA, VQ_ERR_RING);
	try_enable(f, n, DESC_GPA, RAM_SIZE - avail + 2, USED_GPA, VQ_ERR_RING);
	try_enable(f, n, DESC_GPA, AVAIL_GPA, RAM_SIZE - used + 2, VQ_ERR_RING);
	/* The trailing used_event / avail_event are part of the rings. */
	try_enable(f, n, DESC_GPA, RAM_SIZE - (avail - 2), USED_GPA, VQ_ERR_RING);
	try_enable(f, n, DESC_GPA, AVAIL_GPA, RAM_SIZE - (used - 2), VQ_ERR_RING);
}

static void enable_resets_indices(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, BUF_GPA, 4, 0, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	vq_push(&f->vq, 0, 0);
	assert_true(vq_should_notify(&f->vq));
	f->avail->idx = 0;
	f->used->idx = 0;
	f->vq.ready = false;
	assert_int_equal(vq_enable(&f->vq, &f->gm, false, false), VQ_OK);
	assert_int_equal(f->vq.last_avail, 0);
	assert_int_equal(f->vq.used_idx, 0);
	assert_int_equal(f->vq.signalled, 0);
	vq_reset(&f->vq);
	assert_false(f->vq.ready);
	assert_int_equal(f->vq.size, 0);
	assert_int_equal(pop(f), 0);
	vq_set_notification(&f->vq, false); /* no-op on a queue that is not ready */
}

/* ---- well-formed chains ---- */

static void pop_empty(void **state)
{
	struct fixture *f = *state;

	assert_false(vq_has_avail(&f->vq));
	assert_int_equal(pop(f), 0);
	assert_int_equal(pop(f), 0);
}

static void pop_direct_chain(void **state)
{
	struct fixture *f = *state;

	/* Out of order in the table, as a driver's free list would be. */
	set_desc(f, 5, BUF_GPA + 0x000, 10, F_NEXT, 2);
	set_desc(f, 2, BUF_GPA + 0x100, 20, F_NEXT, 9);
	set_desc(f, 9, BUF_GPA + 0x200, 30, F_NEXT | F_WRITE, 15);
	set_desc(f, 15, BUF_GPA + 0x300, 40, F_WRITE, 0);
	publish(f, 5);
	assert_true(vq_has_avail(&f->vq));
	assert_int_equal(pop(f), 1);
	assert_false(vq_has_avail(&f->vq));
	assert_int_equal(f->c.head, 5);
	assert_int_equal(f->c.nr_out, 2);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 30);
	assert_int_equal(f->c.in_len, 70);
	for (unsigned int i = 0; i < 4; i++) {
		assert_ptr_equal(f->c.buf[i].addr, host(f, BUF_GPA + 0x100 * i, 1));
		assert_int_equal(f->c.buf[i].len, 10 * (i + 1));
	}
	assert_int_equal(pop(f), 0);
}

static void pop_only_readable_or_writable(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, BUF_GPA, 8, 0, 0);
	set_desc(f, 1, BUF_GPA, 8, F_WRITE, 0);
	publish(f, 0);
	publish(f, 1);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 0);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 0);
	assert_int_equal(f->c.in_len, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 1);
	assert_int_equal(f->c.nr_out, 0);
	assert_int_equal(f->c.nr_in, 1);
	assert_int_equal(f->c.out_len, 0);
	assert_int_equal(f->c.in_len, 8);
}

static void pop_zero_length_and_ram_edges(void **state)
{
	struct fixture *f = *state;

	/* An empty buffer's address does not matter. */
	set_desc(f, 0, UINT64_MAX, 0, F_NEXT, 1);
	/* The very first and very last bytes of RAM are fine. */
	set_desc(f, 1, 0, 1, F_NEXT, 2);
	set_desc(f, 2, RAM_SIZE - 1, 1, F_WRITE, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.nr_out, 2);
	assert_int_equal(f->c.nr_in, 1);
	assert_int_equal(f->c.buf[0].len, 0);
	assert_int_equal(f->c.out_len, 1);
	assert_int_equal(f->c.in_len, 1);
	assert_ptr_equal(f->c.buf[2].addr, host(f, RAM_SIZE - 1, 1));
}

static void pop_indirect_chain(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, 3);

	t[0] = (struct vring_desc){ BUF_GPA, 16, F_NEXT, 2 };
	t[2] = (struct vring_desc){ BUF_GPA + 0x100, 32, F_NEXT | F_WRITE, 1 };
	t[1] = (struct vring_desc){ BUF_GPA + 0x200, 64, F_WRITE, 0 };
	/* The write flag of the descriptor naming a table means nothing. */
	set_desc(f, 7, IND_GPA, 3 * 16, F_IND | F_WRITE, 0);
	publish(f, 7);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 7);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 16);
	assert_int_equal(f->c.in_len, 96);
	assert_ptr_equal(f->c.buf[0].addr, host(f, BUF_GPA, 16));
	assert_ptr_equal(f->c.buf[1].addr, host(f, BUF_GPA + 0x100, 32));
	assert_ptr_equal(f->c.buf[2].addr, host(f, BUF_GPA + 0x200, 64));
	/* A table need not be 16-byte aligned. */
	t = ind_table(f, IND_GPA + 0x1008, 1);
	t[0] = (struct vring_desc){ BUF_GPA, 5, F_WRITE, 0 };
	set_desc(f, 3, IND_GPA + 0x1008, 16, F_IND, 0);
	publish(f, 3);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.in_len, 5);
}

static void pop_mixed_chain(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, 2);

	/* Direct descriptors, then one that names a table, ends the chain. */
	set_desc(f, 0, BUF_GPA, 12, F_NEXT, 1);
	set_desc(f, 1, BUF_GPA + 0x100, 4, F_NEXT, 2);
	set_desc(f, 2, IND_GPA, 32, F_IND, 0);
	t[0] = (struct vring_desc){ BUF_GPA + 0x200, 1, 0, 0 }; /* no NEXT: ends here */
	t[1] = (struct vring_desc){ BUF_GPA + 0x300, 100, F_WRITE, 0 };
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.nr_out, 3);
	assert_int_equal(f->c.nr_in, 0);
	assert_int_equal(f->c.out_len, 17);
	t[0].flags = F_NEXT;
	t[0].next = 1;
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.nr_out, 3);
	assert_int_equal(f->c.nr_in, 1);
	assert_int_equal(f->c.in_len, 100);
	assert_ptr_equal(f->c.buf[3].addr, host(f, BUF_GPA + 0x300, 100));
}

static void pop_longest_chains(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, VQ_MAX_CHAIN);

	/* A direct chain through every descriptor of the largest ring. */
	enable(f, VQ_MAX_SIZE, false, true);
	for (unsigned int i = 0; i < VQ_MAX_SIZE; i++)
		set_desc(f, i, BUF_GPA + i, 1, i + 1 < VQ_MAX_SIZE ? F_NEXT : 0,
			 (i + 1) % VQ_MAX_SIZE);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.nr_out, VQ_MAX_CHAIN);
	assert_int_equal(f->c.out_len, VQ_MAX_CHAIN);
	assert_ptr_equal(f->c.buf[VQ_MAX_CHAIN - 1].addr, host(f, BUF_GPA + VQ_MAX_CHAIN - 1, 1));

	/* A full indirect table. */
	for (unsigned int i = 0; i < VQ_MAX_CHAIN; i++)
		t[i] = (struct vring_desc){ BUF_GPA + i, 1,
					    F_WRITE | (i + 1 < VQ_MAX_CHAIN ? F_NEXT : 0), i + 1 };
	set_desc(f, 0, IND_GPA, 16 * VQ_MAX_CHAIN, F_IND, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.nr_in, VQ_MAX_CHAIN);
	assert_int_equal(f->c.in_len, VQ_MAX_CHAIN);
}

static void pop_takes_heads_in_ring_order(void **state)
{
	struct fixture *f = *state;
	const uint16_t heads[] = { 3, 1, 3, 0, 15 };

	for (unsigned int i = 0; i < 16; i++)
		set_desc(f, i, BUF_GPA + 0x10 * i, i + 1, 0, 0);
	for (unsigned int i = 0; i < 5; i++)
		publish(f, heads[i]);
	for (unsigned int i = 0; i < 5; i++) {
		assert_int_equal(pop(f), 1);
		assert_int_equal(f->c.head, heads[i]);
		assert_int_equal(f->c.out_len, heads[i] + 1);
	}
	assert_int_equal(pop(f), 0);
}

static void avail_ring_wraps(void **state)
{
	struct fixture *f = *state;

	enable(f, 4, false, false);
	set_desc(f, 0, BUF_GPA, 1, F_WRITE, 0);
	/* 16-bit avail index wraps around as well as the ring position. */
	for (unsigned int i = 0; i < 70000; i++) {
		publish(f, (uint16_t)(i % 4 == 3 ? 0 : i % 4));
		if (i % 3 == 0)
			publish(f, 0);
		while (pop(f) == 1)
			vq_push(&f->vq, f->c.head, 1);
	}
	assert_int_equal(f->vq.last_avail, f->avail->idx);
	assert_int_equal(f->used->idx, f->avail->idx);
	assert_int_equal(f->vq.used_idx, f->avail->idx);
}

/* ---- malformed chains ---- */

static void bad_head(void **state)
{
	struct fixture *f = *state;

	expect_error(f, 16, VQ_ERR_HEAD);
	/* The same broken entry stays at the front. */
	assert_int_equal(pop(f), -VQ_ERR_HEAD);
	f->avail->idx--;
	expect_error(f, 0xffff, VQ_ERR_HEAD);
}

static void bad_next(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, 4);

	set_desc(f, 0, BUF_GPA, 1, F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 1, F_NEXT, 16);
	expect_error(f, 0, VQ_ERR_NEXT);
	f->avail->idx--;
	set_desc(f, 1, BUF_GPA, 1, F_NEXT, 0xffff);
	expect_error(f, 0, VQ_ERR_NEXT);
	f->avail->idx--;
	/* Inside a table, next is bounded by the table's size, not the ring's. */
	t[0] = (struct vring_desc){ BUF_GPA, 1, F_NEXT, 4 };
	set_desc(f, 0, IND_GPA, 4 * 16, F_IND, 0);
	expect_error(f, 0, VQ_ERR_NEXT);
}

static void self_loop(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 4, BUF_GPA, 1, F_NEXT, 4);
	expect_error(f, 4, VQ_ERR_LOOP);
}

static void long_cycles(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, 8);

	/* Every descriptor of the largest ring, then back to the first. */
	enable(f, VQ_MAX_SIZE, false, true);
	for (unsigned int i = 0; i < VQ_MAX_SIZE; i++)
		set_desc(f, i, BUF_GPA, 1, F_NEXT, (i + 1) % VQ_MAX_SIZE);
	expect_error(f, 0, VQ_ERR_LOOP);
	f->avail->idx--;
	/* A loop entered partway down the chain. */
	set_desc(f, 200, BUF_GPA, 1, F_NEXT, 100);
	expect_error(f, 0, VQ_ERR_LOOP);
	f->avail->idx--;
	/* A loop inside an indirect table. */
	for (unsigned int i = 0; i < 8; i++)
		t[i] = (struct vring_desc){ BUF_GPA, 1, F_NEXT, (i + 1) % 8 };
	set_desc(f, 0, IND_GPA, 8 * 16, F_IND, 0);
	expect_error(f, 0, VQ_ERR_LOOP);
}

static void chain_too_long(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, VQ_MAX_CHAIN);

	/* One direct descriptor plus a full table is one more than a chain may hold. */
	for (unsigned int i = 0; i < VQ_MAX_CHAIN; i++)
		t[i] = (struct vring_desc){ BUF_GPA, 1, i + 1 < VQ_MAX_CHAIN ? F_NEXT : 0, i + 1 };
	set_desc(f, 0, BUF_GPA, 1, F_NEXT, 1);
	set_desc(f, 1, IND_GPA, 16 * VQ_MAX_CHAIN, F_IND, 0);
	expect_error(f, 0, VQ_ERR_LOOP);
	/* The table alone is fine. */
	publish(f, 1);
	f->vq.last_avail++;
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.nr_out, VQ_MAX_CHAIN);
}

static void buffer_outside_ram(void **state)
{
	struct fixture *f = *state;
	const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
		{ RAM_SIZE, 1 },
		{ RAM_SIZE - 1, 2 },
		{ RAM_SIZE - 0x100, 0x101 },
		{ 0, RAM_SIZE + 1 },
		{ 0, UINT32_MAX },
		{ PLAT_MMIO_HOLE_START, 16 },
		{ PLAT_MMIO_HOLE_END, 16 },
		{ UINT64_MAX - 10, 100 }, /* addr + len wraps */
		{ UINT64_MAX - 10, 11 },  /* ends exactly at 2^64 */
		{ UINT64_MAX, 1 },
		{ 0x8000000000000000ULL, 0x1000 },
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Readable or writable, first or later in the chain. */
		set_desc(f, 0, bad[i].addr, bad[i].len, 0, 0);
		expect_error(f, 0, VQ_ERR_ADDR);
		f->avail->idx--;
		set_desc(f, 0, BUF_GPA, 8, F_NEXT, 1);
		set_desc(f, 1, bad[i].addr, bad[i].len, F_WRITE, 0);
		expect_error(f, 0, VQ_ERR_ADDR);
		f->avail->idx--;
	}
}

static void indirect_refused(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t;
	const uint32_t lens[] = { 0,
				  1,
				  8,
				  15,
				  17,
				  24,
				  40,
				  16 * VQ_MAX_CHAIN + 16,
				  16 * VQ_MAX_CHAIN + 8,
				  UINT32_MAX,
				  0xfffffff0 };

	/* Without VIRTIO_RING_F_INDIRECT_DESC. */
	enable(f, 16, false, false);
	set_desc(f, 0, IND_GPA, 16, F_IND, 0);
	expect_error(f, 0, VQ_ERR_INDIRECT);
	enable(f, 16, false, true);
	t = ind_table(f, IND_GPA, 260);
	for (unsigned int i = 0; i < 260; i++)
		t[i] = (struct vring_desc){ BUF_GPA, 1, 0, 0 };
	/* With NEXT as well. */
	set_desc(f, 0, IND_GPA, 16, F_IND | F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 1, 0, 0);
	expect_error(f, 0, VQ_ERR_INDIRECT);
	f->avail->idx--;
	/* Empty, ragged and oversized tables. */
	for (unsigned int i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		set_desc(f, 0, IND_GPA, lens[i], F_IND, 0);
		expect_error(f, 0, VQ_ERR_INDIRECT);
		f->avail->idx--;
	}
	/* A table inside a table. */
	t[0] = (struct vring_desc){ BUF_GPA, 1, F_NEXT, 1 };
	t[1] = (struct vring_desc){ IND_GPA, 32, F_IND, 0 };
	set_desc(f, 0, IND_GPA, 32, F_IND, 0);
	expect_error(f, 0, VQ_ERR_INDIRECT);
	f->avail->idx--;
	t[0] = (struct vring_desc){ IND_GPA, 16, F_IND, 0 };
	expect_error(f, 0, VQ_ERR_INDIRECT);
	f->avail->idx--;
	/* A table outside RAM, or running off its end. */
	set_desc(f, 0, RAM_SIZE, 16, F_IND, 0);
	expect_error(f, 0, VQ_ERR_ADDR);
	f->avail->idx--;
	set_desc(f, 0, RAM_SIZE - 16, 32, F_IND, 0);
	expect_error(f, 0, VQ_ERR_ADDR);
	f->avail->idx--;
	set_desc(f, 0, UINT64_MAX - 15, 32, F_IND, 0);
	expect_error(f, 0, VQ_ERR_ADDR);
	f->avail->idx--;
	/* A buffer the table names must be inside RAM too. */
	t[0] = (struct vring_desc){ RAM_SIZE - 4, 8, 0, 0 };
	set_desc(f, 0, IND_GPA, 16, F_IND, 0);
	expect_error(f, 0, VQ_ERR_ADDR);
}

static void readable_after_writable(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, 2);

	set_desc(f, 0, BUF_GPA, 1, F_NEXT, 1);
	set_desc(f, 1, BUF_GPA, 1, F_NEXT | F_WRITE, 2);
	set_desc(f, 2, BUF_GPA, 1, 0, 0);
	expect_error(f, 0, VQ_ERR_ORDER);
	f->avail->idx--;
	/* In a table, and across the step from the ring into a table. */
	t[0] = (struct vring_desc){ BUF_GPA, 1, F_NEXT | F_WRITE, 1 };
	t[1] = (struct vring_desc){ BUF_GPA, 1, 0, 0 };
	set_desc(f, 0, IND_GPA, 32, F_IND, 0);
	expect_error(f, 0, VQ_ERR_ORDER);
	f->avail->idx--;
	t[0].flags = 0;
	set_desc(f, 0, BUF_GPA, 1, F_NEXT | F_WRITE, 1);
	set_desc(f, 1, IND_GPA, 32, F_IND, 0);
	expect_error(f, 0, VQ_ERR_ORDER);
}

static void avail_idx_runs_ahead(void **state)
{
	struct fixture *f = *state;

	for (unsigned int i = 0; i < 16; i++)
		set_desc(f, i, BUF_GPA, 1, 0, 0);
	/* Exactly a ring's worth is fine. */
	f->avail->idx = 16;
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(pop(f), 1);
	assert_int_equal(pop(f), 0);
	f->avail->idx = 16 + 17;
	assert_int_equal(pop(f), -VQ_ERR_AVAIL_IDX);
	assert_int_equal(f->vq.last_avail, 16);
	/* Going backwards is running ahead by almost 2^16. */
	f->avail->idx = 15;
	assert_int_equal(pop(f), -VQ_ERR_AVAIL_IDX);
	f->avail->idx = 16 + 16;
	assert_int_equal(pop(f), 1);
}

static void length_overflow(void **state)
{
	struct guest_memory gm;
	struct virtqueue vq = {
		.size = 4, .desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA
	};
	struct vq_chain *c = malloc(sizeof(*c));
	struct vring_desc *desc;
	struct vring_avail *avail;

	/*
	 * 2 GiB + a page, never touched beyond the rings: two overlapping
	 * 2 GiB buffers add up to 2^32.
	 */
	assert_non_null(c);
	assert_int_equal(gm_alloc(&gm, 0x80001000ULL, MEM_BACKEND_ANON, NULL), 0);
	desc = gm_ptr(&gm, DESC_GPA, 64);
	avail = gm_ptr(&gm, AVAIL_GPA, 14);
	assert_int_equal(vq_enable(&vq, &gm, false, false), VQ_OK);
	desc[0] = (struct vring_desc){ 0, 0x80000000U, F_NEXT | F_WRITE, 1 };
	desc[1] = (struct vring_desc){ 0x1000, 0x80000000U, F_WRITE, 0 };
	desc[2] = (struct vring_desc){ 0, 0x80000000U, F_NEXT, 3 };
	desc[3] = (struct vring_desc){ 0x1000, 0x7fffffffU, 0, 0 };
	avail->ring[0] = 0;
	avail->ring[1] = 2;
	avail->idx = 1;
	assert_int_equal(vq_pop(&vq, c), -VQ_ERR_LEN);
	avail->ring[0] = 2;
	assert_int_equal(vq_pop(&vq, c), 1);
	assert_int_equal(c->out_len, UINT32_MAX);
	gm_free(&gm);
	free(c);
}

static void buffer_across_mmio_hole(void **state)
{
	struct guest_memory gm;
	struct virtqueue vq = {
		.size = 2, .desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA
	};
	struct vq_chain *c = malloc(sizeof(*c));
	struct vring_desc *desc;
	struct vring_avail *avail;

	/* RAM on both sides of the hole, contiguous on the host. */
	assert_non_null(c);
	assert_int_equal(gm_alloc(&gm, PLAT_MMIO_HOLE_START + 0x1000, MEM_BACKEND_ANON, NULL), 0);
	assert_int_equal(gm.nr_regions, 2);
	desc = gm_ptr(&gm, DESC_GPA, 32);
	avail = gm_ptr(&gm, AVAIL_GPA, 10);
	assert_int_equal(vq_enable(&vq, &gm, false, false), VQ_OK);
	desc[0] = (struct vring_desc){ PLAT_MMIO_HOLE_START - 8, 16, 0, 0 };
	desc[1] = (struct vring_desc){ PLAT_MMIO_HOLE_END + 0x1000 - 8, 8, 0, 0 };
	avail->ring[0] = 0;
	avail->ring[1] = 1;
	avail->idx = 1;
	assert_int_equal(vq_pop(&vq, c), -VQ_ERR_ADDR);
	desc[0].len = 8;
	assert_int_equal(vq_pop(&vq, c), 1);
	avail->idx = 2;
	assert_int_equal(vq_pop(&vq, c), 1);
	assert_ptr_equal(c->buf[0].addr, gm.base + PLAT_MMIO_HOLE_START + 0x1000 - 8);
	gm_free(&gm);
	free(c);
}

/* ---- giving buffers back ---- */

static void push_fills_used_ring(void **state)
{
	struct fixture *f = *state;

	enable(f, 4, false, false);
	vq_push(&f->vq, 3, 100);
	vq_push(&f->vq, 0, 0);
	vq_push(&f->vq, 2, UINT32_MAX);
	assert_int_equal(f->used->idx, 3);
	assert_int_equal(f->used->ring[0].id, 3);
	assert_int_equal(f->used->ring[0].len, 100);
	assert_int_equal(f->used->ring[1].id, 0);
	assert_int_equal(f->used->ring[1].len, 0);
	assert_int_equal(f->used->ring[2].id, 2);
	assert_int_equal(f->used->ring[2].len, UINT32_MAX);
	vq_push(&f->vq, 1, 7);
	vq_push(&f->vq, 1, 8); /* wraps to slot 0 */
	assert_int_equal(f->used->idx, 5);
	assert_int_equal(f->used->ring[3].id, 1);
	assert_int_equal(f->used->ring[0].id, 1);
	assert_int_equal(f->used->ring[0].len, 8);
	/* Pushing touches neither the flags nor avail_event. */
	assert_int_equal(f->used->flags, 0);
	assert_int_equal(*avail_event(f), 0);
}

static void push_to_disabled_queue(void **state)
{
	struct fixture *f = *state;

	/* Taken down by the driver: kept indices, rings still mapped. */
	vq_push(&f->vq, 1, 1);
	f->vq.ready = false;
	vq_push(&f->vq, 2, 2);
	assert_false(vq_should_notify(&f->vq));
	assert_int_equal(f->used->idx, 1);
	assert_int_equal(f->used->ring[1].id, 0);
	/* Then reprogrammed: no size, and no rings. */
	f->vq.size = 0;
	f->vq.used = NULL;
	f->vq.avail = NULL;
	vq_push(&f->vq, 3, 3);
	assert_false(vq_should_notify(&f->vq));
	vq_reset(&f->vq);
	vq_push(&f->vq, 3, 3);
	assert_false(vq_should_notify(&f->vq));
}

static void unpop_gives_chain_back(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 6, BUF_GPA, 3, F_WRITE, 0);
	set_desc(f, 7, BUF_GPA, 4, F_WRITE, 0);
	publish(f, 6);
	publish(f, 7);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 6);
	vq_unpop(&f->vq);
	assert_true(vq_has_avail(&f->vq));
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 6);
	assert_int_equal(f->c.in_len, 3);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 7);
	vq_unpop(&f->vq);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 7);
	assert_int_equal(pop(f), 0);
	/* Unpop across the 16-bit wrap. */
	f->vq.last_avail = 0;
	f->avail->idx = 0;
	vq_unpop(&f->vq);
	f->avail->ring[15] = 7;
	assert_int_equal(f->vq.last_avail, 0xffff);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.head, 7);
}

/* ---- notifications ---- */

static void notify_without_event_idx(void **state)
{
	struct fixture *f = *state;

	/* Nothing pushed: nothing to say. */
	assert_false(vq_should_notify(&f->vq));
	vq_push(&f->vq, 0, 0);
	assert_true(vq_should_notify(&f->vq));
	/* Once per batch. */
	assert_false(vq_should_notify(&f->vq));
	vq_push(&f->vq, 0, 0);
	vq_push(&f->vq, 1, 0);
	assert_true(vq_should_notify(&f->vq));
	f->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	vq_push(&f->vq, 0, 0);
	assert_false(vq_should_notify(&f->vq));
	f->avail->flags = 0;
	assert_false(vq_should_notify(&f->vq)); /* that one was suppressed, not deferred */
	vq_push(&f->vq, 0, 0);
	assert_true(vq_should_notify(&f->vq));
	/* used_event means nothing without the feature. */
	*used_event(f) = 1000;
	vq_push(&f->vq, 0, 0);
	assert_true(vq_should_notify(&f->vq));
}

static void notify_with_event_idx(void **state)
{
	struct fixture *f = *state;

	enable(f, 16, true, false);
	/* used_event 0: interrupt when used->idx goes past 0. */
	vq_push(&f->vq, 0, 0);
	assert_true(vq_should_notify(&f->vq));
	assert_false(vq_should_notify(&f->vq));
	/* "Interrupt me when you have used the entry at index 4." */
	*used_event(f) = 4;
	for (unsigned int i = 2; i <= 4; i++) {
		vq_push(&f->vq, 0, 0); /* used->idx = i */
		assert_false(vq_should_notify(&f->vq));
	}
	vq_push(&f->vq, 0, 0); /* used->idx = 5: entry 4 is used */
	assert_true(vq_should_notify(&f->vq));
	/* A batch that jumps over used_event still interrupts. */
	*used_event(f) = 7;
	for (unsigned int i = 0; i < 5; i++)
		vq_push(&f->vq, 0, 0); /* 6..10 */
	assert_true(vq_should_notify(&f->vq));
	/* An event the batch has not reached yet. */
	*used_event(f) = 20;
	for (unsigned int i = 0; i < 5; i++)
		vq_push(&f->vq, 0, 0); /* 11..15 */
	assert_false(vq_should_notify(&f->vq));
	/* An event the device passed long ago does not interrupt again. */
	*used_event(f) = 3;
	vq_push(&f->vq, 0, 0);
	assert_false(vq_should_notify(&f->vq));
	/* NO_INTERRUPT is ignored when event indices are on. */
	f->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*used_event(f) = f->vq.used_idx;
	vq_push(&f->vq, 0, 0);
	assert_true(vq_should_notify(&f->vq));
}

/* used_idx/signalled are where the device is; used_event where the driver wants a word. */
static bool notify_at(struct fixture *f, uint16_t signalled, uint16_t pushes, uint16_t event)
{
	f->vq.used_idx = signalled;
	f->vq.signalled = signalled;
	*used_event(f) = event;
	for (unsigned int i = 0; i < pushes; i++)
		vq_push(&f->vq, 0, 0);
	return vq_should_notify(&f->vq);
}

static void notify_event_idx_wraps(void **state)
{
	struct fixture *f = *state;

	enable(f, 16, true, false);
	assert_false(notify_at(f, 0xfffe, 1, 0xffff)); /* 0xffff not used yet */
	assert_true(notify_at(f, 0xffff, 1, 0xffff));  /* now it is, and idx wrapped to 0 */
	assert_int_equal(f->used->idx, 0);
	assert_true(notify_at(f, 0xfffc, 6, 0xfffe)); /* ...0xfffc..0x0001 */
	assert_true(notify_at(f, 0xfffc, 6, 0x0001));
	assert_false(notify_at(f, 0xfffc, 6, 0x0002));
	assert_false(notify_at(f, 0xfffc, 6, 0x0005));
	assert_false(notify_at(f, 0xfffc, 6, 0xfffb)); /* behind the batch */
	assert_true(notify_at(f, 0xfffc, 6, 0xfffc));
	assert_true(notify_at(f, 0x7fff, 1, 0x7fff));
	assert_false(notify_at(f, 0x8000, 1, 0x7fff));
}

static void set_notification_with_event_idx(void **state)
{
	struct fixture *f = *state;

	enable(f, 16, true, false);
	for (unsigned int i = 0; i < 3; i++)
		set_desc(f, i, BUF_GPA, 1, 0, 0);
	publish(f, 0);
	publish(f, 1);
	/* Each pop moves avail_event to the next entry the device will want. */
	assert_int_equal(pop(f), 1);
	assert_int_equal(*avail_event(f), 1);
	assert_int_equal(pop(f), 1);
	assert_int_equal(*avail_event(f), 2);
	*avail_event(f) = 0x1234;
	vq_set_notification(&f->vq, false); /* nothing to write: the driver kicks past it */
	assert_int_equal(*avail_event(f), 0x1234);
	vq_set_notification(&f->vq, true);
	assert_int_equal(*avail_event(f), 2);
	/* The flag is not how notifications are suppressed with event indices. */
	assert_int_equal(f->used->flags, 0);
	vq_set_notification(&f->vq, false);
	assert_int_equal(f->used->flags, 0);
}

static void set_notification_without_event_idx(void **state)
{
	struct fixture *f = *state;

	vq_set_notification(&f->vq, false);
	assert_int_equal(f->used->flags, VRING_USED_F_NO_NOTIFY);
	vq_set_notification(&f->vq, true);
	assert_int_equal(f->used->flags, 0);
	vq_set_notification(&f->vq, false);
	assert_int_equal(f->used->flags, VRING_USED_F_NO_NOTIFY);
	/* Pops leave avail_event alone. */
	set_desc(f, 0, BUF_GPA, 1, 0, 0);
	*avail_event(f) = 0xabcd;
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(*avail_event(f), 0xabcd);
	assert_int_equal(f->used->flags, VRING_USED_F_NO_NOTIFY);
}

/* ---- copying ---- */

static void chain_read_write(void **state)
{
	struct fixture *f = *state;
	uint8_t *ram = host(f, BUF_GPA, 0x1000), out[32], in[32];
	size_t n;

	for (unsigned int i = 0; i < 32; i++)
		ram[i] = (uint8_t)i; /* readable bytes 0..14 in 3 buffers: 3 + 0 + 5 + 7 */
	memset(ram + 0x100, 0xee, 0x100);
	set_desc(f, 0, BUF_GPA + 0, 3, F_NEXT, 1);
	set_desc(f, 1, BUF_GPA + 3, 0, F_NEXT, 2);
	set_desc(f, 2, BUF_GPA + 3, 5, F_NEXT, 3);
	set_desc(f, 3, BUF_GPA + 8, 7, F_NEXT, 4);
	set_desc(f, 4, BUF_GPA + 0x100, 2, F_NEXT | F_WRITE, 5);
	set_desc(f, 5, BUF_GPA + 0x110, 4, F_NEXT | F_WRITE, 6);
	set_desc(f, 6, BUF_GPA + 0x120, 0, F_NEXT | F_WRITE, 7);
	set_desc(f, 7, BUF_GPA + 0x130, 6, F_WRITE, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(f->c.out_len, 15);
	assert_int_equal(f->c.in_len, 12);

	/* Reads: whole, from an offset across buffers, clipped at the end, past it. */
	memset(out, 0, sizeof(out));
	assert_int_equal(vq_chain_read(&f->c, 0, out, sizeof(out)), 15);
	for (unsigned int i = 0; i < 15; i++)
		assert_int_equal(out[i], i);
	assert_int_equal(out[15], 0);
	memset(out, 0, sizeof(out));
	assert_int_equal(vq_chain_read(&f->c, 2, out, 8), 8);
	for (unsigned int i = 0; i < 8; i++)
		assert_int_equal(out[i], i + 2);
	assert_int_equal(vq_chain_read(&f->c, 3, out, 5), 5); /* exactly the middle buffer */
	assert_int_equal(out[0], 3);
	assert_int_equal(out[4], 7);
	assert_int_equal(vq_chain_read(&f->c, 12, out, 10), 3);
	assert_int_equal(out[2], 14);
	assert_int_equal(vq_chain_read(&f->c, 15, out, 10), 0);
	assert_int_equal(vq_chain_read(&f->c, 1000, out, 10), 0);
	assert_int_equal(vq_chain_read(&f->c, 0, out, 0), 0);

	/* Writes land only in the writable buffers, in order. */
	for (unsigned int i = 0; i < 32; i++)
		in[i] = (uint8_t)(0x40 + i);
	assert_int_equal(vq_chain_write(&f->c, 1, in, 9), 9);
	assert_int_equal(ram[0x100], 0xee);
	assert_int_equal(ram[0x101], 0x40);
	assert_memory_equal(ram + 0x110, in + 1, 4);
	assert_memory_equal(ram + 0x130, in + 5, 4);
	assert_int_equal(ram[0x134], 0xee);
	assert_int_equal(ram[0x114], 0xee);
	n = vq_chain_write(&f->c, 0, in, sizeof(in));
	assert_int_equal(n, 12);
	assert_memory_equal(ram + 0x100, in, 2);
	assert_memory_equal(ram + 0x110, in + 2, 4);
	assert_memory_equal(ram + 0x130, in + 6, 6);
	assert_int_equal(ram[0x136], 0xee);
	assert_int_equal(ram[0x102], 0xee);
	assert_int_equal(vq_chain_write(&f->c, 12, in, 1), 0);
	/* The readable side was not written. */
	for (unsigned int i = 0; i < 15; i++)
		assert_int_equal(ram[i], i);
}

static void chain_copy_without_buffers(void **state)
{
	struct fixture *f = *state;
	uint8_t b[4] = { 1, 2, 3, 4 };

	set_desc(f, 0, BUF_GPA, 4, 0, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(vq_chain_write(&f->c, 0, b, 4), 0);
	set_desc(f, 0, BUF_GPA, 4, F_WRITE, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	assert_int_equal(vq_chain_read(&f->c, 0, b, 4), 0);
	assert_int_equal(b[3], 4);
}

static void guest_changes_after_pop(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, 2);

	t[0] = (struct vring_desc){ BUF_GPA + 0x100, 8, F_WRITE | F_NEXT, 1 };
	t[1] = (struct vring_desc){ BUF_GPA + 0x200, 8, F_WRITE, 0 };
	set_desc(f, 0, BUF_GPA, 4, F_NEXT, 1);
	set_desc(f, 1, IND_GPA, 32, F_IND, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	/* The guest now rewrites everything to point outside RAM. */
	set_desc(f, 0, UINT64_MAX - 3, 0xffffffff, F_NEXT | F_WRITE, 0);
	set_desc(f, 1, UINT64_MAX, 0xffffffff, F_IND | F_NEXT, 0);
	t[0] = (struct vring_desc){ RAM_SIZE, 0x10000, F_NEXT, 0 };
	t[1] = (struct vring_desc){ RAM_SIZE, 0x10000, 0, 0 };
	f->avail->ring[0] = 0xffff;
	/* What the device validated is what it uses. */
	assert_int_equal(f->c.head, 0);
	assert_int_equal(f->c.nr_out, 1);
	assert_int_equal(f->c.nr_in, 2);
	assert_int_equal(f->c.out_len, 4);
	assert_int_equal(f->c.in_len, 16);
	assert_ptr_equal(f->c.buf[0].addr, host(f, BUF_GPA, 4));
	assert_ptr_equal(f->c.buf[1].addr, host(f, BUF_GPA + 0x100, 8));
	assert_ptr_equal(f->c.buf[2].addr, host(f, BUF_GPA + 0x200, 8));
	assert_int_equal(vq_chain_write(&f->c, 0, "0123456789abcdefXYZ", 19), 16);
	assert_memory_equal(host(f, BUF_GPA + 0x200, 8), "89abcdef", 8);
}

static void strerror_covers_all(void **state)
{
	for (int e = VQ_OK; e <= VQ_ERR_LEN; e++) {
		assert_non_null(vq_strerror(e));
		assert_string_not_equal(vq_strerror(e), "unknown error");
	}
	assert_string_equal(vq_strerror(VQ_ERR_LEN + 1), "unknown error");
	assert_string_equal(vq_strerror((enum vq_error) - 1), "unknown error");
}

/* ---- dirty tracking ---- */

static bool dirty(struct fixture *f, uint64_t gpa)
{
	uint64_t pg = (uint64_t)((uint8_t *)host(f, gpa, 1) - f->gm.base) / GM_PAGE_SIZE;

	return f->gm.dirty[pg / 64] & (1ULL << (pg % 64));
}

static unsigned int nr_dirty(struct fixture *f)
{
	unsigned int n = 0;

	for (uint64_t i = 0; i < (RAM_SIZE / GM_PAGE_SIZE + 63) / 64; i++)
		n += (unsigned int)__builtin_popcountll(f->gm.dirty[i]);
	return n;
}

static void dirty_clear(struct fixture *f)
{
	memset(f->gm.dirty, 0, (RAM_SIZE / GM_PAGE_SIZE + 63) / 64 * 8);
}

/* What the device may write is marked when taken; the used ring when written. */
static void dirty_marks_from_pop_and_push(void **state)
{
	struct fixture *f = *state;
	struct vring_desc *t = ind_table(f, IND_GPA, 2);

	/* Off: nothing to mark, nothing breaks. */
	set_desc(f, 0, BUF_GPA, 16, 0, 0);
	publish(f, 0);
	assert_int_equal(pop(f), 1);
	vq_push(&f->vq, 0, 0);

	enable(f, 16, true, true);
	assert_int_equal(gm_dirty_enable(&f->gm), 0);
	set_desc(f, 0, BUF_GPA, 100, F_NEXT, 1);	      /* readable */
	set_desc(f, 1, 0x20800, 0x1000, F_WRITE | F_NEXT, 2); /* two pages */
	set_desc(f, 2, 0x30000, 10, F_WRITE, 0);
	publish(f, 0);
	assert_int_equal(nr_dirty(f), 0);
	assert_int_equal(pop(f), 1);
	assert_true(dirty(f, 0x20000) && dirty(f, 0x21000) && dirty(f, 0x30000));
	assert_false(dirty(f, BUF_GPA));
	/* With EVENT_IDX the pop wrote avail_event, which trails the used ring. */
	assert_true(dirty(f, USED_GPA));
	assert_int_equal(nr_dirty(f), 4);

	/*
	 * A harvest between the pop and the device's write took those marks:
	 * the write marks the writable buffers again, not the readable one.
	 */
	dirty_clear(f);
	vq_chain_write(&f->c, 0, "data", 4);
	vq_chain_mark_written(&f->vq, &f->c);
	assert_true(dirty(f, 0x20000) && dirty(f, 0x21000) && dirty(f, 0x30000));
	assert_int_equal(nr_dirty(f), 3);

	dirty_clear(f);
	vq_push(&f->vq, 0, 10);
	assert_true(dirty(f, USED_GPA));
	assert_int_equal(nr_dirty(f), 1);

	/* Buffers behind an indirect table are marked, the table itself is not. */
	dirty_clear(f);
	t[0] = (struct vring_desc){ .addr = BUF_GPA, .len = 8, .flags = F_NEXT, .next = 1 };
	t[1] = (struct vring_desc){ .addr = 0x40000, .len = 8, .flags = F_WRITE };
	set_desc(f, 3, IND_GPA, 32, F_IND, 0);
	publish(f, 3);
	assert_int_equal(pop(f), 1);
	assert_true(dirty(f, 0x40000));
	assert_false(dirty(f, IND_GPA) || dirty(f, BUF_GPA));

	/* Turning kicks on and off writes the used ring's flags (no EVENT_IDX) too. */
	enable(f, 16, false, true);
	dirty_clear(f);
	vq_set_notification(&f->vq, false);
	assert_true(dirty(f, USED_GPA));
	assert_int_equal(nr_dirty(f), 1);
	gm_dirty_disable(&f->gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(enable_sizes),
		T(enable_alignment),
		T(enable_outside_ram),
		T(enable_straddling_ram_end),
		T(enable_resets_indices),
		T(pop_empty),
		T(pop_direct_chain),
		T(pop_only_readable_or_writable),
		T(pop_zero_length_and_ram_edges),
		T(pop_indirect_chain),
		T(pop_mixed_chain),
		T(pop_longest_chains),
		T(pop_takes_heads_in_ring_order),
		T(avail_ring_wraps),
		T(bad_head),
		T(bad_next),
		T(self_loop),
		T(long_cycles),
		T(chain_too_long),
		T(buffer_outside_ram),
		T(indirect_refused),
		T(readable_after_writable),
		T(avail_idx_runs_ahead),
		cmocka_unit_test(length_overflow),
		cmocka_unit_test(buffer_across_mmio_hole),
		T(push_fills_used_ring),
		T(push_to_disabled_queue),
		T(unpop_gives_chain_back),
		T(notify_without_event_idx),
		T(notify_with_event_idx),
		T(notify_event_idx_wraps),
		T(set_notification_with_event_idx),
		T(set_notification_without_event_idx),
		T(chain_read_write),
		T(chain_copy_without_buffers),
		T(guest_changes_after_pop),
		T(dirty_marks_from_pop_and_push),
		cmocka_unit_test(strerror_covers_all),
#undef T
	};

	return cmocka_run_group_tests_name("virtqueue", tests, NULL, NULL);
}
