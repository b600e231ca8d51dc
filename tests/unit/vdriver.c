// SPDX-License-Identifier: Apache-2.0
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <string.h>

#include "tests/unit/vdriver.h"

/* Rings and buffers go above the first MiB, as a guest's would. */
#define VDRIVER_FIRST_GPA 0x100000ULL

void vdriver_bind(struct vdriver *d, struct guest_memory *gm, struct virtio_dev *vdev)
{
	memset(d, 0, sizeof(*d));
	d->gm = gm;
	d->vdev = vdev;
	d->next_gpa = VDRIVER_FIRST_GPA;
}

uint32_t vdriver_reg_read(struct vdriver *d, uint64_t off)
{
	uint32_t v;

	virtio_mmio_bus_ops.read(d->vdev, off, &v, 4);
	return v;
}

void vdriver_reg_write(struct vdriver *d, uint64_t off, uint32_t val)
{
	virtio_mmio_bus_ops.write(d->vdev, off, &val, 4);
}

uint64_t vdriver_alloc(struct vdriver *d, uint64_t len)
{
	uint64_t gpa = (d->next_gpa + 4095) & ~4095ULL;

	d->next_gpa = gpa + len;
	memset(gm_ptr(d->gm, gpa, len), 0, len);
	return gpa;
}

void *vdriver_host(struct vdriver *d, uint64_t gpa, uint64_t len)
{
	return gm_ptr(d->gm, gpa, len);
}

void vdriver_setup_queue(struct vdriver *d, unsigned int i, uint16_t size)
{
	struct vdriver_queue *q = &d->q[i];

	q->size = size;
	q->desc_gpa = vdriver_alloc(d, 16ULL * size);
	q->avail_gpa = vdriver_alloc(d, 6 + 2ULL * size);
	q->used_gpa = vdriver_alloc(d, 6 + 8ULL * size);
	q->desc = vdriver_host(d, q->desc_gpa, 16ULL * size);
	q->avail = vdriver_host(d, q->avail_gpa, 6 + 2ULL * size);
	q->used = vdriver_host(d, q->used_gpa, 6 + 8ULL * size);
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_SEL, i);
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_NUM, size);
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc_gpa);
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc_gpa >> 32));
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)q->avail_gpa);
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(q->avail_gpa >> 32));
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)q->used_gpa);
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(q->used_gpa >> 32));
	vdriver_reg_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

uint32_t vdriver_init(struct vdriver *d, struct guest_memory *gm, struct virtio_dev *vdev,
		      uint64_t features, unsigned int nr_queues, uint16_t qsize)
{
	vdriver_bind(d, gm, vdev);
	features |= 1ULL << VIRTIO_F_VERSION_1;

	vdriver_reg_write(d, VIRTIO_MMIO_STATUS, 0);
	vdriver_reg_write(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdriver_reg_write(d, VIRTIO_MMIO_STATUS,
			  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	for (uint32_t sel = 0; sel < 2; sel++) {
		vdriver_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
		vdriver_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES,
				  (uint32_t)(features >> (32 * sel)));
	}
	vdriver_reg_write(d, VIRTIO_MMIO_STATUS,
			  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				  VIRTIO_CONFIG_S_FEATURES_OK);
	for (unsigned int i = 0; i < nr_queues; i++)
		vdriver_setup_queue(d, i, qsize);
	vdriver_reg_write(d, VIRTIO_MMIO_STATUS,
			  VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				  VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	return vdriver_reg_read(d, VIRTIO_MMIO_STATUS);
}

void vdriver_publish(struct vdriver *d, unsigned int i, uint16_t head)
{
	struct vdriver_queue *q = &d->q[i];
	uint16_t idx = q->avail->idx;

	q->avail->ring[idx % q->size] = head;
	__atomic_store_n(&q->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

uint16_t vdriver_add(struct vdriver *d, unsigned int i, const struct vdriver_buf *bufs,
		     unsigned int n)
{
	struct vdriver_queue *q = &d->q[i];
	uint16_t head = q->next_desc;

	for (unsigned int k = 0; k < n; k++) {
		uint16_t idx = (uint16_t)((head + k) % q->size);

		q->desc[idx].addr = bufs[k].gpa;
		q->desc[idx].len = bufs[k].len;
		q->desc[idx].flags = (bufs[k].write ? VRING_DESC_F_WRITE : 0) |
				     (k + 1 < n ? VRING_DESC_F_NEXT : 0);
		q->desc[idx].next = (uint16_t)((idx + 1) % q->size);
	}
	q->next_desc = (uint16_t)((head + n) % q->size);
	vdriver_publish(d, i, head);
	return head;
}

void vdriver_kick(struct vdriver *d, unsigned int q)
{
	pthread_mutex_lock(&d->vdev->lock);
	if ((d->vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && !d->vdev->needs_reset)
		d->vdev->ops->notify(d->vdev, q);
	pthread_mutex_unlock(&d->vdev->lock);
}

bool vdriver_used(struct vdriver *d, unsigned int i, uint32_t *id, uint32_t *len)
{
	struct vdriver_queue *q = &d->q[i];
	struct vring_used_elem *e;

	if (__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE) == q->last_used)
		return false;
	e = &q->used->ring[q->last_used % q->size];
	*id = e->id;
	*len = e->len;
	q->last_used++;
	return true;
}

void vdriver_set_desc(struct vdriver *d, unsigned int i, uint16_t idx, uint64_t gpa, uint32_t len,
		      uint16_t flags, uint16_t next)
{
	struct vring_desc *desc = &d->q[i].desc[idx % d->q[i].size];

	desc->addr = gpa;
	desc->len = len;
	desc->flags = flags;
	desc->next = next;
}

uint16_t vdriver_add_indirect(struct vdriver *d, unsigned int i, const struct vdriver_buf *bufs,
			      unsigned int n)
{
	struct vdriver_queue *q = &d->q[i];
	uint64_t table_gpa = vdriver_alloc(d, 16ULL * n);
	struct vring_desc *table = vdriver_host(d, table_gpa, 16ULL * n);
	uint16_t head = q->next_desc;

	for (unsigned int k = 0; k < n; k++) {
		table[k].addr = bufs[k].gpa;
		table[k].len = bufs[k].len;
		table[k].flags = (bufs[k].write ? VRING_DESC_F_WRITE : 0) |
				 (k + 1 < n ? VRING_DESC_F_NEXT : 0);
		table[k].next = (uint16_t)(k + 1);
	}
	vdriver_set_desc(d, i, head, table_gpa, 16U * n, VRING_DESC_F_INDIRECT, 0);
	q->next_desc = (uint16_t)((head + 1) % q->size);
	vdriver_publish(d, i, head);
	return head;
}

uint16_t *vdriver_used_event(struct vdriver *d, unsigned int i)
{
	return &d->q[i].avail->ring[d->q[i].size];
}

uint16_t *vdriver_avail_event(struct vdriver *d, unsigned int i)
{
	return (uint16_t *)&d->q[i].used->ring[d->q[i].size];
}
