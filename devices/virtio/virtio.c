// SPDX-License-Identifier: Apache-2.0
/*
 * The transport-independent core of a virtio device: set-up, kicks,
 * interrupts, reset, state for snapshots and migration, and the machine's
 * device lifecycle. The register file that drives it is mmio.c.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio/transport.h"
#include "lib/log.h"

/* Status bits a driver can have set, plus the device's NEEDS_RESET. */
#define VIRTIO_STATUS_BITS                                                               \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FAILED | \
	 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_NEEDS_RESET)

/* What every kvmlet device offers on top of its own features. */
#define VIRTIO_TRANSPORT_FEATURES                                           \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) | \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

static const struct device_ops virtio_device_ops;

void virtio_dev_init(struct virtio_dev *vdev, const struct virtio_dev_ops *ops, const char *name,
		     uint32_t device_id, uint64_t features, unsigned int nr_queues,
		     const struct guest_memory *mem)
{
	memset(vdev, 0, sizeof(*vdev));
	vdev->dev = (struct device){ &virtio_device_ops, ops->kind, NULL, name };
	vdev->ops = ops;
	vdev->name = name;
	vdev->device_id = device_id;
	vdev->device_features = features | VIRTIO_TRANSPORT_FEATURES;
	vdev->nr_queues = nr_queues;
	vdev->mem = mem;
	vdev->irq_fd = -1;
	for (unsigned int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		vdev->kicks[q].ev.fd = -1;
	pthread_mutex_init(&vdev->lock, NULL);
}

void virtio_dev_fini(struct virtio_dev *vdev)
{
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		if (vdev->kicks[q].ev.fd >= 0) {
			if (vdev->loop && vdev->loop->epfd >= 0)
				event_loop_del(vdev->loop, &vdev->kicks[q].ev);
			close(vdev->kicks[q].ev.fd);
			vdev->kicks[q].ev.fd = -1;
		}
	}
	if (vdev->irq_fd >= 0)
		close(vdev->irq_fd);
	vdev->irq_fd = -1;
	pthread_mutex_destroy(&vdev->lock);
}

bool virtio_live(const struct virtio_dev *vdev)
{
	return (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && !vdev->needs_reset;
}

static void virtio_on_kick(struct event_handler *h, uint32_t events)
{
	struct virtio_kick *k = container_of(h, struct virtio_kick, ev);
	struct virtio_dev *vdev = k->vdev;
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&vdev->lock);
	if (virtio_live(vdev) && vdev->vqs[k->queue].ready && vdev->ops->notify)
		vdev->ops->notify(vdev, k->queue);
	pthread_mutex_unlock(&vdev->lock);
}

int virtio_dev_attach(struct virtio_dev *vdev, struct event_loop *loop, int irq_fd,
		      const int *kick_fds, struct err *err)
{
	vdev->loop = loop;
	vdev->irq_fd = irq_fd;
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		vdev->kicks[q] = (struct virtio_kick){ { kick_fds[q], virtio_on_kick }, vdev, q };
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		int r = event_loop_add(loop, &vdev->kicks[q].ev, EPOLLIN);

		if (r)
			return err_set(err, r, "%s: watching queue %u: %s", vdev->name, q,
				       strerror(-r));
	}
	return 0;
}

void virtio_raise(struct virtio_dev *vdev, uint32_t reason)
{
	uint64_t one = 1;

	__atomic_or_fetch(&vdev->interrupt_status, reason, __ATOMIC_SEQ_CST);
	if (vdev->irq_fd >= 0 && write(vdev->irq_fd, &one, sizeof(one)) < 0)
		log_debug("%s: interrupt eventfd: %s", vdev->name, strerror(errno));
}

void virtio_notify_used(struct virtio_dev *vdev, unsigned int q)
{
	if (vq_should_notify(&vdev->vqs[q]))
		virtio_raise(vdev, VIRTIO_MMIO_INT_VRING);
}

void virtio_notify_config(struct virtio_dev *vdev)
{
	vdev->config_generation++;
	/* Only a driver past DRIVER_OK is told through an interrupt (virtio 1.2, 2.1.2). */
	if (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_raise(vdev, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_set_needs_reset(struct virtio_dev *vdev, const char *why)
{
	if (vdev->needs_reset)
		return;
	log_warn("%s: %s; device needs reset", vdev->name, why);
	vdev->needs_reset = true;
	vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* A driver still setting up finds the bit when it reads the status. */
	if (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)
		virtio_notify_config(vdev);
}

void virtio_reset(struct virtio_dev *vdev)
{
	if ((vdev->status & VIRTIO_CONFIG_S_DRIVER_OK) && vdev->ops->reset)
		vdev->ops->reset(vdev);
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		vq_reset(&vdev->vqs[q]);
	vdev->driver_features = 0;
	vdev->device_features_sel = vdev->driver_features_sel = vdev->queue_sel = 0;
	vdev->status = 0;
	vdev->needs_reset = false;
	__atomic_store_n(&vdev->interrupt_status, 0, __ATOMIC_SEQ_CST);
}

void virtio_requeue(struct virtio_dev *vdev, unsigned int q)
{
	uint64_t one = 1;

	if (q < vdev->nr_queues && vdev->kicks[q].ev.fd >= 0 &&
	    write(vdev->kicks[q].ev.fd, &one, sizeof(one)) < 0)
		log_debug("%s: kick eventfd: %s", vdev->name, strerror(errno));
}

/* ---- snapshots ---- */

int virtio_dev_quiesce(struct virtio_dev *vdev)
{
	int r = 0;

	pthread_mutex_lock(&vdev->lock);
	if (vdev->ops->quiesce)
		r = vdev->ops->quiesce(vdev);
	pthread_mutex_unlock(&vdev->lock);
	return r;
}

static void vq_save(const struct virtqueue *vq, struct state_writer *w)
{
	state_put_u16(w, vq->size);
	state_put_u64(w, vq->desc_gpa);
	state_put_u64(w, vq->avail_gpa);
	state_put_u64(w, vq->used_gpa);
	state_put_u8(w, vq->ready);
	state_put_u16(w, vq->last_avail);
	state_put_u16(w, vq->used_idx);
	state_put_u16(w, vq->signalled);
	state_put_u8(w, vq->event_idx);
	state_put_u8(w, vq->indirect);
}

void virtio_dev_save(struct virtio_dev *vdev, struct state_writer *w)
{
	int r = virtio_dev_quiesce(vdev);

	/* Saved all the same: the caller that cares has called virtio_dev_quiesce() itself. */
	if (r)
		log_warn("%s: quiescing for a snapshot: %s", vdev->name, strerror(-r));
	pthread_mutex_lock(&vdev->lock);
	state_put_u32(w, vdev->device_id);
	state_put_u32(w, vdev->nr_queues);
	state_put_u64(w, vdev->device_features);
	state_put_u64(w, vdev->driver_features);
	state_put_u32(w, vdev->device_features_sel);
	state_put_u32(w, vdev->driver_features_sel);
	state_put_u32(w, vdev->queue_sel);
	state_put_u32(w, vdev->status);
	state_put_u32(w, __atomic_load_n(&vdev->interrupt_status, __ATOMIC_SEQ_CST));
	state_put_u32(w, vdev->config_generation);
	state_put_u8(w, vdev->needs_reset);
	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		vq_save(&vdev->vqs[q], w);
	if (vdev->ops->save)
		vdev->ops->save(vdev, w);
	pthread_mutex_unlock(&vdev->lock);
}

/* The transport's part of a snapshot, checked before anything of the device changes. */
struct virtio_saved {
	uint64_t device_features, driver_features;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t status, interrupt_status, config_generation;
	bool needs_reset;
	struct virtqueue vqs[VIRTIO_MMIO_MAX_QUEUES];
};

static int vq_restore(struct virtio_dev *vdev, unsigned int q, struct state_reader *r,
		      const struct virtio_saved *t, struct virtqueue *vq, struct err *err)
{
	bool event_idx, indirect;
	uint16_t last_avail, used_idx, signalled;
	uint64_t n;

	vq_reset(vq);
	vq->size = state_get_u16(r);
	vq->desc_gpa = state_get_u64(r);
	vq->avail_gpa = state_get_u64(r);
	vq->used_gpa = state_get_u64(r);
	vq->ready = state_get_u8(r);
	last_avail = state_get_u16(r);
	used_idx = state_get_u16(r);
	signalled = state_get_u16(r);
	event_idx = state_get_u8(r);
	indirect = state_get_u8(r);
	if (r->bad)
		return err_set(err, -EBADMSG, "%s: device state is truncated", vdev->name);
	if (!vq->ready) {
		/* The driver may still be writing the size; the register path keeps any too. */
		return 0;
	}
	n = vq->size;
	if (n == 0 || n > VQ_MAX_SIZE || (n & (n - 1)))
		return err_set(err, -EINVAL, "%s: queue %u has invalid size %llu", vdev->name, q,
			       (unsigned long long)n);
	if (event_idx != !!(t->driver_features & (1ULL << VIRTIO_RING_F_EVENT_IDX)) ||
	    indirect != !!(t->driver_features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC)))
		return err_set(err, -EINVAL, "%s: queue %u disagrees with the negotiated features",
			       vdev->name, q);
	/* A live queue needs DRIVER_OK's precondition: the features were fixed. */
	if (!(t->status & VIRTIO_CONFIG_S_FEATURES_OK))
		return err_set(err, -EINVAL, "%s: queue %u is ready before FEATURES_OK", vdev->name,
			       q);
	vq->ready = false;
	if (vq_enable(vq, vdev->mem, event_idx, indirect))
		return err_set(err, -EINVAL, "%s: queue %u: %s", vdev->name, q,
			       vq_strerror(VQ_ERR_RING));
	vq->last_avail = last_avail;
	vq->used_idx = used_idx;
	vq->signalled = signalled;
	return 0;
}

static int virtio_saved_read(struct virtio_dev *vdev, struct state_reader *r,
			     struct virtio_saved *t, struct err *err)
{
	uint32_t id = state_get_u32(r), nq = state_get_u32(r);
	int ret;

	if (r->bad)
		return err_set(err, -EBADMSG, "%s: device state is truncated", vdev->name);
	if (id != vdev->device_id || nq != vdev->nr_queues)
		return err_set(err, -EINVAL,
			       "%s: the snapshot holds a device of type %u with %u queues, "
			       "not type %u with %u",
			       vdev->name, id, nq, vdev->device_id, vdev->nr_queues);
	t->device_features = state_get_u64(r);
	t->driver_features = state_get_u64(r);
	t->device_features_sel = state_get_u32(r);
	t->driver_features_sel = state_get_u32(r);
	t->queue_sel = state_get_u32(r);
	t->status = state_get_u32(r);
	t->interrupt_status = state_get_u32(r);
	t->config_generation = state_get_u32(r);
	t->needs_reset = state_get_u8(r);
	if (r->bad)
		return err_set(err, -EBADMSG, "%s: device state is truncated", vdev->name);
	/* What was offered then must still be offered: the driver relies on it. */
	if (t->driver_features & ~(t->device_features & vdev->device_features))
		return err_set(err, -EINVAL, "%s: driver features %#llx were not offered",
			       vdev->name,
			       (unsigned long long)(t->driver_features & ~vdev->device_features));
	if ((t->status & ~VIRTIO_STATUS_BITS) ||
	    !!(t->status & VIRTIO_CONFIG_S_NEEDS_RESET) != t->needs_reset ||
	    ((t->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	     !(t->status & VIRTIO_CONFIG_S_FEATURES_OK)) ||
	    ((t->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
	     !(t->driver_features & (1ULL << VIRTIO_F_VERSION_1))))
		return err_set(err, -EINVAL, "%s: invalid device status %#x", vdev->name,
			       t->status);
	if (t->interrupt_status & ~(uint32_t)(VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG))
		return err_set(err, -EINVAL, "%s: invalid interrupt status %#x", vdev->name,
			       t->interrupt_status);
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		ret = vq_restore(vdev, q, r, t, &t->vqs[q], err);
		if (ret)
			return ret;
	}
	return 0;
}

int virtio_dev_restore(struct virtio_dev *vdev, struct state_reader *r, struct err *err)
{
	struct virtio_saved *t = calloc(1, sizeof(*t));
	int ret;

	if (!t)
		return err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_lock(&vdev->lock);
	ret = virtio_saved_read(vdev, r, t, err);
	if (!ret && vdev->ops->restore)
		ret = vdev->ops->restore(vdev, r, err);
	if (!ret && !state_done(r))
		ret = err_set(err, -EBADMSG, "%s: device state is %s", vdev->name,
			      r->bad ? "truncated" : "followed by unexpected bytes");
	if (ret)
		goto out;

	virtio_reset(vdev);
	vdev->driver_features = t->driver_features;
	vdev->device_features_sel = t->device_features_sel;
	vdev->driver_features_sel = t->driver_features_sel;
	vdev->queue_sel = t->queue_sel;
	vdev->status = t->status;
	vdev->config_generation = t->config_generation;
	vdev->needs_reset = t->needs_reset;
	memcpy(vdev->vqs, t->vqs, sizeof(vdev->vqs[0]) * vdev->nr_queues);
	/* The device takes up where it was: features fixed, queues live. */
	if (virtio_live(vdev) && vdev->ops->activate) {
		ret = vdev->ops->activate(vdev);
		if (ret) {
			err_set(err, ret, "%s: resuming the device: %s", vdev->name,
				strerror(-ret));
			goto out;
		}
	}
	/* An interrupt the driver had not acknowledged: tell it again, it reads the reason. */
	if (t->interrupt_status)
		virtio_raise(vdev, t->interrupt_status);
	if (virtio_live(vdev)) {
		if (vdev->ops->resume)
			vdev->ops->resume(vdev);
		/* Kicks that arrived before the snapshot were consumed there: look again. */
		for (unsigned int q = 0; q < vdev->nr_queues; q++)
			if (vdev->vqs[q].ready)
				virtio_requeue(vdev, q);
	}
out:
	pthread_mutex_unlock(&vdev->lock);
	free(t);
	return ret;
}

/* ---- the machine's device lifecycle, once for every virtio device ---- */

#define VIRTIO_MAX_NAME 64

static struct virtio_dev *virtio_of_dev(struct device *dev)
{
	return container_of(dev, struct virtio_dev, dev);
}

static int virtio_device_pause(struct device *dev)
{
	return virtio_dev_quiesce(virtio_of_dev(dev));
}

/* Kicks the driver wrote while the device was paused were consumed: look again. */
static void virtio_device_resume(struct device *dev)
{
	struct virtio_dev *vdev = virtio_of_dev(dev);

	pthread_mutex_lock(&vdev->lock);
	if (virtio_live(vdev))
		for (unsigned int q = 0; q < vdev->nr_queues; q++)
			if (vdev->vqs[q].ready)
				virtio_requeue(vdev, q);
	pthread_mutex_unlock(&vdev->lock);
}

/* The name first, so that a restore into another board says what it found. */
static void virtio_device_save(struct device *dev, struct state_writer *w)
{
	struct virtio_dev *vdev = virtio_of_dev(dev);

	state_put_str(w, vdev->name);
	virtio_dev_save(vdev, w);
}

static int virtio_device_restore(struct device *dev, struct state_reader *r, struct err *err)
{
	struct virtio_dev *vdev = virtio_of_dev(dev);
	char name[VIRTIO_MAX_NAME];

	state_get_str(r, name, sizeof(name));
	if (r->bad)
		return err_set(err, -EINVAL, "%s: device state is truncated", vdev->name);
	if (strcmp(name, vdev->name))
		return err_set(err, -EINVAL, "%s: the snapshot has '%s' in its place", vdev->name,
			       name);
	return virtio_dev_restore(vdev, r, err);
}

static void virtio_device_stats(struct device *dev, const struct device_stats_out *out)
{
	struct virtio_dev *vdev = virtio_of_dev(dev);

	if (vdev->ops->stats)
		vdev->ops->stats(vdev, out);
}

static void virtio_device_destroy(struct device *dev)
{
	struct virtio_dev *vdev = virtio_of_dev(dev);

	if (vdev->ops->destroy)
		vdev->ops->destroy(vdev);
}

static const struct device_ops virtio_device_ops = {
	.section = DEVICE_SECTION_VIRTIO,
	.numbered = true,
	.pause = virtio_device_pause,
	.resume = virtio_device_resume,
	.save = virtio_device_save,
	.restore = virtio_device_restore,
	.stats = virtio_device_stats,
	.destroy = virtio_device_destroy,
};

struct device *virtio_device(struct virtio_dev *vdev)
{
	return &vdev->dev;
}

struct virtio_dev *virtio_from_device(struct device *dev)
{
	return dev && dev->ops == &virtio_device_ops ? virtio_of_dev(dev) : NULL;
}
