// SPDX-License-Identifier: Apache-2.0
/*
 * The virtio-mmio transport (virtio 1.2, 4.2) with a fake device behind
 * it: the test is the guest driver, poking registers through the bus ops,
 * and the fake records what the transport asked of the device.
 */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio/virtio.h"
#include "lib/event_loop.h"
#include "tests/unit/vdriver.h"
#include "memory/guest_memory.h"

#define RAM_SIZE  (4ULL << 20)
#define FAKE_ID	  0x2a
#define NR_QUEUES 2

/* What the fake offers of its own: a low feature bit and a high one. */
#define FAKE_F_LOW  3
#define FAKE_F_HIGH 38 /* not a transport feature */

#define S_ACK	VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV	VIRTIO_CONFIG_S_DRIVER
#define S_FEAT	VIRTIO_CONFIG_S_FEATURES_OK
#define S_OK	VIRTIO_CONFIG_S_DRIVER_OK
#define S_RESET VIRTIO_CONFIG_S_NEEDS_RESET
#define S_FAIL	VIRTIO_CONFIG_S_FAILED

struct fake {
	struct virtio_dev vdev;
	int activate_ret;
	unsigned int activations, resets, notifies, resumes;
	unsigned int last_queue;
	uint8_t config[16];
	uint64_t last_cfg_off;
	uint32_t last_cfg_len;
};

struct fixture {
	struct guest_memory gm;
	struct fake fake;
	struct vdriver d;
	/* For the tests that attach the device to eventfds (wire()). */
	struct event_loop loop;
	int irq;	     /* our duplicate of the device's irq eventfd */
	int kick[NR_QUEUES]; /* our duplicates of its kick eventfds */
};

static struct fake *to_fake(struct virtio_dev *vdev)
{
	return container_of(vdev, struct fake, vdev);
}

static void fake_config_read(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len)
{
	struct fake *f = to_fake(vdev);

	f->last_cfg_off = off;
	f->last_cfg_len = len;
	if (off < sizeof(f->config) && len <= sizeof(f->config) - off)
		memcpy(data, f->config + off, len);
}

static void fake_config_write(struct virtio_dev *vdev, uint64_t off, const void *data, uint32_t len)
{
	struct fake *f = to_fake(vdev);

	f->last_cfg_off = off;
	f->last_cfg_len = len;
	if (off < sizeof(f->config) && len <= sizeof(f->config) - off)
		memcpy(f->config + off, data, len);
}

static int fake_activate(struct virtio_dev *vdev)
{
	struct fake *f = to_fake(vdev);

	f->activations++;
	return f->activate_ret;
}

static void fake_reset(struct virtio_dev *vdev)
{
	to_fake(vdev)->resets++;
}

/* Serves nothing: the tests only need to know it was called, and for which queue. */
static void fake_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct fake *f = to_fake(vdev);

	f->notifies++;
	f->last_queue = q;
}

/* Its own state is the config bytes, which the device's section checks to the end. */
static void fake_save(struct virtio_dev *vdev, struct state_writer *w)
{
	state_put(w, to_fake(vdev)->config, sizeof(to_fake(vdev)->config));
}

static int fake_restore(struct virtio_dev *vdev, struct state_reader *r, struct err *err)
{
	uint8_t cfg[sizeof(to_fake(vdev)->config)];

	state_get(r, cfg, sizeof(cfg));
	if (r->bad)
		return err_set(err, -EBADMSG, "fake: truncated");
	memcpy(to_fake(vdev)->config, cfg, sizeof(cfg));
	return 0;
}

static void fake_resume(struct virtio_dev *vdev)
{
	to_fake(vdev)->resumes++;
}

static const struct virtio_dev_ops fake_ops = {
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.reset = fake_reset,
	.notify = fake_notify,
	.save = fake_save,
	.restore = fake_restore,
	.resume = fake_resume,
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(gm_alloc(&f->gm, RAM_SIZE, MEM_BACKEND_ANON, NULL), 0);
	virtio_dev_init(&f->fake.vdev, &fake_ops, "fake", FAKE_ID,
			(1ULL << FAKE_F_LOW) | (1ULL << FAKE_F_HIGH), NR_QUEUES, &f->gm);
	vdriver_bind(&f->d, &f->gm, &f->fake.vdev);
	f->loop.epfd = -1;
	f->irq = -1;
	for (unsigned int q = 0; q < NR_QUEUES; q++)
		f->kick[q] = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* The device closes the descriptors it was given. */
	virtio_dev_fini(&f->fake.vdev);
	event_loop_fini(&f->loop);
	if (f->irq >= 0)
		close(f->irq);
	for (unsigned int q = 0; q < NR_QUEUES; q++)
		if (f->kick[q] >= 0)
			close(f->kick[q]);
	gm_free(&f->gm);
	free(f);
	return 0;
}

static uint32_t rd(struct fixture *f, uint64_t off)
{
	return vdriver_reg_read(&f->d, off);
}

static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
	vdriver_reg_write(&f->d, off, v);
}

static uint64_t device_features(struct fixture *f)
{
	uint64_t hi;

	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return hi << 32 | rd(f, VIRTIO_MMIO_DEVICE_FEATURES);
}

static void write_driver_features(struct fixture *f, uint64_t features)
{
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
}

/* ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; returns the status read back. */
static uint32_t negotiate(struct fixture *f, uint64_t features)
{
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_STATUS, S_ACK);
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
	write_driver_features(f, features);
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FEAT);
	return rd(f, VIRTIO_MMIO_STATUS);
}

/* The whole handshake with both queues of 8 entries; asserts it worked. */
static void bring_up(struct fixture *f, uint64_t features)
{
	unsigned int activations = f->fake.activations;

	assert_int_equal(vdriver_init(&f->d, &f->gm, &f->fake.vdev, features, NR_QUEUES, 8),
			 S_ACK | S_DRV | S_FEAT | S_OK);
	assert_int_equal(f->fake.activations, activations + 1);
}

static void program_queue(struct fixture *f, unsigned int q, uint32_t num, uint64_t desc,
			  uint64_t avail, uint64_t used)
{
	wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
	wr(f, VIRTIO_MMIO_QUEUE_NUM, num);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	wr(f, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	wr(f, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	wr(f, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
}

/* ---- identification and features ---- */

static void identity(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976); /* "virt" */
	assert_int_equal(rd(f, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), FAKE_ID);
	assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID), 0x4b564c54); /* "KVLT" */
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	/* Write-only and legacy registers read as zero. */
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_GUEST_PAGE_SIZE), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_PFN), 0);
	/* Identification registers cannot be written. */
	wr(f, VIRTIO_MMIO_MAGIC_VALUE, 0);
	wr(f, VIRTIO_MMIO_DEVICE_ID, 1);
	wr(f, VIRTIO_MMIO_INTERRUPT_STATUS, 3);
	assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), FAKE_ID);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void device_feature_words(void **state)
{
	struct fixture *f = *state;
	uint64_t want = (1ULL << FAKE_F_LOW) | (1ULL << FAKE_F_HIGH) |
			(1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			(1ULL << VIRTIO_RING_F_INDIRECT_DESC);

	assert_true(device_features(f) == want);
	/* Words past the second are empty. */
	for (uint32_t sel = 2; sel < 5; sel++) {
		wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
		assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	}
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
	/* Nothing the transport does not implement. */
	assert_false(want & (1ULL << VIRTIO_F_RING_PACKED));
	assert_false(want & (1ULL << VIRTIO_F_ACCESS_PLATFORM));
}

static void features_ok_accepted(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(negotiate(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << FAKE_F_HIGH) |
					      (1ULL << VIRTIO_RING_F_EVENT_IDX)),
			 S_ACK | S_DRV | S_FEAT);
	assert_true(virtio_has_feature(&f->fake.vdev, VIRTIO_F_VERSION_1));
	assert_true(virtio_has_feature(&f->fake.vdev, FAKE_F_HIGH));
	assert_true(virtio_has_feature(&f->fake.vdev, VIRTIO_RING_F_EVENT_IDX));
	assert_false(virtio_has_feature(&f->fake.vdev, FAKE_F_LOW));
	assert_false(virtio_has_feature(&f->fake.vdev, VIRTIO_RING_F_INDIRECT_DESC));
	/* Once FEATURES_OK is set, the features are fixed. */
	write_driver_features(f, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << FAKE_F_LOW));
	assert_true(virtio_has_feature(&f->fake.vdev, FAKE_F_HIGH));
	assert_false(virtio_has_feature(&f->fake.vdev, FAKE_F_LOW));
	/* Driver feature words past the second are ignored. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
	wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
	assert_true(f->fake.vdev.driver_features == 0);
}

static void features_ok_refused(void **state)
{
	struct fixture *f = *state;
	const uint64_t v1 = 1ULL << VIRTIO_F_VERSION_1;

	/* A feature the device did not offer, low word or high. */
	assert_int_equal(negotiate(f, v1 | (1ULL << 4)), S_ACK | S_DRV);
	assert_int_equal(negotiate(f, v1 | (1ULL << VIRTIO_F_RING_PACKED)), S_ACK | S_DRV);
	assert_int_equal(negotiate(f, v1 | (1ULL << 63)), S_ACK | S_DRV);
	/* A legacy driver. */
	assert_int_equal(negotiate(f, 1ULL << FAKE_F_LOW), S_ACK | S_DRV);
	assert_int_equal(negotiate(f, 0), S_ACK | S_DRV);
	/* Refusal is not final: the driver may try again with other features. */
	write_driver_features(f, v1 | (1ULL << FAKE_F_LOW));
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FEAT);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT);
	assert_int_equal(f->fake.activations, 0);
	assert_int_equal(f->fake.resets, 0);
}

static void driver_ok_needs_features_ok(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(negotiate(f, 1ULL << 4), S_ACK | S_DRV);
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FEAT | S_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_OK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
	assert_int_equal(f->fake.activations, 0);
	/* FAILED, on the other hand, is the driver's to set at any time. */
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FAIL);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FAIL);
}

static void status_bits_only_added(void **state)
{
	struct fixture *f = *state;

	bring_up(f, 0);
	/* Clearing bits is not a thing; only writing 0 resets. */
	wr(f, VIRTIO_MMIO_STATUS, S_ACK);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT | S_OK);
	/* Rewriting DRIVER_OK does not activate again. */
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FEAT | S_OK);
	assert_int_equal(f->fake.activations, 1);
	/* NEEDS_RESET is the device's to set. */
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FEAT | S_OK | S_RESET);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT | S_OK);
	assert_false(f->fake.vdev.needs_reset);
	assert_int_equal(f->fake.resets, 0);
}

static void activation_failure(void **state)
{
	struct fixture *f = *state;

	f->fake.activate_ret = -EIO;
	assert_int_equal(vdriver_init(&f->d, &f->gm, &f->fake.vdev, 0, NR_QUEUES, 8),
			 S_ACK | S_DRV | S_FEAT | S_OK | S_RESET);
	assert_true(f->fake.vdev.needs_reset);
	/* The driver hears of it through a configuration change interrupt. */
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	vdriver_kick(&f->d, 0);
	assert_int_equal(f->fake.notifies, 0);
	/* A reset and a second try. */
	f->fake.activate_ret = 0;
	bring_up(f, 0);
	assert_int_equal(f->fake.activations, 2);
	assert_false(f->fake.vdev.needs_reset);
}

/* ---- reset ---- */

static void reset_clears_everything(void **state)
{
	struct fixture *f = *state;

	bring_up(f, (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << FAKE_F_LOW));
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	virtio_notify_config(&f->fake.vdev);
	vq_push(&f->fake.vdev.vqs[0], 0, 0);
	virtio_notify_used(&f->fake.vdev, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);

	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(f->fake.resets, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_true(f->fake.vdev.driver_features == 0);
	/* The selectors went back to 0. */
	assert_int_equal(f->fake.vdev.queue_sel, 0);
	assert_int_equal(f->fake.vdev.device_features_sel, 0);
	assert_int_equal(f->fake.vdev.driver_features_sel, 0);
	for (unsigned int q = 0; q < NR_QUEUES; q++) {
		const struct virtqueue *vq = &f->fake.vdev.vqs[q];

		wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
		assert_false(vq->ready);
		assert_int_equal(vq->size, 0);
		assert_true(vq->desc_gpa == 0 && vq->avail_gpa == 0 && vq->used_gpa == 0);
		assert_int_equal(vq->used_idx, 0);
	}
	/* A queue made ready without being programmed again is refused. */
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_RESET);
	/* Another reset clears that too, and ops->reset is not called for a device never live. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_false(f->fake.vdev.needs_reset);
	assert_int_equal(f->fake.resets, 1);
	/* And the device works again after a new handshake. */
	bring_up(f, 0);
	assert_int_equal(f->fake.activations, 2);
	vdriver_kick(&f->d, 1);
	assert_int_equal(f->fake.notifies, 1);
}

static void reset_before_driver_ok(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(negotiate(f, 1ULL << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FEAT);
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(f->fake.resets, 0);
	/* Features written before FEATURES_OK are forgotten as well. */
	assert_true(f->fake.vdev.driver_features == 0);
}

/* ---- queue set-up ---- */

static void queue_num_max(void **state)
{
	struct fixture *f = *state;
	const uint32_t sels[] = { NR_QUEUES, 3, VIRTIO_MMIO_MAX_QUEUES, 0x10000, 0xffffffff };

	for (uint32_t q = 0; q < NR_QUEUES; q++) {
		wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), VQ_MAX_SIZE);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	}
	for (unsigned int i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		wr(f, VIRTIO_MMIO_QUEUE_SEL, sels[i]);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	}
}

static void nonexistent_queue_ignored(void **state)
{
	struct fixture *f = *state;
	uint64_t ring = vdriver_alloc(&f->d, 0x3000);
	struct virtio_dev before;

	assert_int_equal(negotiate(f, 1ULL << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FEAT);
	memcpy(&before, &f->fake.vdev, sizeof(before));
	for (uint32_t q = NR_QUEUES; q <= VIRTIO_MMIO_MAX_QUEUES; q++) {
		program_queue(f, q, 8, ring, ring + 0x1000, ring + 0x2000);
		wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	}
	program_queue(f, 0xffffffff, 8, ring, ring + 0x1000, ring + 0x2000);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	/* No queue, in range of the array or not, took any of it. */
	assert_memory_equal(&before.vqs, &f->fake.vdev.vqs, sizeof(before.vqs));
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT);
}

static void bad_queue_size_needs_reset(void **state)
{
	struct fixture *f = *state;
	const uint32_t bad[] = { 0, 3, 12, 255, VQ_MAX_SIZE * 2, 0x10000, 0x10008, 0xffffffff };
	uint64_t ring = vdriver_alloc(&f->d, 0x3000);

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(negotiate(f, 1ULL << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FEAT);
		program_queue(f, 0, bad[i], ring, ring + 0x1000, ring + 0x2000);
		wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
		assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
		assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT | S_RESET);
		/* Not live yet, so no interrupt and no configuration change. */
		assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
		assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 0);
		/* A driver that goes on regardless gets no service. */
		wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
		wr(f, VIRTIO_MMIO_QUEUE_NUM, 8);
		wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
		wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FEAT | S_OK);
		assert_true(rd(f, VIRTIO_MMIO_STATUS) & S_RESET);
		assert_int_equal(f->fake.activations, 0);
		vdriver_kick(&f->d, 0);
		vdriver_kick(&f->d, 1);
		assert_int_equal(f->fake.notifies, 0);
	}
	/* The largest size is fine. */
	assert_int_equal(negotiate(f, 1ULL << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FEAT);
	program_queue(f, 0, VQ_MAX_SIZE, ring, ring + 0x1000, ring + 0x2000);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT);
}

static void bad_ring_address_needs_reset(void **state)
{
	struct fixture *f = *state;
	uint64_t ring = vdriver_alloc(&f->d, 0x3000);

	assert_int_equal(negotiate(f, 1ULL << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FEAT);
	/* The high halves matter. */
	program_queue(f, 0, 8, ring | (1ULL << 32), ring + 0x1000, ring + 0x2000);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & S_RESET);
	assert_true(f->fake.vdev.vqs[0].desc_gpa == (ring | (1ULL << 32)));
	/* Misaligned. */
	assert_int_equal(negotiate(f, 1ULL << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FEAT);
	program_queue(f, 1, 8, ring, ring + 0x1000, ring + 0x2002);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_true(rd(f, VIRTIO_MMIO_STATUS) & S_RESET);
}

static void queue_registers_locked_while_ready(void **state)
{
	struct fixture *f = *state;
	struct virtqueue *vq = &f->fake.vdev.vqs[1];
	struct virtqueue saved;
	uint64_t ring = vdriver_alloc(&f->d, 0x3000);

	bring_up(f, 0);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	saved = *vq;
	program_queue(f, 1, 4, ring, ring + 0x1000, ring + 0x2000);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1); /* again: no re-enable, indices kept */
	assert_memory_equal(&saved, vq, sizeof(saved));
	/* Taking it down unlocks them. */
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(vq->ready);
	program_queue(f, 1, 4, ring, ring + 0x1000, ring + 0x2000);
	assert_int_equal(vq->size, 4);
	assert_true(vq->desc_gpa == ring);
	assert_true(vq->used_gpa == ring + 0x2000);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
	assert_ptr_equal(vq->desc, vdriver_host(&f->d, ring, 1));
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT | S_OK);
}

static void queue_features_follow_negotiation(void **state)
{
	struct fixture *f = *state;

	bring_up(f, 0);
	assert_false(f->fake.vdev.vqs[0].event_idx);
	assert_false(f->fake.vdev.vqs[0].indirect);
	bring_up(f, (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
	assert_true(f->fake.vdev.vqs[1].event_idx);
	assert_true(f->fake.vdev.vqs[1].indirect);
	assert_ptr_equal(f->fake.vdev.vqs[1].mem, &f->gm);
}

/*
 * A device with a request in flight (say, a disk read) completes it after
 * the driver took the queue down and reprogrammed it: the completion must
 * not touch the rings through stale or missing pointers.
 */
static void completion_after_queue_disabled(void **state)
{
	struct fixture *f = *state;
	struct virtqueue *vq = &f->fake.vdev.vqs[0];
	struct vq_chain *c = malloc(sizeof(*c));
	uint64_t buf = vdriver_alloc(&f->d, 16);
	struct vdriver_buf b = { buf, 16, true };
	uint32_t id, len;

	assert_non_null(c);
	bring_up(f, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	for (unsigned int round = 0; round < 3; round++) {
		vdriver_add(&f->d, 0, &b, 1);
		vdriver_add(&f->d, 0, &b, 1);
		assert_int_equal(vq_pop(vq, c), 1);
		vq_push(vq, c->head, 1);
		assert_int_equal(vq_pop(vq, c), 1); /* in flight */
		wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
		wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
		switch (round) {
		case 0: /* a size of 0, not enabled again */
			wr(f, VIRTIO_MMIO_QUEUE_NUM, 0);
			break;
		case 1: /* rings outside RAM: enabling fails */
			program_queue(f, 0, 8, RAM_SIZE, RAM_SIZE + 0x1000, RAM_SIZE + 0x2000);
			wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
			break;
		default: /* merely disabled */
			break;
		}
		assert_false(vq->ready);
		vq_push(vq, c->head, 16);
		virtio_notify_used(&f->fake.vdev, 0);
		/* The driver sees the first completion only. */
		assert_true(vdriver_used(&f->d, 0, &id, &len));
		assert_int_equal(len, 1);
		assert_false(vdriver_used(&f->d, 0, &id, &len));
		bring_up(f, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	}
	free(c);
}

/* ---- access widths ---- */

static void odd_accesses_ignored(void **state)
{
	struct fixture *f = *state;
	uint8_t b[8];
	uint32_t v;

	/* Narrow, wide and unaligned reads of control registers return zeroes. */
	for (uint32_t len = 1; len <= 8; len *= 2) {
		if (len == 4)
			continue;
		memset(b, 0xa5, sizeof(b));
		virtio_mmio_bus_ops.read(&f->fake.vdev, VIRTIO_MMIO_MAGIC_VALUE, b, len);
		for (uint32_t i = 0; i < len; i++)
			assert_int_equal(b[i], 0);
		assert_int_equal(b[len < 8 ? len : 7], len < 8 ? 0xa5 : 0);
	}
	for (uint64_t off = 1; off < 4; off++) {
		memset(b, 0xa5, sizeof(b));
		virtio_mmio_bus_ops.read(&f->fake.vdev, VIRTIO_MMIO_MAGIC_VALUE + off, b, 4);
		assert_memory_equal(b, "\0\0\0\0", 4);
	}
	/* Likewise writes: none of these reaches the status register. */
	v = S_ACK;
	virtio_mmio_bus_ops.write(&f->fake.vdev, VIRTIO_MMIO_STATUS, &v, 1);
	virtio_mmio_bus_ops.write(&f->fake.vdev, VIRTIO_MMIO_STATUS, &v, 2);
	virtio_mmio_bus_ops.write(&f->fake.vdev, VIRTIO_MMIO_STATUS + 1, &v, 4);
	virtio_mmio_bus_ops.write(&f->fake.vdev, VIRTIO_MMIO_STATUS - 2, &v, 4);
	memset(b, 0, sizeof(b));
	b[0] = S_ACK;
	virtio_mmio_bus_ops.write(&f->fake.vdev, VIRTIO_MMIO_STATUS, b, 8);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	/* And a narrow write of 0 is not a reset. */
	bring_up(f, 0);
	v = 0;
	virtio_mmio_bus_ops.write(&f->fake.vdev, VIRTIO_MMIO_STATUS, &v, 1);
	virtio_mmio_bus_ops.write(&f->fake.vdev, VIRTIO_MMIO_STATUS, &v, 2);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT | S_OK);
	assert_int_equal(f->fake.resets, 0);
}

static void config_space_goes_to_device(void **state)
{
	struct fixture *f = *state;
	uint8_t b[8] = { 0 };
	uint16_t w = 0xbeef;

	memcpy(f->fake.config, "0123456789abcdef", 16);
	/* Any width, any alignment, offset relative to 0x100. */
	virtio_mmio_bus_ops.read(&f->fake.vdev, VIRTIO_MMIO_CONFIG + 3, b, 1);
	assert_int_equal(b[0], '3');
	assert_int_equal(f->fake.last_cfg_off, 3);
	assert_int_equal(f->fake.last_cfg_len, 1);
	virtio_mmio_bus_ops.read(&f->fake.vdev, VIRTIO_MMIO_CONFIG + 5, b, 8);
	assert_memory_equal(b, "56789abc", 8);
	virtio_mmio_bus_ops.write(&f->fake.vdev, VIRTIO_MMIO_CONFIG + 1, &w, 2);
	assert_int_equal(f->fake.last_cfg_off, 1);
	assert_int_equal(f->fake.last_cfg_len, 2);
	assert_memory_equal(f->fake.config + 1, &w, 2);
	/* Past what the device has: it zeroes nothing, the transport already did. */
	memset(b, 0xa5, sizeof(b));
	virtio_mmio_bus_ops.read(&f->fake.vdev, VIRTIO_MMIO_CONFIG + 0x100, b, 4);
	assert_memory_equal(b, "\0\0\0\0", 4);
	assert_int_equal(f->fake.last_cfg_off, 0x100);
}

/* ---- interrupts ---- */

static void interrupt_status_and_ack(void **state)
{
	struct fixture *f = *state;

	bring_up(f, 0);
	vq_push(&f->fake.vdev.vqs[0], 0, 0);
	virtio_notify_used(&f->fake.vdev, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	virtio_notify_config(&f->fake.vdev);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	/* Acks clear only the bits written. */
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffff);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* Nothing new used: no interrupt. */
	virtio_notify_used(&f->fake.vdev, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* The driver suppressed it. */
	f->d.q[1].avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	vq_push(&f->fake.vdev.vqs[1], 0, 0);
	virtio_notify_used(&f->fake.vdev, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}

static void needs_reset_after_driver_ok(void **state)
{
	struct fixture *f = *state;

	bring_up(f, 0);
	virtio_set_needs_reset(&f->fake.vdev, "test");
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FEAT | S_OK | S_RESET);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	/* Said once. */
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	virtio_set_needs_reset(&f->fake.vdev, "again");
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	/* No more service. */
	vdriver_kick(&f->d, 0);
	assert_int_equal(f->fake.notifies, 0);
	/* Until a reset, which the device hears about. */
	wr(f, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(f->fake.resets, 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
	bring_up(f, 0);
	vdriver_kick(&f->d, 0);
	assert_int_equal(f->fake.notifies, 1);
}

static void shm_regions_absent(void **state)
{
	struct fixture *f = *state;

	for (uint32_t sel = 0; sel < 3; sel++) {
		wr(f, VIRTIO_MMIO_SHM_SEL, sel);
		assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
		assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	}
	wr(f, VIRTIO_MMIO_SHM_LEN_LOW, 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
}

/* ---- eventfds and the event loop ---- */

/* Attaches the device to fresh eventfds and an event loop, as the VMM does. */
static void wire(struct fixture *f)
{
	int irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), kicks[NR_QUEUES];
	struct err err = { 0 };

	assert_int_equal(event_loop_init(&f->loop), 0);
	assert_true(irq >= 0);
	f->irq = dup(irq);
	for (unsigned int q = 0; q < NR_QUEUES; q++) {
		kicks[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(kicks[q] >= 0);
		f->kick[q] = dup(kicks[q]);
	}
	assert_int_equal(virtio_dev_attach(&f->fake.vdev, &f->loop, irq, kicks, &err), 0);
}

static uint64_t drain(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void queue_notify_kicks_eventfd(void **state)
{
	struct fixture *f = *state;

	wire(f);
	bring_up(f, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 1);
	assert_int_equal(f->fake.notifies, 1);
	assert_int_equal(f->fake.last_queue, 1);
	/* Kicks that coalesce in the eventfd make one notification. */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 1);
	assert_int_equal(f->fake.notifies, 2);
	assert_int_equal(f->fake.last_queue, 0);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 0);
	/* Queues that do not exist signal nothing. */
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, NR_QUEUES);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_MMIO_MAX_QUEUES);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 0);
	/* KVM's ioeventfd path: the fd is signalled without a register write. */
	assert_int_equal(write(f->kick[1], &(uint64_t){ 1 }, 8), 8);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 1);
	assert_int_equal(f->fake.notifies, 3);
	/* A queue the driver took down is not served, but its kick is consumed. */
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(f, VIRTIO_MMIO_QUEUE_READY, 0);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 1);
	assert_int_equal(f->fake.notifies, 3);
	assert_int_equal(drain(f->kick[1]), 0);
	/* Nor is a device that needs a reset. */
	virtio_set_needs_reset(&f->fake.vdev, "test");
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 1);
	assert_int_equal(f->fake.notifies, 3);
	/* Nor one before DRIVER_OK. */
	assert_int_equal(negotiate(f, 1ULL << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FEAT);
	vdriver_setup_queue(&f->d, 0, 8);
	wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 1);
	assert_int_equal(f->fake.notifies, 3);
}

static void used_buffers_raise_irq_fd(void **state)
{
	struct fixture *f = *state;

	wire(f);
	bring_up(f, 1ULL << VIRTIO_RING_F_EVENT_IDX);
	/* Nothing pushed: nothing raised. */
	virtio_notify_used(&f->fake.vdev, 0);
	assert_int_equal(drain(f->irq), 0);
	vq_push(&f->fake.vdev.vqs[0], 0, 0);
	virtio_notify_used(&f->fake.vdev, 0);
	assert_int_equal(drain(f->irq), 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	/* The driver asks to hear only after the used index passes 3. */
	*vdriver_used_event(&f->d, 0) = 3;
	vq_push(&f->fake.vdev.vqs[0], 0, 0);
	virtio_notify_used(&f->fake.vdev, 0);
	assert_int_equal(drain(f->irq), 0);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	vq_push(&f->fake.vdev.vqs[0], 0, 0);
	vq_push(&f->fake.vdev.vqs[0], 0, 0);
	virtio_notify_used(&f->fake.vdev, 0);
	assert_int_equal(drain(f->irq), 1);
	/* Configuration interrupts use the same line. */
	virtio_notify_config(&f->fake.vdev);
	assert_int_equal(drain(f->irq), 1);
	assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
}

/* ---- snapshots ---- */

/* Offsets into the transport's section body, as virtio_dev_save() lays it out. */
#define OFF_ID		0
#define OFF_NR_QUEUES	4
#define OFF_DRV_FEAT	16
#define OFF_STATUS	36
#define OFF_INTR	40
#define OFF_Q0		49
#define Q_SIZE		0
#define Q_DESC		2
#define Q_LAST_AVAIL	27
#define OFF_DEVICE_BODY (OFF_Q0 + NR_QUEUES * 35)

/* A live device with some history: queue 0 has one chain served and one waiting. */
static void snapshot_source(struct fixture *f, struct state_writer *w)
{
	struct vq_chain c;
	uint64_t buf = vdriver_alloc(&f->d, 64);

	bring_up(f, (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << FAKE_F_LOW));
	memcpy(f->fake.config, "snapshot-config!", 16);
	vdriver_add(&f->d, 0, &(struct vdriver_buf){ buf, 64, true }, 1);
	assert_int_equal(vq_pop(&f->fake.vdev.vqs[0], &c), 1);
	vq_push(&f->fake.vdev.vqs[0], c.head, 7);
	virtio_notify_used(&f->fake.vdev, 0);
	vdriver_add(&f->d, 0, &(struct vdriver_buf){ buf, 64, true }, 1);
	virtio_notify_config(&f->fake.vdev);
	wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	state_writer_init(w);
	virtio_dev_save(&f->fake.vdev, w);
	assert_int_equal(state_writer_status(w), 0);
	assert_int_equal(w->len, OFF_DEVICE_BODY + 16);
}

static void fake_init(struct fixture *f, struct fake *g)
{
	memset(g, 0, sizeof(*g));
	virtio_dev_init(&g->vdev, &fake_ops, "fake", FAKE_ID,
			(1ULL << FAKE_F_LOW) | (1ULL << FAKE_F_HIGH), NR_QUEUES, &f->gm);
}

/* Restores bytes into a fresh device; a refusal must leave it untouched. */
static int restore_fresh(struct fixture *f, const void *data, size_t len, struct err *err)
{
	struct state_reader r;
	struct fake g;
	int ret;

	fake_init(f, &g);
	state_reader_init(&r, data, len);
	ret = virtio_dev_restore(&g.vdev, &r, err);
	if (ret) {
		assert_int_equal(g.vdev.status, 0);
		assert_int_equal(g.vdev.driver_features, 0);
		assert_false(g.vdev.vqs[0].ready);
		assert_int_equal(g.activations + g.resumes, 0);
	}
	virtio_dev_fini(&g.vdev);
	return ret;
}

static void snapshot_round_trip(void **state)
{
	struct fixture *f = *state;
	struct virtio_dev *a = &f->fake.vdev, *b;
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };
	struct vq_chain c;
	struct fake g;

	snapshot_source(f, &w);
	fake_init(f, &g);
	b = &g.vdev;
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(virtio_dev_restore(b, &r, &err), 0);
	assert_int_equal(b->driver_features, a->driver_features);
	assert_int_equal(b->status, S_ACK | S_DRV | S_FEAT | S_OK);
	assert_int_equal(b->queue_sel, 1);
	assert_int_equal(b->device_features_sel, 1);
	assert_int_equal(b->interrupt_status, VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(b->config_generation, 1);
	for (unsigned int q = 0; q < NR_QUEUES; q++) {
		const struct virtqueue *x = &a->vqs[q], *y = &b->vqs[q];

		assert_int_equal(y->size, x->size);
		assert_true(y->desc_gpa == x->desc_gpa && y->avail_gpa == x->avail_gpa &&
			    y->used_gpa == x->used_gpa);
		assert_true(y->ready && y->event_idx && !y->indirect);
		/* Re-derived from the addresses, not carried over. */
		assert_ptr_equal(y->desc, x->desc);
		assert_ptr_equal(y->used, x->used);
		assert_int_equal(y->last_avail, x->last_avail);
		assert_int_equal(y->used_idx, x->used_idx);
		assert_int_equal(y->signalled, x->signalled);
	}
	assert_memory_equal(g.config, "snapshot-config!", 16);
	/* Taken up where it was: activated, resumed, and the waiting chain is next. */
	assert_int_equal(g.activations, 1);
	assert_int_equal(g.resumes, 1);
	assert_int_equal(vq_pop(&b->vqs[0], &c), 1);
	assert_int_equal(b->vqs[0].last_avail, 2);
	virtio_dev_fini(b);
	state_writer_fini(&w);
}

static void snapshot_restore_refuses_hostile_input(void **state)
{
	struct fixture *f = *state;
	struct state_writer w;
	struct err err = { 0 };
	uint8_t *bad;

	snapshot_source(f, &w);
	bad = malloc(w.len + 1);
	assert_non_null(bad);
	/* Every truncation. */
	for (size_t n = 0; n < w.len; n++) {
		memset(&err, 0, sizeof(err));
		assert_true(restore_fresh(f, w.data, n, &err) < 0);
		assert_non_null(strstr(err.msg, "fake"));
	}
	/* A byte too many. */
	memcpy(bad, w.data, w.len);
	bad[w.len] = 0;
	assert_int_equal(restore_fresh(f, bad, w.len + 1, &err), -EBADMSG);

#define MUTATE(off, type, val, want)                                          \
	do {                                                                  \
		type v_ = (val);                                              \
		memset(&err, 0, sizeof(err));                                 \
		memcpy(bad, w.data, w.len);                                   \
		memcpy(bad + (off), &v_, sizeof(v_));                         \
		assert_int_equal(restore_fresh(f, bad, w.len, &err), (want)); \
		assert_non_null(strstr(err.msg, "fake"));                     \
	} while (0)
	/* Another device type, another queue count. */
	MUTATE(OFF_ID, uint32_t, 1, -EINVAL);
	assert_non_null(strstr(err.msg, "type 1"));
	MUTATE(OFF_NR_QUEUES, uint32_t, 3, -EINVAL);
	/* Features never offered. */
	MUTATE(OFF_DRV_FEAT, uint64_t, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 40), -EINVAL);
	/* DRIVER_OK without FEATURES_OK; bits no status has; an unknown interrupt reason. */
	MUTATE(OFF_STATUS, uint32_t, S_ACK | S_DRV | S_OK, -EINVAL);
	MUTATE(OFF_STATUS, uint32_t, 0x100 | S_ACK, -EINVAL);
	MUTATE(OFF_INTR, uint32_t, 4, -EINVAL);
	/* Queue sizes: not a power of two, too large, zero. */
	MUTATE(OFF_Q0 + Q_SIZE, uint16_t, 3, -EINVAL);
	MUTATE(OFF_Q0 + Q_SIZE, uint16_t, VQ_MAX_SIZE * 2, -EINVAL);
	MUTATE(OFF_Q0 + Q_SIZE, uint16_t, 0, -EINVAL);
	/* Rings outside guest RAM, or misaligned. */
	MUTATE(OFF_Q0 + Q_DESC, uint64_t, RAM_SIZE - 16, -EINVAL);
	MUTATE(OFF_Q0 + Q_DESC, uint64_t, 0xfffffffffffff000ULL, -EINVAL);
	MUTATE(OFF_Q0 + Q_DESC, uint64_t, 0x1008 + 1, -EINVAL);
#undef MUTATE
	/* Indices are the guest's business: any value restores, and vq_pop() checks it. */
	memcpy(bad, w.data, w.len);
	bad[OFF_Q0 + Q_LAST_AVAIL] = 0x80;
	assert_int_equal(restore_fresh(f, bad, w.len, &err), 0);
	free(bad);
	state_writer_fini(&w);
}

/* A device reset before DRIVER_OK round-trips too, and is not activated. */
static void snapshot_of_unstarted_device(void **state)
{
	struct fixture *f = *state;
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };
	struct fake g;

	assert_int_equal(negotiate(f, 1ULL << VIRTIO_F_VERSION_1), S_ACK | S_DRV | S_FEAT);
	state_writer_init(&w);
	virtio_dev_save(&f->fake.vdev, &w);
	fake_init(f, &g);
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(virtio_dev_restore(&g.vdev, &r, &err), 0);
	assert_int_equal(g.vdev.status, S_ACK | S_DRV | S_FEAT);
	assert_int_equal(g.activations + g.resumes, 0);
	/* The driver finishes the handshake on the restored device. */
	vdriver_bind(&f->d, &f->gm, &g.vdev);
	vdriver_setup_queue(&f->d, 0, 8);
	wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FEAT | S_OK);
	assert_int_equal(g.activations, 1);
	virtio_dev_fini(&g.vdev);
	state_writer_fini(&w);
}

/* Restored queues are looked at again: kicks consumed before the snapshot are not lost. */
static void snapshot_restore_requeues(void **state)
{
	struct fixture *f = *state;
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };
	int irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), kicks[NR_QUEUES], mine[NR_QUEUES];
	struct fake g;

	snapshot_source(f, &w);
	fake_init(f, &g);
	assert_int_equal(event_loop_init(&f->loop), 0);
	for (unsigned int q = 0; q < NR_QUEUES; q++) {
		kicks[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		mine[q] = dup(kicks[q]);
	}
	f->irq = dup(irq);
	assert_int_equal(virtio_dev_attach(&g.vdev, &f->loop, irq, kicks, &err), 0);
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(virtio_dev_restore(&g.vdev, &r, &err), 0);
	/* The unacknowledged interrupt is raised again, and both queues are kicked. */
	assert_int_equal(drain(f->irq), 1);
	for (unsigned int q = 0; q < NR_QUEUES; q++)
		assert_int_equal(drain(mine[q]), 1);
	for (unsigned int q = 0; q < NR_QUEUES; q++)
		close(mine[q]);
	virtio_dev_fini(&g.vdev);
	state_writer_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(identity),
		T(device_feature_words),
		T(features_ok_accepted),
		T(features_ok_refused),
		T(driver_ok_needs_features_ok),
		T(status_bits_only_added),
		T(activation_failure),
		T(reset_clears_everything),
		T(reset_before_driver_ok),
		T(queue_num_max),
		T(nonexistent_queue_ignored),
		T(bad_queue_size_needs_reset),
		T(bad_ring_address_needs_reset),
		T(queue_registers_locked_while_ready),
		T(queue_features_follow_negotiation),
		T(completion_after_queue_disabled),
		T(odd_accesses_ignored),
		T(config_space_goes_to_device),
		T(interrupt_status_and_ack),
		T(needs_reset_after_driver_ok),
		T(shm_regions_absent),
		T(queue_notify_kicks_eventfd),
		T(used_buffers_raise_irq_fd),
		T(snapshot_round_trip),
		T(snapshot_restore_refuses_hostile_input),
		T(snapshot_of_unstarted_device),
		T(snapshot_restore_requeues),
#undef T
	};

	return cmocka_run_group_tests_name("virtio_mmio", tests, NULL, NULL);
}
