/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The device side of virtio over MMIO (virtio 1.2, 4.2, transport version 2).
 *
 * A device embeds struct virtio_dev and implements struct virtio_dev_ops;
 * the transport owns the register file (mmio.c), feature negotiation, the
 * queues' set-up and the interrupt status, so devices only see requests.
 * Its transport-independent core (virtio.c) also implements the machine's
 * device lifecycle (devices/device.h) once for every virtio device: pause
 * is quiesce, save and restore carry the transport's part and then the
 * device's.
 *
 * Threads: register accesses arrive on vCPU threads, queue kicks (ioeventfd)
 * and backend completions on the VMM's event loop. Both hold vdev->lock.
 */
#ifndef KVMLET_DEVICES_VIRTIO_H
#define KVMLET_DEVICES_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/device.h"
#include "devices/virtio/queue.h"
#include "lib/err.h"
#include "lib/event_loop.h"
#include "lib/state.h"
#include "memory/guest_memory.h"

#define VIRTIO_MMIO_MAX_QUEUES 16

struct virtio_dev;

/* Every op may be NULL: nothing to do (config reads then see zeros). */
struct virtio_dev_ops {
	/* The device's kind, as registry_find() knows it: "virtio-blk". */
	const char *kind;
	/* Device configuration space; off is relative to its start (0x100). */
	void (*config_read)(struct virtio_dev *vdev, uint64_t off, void *data, uint32_t len);
	void (*config_write)(struct virtio_dev *vdev, uint64_t off, const void *data, uint32_t len);
	/* DRIVER_OK: features are fixed and the ready queues can be served. */
	int (*activate)(struct virtio_dev *vdev);
	/* The driver reset the device: drop every request, forget the queues. */
	void (*reset)(struct virtio_dev *vdev);
	/* Queue q has new buffers (on the event loop). */
	void (*notify)(struct virtio_dev *vdev, unsigned int q);

	/*
	 * Pauses and snapshots, on the event loop with every vCPU paused.
	 * quiesce waits for the backend's in-flight requests and completes
	 * them to the rings, so that nothing is in flight when the state is
	 * saved. save and restore carry only what the transport does not (the
	 * transport saves status, features and queues).
	 */
	int (*quiesce)(struct virtio_dev *vdev);
	void (*save)(struct virtio_dev *vdev, struct state_writer *w);
	int (*restore)(struct virtio_dev *vdev, struct state_reader *r, struct err *err);
	/* After a restore, with the device attached: resume serving the queues. */
	void (*resume)(struct virtio_dev *vdev);

	/* Metrics: device_emit() on &vdev->dev for each sample (any thread). */
	void (*stats)(struct virtio_dev *vdev, const struct device_stats_out *out);
	/* Frees the device; the registry's teardown calls it. */
	void (*destroy)(struct virtio_dev *vdev);
};

struct virtio_kick {
	struct event_handler ev; /* the queue's ioeventfd */
	struct virtio_dev *vdev;
	unsigned int queue;
};

struct virtio_dev {
	struct device dev; /* dev.ops is the transport's; dev.id is set by the device */
	const struct virtio_dev_ops *ops;
	const char *name;
	uint32_t device_id;
	uint64_t device_features; /* offered, transport features included */
	uint64_t driver_features; /* accepted */
	uint32_t status;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint32_t interrupt_status; /* atomic: set on the loop, acked by vCPUs */
	uint32_t config_generation;
	bool needs_reset;

	unsigned int nr_queues;
	struct virtqueue vqs[VIRTIO_MMIO_MAX_QUEUES];
	struct virtio_kick kicks[VIRTIO_MMIO_MAX_QUEUES];
	const struct guest_memory *mem;
	struct event_loop *loop;
	int irq_fd; /* eventfd bound to the device's GSI with KVM_IRQFD */
	pthread_mutex_t lock;
};

void virtio_dev_init(struct virtio_dev *vdev, const struct virtio_dev_ops *ops, const char *name,
		     uint32_t device_id, uint64_t features, unsigned int nr_queues,
		     const struct guest_memory *mem);
void virtio_dev_fini(struct virtio_dev *vdev);

/*
 * Connects the device to the machine: irq_fd raises its interrupt and
 * kick_fds[q] is signalled (by KVM, through an ioeventfd) when the driver
 * writes q to QueueNotify. The kicks are served on `loop`.
 */
int virtio_dev_attach(struct virtio_dev *vdev, struct event_loop *loop, int irq_fd,
		      const int *kick_fds, struct err *err);

/*
 * Device state for snapshots and migration (one section body each; the
 * caller frames the section and names the device). save runs quiesce
 * first; restore refuses state for another device type or queue count and
 * is called after virtio_dev_attach().
 */
int virtio_dev_quiesce(struct virtio_dev *vdev);
void virtio_dev_save(struct virtio_dev *vdev, struct state_writer *w);
int virtio_dev_restore(struct virtio_dev *vdev, struct state_reader *r, struct err *err);

/* The device as the machine's registry sees it, and back (NULL: not virtio). */
struct device *virtio_device(struct virtio_dev *vdev);
struct virtio_dev *virtio_from_device(struct device *dev);

/* The MMIO register file; opaque is the struct virtio_dev. */
extern const struct bus_ops virtio_mmio_bus_ops;

static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned int bit)
{
	return vdev->driver_features & (1ULL << bit);
}

/* After pushing used buffers to queue q: interrupts the driver if it wants one. */
void virtio_notify_used(struct virtio_dev *vdev, unsigned int q);
/*
 * Runs ops->notify for queue q again on a later turn of the event loop: a
 * device that stops at its budget with requests left calls this, so that one
 * busy queue cannot starve the rest of the VMM.
 */
void virtio_requeue(struct virtio_dev *vdev, unsigned int q);
/* The device's configuration changed; a driver past DRIVER_OK is interrupted. */
void virtio_notify_config(struct virtio_dev *vdev);
/*
 * The driver broke the protocol (a malformed ring, say): the device stops
 * serving and tells the driver with DEVICE_NEEDS_RESET. Logged once.
 */
void virtio_set_needs_reset(struct virtio_dev *vdev, const char *why);

#endif
