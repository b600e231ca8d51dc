// SPDX-License-Identifier: Apache-2.0
/* The virtio-mmio register file (virtio 1.2, 4.2.2), transport version 2. */
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <string.h>

#include "devices/virtio/transport.h"

#define VIRTIO_MMIO_MAGIC	  0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION_2	  2
#define VIRTIO_VENDOR_ID	  0x4b564c54 /* "KVLT" */
#define VIRTIO_MMIO_CONFIG	  0x100
#define VIRTIO_MMIO_SHM_SEL	  0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW	  0x0b0
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc

static struct virtqueue *selected_queue(struct virtio_dev *vdev)
{
	return vdev->queue_sel < vdev->nr_queues ? &vdev->vqs[vdev->queue_sel] : NULL;
}

static uint32_t virtio_reg_read(struct virtio_dev *vdev, uint64_t off)
{
	struct virtqueue *vq = selected_queue(vdev);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return VIRTIO_MMIO_VERSION_2;
	case VIRTIO_MMIO_DEVICE_ID:
		return vdev->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_VENDOR_ID;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (vdev->device_features_sel > 1)
			return 0;
		return (uint32_t)(vdev->device_features >> (32 * vdev->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? VQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return __atomic_load_n(&vdev->interrupt_status, __ATOMIC_SEQ_CST);
	case VIRTIO_MMIO_STATUS:
		return vdev->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return vdev->config_generation;
	}
	/* No shared memory regions: their length reads as all ones. */
	if (off >= VIRTIO_MMIO_SHM_LEN_LOW && off <= VIRTIO_MMIO_SHM_BASE_HIGH)
		return 0xffffffff;
	return 0;
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
	*v = high ? (*v & 0xffffffffULL) | ((uint64_t)val << 32) : (*v & ~0xffffffffULL) | val;
}

static void virtio_queue_ready(struct virtio_dev *vdev, struct virtqueue *vq, uint32_t val)
{
	enum vq_error e;

	if (!val) {
		vq->ready = false;
		return;
	}
	if (vq->ready)
		return;
	e = vq_enable(vq, vdev->mem, virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX),
		      virtio_has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC));
	if (e)
		virtio_set_needs_reset(vdev, vq_strerror(e));
}

static void virtio_set_status(struct virtio_dev *vdev, uint32_t val)
{
	uint32_t added = val & ~vdev->status;

	if (val == 0) {
		virtio_reset(vdev);
		return;
	}
	/* FEATURES_OK only sticks if we can honour what the driver accepted. */
	if ((added & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((vdev->driver_features & ~vdev->device_features) ||
	     !virtio_has_feature(vdev, VIRTIO_F_VERSION_1)))
		val &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	if ((added & VIRTIO_CONFIG_S_DRIVER_OK) && !(val & VIRTIO_CONFIG_S_FEATURES_OK))
		val &= ~VIRTIO_CONFIG_S_DRIVER_OK;
	/* Bits are only ever added; the device owns NEEDS_RESET. */
	vdev->status |= val & ~VIRTIO_CONFIG_S_NEEDS_RESET;
	if ((added & vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && !vdev->needs_reset &&
	    vdev->ops->activate && vdev->ops->activate(vdev) < 0)
		virtio_set_needs_reset(vdev, "activation failed");
}

static void virtio_kick_queue(struct virtio_dev *vdev, uint32_t q)
{
	/* Normally KVM signals the ioeventfd without an exit; this is the slow path. */
	virtio_requeue(vdev, q);
}

static void virtio_reg_write(struct virtio_dev *vdev, uint64_t off, uint32_t val)
{
	struct virtqueue *vq = selected_queue(vdev);
	bool setup = !(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK);

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		vdev->device_features_sel = val;
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* Features are fixed once FEATURES_OK is set. */
		if (setup && vdev->driver_features_sel <= 1)
			set_half(&vdev->driver_features, vdev->driver_features_sel, val);
		return;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		vdev->driver_features_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_SEL:
		vdev->queue_sel = val;
		return;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		virtio_kick_queue(vdev, val);
		return;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		__atomic_and_fetch(&vdev->interrupt_status, ~val, __ATOMIC_SEQ_CST);
		return;
	case VIRTIO_MMIO_STATUS:
		virtio_set_status(vdev, val);
		return;
	}
	/* The rest configure the selected queue, and only while it is not live. */
	if (!vq || vq->ready) {
		if (off == VIRTIO_MMIO_QUEUE_READY && vq)
			virtio_queue_ready(vdev, vq, val);
		return;
	}
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		/* Out-of-range sizes are kept and refused when the queue is enabled. */
		vq->size = val > UINT16_MAX ? 0 : (uint16_t)val;
		return;
	case VIRTIO_MMIO_QUEUE_READY:
		virtio_queue_ready(vdev, vq, val);
		return;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&vq->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		return;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_half(&vq->avail_gpa, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, val);
		return;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_half(&vq->used_gpa, off == VIRTIO_MMIO_QUEUE_USED_HIGH, val);
		return;
	}
}

static void virtio_mmio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_dev *vdev = opaque;
	uint32_t v;

	memset(data, 0, len);
	pthread_mutex_lock(&vdev->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (vdev->ops->config_read)
			vdev->ops->config_read(vdev, off - VIRTIO_MMIO_CONFIG, data, len);
	} else if (len == 4 && !(off & 3)) {
		/* Control registers are 32-bit and aligned (virtio 1.2, 4.2.2.2). */
		v = virtio_reg_read(vdev, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static void virtio_mmio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_dev *vdev = opaque;
	uint32_t v;

	pthread_mutex_lock(&vdev->lock);
	if (off >= VIRTIO_MMIO_CONFIG) {
		if (vdev->ops->config_write)
			vdev->ops->config_write(vdev, off - VIRTIO_MMIO_CONFIG, data, len);
	} else if (len == 4 && !(off & 3)) {
		memcpy(&v, data, 4);
		virtio_reg_write(vdev, off, v);
	}
	pthread_mutex_unlock(&vdev->lock);
}

const struct bus_ops virtio_mmio_bus_ops = {
	.read = virtio_mmio_read,
	.write = virtio_mmio_write,
};
