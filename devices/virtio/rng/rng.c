// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "devices/virtio/rng/rng.h"

/* Bytes handed out per request, and requests served per turn of the event loop. */
#define RNG_MAX_REQUEST (64 * 1024)
#define RNG_BUDGET	64

struct virtio_rng {
	struct virtio_dev vdev;
	struct vq_chain chain;
	struct rng_stats stats;
};

/* Fills the writable buffers of a chain; returns the bytes written. */
static uint32_t rng_fill(const struct vq_chain *c)
{
	uint32_t done = 0;

	for (unsigned int i = c->nr_out; i < c->nr_out + c->nr_in && done < RNG_MAX_REQUEST; i++) {
		size_t want = c->buf[i].len, got = 0;

		if (want > RNG_MAX_REQUEST - done)
			want = RNG_MAX_REQUEST - done;
		while (got < want) {
			ssize_t n = getrandom(c->buf[i].addr + got, want - got, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return done + got;
			}
			got += n;
		}
		done += got;
	}
	return done;
}

static void rng_notify(struct virtio_dev *vdev, unsigned int q)
{
	struct virtio_rng *rng = container_of(vdev, struct virtio_rng, vdev);
	struct virtqueue *vq = &vdev->vqs[q];
	unsigned int served = 0;
	int r = 0;

	while (served < RNG_BUDGET && (r = vq_pop(vq, &rng->chain)) > 0) {
		uint32_t n = rng_fill(&rng->chain);

		vq_chain_mark_written(vq, &rng->chain);
		vq_push(vq, rng->chain.head, n);
		stats_add(rng->stats.requests, 1);
		stats_add(rng->stats.bytes, n);
		served++;
	}
	if (r < 0)
		virtio_set_needs_reset(vdev, vq_strerror(-r));
	else if (served == RNG_BUDGET)
		virtio_requeue(vdev, q); /* let other devices have the loop, then go on */
	virtio_notify_used(vdev, q);
}

static const struct prom_family rng_requests_family = { "kvmlet_rng_requests_total",
							"virtio-rng requests served.",
							PROM_COUNTER };
static const struct prom_family rng_bytes_family = { "kvmlet_rng_bytes_total",
						     "Random bytes given to the guest.",
						     PROM_COUNTER };

static void rng_stats(struct virtio_dev *vdev, const struct device_stats_out *out)
{
	struct virtio_rng *rng = container_of(vdev, struct virtio_rng, vdev);

	device_emit(out, &vdev->dev,
		    &(struct device_metric){ &rng_requests_family, NULL, "entropy",
					     "entropy_event_count", false },
		    stats_get(rng->stats.requests));
	device_emit(out, &vdev->dev,
		    &(struct device_metric){ &rng_bytes_family, NULL, "entropy", "entropy_bytes",
					     false },
		    stats_get(rng->stats.bytes));
}

static void rng_destroy(struct virtio_dev *vdev)
{
	virtio_rng_destroy(container_of(vdev, struct virtio_rng, vdev));
}

/* No configuration space and no state beyond the transport's. */
static const struct virtio_dev_ops rng_ops = {
	.kind = "virtio-rng",
	.notify = rng_notify,
	.stats = rng_stats,
	.destroy = rng_destroy,
};

struct virtio_rng *virtio_rng_create(const struct guest_memory *mem)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));

	if (rng)
		virtio_dev_init(&rng->vdev, &rng_ops, "virtio-rng", VIRTIO_ID_RNG, 0, 1, mem);
	return rng;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	virtio_dev_fini(&rng->vdev);
	free(rng);
}

struct virtio_dev *virtio_rng_dev(struct virtio_rng *rng)
{
	return &rng->vdev;
}

const struct rng_stats *virtio_rng_stats(const struct virtio_rng *rng)
{
	return &rng->stats;
}
