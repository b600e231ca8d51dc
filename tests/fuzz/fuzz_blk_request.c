// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the virtio-blk request parser, on any descriptor chain a
 * guest can build (as vq_pop hands them over: readable buffers first, total
 * lengths within 32 bits) and any disk geometry. Every buffer is its own
 * heap block, so ASan sees any read outside the chain; what the parser
 * returns is then checked against the rules the backend relies on.
 *
 * Input: geometry (19 bytes: u64 sectors, u8 flags [readonly, discard,
 * write zeroes], u8 max_discard_seg, u8 max_write_zeroes_seg, u32
 * max_discard_sectors, u32 max_write_zeroes_sectors), u8 readable and u8
 * writable buffer counts, 3 bytes per buffer (length class, u16 value), then
 * the buffers' contents, readable ones first. Missing bytes read as zero.
 */
#include "tests/fuzz/fuzzer.h"
#include <linux/virtio_blk.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/blk/request.h"

/* Bytes actually backing a buffer; the parser reads at most the header and segments. */
#define REAL_MAX 4096

#define check(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "check failed, line %d: %s\n", __LINE__, #cond); \
			abort();                                                         \
		}                                                                        \
	} while (0)

struct input {
	const uint8_t *p;
	size_t len, pos;
};

static uint64_t take(struct input *in, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++, in->pos++)
		v |= (uint64_t)(in->pos < in->len ? in->p[in->pos] : 0) << (8 * i);
	return v;
}

static uint32_t buf_len(unsigned int cls, uint32_t v)
{
	switch (cls % 5) {
	case 0:
		return v % 64; /* headers and status bytes, split every way */
	case 1:
		return v; /* anything up to 64 KiB */
	case 2:
		return v * 512; /* whole sectors */
	case 3:
		return v * 512 + 1; /* sectors plus a status byte */
	default:
		return 0xffffffffU - v; /* near the 32-bit limit */
	}
}

/*
 * The iovecs must be exactly bytes [start, start + r->len) of the part's
 * buffers, in order: never the header, never the status byte, nothing else.
 * (Checked by position: guest buffers may alias, so addresses prove little.)
 */
static void check_iov(const struct vq_chain *c, const struct blk_request *r, bool in_part,
		      uint64_t start)
{
	const struct vq_buf *b = in_part ? c->buf + c->nr_out : c->buf;
	unsigned int n = in_part ? c->nr_in : c->nr_out, k = 0, v = 0;
	uint64_t left = r->len, off = start;

	check(r->nr_iov <= VQ_MAX_CHAIN);
	for (; k < n && left; k++) {
		uint64_t piece;

		if (off >= b[k].len) {
			off -= b[k].len;
			continue;
		}
		piece = b[k].len - off < left ? b[k].len - off : left;
		check(v < r->nr_iov);
		check(r->iov[v].iov_base == b[k].addr + off && r->iov[v].iov_len == piece);
		v++;
		left -= piece;
		off = 0;
	}
	check(!left && v == r->nr_iov);
}

static void check_request(const struct vq_chain *c, const struct blk_geometry *g,
			  enum blk_parse_result res, const struct blk_request *r)
{
	uint64_t cap =
		g->sectors < ((uint64_t)INT64_MAX >> 9) ? g->sectors : ((uint64_t)INT64_MAX >> 9);
	bool has_status = false;

	for (unsigned int i = 0; i < c->nr_in; i++)
		has_status |= c->buf[c->nr_out + i].len > 0;
	if (c->out_len < BLK_HDR_BYTES) {
		check(res == BLK_PARSE_NO_HDR);
		return;
	}
	if (!has_status) {
		check(res == BLK_PARSE_NO_STATUS);
		return;
	}
	check(res == BLK_PARSE_OK);
	for (int i = c->nr_out + c->nr_in - 1; i >= c->nr_out; i--) {
		if (c->buf[i].len) {
			check(r->status_ptr == c->buf[i].addr + c->buf[i].len - 1);
			break;
		}
	}
	check(r->in_len == c->in_len);
	check(r->status == VIRTIO_BLK_S_OK || r->status == VIRTIO_BLK_S_IOERR ||
	      r->status == VIRTIO_BLK_S_UNSUPP);
	if (r->op != BLK_OP_NONE)
		check(r->status == VIRTIO_BLK_S_OK);
	if (g->readonly)
		check(r->op != BLK_OP_WRITE && r->op != BLK_OP_DISCARD &&
		      r->op != BLK_OP_WRITE_ZEROES && r->op != BLK_OP_FLUSH);

	switch (r->op) {
	case BLK_OP_NONE:
	case BLK_OP_FLUSH:
		check(r->nr_iov == 0 && r->nr_ranges == 0);
		break;
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		check(r->len && !(r->len % BLK_SECTOR_SIZE) && !(r->offset % BLK_SECTOR_SIZE));
		check(r->offset / BLK_SECTOR_SIZE <= cap &&
		      r->len / BLK_SECTOR_SIZE <= cap - r->offset / BLK_SECTOR_SIZE);
		check(r->len ==
		      (r->op == BLK_OP_READ ? c->in_len - 1 : c->out_len - BLK_HDR_BYTES));
		check_iov(c, r, r->op == BLK_OP_READ, r->op == BLK_OP_READ ? 0 : BLK_HDR_BYTES);
		break;
	case BLK_OP_GET_ID:
		check(r->len == BLK_ID_BYTES && c->out_len == BLK_HDR_BYTES);
		check(c->in_len - 1 >= BLK_ID_BYTES);
		check_iov(c, r, true, 0);
		break;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES: {
		bool wz = r->op == BLK_OP_WRITE_ZEROES;
		uint32_t max_seg = wz ? g->max_write_zeroes_seg : g->max_discard_seg;
		uint64_t max_len =
			(uint64_t)(wz ? g->max_write_zeroes_sectors : g->max_discard_sectors)
			<< BLK_SECTOR_SHIFT;

		check(wz ? g->write_zeroes : g->discard);
		check(c->in_len == 1 && r->nr_iov == 0);
		check(r->nr_ranges >= 1 && r->nr_ranges <= BLK_DWZ_MAX_SEG &&
		      r->nr_ranges <= max_seg);
		check(r->nr_ranges <= (c->out_len - BLK_HDR_BYTES) / BLK_DWZ_BYTES);
		for (unsigned int i = 0; i < r->nr_ranges; i++) {
			const struct blk_range *rg = &r->ranges[i];

			check(rg->len && rg->len <= max_len);
			check(!(rg->offset % BLK_SECTOR_SIZE) && !(rg->len % BLK_SECTOR_SIZE));
			check(rg->offset / BLK_SECTOR_SIZE <= cap &&
			      rg->len / BLK_SECTOR_SIZE <= cap - rg->offset / BLK_SECTOR_SIZE);
			check(wz || !rg->unmap);
		}
		break;
	}
	default:
		check(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vq_chain c;
	static struct blk_request r1, r2;
	struct input in = { data, size, 0 };
	struct blk_geometry g;
	unsigned int n, flags;
	enum blk_parse_result res1, res2;

	g.sectors = take(&in, 8);
	flags = (unsigned int)take(&in, 1);
	g.readonly = flags & 1;
	g.discard = flags & 2;
	g.write_zeroes = flags & 4;
	g.max_discard_seg = (uint32_t)take(&in, 1);
	g.max_write_zeroes_seg = (uint32_t)take(&in, 1);
	g.max_discard_sectors = (uint32_t)take(&in, 4);
	g.max_write_zeroes_sectors = (uint32_t)take(&in, 4);

	memset(&c, 0, sizeof(c));
	c.nr_out = (uint16_t)(take(&in, 1) % (VQ_MAX_CHAIN / 2 + 1));
	c.nr_in = (uint16_t)(take(&in, 1) % (VQ_MAX_CHAIN / 2));
	n = c.nr_out + c.nr_in;
	for (unsigned int i = 0; i < n; i++) {
		unsigned int cls = (unsigned int)take(&in, 1);
		uint32_t len = buf_len(cls, (uint32_t)take(&in, 2));
		uint64_t *total = i < c.nr_out ? &c.out_len : &c.in_len;

		/* vq_pop refuses chains whose parts exceed 32 bits. */
		if (*total + len > UINT32_MAX)
			len = (uint32_t)(UINT32_MAX - *total);
		c.buf[i].len = len;
		*total += len;
	}
	for (unsigned int i = 0; i < n; i++) {
		size_t real = c.buf[i].len < REAL_MAX ? c.buf[i].len : REAL_MAX;

		/* Empty buffers have no address, as vq_pop gives them. */
		c.buf[i].addr = real ? malloc(real) : NULL;
		for (size_t k = 0; k < real; k++)
			c.buf[i].addr[k] = (uint8_t)take(&in, 1);
	}

	res1 = blk_request_parse(&c, &g, &r1);
	check_request(&c, &g, res1, &r1);
	/* Pure: the same chain gives the same answer. */
	res2 = blk_request_parse(&c, &g, &r2);
	check(res1 == res2 && r1.op == r2.op && r1.status == r2.status &&
	      r1.status_ptr == r2.status_ptr && r1.offset == r2.offset && r1.len == r2.len &&
	      r1.nr_iov == r2.nr_iov && r1.nr_ranges == r2.nr_ranges);

	for (unsigned int i = 0; i < n; i++)
		free(c.buf[i].addr);
	return 0;
}
