// SPDX-License-Identifier: Apache-2.0
#include <stddef.h>
#include "dma.h"
#include "fmt.h"
#include "libc.h"
#include "virtio_blk.h"

#define CFG(field) offsetof(struct virtio_blk_config, field)

bool vblk_open(struct vblk *b, const struct virtio_dev *d, uint64_t features,
	       unsigned int queue_size, char *why, size_t len)
{
	*b = (struct vblk){ .dev = *d };
	if (!virtio_negotiate(&b->dev, features & VBLK_FEATURES, why, len) ||
	    !virtio_queue_setup(&b->dev, 0, queue_size, why, len))
		return false;
	b->vq = b->dev.vqs[0];
	/* Configuration is readable once features are fixed (3.1.1 step 7). */
	b->capacity = virtio_config64(&b->dev, CFG(capacity));
	b->ro = vblk_has(b, VIRTIO_BLK_F_RO);
	if (vblk_has(b, VIRTIO_BLK_F_SIZE_MAX))
		b->size_max = virtio_config32(&b->dev, CFG(size_max));
	if (vblk_has(b, VIRTIO_BLK_F_SEG_MAX))
		b->seg_max = virtio_config32(&b->dev, CFG(seg_max));
	if (vblk_has(b, VIRTIO_BLK_F_DISCARD)) {
		b->max_discard_sectors = virtio_config32(&b->dev, CFG(max_discard_sectors));
		b->discard_align = virtio_config32(&b->dev, CFG(discard_sector_alignment));
	}
	if (vblk_has(b, VIRTIO_BLK_F_WRITE_ZEROES))
		b->max_write_zeroes_sectors =
			virtio_config32(&b->dev, CFG(max_write_zeroes_sectors));
	return virtio_driver_ok(&b->dev, why, len);
}

struct vblk_req *vblk_reqs(unsigned int n)
{
	return dma_alloc(n * sizeof(struct vblk_req), 64);
}

static bool data_in(uint32_t type)
{
	return type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
}

int vblk_add(struct vblk *b, struct vblk_req *r, uint32_t type, uint64_t sector, void *data,
	     uint32_t len, enum vblk_layout layout)
{
	struct vq_seg segs[VBLK_MAX_SEGS + 2];
	unsigned int n = 0, nr_data = 0;
	bool split = layout == VBLK_SPLIT || layout == VBLK_INDIRECT;
	uint32_t chunk = split ? VBLK_SPLIT_CHUNK : len;
	int head;

	if (b->size_max && chunk > b->size_max)
		chunk = b->size_max;
	r->hdr = (struct virtio_blk_outhdr){ .type = type, .sector = sector };
	r->status = VBLK_STATUS_NONE;
	segs[n++] = (struct vq_seg){ dma_addr(&r->hdr), sizeof(r->hdr), false };
	if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
		segs[n++] = (struct vq_seg){ dma_addr(&r->dwz), sizeof(r->dwz), false };
		nr_data = 1;
	} else {
		for (uint32_t off = 0; off < len; off += chunk) {
			if (nr_data == VBLK_MAX_SEGS)
				return VBLK_ERR_TOO_BIG;
			segs[n++] = (struct vq_seg){ dma_addr((uint8_t *)data + off),
						     MIN(chunk, len - off), data_in(type) };
			nr_data++;
		}
	}
	if (b->seg_max && nr_data > b->seg_max)
		return VBLK_ERR_TOO_BIG;
	segs[n++] = (struct vq_seg){ dma_addr(&r->status), 1, true };

	if (layout == VBLK_INDIRECT || layout == VBLK_INDIRECT_FLAT)
		head = virtq_add_indirect(b->vq, r->table, segs, n, r);
	else
		head = virtq_add(b->vq, segs, n, r);
	return head < 0 ? VBLK_ERR_FULL : 0;
}

static int wait_for(struct vblk *b, struct vblk_req *r)
{
	struct vblk_req *done;

	virtq_kick(b->vq);
	/* Synchronous users have nothing else in flight: the next completion is ours. */
	done = virtq_wait(b->vq, NULL, VBLK_TIMEOUT_US);
	if (done != r)
		return VBLK_ERR_TIMEOUT;
	return r->status;
}

int vblk_sync(struct vblk *b, struct vblk_req *r, uint32_t type, uint64_t sector, void *data,
	      uint32_t len, enum vblk_layout layout)
{
	int e = vblk_add(b, r, type, sector, data, len, layout);

	return e ? e : wait_for(b, r);
}

int vblk_dwz_sync(struct vblk *b, struct vblk_req *r, uint32_t type, uint64_t sector,
		  uint32_t count, uint32_t flags)
{
	int e;

	r->dwz = (struct virtio_blk_discard_write_zeroes){
		.sector = sector,
		.num_sectors = count,
		.flags = flags,
	};
	e = vblk_add(b, r, type, 0, NULL, 0, VBLK_FLAT);
	return e ? e : wait_for(b, r);
}
