// SPDX-License-Identifier: Apache-2.0
#include <endian.h>
#include <linux/virtio_blk.h>
#include <string.h>

#include "devices/virtio/blk/request.h"

/* Byte offsets must fit an off_t, for pread-style calls and fallocate. */
#define BLK_MAX_SECTORS ((uint64_t)INT64_MAX >> BLK_SECTOR_SHIFT)

_Static_assert(sizeof(struct virtio_blk_outhdr) == BLK_HDR_BYTES, "request header");
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == BLK_DWZ_BYTES, "segment");

const char *blk_parse_strerror(enum blk_parse_result r)
{
	switch (r) {
	case BLK_PARSE_OK:
		return "no error";
	case BLK_PARSE_NO_HDR:
		return "request header shorter than 16 bytes";
	case BLK_PARSE_NO_STATUS:
		return "request without a device-writable status byte";
	}
	return "unknown error";
}

static uint64_t capacity(const struct blk_geometry *g)
{
	return g->sectors < BLK_MAX_SECTORS ? g->sectors : BLK_MAX_SECTORS;
}

/* Whether [sector, sector + count) lies on the disk, without overflowing. */
static bool range_ok(const struct blk_geometry *g, uint64_t sector, uint64_t count)
{
	uint64_t cap = capacity(g);

	return sector <= cap && count <= cap - sector;
}

/* Nothing to do but answer: ranges gathered before a bad one are dropped too. */
static enum blk_parse_result finish(struct blk_request *req, uint8_t status)
{
	req->op = BLK_OP_NONE;
	req->status = status;
	req->offset = req->len = 0;
	req->nr_iov = req->nr_ranges = 0;
	return BLK_PARSE_OK;
}

static enum blk_parse_result parse_rw(const struct vq_chain *c, const struct blk_geometry *g,
				      uint64_t sector, bool write, struct blk_request *req)
{
	const struct vq_buf *out = c->buf, *in = c->buf + c->nr_out;
	uint64_t out_data = c->out_len - BLK_HDR_BYTES, in_data = c->in_len - 1;
	uint64_t len = write ? out_data : in_data;

	if (write && g->readonly)
		return finish(req, VIRTIO_BLK_S_IOERR);
	/* Data flowing the wrong way for the request type. */
	if (write ? in_data : out_data)
		return finish(req, VIRTIO_BLK_S_IOERR);
	if (len % BLK_SECTOR_SIZE || !range_ok(g, sector, len >> BLK_SECTOR_SHIFT))
		return finish(req, VIRTIO_BLK_S_IOERR);
	if (!len)
		return finish(req, VIRTIO_BLK_S_OK);
	req->op = write ? BLK_OP_WRITE : BLK_OP_READ;
	req->status = VIRTIO_BLK_S_OK;
	req->offset = sector << BLK_SECTOR_SHIFT;
	req->len = len;
	req->nr_iov = write ? vq_bufs_iov(out, c->nr_out, BLK_HDR_BYTES, len, req->iov)
			    : vq_bufs_iov(in, c->nr_in, 0, len, req->iov);
	return BLK_PARSE_OK;
}

static enum blk_parse_result parse_dwz(const struct vq_chain *c, const struct blk_geometry *g,
				       bool wz, struct blk_request *req)
{
	uint64_t out_data = c->out_len - BLK_HDR_BYTES, nr_seg = out_data / BLK_DWZ_BYTES;
	uint32_t max_seg = wz ? g->max_write_zeroes_seg : g->max_discard_seg;
	uint32_t max_sectors = wz ? g->max_write_zeroes_sectors : g->max_discard_sectors;

	if (!(wz ? g->write_zeroes : g->discard))
		return finish(req, VIRTIO_BLK_S_UNSUPP);
	if (g->readonly || c->in_len != 1)
		return finish(req, VIRTIO_BLK_S_IOERR);
	if (max_seg > BLK_DWZ_MAX_SEG)
		max_seg = BLK_DWZ_MAX_SEG;
	if (!nr_seg || out_data % BLK_DWZ_BYTES || nr_seg > max_seg)
		return finish(req, VIRTIO_BLK_S_IOERR);
	for (unsigned int i = 0; i < nr_seg; i++) {
		struct virtio_blk_discard_write_zeroes seg;
		uint64_t sector;
		uint32_t num, flags;

		vq_chain_read(c, BLK_HDR_BYTES + (uint64_t)i * BLK_DWZ_BYTES, &seg, sizeof(seg));
		sector = le64toh(seg.sector);
		num = le32toh(seg.num_sectors);
		flags = le32toh(seg.flags);
		/* Unknown flags, or unmap on a discard, are UNSUPP (virtio 1.2, 5.2.6.2). */
		if (flags & ~(wz ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0))
			return finish(req, VIRTIO_BLK_S_UNSUPP);
		if (num > max_sectors || !range_ok(g, sector, num))
			return finish(req, VIRTIO_BLK_S_IOERR);
		if (!num)
			continue;
		req->ranges[req->nr_ranges++] = (struct blk_range){
			.offset = sector << BLK_SECTOR_SHIFT,
			.len = (uint64_t)num << BLK_SECTOR_SHIFT,
			.unmap = flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
		};
	}
	if (!req->nr_ranges)
		return finish(req, VIRTIO_BLK_S_OK);
	req->op = wz ? BLK_OP_WRITE_ZEROES : BLK_OP_DISCARD;
	req->status = VIRTIO_BLK_S_OK;
	return BLK_PARSE_OK;
}

enum blk_parse_result blk_request_parse(const struct vq_chain *c, const struct blk_geometry *g,
					struct blk_request *req)
{
	const struct vq_buf *in = c->buf + c->nr_out;
	struct virtio_blk_outhdr hdr;
	uint64_t out_data, in_data;
	int last;

	req->op = BLK_OP_NONE;
	req->status = VIRTIO_BLK_S_IOERR;
	req->status_ptr = NULL;
	req->in_len = 0;
	req->offset = req->len = 0;
	req->nr_iov = req->nr_ranges = 0;

	/* Framing is free (virtio 1.2, 5.2.6.3): the header may span buffers. */
	if (c->out_len < BLK_HDR_BYTES)
		return BLK_PARSE_NO_HDR;
	/* The status byte is the chain's last writable byte; empty buffers carry nothing. */
	for (last = (int)c->nr_in - 1; last >= 0 && !in[last].len; last--)
		;
	if (last < 0)
		return BLK_PARSE_NO_STATUS;
	req->status_ptr = in[last].addr + in[last].len - 1;
	req->in_len = (uint32_t)c->in_len;

	/* One copy of the header: the guest may rewrite it while we look. */
	vq_chain_read(c, 0, &hdr, sizeof(hdr));
	out_data = c->out_len - BLK_HDR_BYTES;
	in_data = c->in_len - 1;

	switch (le32toh(hdr.type)) {
	case VIRTIO_BLK_T_IN:
		return parse_rw(c, g, le64toh(hdr.sector), false, req);
	case VIRTIO_BLK_T_OUT:
		return parse_rw(c, g, le64toh(hdr.sector), true, req);
	case VIRTIO_BLK_T_FLUSH:
		if (out_data || in_data)
			return finish(req, VIRTIO_BLK_S_IOERR);
		/* Nothing can have been written to a read-only disk. */
		if (g->readonly)
			return finish(req, VIRTIO_BLK_S_OK);
		req->op = BLK_OP_FLUSH;
		req->status = VIRTIO_BLK_S_OK;
		return BLK_PARSE_OK;
	case VIRTIO_BLK_T_GET_ID:
		if (out_data || in_data < BLK_ID_BYTES)
			return finish(req, VIRTIO_BLK_S_IOERR);
		req->op = BLK_OP_GET_ID;
		req->status = VIRTIO_BLK_S_OK;
		req->len = BLK_ID_BYTES;
		req->nr_iov = vq_bufs_iov(in, c->nr_in, 0, BLK_ID_BYTES, req->iov);
		return BLK_PARSE_OK;
	case VIRTIO_BLK_T_DISCARD:
		return parse_dwz(c, g, false, req);
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return parse_dwz(c, g, true, req);
	}
	return finish(req, VIRTIO_BLK_S_UNSUPP);
}
