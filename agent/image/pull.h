/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pulling an image into the store: resolve the reference on its registry,
 * pick linux/amd64 from an index, fetch the config and the layers (a few
 * layers at a time, each on its own connection), unpack them in order into
 * images/<id>/rootfs (unpack_image(): a temporary directory renamed into
 * place once every diff_id matched), find the VM parts (vm_image.h),
 * convert qcow2 disks to raw, and register the image with its references
 * and parts. The image directory is not visible (no meta.json, no
 * reference) until the last step, and a failure before it removes the
 * directory (store_image_abandon()); a crash leaves one that store_open()
 * removes.
 *
 * An image is unpacked once: concurrent pulls of the same image id wait
 * for the one unpacking it, and a pull of an image already unpacked only
 * adds its references.
 *
 * Concurrent pulls share downloads: a per-digest in-flight table makes a
 * second pull of a blob wait for the first one's result instead of fetching
 * it again. A pull holds the store (store_hold()) from its first blob to
 * the image's registration, so no GC takes its blobs meanwhile; a pull cut
 * off leaves verified blobs only (partial ones are removed as they fail,
 * and store_open() collects what no image references).
 *
 * Threads: a struct puller may be used from any number of threads at once.
 */
#ifndef KVMLET_AGENT_IMAGE_PULL_H
#define KVMLET_AGENT_IMAGE_PULL_H

#include <stdatomic.h>
#include <stdint.h>

#include "agent/image/manifest.h"
#include "agent/image/qcow2.h"
#include "agent/image/registry.h"
#include "agent/image/store.h"
#include "agent/image/unpack.h"

#define PULL_PARALLEL 3

struct puller_options {
	struct store *store;
	struct registry_options registry;
	unsigned int parallel;		    /* 0: PULL_PARALLEL */
	const struct unpack_limits *limits; /* NULL: unpack_default_limits, owners kept as root */
	struct qcow2_options qcow2;	    /* converting qcow2 disks to raw */
	/* Counters for the agent's metrics; may be NULL. Relaxed atomics. */
	struct pull_stats *stats;
};

/* What pulls did, for GET /metrics. */
struct pull_stats {
	_Atomic uint64_t pulls;	   /* pull_image() calls that succeeded */
	_Atomic uint64_t failures; /* ... and that failed */
	_Atomic uint64_t bytes;	   /* blob bytes fetched from registries */
};

struct puller;

int puller_new(const struct puller_options *opt, struct puller **out, struct err *err);
void puller_free(struct puller *p);

/* Pulls ref (any form ref_parse() takes); id gets the image id. */
int pull_image(struct puller *p, const char *ref, const struct registry_auth *auth,
	       char id[DIGEST_STR_LEN + 1], struct err *err);

#endif
