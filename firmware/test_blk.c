// SPDX-License-Identifier: Apache-2.0
/*
 * The blk test, for each virtio-blk device:
 *   - GET_ID, and the line "blk<N>: capacity <sectors> sectors, serial <id>, <ro|rw>";
 *   - the host-written pattern (64 KiB at 1 MiB, byte i = i * 7 + 3), read
 *     with the completion signalled by an interrupt;
 *   - rw disks: the pattern i * 13 + 5 written at 2 MiB through a long
 *     direct chain and into the last 64 KiB (beyond 4 GiB on big disks)
 *     through an indirect table, FLUSH, then both read back the other way
 *     round; WRITE_ZEROES over [3 MiB, +64 KiB) read back as zeros, and a
 *     DISCARD after it, when offered;
 *   - ro disks: a write completes with IOERR and changes nothing, FLUSH
 *     and reads still work.
 */
#include <linux/virtio_ids.h>
#include "console.h"
#include "dma.h"
#include "fmt.h"
#include "libc.h"
#include "tests.h"
#include "virtio_blk.h"
#include "virtio_irq.h"

#define MAX_DISKS      8
#define CHUNK	       (64 * 1024)
#define CHUNK_SECTORS  (CHUNK / VBLK_SECTOR)
#define MIB_SECTORS    (1024 * 1024 / VBLK_SECTOR)
#define HOST_SECTOR    (1 * MIB_SECTORS) /* the host's pattern */
#define WRITE_SECTOR   (2 * MIB_SECTORS)
#define ZERO_SECTOR    (3 * MIB_SECTORS)
#define DISCARD_SECTOR (ZERO_SECTOR + CHUNK_SECTORS)
#define MIN_RW_SECTORS (4 * MIB_SECTORS)
#define MIN_RO_SECTORS (WRITE_SECTOR + CHUNK_SECTORS)

struct blk_ctx {
	struct vblk b;
	unsigned int idx;
	struct vblk_req *req;
	uint8_t *wbuf, *rbuf, *id;
	char *detail;
	size_t len;
	bool irq_read_ok;
};

struct blk_totals {
	unsigned int rw, ro, discard, write_zeroes;
};

static uint8_t host_pattern(size_t i)
{
	return (i * 7 + 3) & 0xff;
}

static uint8_t guest_pattern(size_t i)
{
	return (i * 13 + 5) & 0xff;
}

/* Index of the first byte that differs from @pat (or from 0 if !pat); -1 if none. */
static long check(const uint8_t *buf, size_t n, uint8_t (*pat)(size_t))
{
	for (size_t i = 0; i < n; i++)
		if (buf[i] != (pat ? pat(i) : 0))
			return (long)i;
	return -1;
}

static const char *status_name(int s)
{
	switch (s) {
	case VIRTIO_BLK_S_OK:
		return "OK";
	case VIRTIO_BLK_S_IOERR:
		return "IOERR";
	case VIRTIO_BLK_S_UNSUPP:
		return "UNSUPP";
	case VBLK_ERR_TIMEOUT:
		return "timeout";
	case VBLK_ERR_FULL:
		return "queue full";
	case VBLK_ERR_TOO_BIG:
		return "too many segments";
	}
	return "bad status";
}

/* One synchronous request that must end with @want; else the failure goes to detail. */
static bool expect(struct blk_ctx *c, const char *what, int want, uint32_t type, uint64_t sector,
		   void *data, uint32_t len, enum vblk_layout layout)
{
	int s = vblk_sync(&c->b, c->req, type, sector, data, len, layout);

	if (s == want)
		return true;
	fmt_snprintf(c->detail, c->len, "blk%u: %s: status %s (%d), expected %s", c->idx, what,
		     status_name(s), s, status_name(want));
	return false;
}

static bool expect_data(struct blk_ctx *c, const char *what, const uint8_t *buf,
			uint8_t (*pat)(size_t))
{
	long bad = check(buf, CHUNK, pat);

	if (bad < 0)
		return true;
	fmt_snprintf(c->detail, c->len, "blk%u: %s: byte %ld is 0x%02x, expected 0x%02x", c->idx,
		     what, bad, buf[bad], pat ? pat(bad) : 0);
	return false;
}

static void irq_submit(void *opaque)
{
	struct blk_ctx *c = opaque;

	vblk_add(&c->b, c->req, VIRTIO_BLK_T_IN, HOST_SECTOR, c->rbuf, CHUNK, VBLK_FLAT);
	virtq_kick(c->b.vq);
}

/* The host's pattern, read once with an interrupt for the completion. */
static bool check_host_pattern(struct blk_ctx *c)
{
	char why[120];

	memset(c->rbuf, 0, CHUNK);
	if (!virtio_irq_roundtrip(c->b.vq, irq_submit, c, why, sizeof(why))) {
		fmt_snprintf(c->detail, c->len, "blk%u: %s", c->idx, why);
		return false;
	}
	if (virtq_wait(c->b.vq, NULL, VBLK_TIMEOUT_US) != c->req) {
		fmt_snprintf(c->detail, c->len, "blk%u: read at 1 MiB lost", c->idx);
		return false;
	}
	if (c->req->status != VIRTIO_BLK_S_OK) {
		fmt_snprintf(c->detail, c->len, "blk%u: read at 1 MiB: status %s", c->idx,
			     status_name(c->req->status));
		return false;
	}
	return expect_data(c, "host pattern at 1 MiB", c->rbuf, host_pattern);
}

static bool discard_and_zeroes(struct blk_ctx *c, struct blk_totals *t)
{
	struct vblk *b = &c->b;
	int s;

	if (vblk_has(b, VIRTIO_BLK_F_WRITE_ZEROES)) {
		/* Something non-zero first, so that zeros prove the request did it. */
		if (!expect(c, "write at 3 MiB", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_OUT, ZERO_SECTOR,
			    c->wbuf, CHUNK, VBLK_FLAT))
			return false;
		for (uint32_t done = 0; done < CHUNK_SECTORS;) {
			uint32_t n = CHUNK_SECTORS - done;

			if (b->max_write_zeroes_sectors && n > b->max_write_zeroes_sectors)
				n = b->max_write_zeroes_sectors;
			s = vblk_dwz_sync(b, c->req, VIRTIO_BLK_T_WRITE_ZEROES, ZERO_SECTOR + done,
					  n, 0);
			if (s != VIRTIO_BLK_S_OK) {
				fmt_snprintf(c->detail, c->len, "blk%u: WRITE_ZEROES: status %s",
					     c->idx, status_name(s));
				return false;
			}
			done += n;
		}
		memset(c->rbuf, 0xaa, CHUNK);
		if (!expect(c, "read at 3 MiB", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, ZERO_SECTOR,
			    c->rbuf, CHUNK, VBLK_FLAT) ||
		    !expect_data(c, "after WRITE_ZEROES", c->rbuf, NULL))
			return false;
		t->write_zeroes++;
	}
	if (vblk_has(b, VIRTIO_BLK_F_DISCARD) && b->max_discard_sectors) {
		uint64_t align = b->discard_align ? b->discard_align : 1;
		uint64_t start = (DISCARD_SECTOR + align - 1) / align * align;
		uint32_t n = MIN(CHUNK_SECTORS, b->max_discard_sectors);

		/* The contents afterwards are unspecified; the request must just succeed. */
		if (start + n <= b->capacity) {
			s = vblk_dwz_sync(b, c->req, VIRTIO_BLK_T_DISCARD, start, n, 0);
			if (s != VIRTIO_BLK_S_OK) {
				fmt_snprintf(c->detail, c->len,
					     "blk%u: DISCARD of %u sectors at %lu: status %s",
					     c->idx, n, start, status_name(s));
				return false;
			}
			t->discard++;
		}
	}
	return true;
}

static bool flush(struct blk_ctx *c)
{
	if (!vblk_has(&c->b, VIRTIO_BLK_F_FLUSH))
		return true;
	return expect(c, "FLUSH", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, VBLK_FLAT);
}

static bool test_rw(struct blk_ctx *c, struct blk_totals *t)
{
	uint64_t last = c->b.capacity - CHUNK_SECTORS;

	if (c->b.capacity < MIN_RW_SECTORS) {
		fmt_snprintf(c->detail, c->len, "blk%u: %lu sectors, the test needs %u", c->idx,
			     c->b.capacity, MIN_RW_SECTORS);
		return false;
	}
	for (size_t i = 0; i < CHUNK; i++)
		c->wbuf[i] = guest_pattern(i);
	/* Written one way, read back the other: both layouts carry both directions. */
	if (!expect(c, "write at 2 MiB (direct chain)", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_OUT,
		    WRITE_SECTOR, c->wbuf, CHUNK, VBLK_SPLIT) ||
	    !expect(c, "write of the last 64 KiB (indirect)", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_OUT,
		    last, c->wbuf, CHUNK, VBLK_INDIRECT) ||
	    !flush(c))
		return false;
	memset(c->rbuf, 0, CHUNK);
	if (!expect(c, "read at 2 MiB (indirect)", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, WRITE_SECTOR,
		    c->rbuf, CHUNK, VBLK_INDIRECT) ||
	    !expect_data(c, "read back at 2 MiB", c->rbuf, guest_pattern))
		return false;
	memset(c->rbuf, 0, CHUNK);
	if (!expect(c, "read of the last 64 KiB (direct chain)", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN,
		    last, c->rbuf, CHUNK, VBLK_SPLIT) ||
	    !expect_data(c, "read back of the last 64 KiB", c->rbuf, guest_pattern))
		return false;
	if (!discard_and_zeroes(c, t) || !flush(c))
		return false;
	t->rw++;
	return true;
}

static bool test_ro(struct blk_ctx *c, struct blk_totals *t)
{
	uint8_t *before = c->wbuf + CHUNK; /* wbuf has room for two chunks */

	if (c->b.capacity < MIN_RO_SECTORS) {
		fmt_snprintf(c->detail, c->len, "blk%u: %lu sectors, the test needs %u", c->idx,
			     c->b.capacity, MIN_RO_SECTORS);
		return false;
	}
	for (size_t i = 0; i < CHUNK; i++)
		c->wbuf[i] = guest_pattern(i);
	if (!expect(c, "read at 2 MiB", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, WRITE_SECTOR, before,
		    CHUNK, VBLK_SPLIT) ||
	    !expect(c, "write to a read-only disk", VIRTIO_BLK_S_IOERR, VIRTIO_BLK_T_OUT,
		    WRITE_SECTOR, c->wbuf, CHUNK, VBLK_INDIRECT) ||
	    !flush(c) ||
	    !expect(c, "read at 2 MiB after the refused write", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN,
		    WRITE_SECTOR, c->rbuf, CHUNK, VBLK_INDIRECT))
		return false;
	if (memcmp(before, c->rbuf, CHUNK)) {
		fmt_snprintf(c->detail, c->len, "blk%u: a refused write changed the disk", c->idx);
		return false;
	}
	memset(c->rbuf, 0, CHUNK);
	if (!expect(c, "read at 1 MiB", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN, HOST_SECTOR, c->rbuf,
		    CHUNK, VBLK_SPLIT) ||
	    !expect_data(c, "host pattern at 1 MiB, again", c->rbuf, host_pattern))
		return false;
	t->ro++;
	return true;
}

/* GET_ID's 20 bytes as a printable string. */
static void serial_string(const uint8_t *id, char *out)
{
	size_t n = 0;

	while (n < VIRTIO_BLK_ID_BYTES && id[n]) {
		out[n] = id[n] >= 0x20 && id[n] < 0x7f && id[n] != ' ' ? (char)id[n] : '?';
		n++;
	}
	out[n] = '\0';
	if (!n)
		memcpy(out, "(none)", 7);
}

static bool test_disk(struct blk_ctx *c, struct virtio_dev *d, struct blk_totals *t)
{
	char why[120], serial[VIRTIO_BLK_ID_BYTES + 8];

	if (!vblk_open(&c->b, d, VBLK_FEATURES, VIRTQ_MAX_SIZE, why, sizeof(why))) {
		fmt_snprintf(c->detail, c->len, "blk%u: %s", c->idx, why);
		return false;
	}
	c->req = vblk_reqs(1);
	c->wbuf = dma_alloc(2 * CHUNK, 4096);
	c->rbuf = dma_alloc(CHUNK, 4096);
	c->id = dma_alloc(VIRTIO_BLK_ID_BYTES, 64);
	if (!c->req || !c->wbuf || !c->rbuf || !c->id) {
		fmt_snprintf(c->detail, c->len, "out of DMA memory");
		return false;
	}
	if (!expect(c, "GET_ID", VIRTIO_BLK_S_OK, VIRTIO_BLK_T_GET_ID, 0, c->id,
		    VIRTIO_BLK_ID_BYTES, VBLK_FLAT))
		return false;
	serial_string(c->id, serial);
	cons_printf("blk%u: capacity %lu sectors, serial %s, %s\n", c->idx, c->b.capacity, serial,
		    c->b.ro ? "ro" : "rw");
	if (c->b.capacity < MIN_RO_SECTORS) {
		fmt_snprintf(c->detail, c->len, "blk%u: %lu sectors, the test needs %u", c->idx,
			     c->b.capacity, MIN_RO_SECTORS);
		return false;
	}
	if (!check_host_pattern(c))
		return false;
	return c->b.ro ? test_ro(c, t) : test_rw(c, t);
}

bool test_blk(char *detail, size_t len)
{
	struct virtio_dev devs[MAX_DISKS];
	unsigned int n = virtio_find(VIRTIO_ID_BLOCK, devs, MAX_DISKS);
	struct blk_totals t = { 0 };
	uint64_t mark = dma_mark();
	bool ok = true;

	if (!n) {
		fmt_snprintf(detail, len, "no virtio-blk device");
		return false;
	}
	for (unsigned int i = 0; i < n && ok; i++) {
		struct blk_ctx c = { .idx = i, .detail = detail, .len = len };

		ok = test_disk(&c, &devs[i], &t);
		virtio_reset(&c.b.dev);
	}
	dma_release(mark);
	if (ok)
		fmt_snprintf(
			detail, len,
			"%u disks (%u rw, %u ro): host pattern, write/flush/read-back through "
			"direct and indirect chains, %u write-zeroes, %u discard, interrupt ok",
			n, t.rw, t.ro, t.write_zeroes, t.discard);
	return ok;
}
