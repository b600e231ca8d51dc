// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk (virtio 1.2, 5.2) on a temporary image, driven through the MMIO
 * transport by the test-side driver. I/O completes asynchronously on
 * io_uring, so each test runs an event loop, as the VMM's main thread does,
 * until the used ring has what it expects.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/magic.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio/blk/blk.h"
#include "lib/event_loop.h"
#include "tests/unit/images.h"
#include "tests/unit/vdriver.h"
#include "memory/guest_memory.h"

#define RAM_SIZE  (128ULL << 20)
#define QSIZE	  256
#define DISK_SIZE (1ULL << 20)
#define SECTORS	  (DISK_SIZE / 512)
#define MAX_SEG	  16	     /* max_discard_seg, max_write_zeroes_seg */
#define MAX_DWZ	  (1U << 22) /* max_discard_sectors, max_write_zeroes_sectors */
#define NO_STATUS 0xee	     /* what status bytes hold until the device writes them */
#define LIVE                                                                                  \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | \
	 VIRTIO_CONFIG_S_DRIVER_OK)

#define F(bit) (1ULL << (bit))
#define FEATURES                                                                          \
	(F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_DISCARD) | F(VIRTIO_BLK_F_WRITE_ZEROES) | \
	 F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_RING_F_EVENT_IDX))

struct fixture {
	char path[64];
	int fd; /* the image, to check what landed in it */
	struct guest_memory gm;
	struct event_loop loop;
	struct virtio_blk *blk;
	struct virtio_dev *vdev;
	struct vdriver d;
};

/* ---- set-up ---- */

/* A directory on a disk, so that O_DIRECT (and the bounce path) is exercised. */
static const char *image_dir(void)
{
	return access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
}

static void image_create(struct fixture *f, const char *dir, uint64_t size)
{
	snprintf(f->path, sizeof(f->path), "%s/kvmlet-blk-XXXXXX", dir);
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, (off_t)size), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->fd = -1;
	test_gm_alloc(&f->gm, RAM_SIZE);
	assert_int_equal(event_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_blk_destroy(f->blk);
	event_loop_fini(&f->loop);
	gm_free(&f->gm);
	if (f->fd >= 0) {
		close(f->fd);
		unlink(f->path);
	}
	free(f);
	return 0;
}

static struct blk_params params(const char *id, const char *path)
{
	return (struct blk_params){ .id = (char *)id, .path = (char *)path, .queues = 1 };
}

/* Creates the device on the fixture's image and brings it up with `features`. */
static void start_with(struct fixture *f, struct blk_params p, uint64_t features, unsigned int nq)
{
	struct err err = { 0 };

	f->blk = virtio_blk_create(&p, &f->gm, &err);
	if (!f->blk)
		fail_msg("virtio_blk_create: %s", err.msg);
	f->vdev = virtio_blk_dev(f->blk);
	f->vdev->loop = &f->loop;
	assert_int_equal(vdriver_init(&f->d, &f->gm, f->vdev, features, nq, QSIZE), LIVE);
}

static void start(struct fixture *f, uint64_t disk_size)
{
	image_create(f, image_dir(), disk_size);
	start_with(f, params("d0", f->path), FEATURES, 1);
}

/* ---- requests ---- */

static void *host(struct fixture *f, uint64_t gpa, uint64_t len)
{
	void *p = vdriver_host(&f->d, gpa, len);

	assert_non_null(p);
	return p;
}

static uint64_t header(struct fixture *f, uint32_t type, uint64_t sector)
{
	uint64_t gpa = vdriver_alloc(&f->d, 16);
	struct virtio_blk_outhdr *h = host(f, gpa, 16);

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	return gpa;
}

static uint64_t status_buf(struct fixture *f)
{
	uint64_t gpa = vdriver_alloc(&f->d, 1);

	*(uint8_t *)host(f, gpa, 1) = NO_STATUS;
	return gpa;
}

/* Publishes [header][data...][status] on queue q; returns the head. */
static uint16_t add_req(struct fixture *f, unsigned int q, uint32_t type, uint64_t sector,
			const struct vdriver_buf *data, unsigned int n, uint64_t *status)
{
	struct vdriver_buf b[20];

	assert_true(n + 2 <= 20);
	b[0] = (struct vdriver_buf){ header(f, type, sector), 16, false };
	if (n)
		memcpy(b + 1, data, n * sizeof(*data));
	*status = status_buf(f);
	b[n + 1] = (struct vdriver_buf){ *status, 1, true };
	return vdriver_add(&f->d, q, b, n + 2);
}

/* Runs the event loop until queue q has a used element; bounded. */
static bool wait_used(struct fixture *f, unsigned int q, uint32_t *id, uint32_t *len)
{
	for (int i = 0; i < 2000; i++) {
		if (vdriver_used(&f->d, q, id, len))
			return true;
		event_loop_run_once(&f->loop, 2);
	}
	return false;
}

/* Kicks queue q and expects exactly `head` back; returns its used length. */
static uint32_t complete(struct fixture *f, unsigned int q, uint16_t head)
{
	uint32_t id, len;

	vdriver_kick(&f->d, q);
	if (!wait_used(f, q, &id, &len))
		fail_msg("no completion for head %u on queue %u", head, q);
	assert_int_equal(id, head);
	assert_false(vdriver_used(&f->d, q, &id, &len));
	return len;
}

/* One request with data buffers, start to finish; returns the status byte. */
static uint8_t do_req(struct fixture *f, uint32_t type, uint64_t sector,
		      const struct vdriver_buf *data, unsigned int n, uint32_t expect_used)
{
	uint64_t status;
	uint16_t head = add_req(f, 0, type, sector, data, n, &status);

	assert_int_equal(complete(f, 0, head), expect_used);
	return *(uint8_t *)host(f, status, 1);
}

/* One request with a single data buffer. */
static uint8_t do_rw(struct fixture *f, uint32_t type, uint64_t sector, uint64_t gpa, uint32_t len,
		     uint32_t expect_used)
{
	struct vdriver_buf b = { gpa, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID };

	return do_req(f, type, sector, &b, len ? 1 : 0, expect_used);
}

static uint64_t seg_buf(struct fixture *f, unsigned int n, const uint64_t *sector,
			const uint32_t *num, const uint32_t *flags)
{
	uint64_t gpa = vdriver_alloc(&f->d, 16ULL * n);
	struct virtio_blk_discard_write_zeroes *s = host(f, gpa, 16ULL * n);

	for (unsigned int i = 0; i < n; i++)
		s[i] = (struct virtio_blk_discard_write_zeroes){ sector[i], num[i], flags[i] };
	return gpa;
}

/* A discard / write-zeroes request of one range. */
static uint8_t do_dwz(struct fixture *f, uint32_t type, uint64_t sector, uint32_t num,
		      uint32_t flags)
{
	struct vdriver_buf b = { seg_buf(f, 1, &sector, &num, &flags), 16, false };

	return do_req(f, type, 0, &b, 1, 1);
}

/* Resets and re-negotiates; the driver lays out rings and buffers afresh from its first address. */
static void reinit(struct fixture *f)
{
	assert_int_equal(vdriver_init(&f->d, &f->gm, f->vdev, FEATURES, 1, QSIZE), LIVE);
}

static void expect_live(struct fixture *f)
{
	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_STATUS), LIVE);
}

static void expect_needs_reset(struct fixture *f)
{
	uint32_t id, len;

	assert_true(vdriver_reg_read(&f->d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	for (int i = 0; i < 10; i++)
		event_loop_run_once(&f->loop, 1);
	assert_false(vdriver_used(&f->d, 0, &id, &len));
}

/* ---- the image ---- */

static uint8_t pattern(uint64_t off, unsigned int seed)
{
	return (uint8_t)((off * 131 + seed * 7 + (off >> 9)) ^ (off >> 13));
}

static void fill(uint8_t *p, uint64_t disk_off, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(disk_off + i, seed);
}

static void file_fill(struct fixture *f, uint64_t off, size_t len, unsigned int seed)
{
	uint8_t *p = malloc(len);

	assert_non_null(p);
	fill(p, off, len, seed);
	assert_int_equal(pwrite(f->fd, p, len, (off_t)off), (ssize_t)len);
	free(p);
}

static bool file_has(struct fixture *f, uint64_t off, size_t len, unsigned int seed)
{
	uint8_t *p = malloc(len);
	bool ok = pread(f->fd, p, len, (off_t)off) == (ssize_t)len;

	for (size_t i = 0; ok && i < len; i++)
		ok = p[i] == pattern(off + i, seed);
	free(p);
	return ok;
}

static bool file_zero(struct fixture *f, uint64_t off, size_t len)
{
	uint8_t *p = malloc(len);
	bool ok = pread(f->fd, p, len, (off_t)off) == (ssize_t)len;

	for (size_t i = 0; ok && i < len; i++)
		ok = !p[i];
	free(p);
	return ok;
}

static bool mem_has(const uint8_t *p, uint64_t disk_off, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(disk_off + i, seed))
			return false;
	return true;
}

static bool on_tmpfs(const char *path)
{
	struct statfs s;

	return statfs(path, &s) == 0 && s.f_type == TMPFS_MAGIC;
}

/* ---- tests ---- */

static void config_space(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_config c;
	struct blk_params p;
	uint8_t buf[8];
	uint32_t lo, hi;
	uint64_t cap;

	image_create(f, image_dir(), 6ULL << 30);
	p = params("d0", f->path);
	p.queues = 3;
	start_with(f, p, FEATURES | F(VIRTIO_BLK_F_MQ), 3);
	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	vdriver_reg_write(&f->d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	lo = vdriver_reg_read(&f->d, VIRTIO_MMIO_DEVICE_FEATURES);
	vdriver_reg_write(&f->d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	hi = vdriver_reg_read(&f->d, VIRTIO_MMIO_DEVICE_FEATURES);
	for (unsigned int bit = 0; bit < 24; bit++) {
		bool want = FEATURES & F(bit) || bit == VIRTIO_BLK_F_MQ;

		assert_int_equal(!!(lo & (1U << bit)), want);
	}
	assert_true(hi & 1); /* VERSION_1 */

	/* The 64-bit capacity, whole and in halves, as drivers read it. */
	virtio_mmio_bus_ops.read(f->vdev, 0x100, &cap, 8);
	assert_int_equal(cap, (6ULL << 30) / 512);
	lo = vdriver_reg_read(&f->d, 0x100);
	hi = vdriver_reg_read(&f->d, 0x104);
	assert_int_equal(((uint64_t)hi << 32) | lo, cap);

	for (unsigned int off = 0; off < sizeof(c); off++)
		virtio_mmio_bus_ops.read(f->vdev, 0x100 + off, (uint8_t *)&c + off, 1);
	assert_int_equal(c.seg_max, 254);
	assert_int_equal(c.blk_size, 512);
	assert_int_equal(c.num_queues, 3);
	assert_int_equal(c.max_discard_sectors, MAX_DWZ);
	assert_int_equal(c.max_discard_seg, MAX_SEG);
	assert_true(c.discard_sector_alignment >= 1);
	assert_int_equal(c.max_write_zeroes_sectors, MAX_DWZ);
	assert_int_equal(c.max_write_zeroes_seg, MAX_SEG);
	assert_int_equal(c.write_zeroes_may_unmap, 1);

	/* Reads straddling or past the end: the part outside is zero, nothing overflows. */
	memset(buf, 0xaa, sizeof(buf));
	virtio_mmio_bus_ops.read(f->vdev, 0x100 + sizeof(c) - 2, buf, 8);
	assert_memory_equal(buf, (uint8_t *)&c + sizeof(c) - 2, 2);
	for (int i = 2; i < 8; i++)
		assert_int_equal(buf[i], 0);
	memset(buf, 0xaa, sizeof(buf));
	virtio_mmio_bus_ops.read(f->vdev, 0x100 + sizeof(c), buf, 8);
	virtio_mmio_bus_ops.read(f->vdev, 0xffc, buf, 4);
	virtio_mmio_bus_ops.read(f->vdev, UINT64_MAX - 3, buf, 4);
	for (int i = 0; i < 8; i++)
		assert_int_equal(buf[i], 0);
	/* Writes are ignored. */
	virtio_mmio_bus_ops.write(f->vdev, 0x100, buf, 8);
	virtio_mmio_bus_ops.read(f->vdev, 0x100, &cap, 8);
	assert_int_equal(cap, (6ULL << 30) / 512);
}

static void read_sectors(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa;

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 1);
	gpa = vdriver_alloc(&f->d, 8192);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 24, gpa, 8192, 8193), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 8192), 24 * 512, 8192, 1));
	/* The last sector, and a zero-length read at the very end. */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, SECTORS - 1, gpa, 512, 513), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 512), DISK_SIZE - 512, 512, 1));
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, SECTORS, gpa, 0, 1), VIRTIO_BLK_S_OK);
	expect_live(f);
}

static void write_sectors(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa;

	start(f, DISK_SIZE);
	gpa = vdriver_alloc(&f->d, 16384);
	fill(host(f, gpa, 16384), 100 * 512, 16384, 2);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 100, gpa, 16384, 1), VIRTIO_BLK_S_OK);
	assert_true(file_has(f, 100 * 512, 16384, 2));
	assert_true(file_zero(f, 0, 100 * 512));
	assert_true(file_zero(f, 132 * 512, DISK_SIZE - 132 * 512));
	expect_live(f);
}

/* Many requests on one kick: all complete, each with its own data. */
static void batch(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa[16], status[16];
	uint16_t head[16];
	bool seen[16] = { 0 };
	uint32_t id, len;

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 3);
	for (unsigned int i = 0; i < 16; i++) {
		struct vdriver_buf b;
		bool write = i & 1;

		gpa[i] = vdriver_alloc(&f->d, 4096);
		if (write)
			fill(host(f, gpa[i], 4096), i * 4096, 4096, 4);
		b = (struct vdriver_buf){ gpa[i], 4096, !write };
		head[i] = add_req(f, 0, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, i * 8, &b, 1,
				  &status[i]);
	}
	vdriver_kick(&f->d, 0);
	for (unsigned int n = 0; n < 16; n++) {
		unsigned int i;

		assert_true(wait_used(f, 0, &id, &len));
		for (i = 0; i < 16 && head[i] != id; i++)
			;
		assert_true(i < 16 && !seen[i]);
		seen[i] = true;
		assert_int_equal(len, i & 1 ? 1 : 4097);
		assert_int_equal(*(uint8_t *)host(f, status[i], 1), VIRTIO_BLK_S_OK);
	}
	for (unsigned int i = 0; i < 16; i++)
		if (i & 1)
			assert_true(file_has(f, i * 4096, 4096, 4));
		else
			assert_true(mem_has(host(f, gpa[i], 4096), i * 4096, 4096, 3));
}

/* Framing is free: split headers, several data buffers, status sharing a buffer. */
static void multi_buffer(void **state)
{
	struct fixture *f = *state;
	uint64_t hdr, a, b, c, st;
	uint8_t *cp;
	uint16_t head;

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 5);

	/* Read: header in two halves, data in 512 + 1024 + (2560 + status). */
	hdr = header(f, VIRTIO_BLK_T_IN, 7);
	a = vdriver_alloc(&f->d, 512);
	b = vdriver_alloc(&f->d, 1024);
	c = vdriver_alloc(&f->d, 2561);
	cp = host(f, c, 2561);
	cp[2560] = NO_STATUS;
	head = vdriver_add(&f->d, 0,
			   (struct vdriver_buf[]){ { hdr, 8, false },
						   { hdr + 8, 8, false },
						   { a, 512, true },
						   { b, 1024, true },
						   { c, 2561, true } },
			   5);
	assert_int_equal(complete(f, 0, head), 4097);
	assert_int_equal(cp[2560], VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, a, 512), 7 * 512, 512, 5));
	assert_true(mem_has(host(f, b, 1024), 8 * 512, 1024, 5));
	assert_true(mem_has(cp, 10 * 512, 2560, 5));

	/* Write: header and data in one buffer, so the data is misaligned (bounced on O_DIRECT). */
	hdr = vdriver_alloc(&f->d, 16 + 4096);
	*(struct virtio_blk_outhdr *)host(f, hdr, 16) =
		(struct virtio_blk_outhdr){ VIRTIO_BLK_T_OUT, 0, 64 };
	fill(host(f, hdr + 16, 4096), 64 * 512, 4096, 6);
	st = status_buf(f);
	head = vdriver_add(&f->d, 0,
			   (struct vdriver_buf[]){ { hdr, 16 + 4096, false }, { st, 1, true } }, 2);
	assert_int_equal(complete(f, 0, head), 1);
	assert_int_equal(*(uint8_t *)host(f, st, 1), VIRTIO_BLK_S_OK);
	assert_true(file_has(f, 64 * 512, 4096, 6));

	/* Read into a buffer at an odd address, and odd-sized pieces summing to sectors. */
	a = vdriver_alloc(&f->d, 8192) + 3;
	head = add_req(f, 0, VIRTIO_BLK_T_IN, 64,
		       (struct vdriver_buf[]){ { a, 100, true }, { a + 100, 3996, true } }, 2, &st);
	assert_int_equal(complete(f, 0, head), 4097);
	assert_int_equal(*(uint8_t *)host(f, st, 1), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, a, 4096), 64 * 512, 4096, 6));

	/* Write from odd-sized pieces. */
	a = vdriver_alloc(&f->d, 4096);
	fill(host(f, a, 4096), 200 * 512, 4096, 7);
	head = add_req(f, 0, VIRTIO_BLK_T_OUT, 200,
		       (struct vdriver_buf[]){
			       { a, 1, false }, { a + 1, 4000, false }, { a + 4001, 95, false } },
		       3, &st);
	assert_int_equal(complete(f, 0, head), 1);
	assert_int_equal(*(uint8_t *)host(f, st, 1), VIRTIO_BLK_S_OK);
	assert_true(file_has(f, 200 * 512, 4096, 7));
	expect_live(f);
}

/* A misaligned request larger than the bounce budget fails; an aligned one of that size works. */
static void bounce_limit(void **state)
{
	struct fixture *f = *state;
	uint32_t len = 9U << 20;
	uint64_t gpa;

	start(f, 16ULL << 20);
	gpa = vdriver_alloc(&f->d, len + 4096);
	fill(host(f, gpa, len), 0, len, 8);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, gpa, len, 1), VIRTIO_BLK_S_OK);
	assert_true(file_has(f, 0, len, 8));
	if (!on_tmpfs(f->path))
		assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa + 8, len, 1), VIRTIO_BLK_S_IOERR);
	/* Just under the budget still bounces. */
	memset(host(f, gpa, len), 0, len);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa + 8, 8U << 20, (8U << 20) + 1),
			 VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa + 8, 8U << 20), 0, 8U << 20, 8));
	expect_live(f);
}

static void flush(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa;

	start(f, DISK_SIZE);
	gpa = vdriver_alloc(&f->d, 4096);
	fill(host(f, gpa, 4096), 0, 4096, 9);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, gpa, 4096, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	/* A flush behind writes in the same batch waits for them. */
	{
		uint64_t st[3];
		uint16_t h[3];
		uint32_t id, len;
		struct vdriver_buf b = { gpa, 4096, false };

		h[0] = add_req(f, 0, VIRTIO_BLK_T_OUT, 8, &b, 1, &st[0]);
		h[1] = add_req(f, 0, VIRTIO_BLK_T_OUT, 16, &b, 1, &st[1]);
		h[2] = add_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &st[2]);
		vdriver_kick(&f->d, 0);
		for (int i = 0; i < 3; i++)
			assert_true(wait_used(f, 0, &id, &len));
		/* Drained: the flush is the last to complete. */
		assert_int_equal(id, h[2]);
		for (int i = 0; i < 3; i++)
			assert_int_equal(*(uint8_t *)host(f, st[i], 1), VIRTIO_BLK_S_OK);
	}
	/* A flush carrying data in either direction is malformed. */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_FLUSH, 0, gpa, 512, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(
		do_req(f, VIRTIO_BLK_T_FLUSH, 0, &(struct vdriver_buf){ gpa, 512, true }, 1, 1),
		VIRTIO_BLK_S_IOERR);
	expect_live(f);
}

/* Without VIRTIO_BLK_F_FLUSH, writes are made durable as they complete. */
static void write_through(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa;

	image_create(f, image_dir(), DISK_SIZE);
	start_with(f, params("d0", f->path), FEATURES & ~F(VIRTIO_BLK_F_FLUSH), 1);
	gpa = vdriver_alloc(&f->d, 4096);
	fill(host(f, gpa, 4096), 4096, 4096, 10);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 8, gpa, 4096, 1), VIRTIO_BLK_S_OK);
	assert_true(file_has(f, 4096, 4096, 10));
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 9, gpa + 1, 2048, 1), VIRTIO_BLK_S_OK);
	file_fill(f, 0, 65536, 11);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, 0), VIRTIO_BLK_S_OK);
	assert_true(file_zero(f, 0, 8192));
	assert_true(file_has(f, 8192, 65536 - 8192, 11));
}

static void discard(void **state)
{
	struct fixture *f = *state;
	uint64_t sectors[3] = { 32, 128, 300 };
	uint32_t num[3] = { 64, 0, 8 }, flags[3] = { 0 };
	struct stat st;

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 12);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_OK);
	/* Several ranges, one of them empty. */
	assert_int_equal(
		do_req(f, VIRTIO_BLK_T_DISCARD, 0,
		       &(struct vdriver_buf){ seg_buf(f, 3, sectors, num, flags), 48, false }, 1,
		       1),
		VIRTIO_BLK_S_OK);
	/* Punched holes read back as zeroes on every file system that has them. */
	assert_true(file_zero(f, 0, 4096));
	assert_true(file_has(f, 4096, 32 * 512 - 4096, 12));
	assert_true(file_zero(f, 32 * 512, 64 * 512));
	assert_true(file_has(f, 96 * 512, 300 * 512 - 96 * 512, 12));
	assert_true(file_zero(f, 300 * 512, 8 * 512));
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, DISK_SIZE);
	expect_live(f);
}

static void write_zeroes(void **state)
{
	struct fixture *f = *state;
	uint64_t sectors[2] = { 100, 1000 };
	uint32_t num[2] = { 10, 24 }, flags[2] = { 0, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	struct stat st;

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 13);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 1, 3, 0), VIRTIO_BLK_S_OK);
	assert_true(file_has(f, 0, 512, 13));
	assert_true(file_zero(f, 512, 3 * 512));
	assert_true(file_has(f, 4 * 512, 512, 13));
	assert_int_equal(
		do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 16, 32, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		VIRTIO_BLK_S_OK);
	assert_true(file_zero(f, 16 * 512, 32 * 512));
	assert_true(file_has(f, 48 * 512, 512, 13));
	assert_int_equal(
		do_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0,
		       &(struct vdriver_buf){ seg_buf(f, 2, sectors, num, flags), 32, false }, 1,
		       1),
		VIRTIO_BLK_S_OK);
	assert_true(file_zero(f, 100 * 512, 10 * 512));
	assert_true(file_zero(f, 1000 * 512, 24 * 512));
	assert_true(file_has(f, 110 * 512, 1000 * 512 - 110 * 512, 13));
	/* To the very end of the disk. */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, SECTORS - 2, 2, 0), VIRTIO_BLK_S_OK);
	assert_true(file_zero(f, DISK_SIZE - 1024, 1024));
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, DISK_SIZE);
	expect_live(f);
}

/* On tmpfs: no O_DIRECT alignment, no ZERO_RANGE; buffered I/O and punching holes instead. */
static void tmpfs_backend(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa;

	if (!on_tmpfs("/dev/shm")) {
		skip();
		return;
	}
	image_create(f, "/dev/shm", DISK_SIZE);
	start_with(f, params("shm", f->path), FEATURES, 1);
	file_fill(f, 0, DISK_SIZE, 14);
	gpa = vdriver_alloc(&f->d, 8192) + 5;
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 3, gpa, 1024, 1025), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 1024), 3 * 512, 1024, 14));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 8 + 8 * i, 8, 0),
				 VIRTIO_BLK_S_OK);
		assert_true(file_zero(f, (8 + 8 * i) * 512, 4096));
	}
	assert_true(file_has(f, 24 * 512, 512, 14));
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
}

static void get_id(void **state)
{
	struct fixture *f = *state;
	struct blk_params p;
	uint64_t gpa;
	uint8_t *id;
	uint8_t want[20] = "d0";

	start(f, DISK_SIZE);
	gpa = vdriver_alloc(&f->d, 64);
	id = host(f, gpa, 64);
	memset(id, 0xcc, 64);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_GET_ID, 0, gpa, 20, 21), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, want, 20);
	assert_int_equal(id[20], 0xcc);
	/* A bigger buffer still gets 20 bytes; a smaller one is refused. */
	memset(id, 0xcc, 64);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_GET_ID, 0, gpa, 40, 21), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, want, 20);
	assert_int_equal(id[20], 0xcc);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_GET_ID, 0, gpa, 19, 1), VIRTIO_BLK_S_IOERR);
	virtio_blk_destroy(f->blk);

	/* A 20-byte serial fills the field with no terminator. */
	p = params("d0", f->path);
	p.serial = (char *)"ABCDEFGHIJKLMNOPQRST";
	start_with(f, p, FEATURES, 1);
	gpa = vdriver_alloc(&f->d, 64);
	id = host(f, gpa, 64);
	memset(id, 0xcc, 64);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_GET_ID, 0, gpa, 20, 21), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, "ABCDEFGHIJKLMNOPQRST", 20);
}

static void read_only(void **state)
{
	struct fixture *f = *state;
	struct blk_params p;
	uint64_t gpa;
	uint32_t feat;

	image_create(f, image_dir(), DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 15);
	/* A read-only drive only needs read permission. */
	assert_int_equal(chmod(f->path, 0444), 0);
	p = params("ro", f->path);
	p.readonly = true;
	start_with(f, p, FEATURES | F(VIRTIO_BLK_F_RO), 1);
	vdriver_reg_write(&f->d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	feat = vdriver_reg_read(&f->d, VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(feat & (1U << VIRTIO_BLK_F_RO));

	gpa = vdriver_alloc(&f->d, 4096);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 4096), 0, 4096, 15));
	memset(host(f, gpa, 4096), 0, 4096);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, gpa, 4096, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, gpa, 0, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, 1), VIRTIO_BLK_S_OK);
	assert_true(file_has(f, 0, DISK_SIZE, 15));
	expect_live(f);
}

/* Requests the device answers with IOERR or UNSUPP, and stays live. */
static void hostile_requests(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa, seg;
	uint64_t many_sec[MAX_SEG + 1] = { 0 };
	uint32_t many_num[MAX_SEG + 1] = { 0 }, many_flags[MAX_SEG + 1] = { 0 };

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 16);
	gpa = vdriver_alloc(&f->d, 8192);
	memset(host(f, gpa, 8192), 0x5a, 8192);

	/* Data the wrong way. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_IN, 0,
				(struct vdriver_buf[]){ { gpa, 512, false }, { gpa, 512, true } },
				2, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa, 0, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(
		do_req(f, VIRTIO_BLK_T_IN, 0, &(struct vdriver_buf){ gpa, 512, false }, 1, 1),
		VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_OUT, 0,
				(struct vdriver_buf[]){ { gpa, 512, false }, { gpa, 512, true } },
				2, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_GET_ID, 0,
				(struct vdriver_buf[]){ { gpa, 16, false }, { gpa, 20, true } }, 2,
				1),
			 VIRTIO_BLK_S_IOERR);
	/* Lengths that are not whole sectors. */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa, 513, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, gpa, 511, 1), VIRTIO_BLK_S_IOERR);
	/* Past the end, and sectors whose byte offset overflows. */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, SECTORS, gpa, 512, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, SECTORS - 1, gpa, 1024, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, SECTORS + 1, gpa, 0, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, UINT64_MAX, gpa, 512, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, (UINT64_MAX >> 9) + 1, gpa, 512, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, UINT64_MAX - 7, gpa, 4096, 1),
			 VIRTIO_BLK_S_IOERR);
	/* Unknown and legacy types. */
	assert_int_equal(do_rw(f, 99, 0, gpa, 0, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_rw(f, 2 /* SCSI_CMD */, 0, gpa, 0, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN | 0x80000000u, 0, gpa, 512, 1),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_rw(f, 14 /* SECURE_ERASE */, 0, gpa, 0, 1), VIRTIO_BLK_S_UNSUPP);

	/* Discard and write zeroes: segment counts, sizes, flags and ranges. */
	assert_int_equal(do_req(f, VIRTIO_BLK_T_DISCARD, 0, NULL, 0, 1), VIRTIO_BLK_S_IOERR);
	seg = seg_buf(f, MAX_SEG + 1, many_sec, many_num, many_flags);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_DISCARD, 0,
				&(struct vdriver_buf){ seg, 16 * (MAX_SEG + 1), false }, 1, 1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0,
				&(struct vdriver_buf){ seg, 16 * MAX_SEG, false }, 1, 1),
			 VIRTIO_BLK_S_OK); /* MAX_SEG empty ranges: nothing to do */
	assert_int_equal(
		do_req(f, VIRTIO_BLK_T_DISCARD, 0, &(struct vdriver_buf){ seg, 20, false }, 1, 1),
		VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, VIRTIO_BLK_T_DISCARD, 0,
				(struct vdriver_buf[]){ { seg, 16, false }, { gpa, 1, true } }, 2,
				1),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, SECTORS - 4, 8, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX - 1, 8, 0),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, MAX_DWZ + 1, 0),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 0, UINT32_MAX, 0), VIRTIO_BLK_S_IOERR);
	/* The second range is bad: nothing at all is done. */
	{
		uint64_t s[2] = { 0, SECTORS };
		uint32_t n[2] = { 8, 8 }, fl[2] = { 0, 0 };

		seg = seg_buf(f, 2, s, n, fl);
		assert_int_equal(do_req(f, VIRTIO_BLK_T_WRITE_ZEROES, 0,
					&(struct vdriver_buf){ seg, 32, false }, 1, 1),
				 VIRTIO_BLK_S_IOERR);
	}
	assert_true(file_has(f, 0, DISK_SIZE, 16));
	expect_live(f);
}

/* Features the driver did not accept are unsupported. */
static void unnegotiated(void **state)
{
	struct fixture *f = *state;

	image_create(f, image_dir(), DISK_SIZE);
	start_with(f, params("d0", f->path), F(VIRTIO_BLK_F_FLUSH), 1);
	file_fill(f, 0, DISK_SIZE, 17);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), VIRTIO_BLK_S_UNSUPP);
	assert_true(file_has(f, 0, DISK_SIZE, 17));
}

/* Chains the device cannot answer: it stops and asks for a reset, then works again. */
static void hostile_chains(void **state)
{
	struct fixture *f = *state;
	uint64_t hdr, st, gpa;

	start(f, DISK_SIZE);
	gpa = vdriver_alloc(&f->d, 4096);

	/* A 15-byte header. */
	hdr = header(f, VIRTIO_BLK_T_IN, 0);
	st = status_buf(f);
	vdriver_add(&f->d, 0, (struct vdriver_buf[]){ { hdr, 15, false }, { st, 1, true } }, 2);
	vdriver_kick(&f->d, 0);
	expect_needs_reset(f);
	assert_int_equal(*(uint8_t *)host(f, st, 1), NO_STATUS);

	/* No writable byte at all. */
	reinit(f);
	gpa = vdriver_alloc(&f->d, 4096);
	hdr = header(f, VIRTIO_BLK_T_OUT, 0);
	vdriver_add(&f->d, 0, (struct vdriver_buf[]){ { hdr, 16, false }, { gpa, 512, false } }, 2);
	vdriver_kick(&f->d, 0);
	expect_needs_reset(f);

	/* Only empty writable buffers. */
	reinit(f);
	gpa = vdriver_alloc(&f->d, 4096);
	hdr = header(f, VIRTIO_BLK_T_IN, 0);
	vdriver_add(&f->d, 0, (struct vdriver_buf[]){ { hdr, 16, false }, { gpa, 0, true } }, 2);
	vdriver_kick(&f->d, 0);
	expect_needs_reset(f);

	/* A malformed ring: a head index out of range, and a buffer outside RAM. */
	reinit(f);
	vdriver_publish(&f->d, 0, QSIZE + 3);
	vdriver_kick(&f->d, 0);
	expect_needs_reset(f);
	reinit(f);
	hdr = header(f, VIRTIO_BLK_T_IN, 0);
	st = status_buf(f);
	vdriver_add(&f->d, 0,
		    (struct vdriver_buf[]){
			    { hdr, 16, false }, { RAM_SIZE - 256, 512, true }, { st, 1, true } },
		    3);
	vdriver_kick(&f->d, 0);
	expect_needs_reset(f);

	/* Requests already started when the device gives up still complete. */
	reinit(f);
	gpa = vdriver_alloc(&f->d, 4096);
	{
		uint64_t good_st;
		uint16_t good = add_req(f, 0, VIRTIO_BLK_T_IN, 0,
					&(struct vdriver_buf){ gpa, 4096, true }, 1, &good_st);
		uint32_t id, len;

		hdr = header(f, VIRTIO_BLK_T_IN, 0);
		vdriver_add(&f->d, 0, (struct vdriver_buf[]){ { hdr, 8, false } }, 1);
		vdriver_kick(&f->d, 0);
		assert_true(vdriver_reg_read(&f->d, VIRTIO_MMIO_STATUS) &
			    VIRTIO_CONFIG_S_NEEDS_RESET);
		assert_true(wait_used(f, 0, &id, &len));
		assert_int_equal(id, good);
		assert_int_equal(*(uint8_t *)host(f, good_st, 1), VIRTIO_BLK_S_OK);
	}

	/* And after a reset the device serves again. */
	reinit(f);
	gpa = vdriver_alloc(&f->d, 4096);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
}

static void multi_queue(void **state)
{
	struct fixture *f = *state;
	struct blk_params p;
	uint64_t gpa[4], st[4];
	uint16_t head[4];

	image_create(f, image_dir(), DISK_SIZE);
	p = params("mq", f->path);
	p.queues = 4;
	start_with(f, p, FEATURES | F(VIRTIO_BLK_F_MQ), 4);
	for (unsigned int q = 0; q < 4; q++) {
		gpa[q] = vdriver_alloc(&f->d, 8192);
		fill(host(f, gpa[q], 8192), q * 8192, 8192, 18 + q);
		head[q] = add_req(f, q, VIRTIO_BLK_T_OUT, q * 16,
				  &(struct vdriver_buf){ gpa[q], 8192, false }, 1, &st[q]);
	}
	for (unsigned int q = 0; q < 4; q++)
		vdriver_kick(&f->d, q);
	for (unsigned int q = 0; q < 4; q++) {
		uint32_t id, len;

		assert_true(wait_used(f, q, &id, &len));
		assert_int_equal(id, head[q]);
		assert_int_equal(*(uint8_t *)host(f, st[q], 1), VIRTIO_BLK_S_OK);
		assert_true(file_has(f, q * 8192, 8192, 18 + q));
	}
	/* Each queue reads back another queue's data. */
	for (unsigned int q = 0; q < 4; q++) {
		memset(host(f, gpa[q], 8192), 0, 8192);
		head[q] = add_req(f, q, VIRTIO_BLK_T_IN, ((q + 1) % 4) * 16,
				  &(struct vdriver_buf){ gpa[q], 8192, true }, 1, &st[q]);
		assert_int_equal(complete(f, q, head[q]), 8193);
		assert_true(mem_has(host(f, gpa[q], 8192), ((q + 1) % 4) * 8192, 8192,
				    18 + (q + 1) % 4));
	}
	expect_live(f);
}

/* A 6 GiB sparse image: offsets above 4 GiB must not be truncated. */
static void large_disk(void **state)
{
	struct fixture *f = *state;
	uint64_t sectors = (6ULL << 30) / 512, five = (5ULL << 30) + 4096;
	uint64_t cross = (4ULL << 30) - 2048; /* straddles 4 GiB */
	uint64_t gpa;

	start(f, 6ULL << 30);
	gpa = vdriver_alloc(&f->d, 8192);
	fill(host(f, gpa, 8192), five, 8192, 22);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, five / 512, gpa, 8192, 1), VIRTIO_BLK_S_OK);
	assert_true(file_has(f, five, 8192, 22));
	assert_true(file_zero(f, five - 4096, 4096));
	assert_true(file_zero(f, (1ULL << 30) + 4096, 8192)); /* not wrapped to 1 GiB */

	file_fill(f, cross, 4096, 23);
	memset(host(f, gpa, 8192), 0, 8192);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, cross / 512, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 4096), cross, 4096, 23));

	file_fill(f, (6ULL << 30) - 4096, 4096, 24);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, sectors - 8, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 4096), (6ULL << 30) - 4096, 4096, 24));
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, sectors - 7, gpa, 4096, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, five / 512, 16, 0), VIRTIO_BLK_S_OK);
	assert_true(file_zero(f, five, 8192));
	expect_live(f);
}

/*
 * More requests than the queue has entries (a hostile driver publishing heads
 * again): the device holds at most the queue size in flight, leaves the rest
 * in the ring and picks them up as requests complete, without losing any.
 */
static void backpressure(void **state)
{
	struct fixture *f = *state;
	enum { SMALL = 8, CHAINS = SMALL / 2, TOTAL = 2 * SMALL };
	struct virtqueue *vq;
	uint16_t heads[CHAINS];
	uint64_t gpa[CHAINS];
	uint32_t id, len;

	image_create(f, image_dir(), DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 25);
	f->blk = virtio_blk_create(&(struct blk_params){ .id = (char *)"bp", .path = f->path, .queues = 1 },
				   &f->gm, &(struct err){ 0 });
	assert_non_null(f->blk);
	f->vdev = virtio_blk_dev(f->blk);
	f->vdev->loop = &f->loop;
	assert_int_equal(vdriver_init(&f->d, &f->gm, f->vdev, FEATURES, 1, SMALL), LIVE);
	vq = &f->vdev->vqs[0];

	/* Two-descriptor reads: the header, then data and status in one buffer. */
	for (unsigned int i = 0; i < CHAINS; i++) {
		uint64_t hdr = header(f, VIRTIO_BLK_T_IN, i * 8);

		gpa[i] = vdriver_alloc(&f->d, 4097);
		heads[i] = vdriver_add(
			&f->d, 0,
			(struct vdriver_buf[]){ { hdr, 16, false }, { gpa[i], 4097, true } }, 2);
	}
	for (unsigned int i = CHAINS; i < SMALL; i++)
		vdriver_publish(&f->d, 0, heads[i % CHAINS]);
	vdriver_kick(&f->d, 0);
	assert_int_equal(vq->last_avail, SMALL);

	/* SMALL in flight: the next SMALL wait in the ring. */
	for (unsigned int i = 0; i < SMALL; i++)
		vdriver_publish(&f->d, 0, heads[i % CHAINS]);
	vdriver_kick(&f->d, 0);
	assert_int_equal(vq->last_avail, SMALL);

	for (unsigned int done = 0; done < TOTAL; done++) {
		if (!wait_used(f, 0, &id, &len))
			fail_msg("stuck after %u of %u", done, TOTAL);
		assert_int_equal(len, 4097);
		assert_true((uint16_t)(vq->last_avail - vq->used_idx) <= SMALL);
	}
	assert_int_equal(vq->last_avail, TOTAL);
	assert_int_equal(vq->used_idx, TOTAL);
	for (unsigned int i = 0; i < CHAINS; i++) {
		assert_true(mem_has(host(f, gpa[i], 4096), i * 4096, 4096, 25));
		assert_int_equal(*(uint8_t *)host(f, gpa[i] + 4096, 1), VIRTIO_BLK_S_OK);
	}
	expect_live(f);
}

/*
 * Requests of many SQEs each (16-range discards): one kick overfills the
 * submission ring (submitted mid-batch) and the completion budget (the rest
 * wait in the virtqueue until completions make room).
 */
static void many_segments(void **state)
{
	struct fixture *f = *state;
	enum { N = 40 };
	uint64_t st[N];
	uint32_t id, len;

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 27);
	for (unsigned int i = 0; i < N; i++) {
		uint64_t sec[MAX_SEG];
		uint32_t num[MAX_SEG], flags[MAX_SEG] = { 0 };

		for (unsigned int k = 0; k < MAX_SEG; k++) {
			sec[k] = i * MAX_SEG + k;
			num[k] = 1;
		}
		add_req(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0,
			&(struct vdriver_buf){ seg_buf(f, MAX_SEG, sec, num, flags), 16 * MAX_SEG,
					       false },
			1, &st[i]);
	}
	vdriver_kick(&f->d, 0);
	assert_true(f->vdev->vqs[0].last_avail < N);
	for (unsigned int n = 0; n < N; n++) {
		if (!wait_used(f, 0, &id, &len))
			fail_msg("stuck after %u of %u", n, N);
		assert_int_equal(len, 1);
	}
	assert_int_equal(f->vdev->vqs[0].last_avail, N);
	for (unsigned int i = 0; i < N; i++)
		assert_int_equal(*(uint8_t *)host(f, st[i], 1), VIRTIO_BLK_S_OK);
	assert_true(file_zero(f, 0, N * MAX_SEG * 512));
	assert_true(file_has(f, N * MAX_SEG * 512, DISK_SIZE - N * MAX_SEG * 512, 27));
}

/* A reset with I/O in flight: nothing completes into the old rings, and the device works after. */
static void reset_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { N = 48 };
	uint64_t gpa, st[N];
	struct vring_used *used;
	uint32_t id, len;

	start(f, 16ULL << 20);
	file_fill(f, 0, 16ULL << 20, 26);
	gpa = vdriver_alloc(&f->d, N * 65536ULL + 4096);
	memset(host(f, gpa, N * 65536ULL), 0x77, N * 65536ULL);
	for (unsigned int i = 0; i < N; i++) {
		bool write = i % 3 == 2;
		/* Some misaligned, so that bounce buffers are in flight too. */
		uint64_t buf = gpa + i * 65536ULL + (i % 4 == 1);

		if (i == N / 2)
			add_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &st[i]);
		else
			add_req(f, 0, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, i * 128,
				&(struct vdriver_buf){ buf, 65536, !write }, 1, &st[i]);
	}
	vdriver_kick(&f->d, 0);
	used = f->d.q[0].used;
	assert_int_equal(used->idx, 0);

	vdriver_reg_write(&f->d, VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_STATUS), 0);
	for (int i = 0; i < 20; i++)
		event_loop_run_once(&f->loop, 2);
	assert_int_equal(used->idx, 0);
	for (unsigned int i = 0; i < N; i++)
		assert_int_equal(*(uint8_t *)host(f, st[i], 1), NO_STATUS);

	/* Up again, on fresh rings (the driver lays them out from scratch). */
	reinit(f);
	gpa = vdriver_alloc(&f->d, 16 * 8192);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 8, gpa + 1, 4096, 4097), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa + 1, 4096), 4096, 4096, 26));
	assert_false(vdriver_used(&f->d, 0, &id, &len));

	/* And once more, with a reset while only kicked, never run. */
	for (unsigned int i = 0; i < 8; i++)
		add_req(f, 0, VIRTIO_BLK_T_IN, i * 8,
			&(struct vdriver_buf){ gpa + 3 + i * 8192ULL, 4096, true }, 1, &st[i]);
	vdriver_kick(&f->d, 0);
	vdriver_reg_write(&f->d, VIRTIO_MMIO_STATUS, 0);
	reinit(f);
	gpa = vdriver_alloc(&f->d, 4096);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
}

struct vcpu_reset {
	struct vdriver *d;
	int done;
};

static void *vcpu_reset_thread(void *arg)
{
	struct vcpu_reset *v = arg;

	vdriver_reg_write(v->d, VIRTIO_MMIO_STATUS, 0);
	__atomic_store_n(&v->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * As in the VMM: requests submitted on the loop thread, the reset written
 * by a vCPU thread while the loop keeps running (and contends for the lock).
 */
static void reset_from_vcpu_thread(void **state)
{
	struct fixture *f = *state;
	struct vcpu_reset v = { &f->d, 0 };
	uint64_t gpa, st[32];
	pthread_t t;
	int spins = 0;

	start(f, 16ULL << 20);
	gpa = vdriver_alloc(&f->d, 32 * 65536ULL + 4096);
	for (unsigned int i = 0; i < 32; i++)
		add_req(f, 0, i & 1 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, i * 128,
			&(struct vdriver_buf){ gpa + i * 65536ULL + (i % 3 == 0), 65536, !(i & 1) },
			1, &st[i]);
	vdriver_kick(&f->d, 0);
	assert_int_equal(pthread_create(&t, NULL, vcpu_reset_thread, &v), 0);
	while (!__atomic_load_n(&v.done, __ATOMIC_ACQUIRE) && spins++ < 5000)
		event_loop_run_once(&f->loop, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(v.done);
	/* Whatever completed before the reset was pushed; nothing after. */
	{
		uint16_t idx = f->d.q[0].used->idx;

		for (int i = 0; i < 20; i++)
			event_loop_run_once(&f->loop, 1);
		assert_int_equal(f->d.q[0].used->idx, idx);
	}
	reinit(f);
	gpa = vdriver_alloc(&f->d, 4096);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
}

/* Destroying a device with I/O in flight waits for it. */
static void destroy_in_flight(void **state)
{
	struct fixture *f = *state;
	uint64_t gpa, st;

	start(f, 16ULL << 20);
	gpa = vdriver_alloc(&f->d, 32 * 65536ULL);
	for (unsigned int i = 0; i < 32; i++)
		add_req(f, 0, VIRTIO_BLK_T_IN, i * 128,
			&(struct vdriver_buf){ gpa + i * 65536ULL + (i & 1), 65536, true }, 1, &st);
	vdriver_kick(&f->d, 0);
	virtio_blk_destroy(f->blk);
	f->blk = NULL;
}

#define assert_create_fails(f, p, code, what)                                    \
	do {                                                                     \
		struct err err_ = { 0 };                                         \
		struct virtio_blk *b_ = virtio_blk_create((p), &(f)->gm, &err_); \
		if (b_)                                                          \
			fail_msg("created a drive on %s", (p)->path);            \
		assert_err(&err_, (code), (p)->id);                              \
		assert_err(&err_, (code), (p)->path);                            \
		assert_err(&err_, (code), (what));                               \
	} while (0)

static void create_errors(void **state)
{
	struct fixture *f = *state;
	struct blk_params p;
	char odd[64];
	int fd;
	pid_t pid;
	int wstatus;

	p = params("missing", "/nonexistent/kvmlet.img");
	assert_create_fails(f, &p, -ENOENT, "No such file");
	p = params("dir", image_dir());
	assert_create_fails(f, &p, -EISDIR, "directory");
	p = params("null", "/dev/null");
	assert_create_fails(f, &p, -EINVAL, "not a regular file or block device");

	snprintf(odd, sizeof(odd), "%s/kvmlet-odd-XXXXXX", image_dir());
	fd = mkstemp(odd);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1000), 0);
	p = params("odd", odd);
	assert_create_fails(f, &p, -EINVAL, "1000 bytes, not a multiple of 512");
	close(fd);
	unlink(odd);

	/* Not writable: checked as an unprivileged user (root may write anything). */
	image_create(f, image_dir(), DISK_SIZE);
	assert_int_equal(chmod(f->path, 0444), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct err err = { 0 };
		struct blk_params c = params("rw", f->path);
		struct virtio_blk *b;
		int bad = 0;

		if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(10);
		b = virtio_blk_create(&c, &f->gm, &err);
		bad |= b != NULL;
		bad |= err.code != -EACCES;
		bad |= !strstr(err.msg, "'rw'") || !strstr(err.msg, f->path) ||
		       !strstr(err.msg, "not writable");
		if (bad)
			fprintf(stderr, "unexpected: %d %s\n", err.code, err.msg);
		/* Read-only is fine. */
		c.readonly = true;
		memset(&err, 0, sizeof(err));
		b = virtio_blk_create(&c, &f->gm, &err);
		bad |= (b == NULL) << 1;
		virtio_blk_destroy(b);
		_exit(bad);
	}
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
}

/* ---- snapshots, counters, backend swap ---- */

/* The driver takes what the device returned. */
static void drain_used(struct fixture *f)
{
	uint32_t id, len;

	while (vdriver_used(&f->d, 0, &id, &len))
		;
}

/* Buffers apart by more than their 64 KiB, so that misaligned ones do not overlap. */
#define STRIDE (65536ULL + 4096)

/* Publishes n 64 KiB requests (reads, writes, a flush) and kicks; returns their status gpas. */
static void submit_many(struct fixture *f, unsigned int n, uint64_t *st, uint64_t *gpa)
{
	*gpa = vdriver_alloc(&f->d, n * STRIDE);
	memset(host(f, *gpa, n * STRIDE), 0x77, n * STRIDE);
	for (unsigned int i = 0; i < n; i++) {
		bool write = i % 3 == 2;
		uint64_t buf = *gpa + i * STRIDE + (i % 4 == 1); /* some bounce */

		if (i == n / 2)
			add_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &st[i]);
		else
			add_req(f, 0, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, i * 128,
				&(struct vdriver_buf){ buf, 65536, !write }, 1, &st[i]);
	}
	vdriver_kick(&f->d, 0);
}

/* Quiesce completes everything in flight without the event loop's help. */
static void quiesce_in_flight(void **state)
{
	struct fixture *f = *state;
	enum { N = 48 };
	uint64_t gpa, st[N];

	start(f, 16ULL << 20);
	file_fill(f, 0, 16ULL << 20, 27);
	submit_many(f, N, st, &gpa);
	assert_int_equal(virtio_dev_quiesce(f->vdev), 0);
	assert_int_equal(f->d.q[0].used->idx, N);
	for (unsigned int i = 0; i < N; i++) {
		assert_int_equal(*(uint8_t *)host(f, st[i], 1), VIRTIO_BLK_S_OK);
		if (i != N / 2 && i % 3 != 2)
			assert_true(mem_has(host(f, gpa + i * STRIDE + (i % 4 == 1), 65536),
					    i * 65536ULL, 65536, 27));
	}
	assert_false(file_has(f, 2 * 65536ULL, 4096, 27)); /* written over with 0x77 */
	drain_used(f);
	/* Nothing left: a second quiesce has nothing to do, and the device goes on. */
	assert_int_equal(virtio_dev_quiesce(f->vdev), 0);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
}

static void snapshot_restore(void **state)
{
	struct fixture *f = *state;
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };
	struct virtio_blk *b;
	struct blk_params p;
	char other[64];
	uint64_t gpa, st[8];
	int fd;

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 28);
	submit_many(f, 8, st, &gpa);
	state_writer_init(&w);
	/* Saving quiesces: all 8 are in the used ring that the snapshot holds. */
	virtio_dev_save(f->vdev, &w);
	assert_int_equal(f->d.q[0].used->idx, 8);
	drain_used(f);

	/* A backing file of another size is refused, naming the drive. */
	snprintf(other, sizeof(other), "%s/kvmlet-blk2-XXXXXX", image_dir());
	fd = mkstemp(other);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * DISK_SIZE), 0);
	p = params("d0", other);
	b = virtio_blk_create(&p, &f->gm, &err);
	assert_non_null(b);
	virtio_blk_dev(b)->loop = &f->loop;
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(virtio_dev_restore(virtio_blk_dev(b), &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'d0'"));
	assert_non_null(strstr(err.msg, "sectors"));
	virtio_blk_destroy(b);
	close(fd);
	unlink(other);

	/* The same image: the restored device serves the driver where it left off. */
	p = params("d0", f->path);
	memset(&err, 0, sizeof(err));
	b = virtio_blk_create(&p, &f->gm, &err);
	assert_non_null(b);
	virtio_blk_dev(b)->loop = &f->loop;
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(virtio_dev_restore(virtio_blk_dev(b), &r, &err), 0);
	virtio_blk_destroy(f->blk);
	f->blk = b;
	f->vdev = f->d.vdev = virtio_blk_dev(b);
	expect_live(f);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 8, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 4096), 4096, 4096, 28));
	state_writer_fini(&w);
}

static void stats_count_requests(void **state)
{
	struct fixture *f = *state;
	const struct blk_stats *s;
	uint64_t gpa;

	start(f, DISK_SIZE);
	s = virtio_blk_stats(f->blk);
	assert_string_equal(virtio_blk_id(f->blk), "d0");
	gpa = vdriver_alloc(&f->d, 8192);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 0, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 8, gpa, 1024, 1025), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_OUT, 0, gpa, 512, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 1), VIRTIO_BLK_S_OK);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_GET_ID, 0, gpa, 20, 21), VIRTIO_BLK_S_OK);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_OK);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 0), VIRTIO_BLK_S_OK);
	/* Past the end, and an unknown type. */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, SECTORS, gpa, 512, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_rw(f, 0x55, 0, 0, 0, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(stats_get(s->read_ops), 2);
	assert_int_equal(stats_get(s->read_bytes), 5120);
	assert_int_equal(stats_get(s->write_ops), 1);
	assert_int_equal(stats_get(s->write_bytes), 512);
	assert_int_equal(stats_get(s->flush_ops), 1);
	assert_int_equal(stats_get(s->get_id_ops), 1);
	assert_int_equal(stats_get(s->discard_ops), 1);
	assert_int_equal(stats_get(s->write_zeroes_ops), 1);
	assert_int_equal(stats_get(s->invalid_requests), 2);
	assert_int_equal(stats_get(s->io_errors), 0);
}

static void update_backend(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };
	char other[64];
	uint64_t gpa, st[8];
	uint32_t gen;
	int fd;

	start(f, DISK_SIZE);
	file_fill(f, 0, DISK_SIZE, 29);
	gen = vdriver_reg_read(&f->d, VIRTIO_MMIO_CONFIG_GENERATION);

	/* A bad path leaves the old image in place, and the driver hears nothing. */
	assert_int_equal(virtio_blk_update_backend(f->blk, "/nonexistent/kvmlet.img", &err),
			 -ENOENT);
	assert_non_null(strstr(err.msg, "'d0'"));
	assert_int_equal(vdriver_reg_read(&f->d, 0x100), SECTORS);
	assert_int_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	gpa = vdriver_alloc(&f->d, 4096);
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 8, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 4096), 4096, 4096, 29));

	/* A larger image, swapped in with I/O in flight: that I/O finishes on the old one. */
	snprintf(other, sizeof(other), "%s/kvmlet-blk2-XXXXXX", image_dir());
	fd = mkstemp(other);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 * DISK_SIZE), 0);
	{
		uint8_t *p = malloc(4 * DISK_SIZE);

		fill(p, 0, 4 * DISK_SIZE, 30);
		assert_int_equal(pwrite(fd, p, 4 * DISK_SIZE, 0), (ssize_t)(4 * DISK_SIZE));
		free(p);
	}
	submit_many(f, 8, st, &gpa);
	memset(&err, 0, sizeof(err));
	assert_int_equal(virtio_blk_update_backend(f->blk, other, &err), 0);
	assert_int_equal(f->d.q[0].used->idx, 1 + 8);
	assert_true(mem_has(host(f, gpa, 65536), 0, 65536, 29));
	drain_used(f);
	/* New capacity, a configuration interrupt, a new generation. */
	assert_int_equal(vdriver_reg_read(&f->d, 0x100), 4 * SECTORS);
	assert_true(vdriver_reg_read(&f->d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	assert_int_not_equal(vdriver_reg_read(&f->d, VIRTIO_MMIO_CONFIG_GENERATION), gen);
	/* Reads come from the new image, past the old end too. */
	assert_int_equal(do_rw(f, VIRTIO_BLK_T_IN, 3 * SECTORS, gpa, 4096, 4097), VIRTIO_BLK_S_OK);
	assert_true(mem_has(host(f, gpa, 4096), 3 * DISK_SIZE, 4096, 30));
	close(fd);
	unlink(other);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(config_space),
		T(read_sectors),
		T(write_sectors),
		T(batch),
		T(multi_buffer),
		T(bounce_limit),
		T(flush),
		T(write_through),
		T(discard),
		T(write_zeroes),
		T(tmpfs_backend),
		T(get_id),
		T(read_only),
		T(hostile_requests),
		T(unnegotiated),
		T(hostile_chains),
		T(multi_queue),
		T(large_disk),
		T(backpressure),
		T(many_segments),
		T(reset_in_flight),
		T(reset_from_vcpu_thread),
		T(destroy_in_flight),
		T(create_errors),
		T(quiesce_in_flight),
		T(snapshot_restore),
		T(stats_count_requests),
		T(update_backend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
