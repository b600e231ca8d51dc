// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-rng (virtio 1.2, 5.4) behind the MMIO transport, driven by the
 * test-side driver: requests are chains of device-writable buffers the
 * device fills with entropy.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/virtio/rng/rng.h"
#include "tests/unit/vdriver.h"
#include "memory/guest_memory.h"

#define RAM_SIZE (8ULL << 20)
#define QSIZE	 16
#define MAX_REQ	 (64 * 1024) /* what the device hands out per request */

struct fixture {
	struct guest_memory gm;
	struct virtio_rng *rng;
	struct vdriver d;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(gm_alloc(&f->gm, RAM_SIZE, MEM_BACKEND_ANON, NULL), 0);
	f->rng = virtio_rng_create(&f->gm);
	assert_non_null(f->rng);
	assert_int_equal(vdriver_init(&f->d, &f->gm, virtio_rng_dev(f->rng),
				      1ULL << VIRTIO_RING_F_INDIRECT_DESC, 1, QSIZE),
			 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_rng_destroy(f->rng);
	gm_free(&f->gm);
	free(f);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* Kicks and expects exactly one used element, for head; returns its length. */
static uint32_t serve_one(struct fixture *f, uint16_t head)
{
	uint32_t id = 0xffff, len = 0xdeadbeef;

	vdriver_kick(&f->d, 0);
	assert_true(vdriver_used(&f->d, 0, &id, &len));
	assert_int_equal(id, head);
	assert_false(vdriver_used(&f->d, 0, &id, &len));
	return len;
}

static void identity(void **state)
{
	struct fixture *f = *state;
	uint8_t b[8];

	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	vdriver_reg_write(&f->d, VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	/* One queue, no device features of its own, no configuration space. */
	vdriver_reg_write(&f->d, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	vdriver_reg_write(&f->d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_DEVICE_FEATURES),
			 (1U << VIRTIO_RING_F_EVENT_IDX) | (1U << VIRTIO_RING_F_INDIRECT_DESC));
	memset(b, 0xa5, sizeof(b));
	virtio_mmio_bus_ops.read(virtio_rng_dev(f->rng), VIRTIO_MMIO_CONFIG, b, 8);
	assert_true(all_zero(b, 8));
	virtio_mmio_bus_ops.write(virtio_rng_dev(f->rng), VIRTIO_MMIO_CONFIG, b, 8);
}

static void fills_writable_buffers(void **state)
{
	struct fixture *f = *state;
	uint64_t a = vdriver_alloc(&f->d, 64), b = vdriver_alloc(&f->d, 100);
	struct vdriver_buf bufs[] = { { a, 64, true }, { b, 100, true } };
	uint8_t first[164], *pa = vdriver_host(&f->d, a, 64), *pb = vdriver_host(&f->d, b, 100);
	uint16_t head = vdriver_add(&f->d, 0, bufs, 2);

	assert_int_equal(serve_one(f, head), 164);
	/* 2^-512 and 2^-800 chances of a false failure. */
	assert_false(all_zero(pa, 64));
	assert_false(all_zero(pb, 100));
	memcpy(first, pa, 64);
	memcpy(first + 64, pb, 100);
	/* The device interrupted the driver. */
	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING);
	/* The same buffers again get different bytes. */
	head = vdriver_add(&f->d, 0, bufs, 2);
	assert_int_equal(serve_one(f, head), 164);
	assert_memory_not_equal(first, pa, 64);
	assert_memory_not_equal(first + 64, pb, 100);
	assert_int_equal(stats_get(virtio_rng_stats(f->rng)->requests), 2);
	assert_int_equal(stats_get(virtio_rng_stats(f->rng)->bytes), 2 * 164);
}

static void readable_buffers_untouched(void **state)
{
	struct fixture *f = *state;
	uint64_t r = vdriver_alloc(&f->d, 32), w = vdriver_alloc(&f->d, 16);
	struct vdriver_buf only_r[] = { { r, 32, false }, { r, 8, false } };
	struct vdriver_buf mixed[] = { { r, 32, false }, { w, 16, true } };
	struct vdriver_buf empty[] = { { w, 0, true } };
	uint8_t *pr = vdriver_host(&f->d, r, 32), *pw = vdriver_host(&f->d, w, 16);
	uint16_t head;

	/* Nothing to write into: used length 0 and the buffer is left alone. */
	head = vdriver_add(&f->d, 0, only_r, 2);
	assert_int_equal(serve_one(f, head), 0);
	assert_true(all_zero(pr, 32));
	head = vdriver_add(&f->d, 0, mixed, 2);
	assert_int_equal(serve_one(f, head), 16);
	assert_true(all_zero(pr, 32));
	assert_false(all_zero(pw, 16));
	/* Empty writable buffers count for nothing. */
	head = vdriver_add(&f->d, 0, empty, 1);
	assert_int_equal(serve_one(f, head), 0);
}

static void request_capped_at_64k(void **state)
{
	struct fixture *f = *state;
	const uint32_t big = 48 * 1024;
	uint64_t a = vdriver_alloc(&f->d, big), b = vdriver_alloc(&f->d, big);
	uint64_t c = vdriver_alloc(&f->d, 2 * MAX_REQ);
	struct vdriver_buf two[] = { { a, big, true }, { b, big, true } };
	struct vdriver_buf one[] = { { c, 2 * MAX_REQ, true } };
	uint8_t *pb = vdriver_host(&f->d, b, big), *pc = vdriver_host(&f->d, c, 2 * MAX_REQ);
	uint16_t head;

	/* Across buffers: the first one whole, the second up to the cap. */
	head = vdriver_add(&f->d, 0, two, 2);
	assert_int_equal(serve_one(f, head), MAX_REQ);
	assert_false(all_zero(pb + MAX_REQ - big - 16, 16));
	assert_true(all_zero(pb + MAX_REQ - big, 2 * big - MAX_REQ));
	/* In one buffer. */
	head = vdriver_add(&f->d, 0, one, 1);
	assert_int_equal(serve_one(f, head), MAX_REQ);
	assert_false(all_zero(pc + MAX_REQ - 16, 16));
	assert_true(all_zero(pc + MAX_REQ, MAX_REQ));
	/* Exactly the cap. */
	one[0].len = MAX_REQ;
	head = vdriver_add(&f->d, 0, one, 1);
	assert_int_equal(serve_one(f, head), MAX_REQ);
}

static void indirect_request(void **state)
{
	struct fixture *f = *state;
	uint64_t r = vdriver_alloc(&f->d, 8), w = vdriver_alloc(&f->d, 256);
	struct vdriver_buf bufs[] = { { r, 8, false }, { w, 128, true }, { w + 128, 128, true } };
	uint16_t head = vdriver_add_indirect(&f->d, 0, bufs, 3);

	assert_int_equal(serve_one(f, head), 256);
	assert_true(all_zero(vdriver_host(&f->d, r, 8), 8));
	assert_false(all_zero(vdriver_host(&f->d, w + 240, 16), 16));
}

static void many_requests_one_kick(void **state)
{
	struct fixture *f = *state;
	uint64_t w = vdriver_alloc(&f->d, QSIZE * 32);
	uint16_t heads[QSIZE];
	uint32_t id, len;

	for (unsigned int i = 0; i < QSIZE; i++) {
		struct vdriver_buf b = { w + 32 * i, 1 + i, true };

		heads[i] = vdriver_add(&f->d, 0, &b, 1);
	}
	vdriver_kick(&f->d, 0);
	for (unsigned int i = 0; i < QSIZE; i++) {
		assert_true(vdriver_used(&f->d, 0, &id, &len));
		assert_int_equal(id, heads[i]);
		assert_int_equal(len, 1 + i);
	}
	assert_false(vdriver_used(&f->d, 0, &id, &len));
	/* And the ring keeps going round. */
	for (unsigned int i = 0; i < 3 * QSIZE; i++) {
		struct vdriver_buf b = { w, 4, true };

		assert_int_equal(serve_one(f, vdriver_add(&f->d, 0, &b, 1)), 4);
	}
}

static void malformed_chain_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *vdev = virtio_rng_dev(f->rng);
	uint64_t w = vdriver_alloc(&f->d, 16);
	struct vdriver_buf good = { w, 16, true };
	uint32_t id, len;

	/* A good request, then one whose buffer lies outside RAM. */
	vdriver_add(&f->d, 0, &good, 1);
	vdriver_set_desc(&f->d, 0, 5, RAM_SIZE - 8, 16, VRING_DESC_F_WRITE, 0);
	vdriver_publish(&f->d, 0, 5);
	vdriver_add(&f->d, 0, &good, 1);
	vdriver_kick(&f->d, 0);
	/* The good one was served, nothing after the bad one. */
	assert_true(vdriver_used(&f->d, 0, &id, &len));
	assert_int_equal(len, 16);
	assert_false(vdriver_used(&f->d, 0, &id, &len));
	assert_true(vdriver_reg_read(&f->d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_true(vdriver_reg_read(&f->d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_true(vdriver_reg_read(&f->d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING);
	/* Further kicks are not served. */
	vdriver_kick(&f->d, 0);
	assert_false(vdriver_used(&f->d, 0, &id, &len));
	/* A reset brings it back. */
	assert_int_equal(vdriver_init(&f->d, &f->gm, vdev, 0, 1, QSIZE),
			 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	w = vdriver_alloc(&f->d, 16);
	good.gpa = w;
	assert_int_equal(serve_one(f, vdriver_add(&f->d, 0, &good, 1)), 16);
}

static void hostile_chains_need_reset(void **state)
{
	struct fixture *f = *state;
	uint64_t w = vdriver_alloc(&f->d, 16);
	uint32_t id, len;

	for (unsigned int kind = 0; kind < 5; kind++) {
		assert_int_equal(vdriver_init(&f->d, &f->gm, virtio_rng_dev(f->rng), 0, 1, QSIZE),
				 VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
					 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
		switch (kind) {
		case 0: /* a loop */
			vdriver_set_desc(&f->d, 0, 0, w, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
					 0);
			vdriver_publish(&f->d, 0, 0);
			break;
		case 1: /* a head past the ring */
			vdriver_publish(&f->d, 0, QSIZE);
			break;
		case 2: /* an indirect table without the feature */
			vdriver_set_desc(&f->d, 0, 0, w, 16, VRING_DESC_F_INDIRECT, 0);
			vdriver_publish(&f->d, 0, 0);
			break;
		case 3: /* readable after writable */
			vdriver_set_desc(&f->d, 0, 0, w, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
					 1);
			vdriver_set_desc(&f->d, 0, 1, w, 16, 0, 0);
			vdriver_publish(&f->d, 0, 0);
			break;
		default: /* more buffers announced than the ring holds */
			f->d.q[0].avail->idx = QSIZE + 1;
			break;
		}
		vdriver_kick(&f->d, 0);
		assert_false(vdriver_used(&f->d, 0, &id, &len));
		assert_true(vdriver_reg_read(&f->d, VIRTIO_MMIO_STATUS) &
			    VIRTIO_CONFIG_S_NEEDS_RESET);
		/* The writable buffer of a refused chain was not written. */
		assert_true(all_zero(vdriver_host(&f->d, w, 16), 16));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(identity),
		T(fills_writable_buffers),
		T(readable_buffers_untouched),
		T(request_capped_at_64k),
		T(indirect_request),
		T(many_requests_one_kick),
		T(malformed_chain_needs_reset),
		T(hostile_chains_need_reset),
#undef T
	};

	return cmocka_run_group_tests_name("virtio_rng", tests, NULL, NULL);
}
