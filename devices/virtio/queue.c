// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "devices/virtio/queue.h"

static const char *const vq_errors[] = {
	[VQ_OK] = "no error",
	[VQ_ERR_RING] = "ring size or addresses are invalid",
	[VQ_ERR_AVAIL_IDX] = "available index ran ahead of the ring",
	[VQ_ERR_HEAD] = "chain head index out of range",
	[VQ_ERR_NEXT] = "next descriptor index out of range",
	[VQ_ERR_LOOP] = "descriptor chain too long or looping",
	[VQ_ERR_ADDR] = "buffer outside guest RAM",
	[VQ_ERR_INDIRECT] = "invalid or nested indirect descriptor table",
	[VQ_ERR_ORDER] = "device-readable buffer after a device-writable one",
	[VQ_ERR_LEN] = "chain length overflows",
};

const char *vq_strerror(enum vq_error e)
{
	return (unsigned int)e < sizeof(vq_errors) / sizeof(vq_errors[0]) ? vq_errors[e]
									  : "unknown error";
}

/* The event-index fields trail the rings (virtio 1.2, 2.7.7 and 2.7.10). */
static uint16_t *used_event(const struct virtqueue *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *avail_event(const struct virtqueue *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

/* Every VMM write to the rings goes through these, so that dirty tracking sees it. */
static void vq_write_avail_event(const struct virtqueue *vq)
{
	uint16_t *p = avail_event(vq);

	__atomic_store_n(p, vq->last_avail, __ATOMIC_RELAXED);
	gm_mark_dirty(vq->mem, p, sizeof(*p));
}

static void vq_write_used_flags(const struct virtqueue *vq, uint16_t flags)
{
	__atomic_store_n(&vq->used->flags, flags, __ATOMIC_RELAXED);
	gm_mark_dirty(vq->mem, &vq->used->flags, sizeof(vq->used->flags));
}

static bool aligned(uint64_t v, uint64_t a)
{
	return (v & (a - 1)) == 0;
}

enum vq_error vq_enable(struct virtqueue *vq, const struct guest_memory *mem, bool event_idx,
			bool indirect)
{
	uint64_t n = vq->size;

	/* Split rings have a power-of-two size (virtio 1.2, 2.7). */
	if (n == 0 || n > VQ_MAX_SIZE || (n & (n - 1)))
		return VQ_ERR_RING;
	if (!aligned(vq->desc_gpa, 16) || !aligned(vq->avail_gpa, 2) || !aligned(vq->used_gpa, 4))
		return VQ_ERR_RING;
	/* The trailing used_event / avail_event fields are included. */
	vq->desc = gm_ptr(mem, vq->desc_gpa, n * sizeof(struct vring_desc));
	vq->avail = gm_ptr(mem, vq->avail_gpa, 4 + 2 * n + 2);
	vq->used = gm_ptr(mem, vq->used_gpa, 4 + 8 * n + 2);
	if (!vq->desc || !vq->avail || !vq->used)
		return VQ_ERR_RING;
	vq->mem = mem;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled = 0;
	vq->ready = true;
	return VQ_OK;
}

void vq_reset(struct virtqueue *vq)
{
	memset(vq, 0, sizeof(*vq));
}

static uint16_t avail_idx(const struct virtqueue *vq)
{
	/* Acquire: ring entries written before idx must be seen after it. */
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
}

bool vq_has_avail(const struct virtqueue *vq)
{
	return vq->ready && avail_idx(vq) != vq->last_avail;
}

/* Appends one descriptor's buffer to the chain. */
static enum vq_error chain_add(const struct virtqueue *vq, struct vq_chain *c,
			       const struct vring_desc *d, unsigned int count)
{
	struct vq_buf *b = &c->buf[count];
	bool writable = d->flags & VRING_DESC_F_WRITE;

	b->len = d->len;
	b->addr = d->len ? gm_ptr(vq->mem, d->addr, d->len) : NULL;
	if (d->len && !b->addr)
		return VQ_ERR_ADDR;
	if (writable) {
		/*
		 * Marked when taken rather than when written: devices write
		 * through many paths, and a page marked but left unwritten
		 * only costs a copy. A harvest on another thread (migration)
		 * may take the mark before the write lands, so devices mark
		 * again once written: vq_chain_mark_written(), or blk's own
		 * marks when an io_uring read completes.
		 */
		gm_mark_dirty(vq->mem, b->addr, d->len);
		c->nr_in++;
		c->in_len += d->len;
	} else {
		if (c->nr_in)
			return VQ_ERR_ORDER;
		c->nr_out++;
		c->out_len += d->len;
	}
	if (c->in_len > UINT32_MAX || c->out_len > UINT32_MAX)
		return VQ_ERR_LEN;
	return VQ_OK;
}

static enum vq_error chain_walk(const struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	const struct vring_desc *table = vq->desc;
	uint32_t table_size = vq->size, idx = head;
	unsigned int count = 0;
	bool in_indirect = false;
	enum vq_error e;

	c->head = head;
	c->nr_in = c->nr_out = 0;
	c->in_len = c->out_len = 0;
	for (;;) {
		struct vring_desc d;

		/* One copy, then validate the copy: the guest may change the original. */
		memcpy(&d, &table[idx], sizeof(d));
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (!vq->indirect || in_indirect || (d.flags & VRING_DESC_F_NEXT) ||
			    d.len == 0 || d.len % sizeof(d) || d.len / sizeof(d) > VQ_MAX_CHAIN)
				return VQ_ERR_INDIRECT;
			table = gm_ptr(vq->mem, d.addr, d.len);
			if (!table)
				return VQ_ERR_ADDR;
			table_size = d.len / sizeof(d);
			idx = 0;
			in_indirect = true;
			continue;
		}
		if (count == VQ_MAX_CHAIN)
			return VQ_ERR_LOOP;
		e = chain_add(vq, c, &d, count++);
		if (e)
			return e;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return VQ_OK;
		idx = d.next;
		if (idx >= table_size)
			return VQ_ERR_NEXT;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
	uint16_t pending, head;
	enum vq_error e;

	if (!vq->ready)
		return 0;
	pending = avail_idx(vq) - vq->last_avail;
	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return -VQ_ERR_AVAIL_IDX;
	head = __atomic_load_n(&vq->avail->ring[vq->last_avail % vq->size], __ATOMIC_RELAXED);
	if (head >= vq->size)
		return -VQ_ERR_HEAD;
	e = chain_walk(vq, head, c);
	if (e)
		return -(int)e;
	vq->last_avail++;
	if (vq->event_idx)
		vq_write_avail_event(vq);
	return 1;
}

void vq_unpop(struct virtqueue *vq)
{
	vq->last_avail--;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct vring_used_elem *e;

	/*
	 * A request that completes after the driver took the queue down has
	 * nowhere to go: the size and rings may have been rewritten since.
	 */
	if (!vq->ready)
		return;
	e = &vq->used->ring[vq->used_idx % vq->size];
	e->id = head;
	e->len = written;
	gm_mark_dirty(vq->mem, e, sizeof(*e));
	vq->used_idx++;
	/* Release: the element must be visible before the index that publishes it. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	gm_mark_dirty(vq->mem, &vq->used->idx, sizeof(vq->used->idx));
}

bool vq_should_notify(struct virtqueue *vq)
{
	uint16_t old = vq->signalled;

	if (!vq->ready || vq->used_idx == old)
		return false;
	/* Our used->idx store must be globally visible before we read the driver's fields. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->signalled = vq->used_idx;
	if (vq->event_idx) {
		uint16_t event = __atomic_load_n(used_event(vq), __ATOMIC_RELAXED);

		return vring_need_event(event, vq->used_idx, old);
	}
	return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
}

void vq_set_notification(struct virtqueue *vq, bool enable)
{
	if (!vq->ready)
		return;
	if (vq->event_idx) {
		if (enable)
			vq_write_avail_event(vq);
	} else {
		vq_write_used_flags(vq, enable ? 0 : VRING_USED_F_NO_NOTIFY);
	}
	/* The flag must be visible before the caller re-checks the avail ring. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

unsigned int vq_bufs_iov(const struct vq_buf *b, unsigned int n, uint64_t off, uint64_t len,
			 struct iovec *iov)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		uint64_t chunk;

		/* Empty buffers are skipped here: off >= 0 == len. */
		if (off >= b[i].len) {
			off -= b[i].len;
			continue;
		}
		chunk = b[i].len - off;
		if (chunk > len)
			chunk = len;
		iov[k++] = (struct iovec){ b[i].addr + off, chunk };
		len -= chunk;
		off = 0;
	}
	return k;
}

static size_t chain_copy(const struct vq_buf *bufs, unsigned int n, size_t off, uint8_t *flat,
			 size_t len, bool to_chain)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= bufs[i].len) {
			off -= bufs[i].len;
			continue;
		}
		chunk = bufs[i].len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_chain)
			memcpy(bufs[i].addr + off, flat + done, chunk);
		else
			memcpy(flat + done, bufs[i].addr + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len)
{
	return chain_copy(c->buf, c->nr_out, off, dst, len, false);
}

size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len)
{
	return chain_copy(c->buf + c->nr_out, c->nr_in, off, (uint8_t *)src, len, true);
}

void vq_chain_mark_written(const struct virtqueue *vq, const struct vq_chain *c)
{
	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in; i++)
		gm_mark_dirty(vq->mem, c->buf[i].addr, c->buf[i].len);
}
