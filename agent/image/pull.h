/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pulling an image into the store: resolve the reference on its registry,
 * pick linux/amd64 from an index, fetch the config and the layers (a few
 * layers at a time, each on its own connection), unpack, and register the
 * image with its references.
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

#include "agent/image/manifest.h"
#include "agent/image/registry.h"
#include "agent/image/store.h"

#define PULL_PARALLEL 3

/*
 * Unpacks the image's layers (blobs in the store, in order) into image_dir,
 * and says what it made, relative to image_dir: the rootfs directory and the
 * disks. Called before the image is registered.
 */
typedef int pull_unpack_fn(void *ctx, struct store *s, const char *image_dir,
			   const struct manifest *m, char **rootfs, char ***disks, size_t *nr_disks,
			   struct err *err);

struct puller_options {
	struct store *store;
	struct registry_options registry;
	unsigned int parallel; /* 0: PULL_PARALLEL */
	/*
	 * TODO(issue 11): agent/image/unpack.h's unpack_image() when it lands on
	 * main; until then NULL keeps the layers as blobs and records no rootfs.
	 */
	pull_unpack_fn *unpack;
	void *unpack_ctx;
};

struct puller;

int puller_new(const struct puller_options *opt, struct puller **out, struct err *err);
void puller_free(struct puller *p);

/* Pulls ref (any form ref_parse() takes); id gets the image id. */
int pull_image(struct puller *p, const char *ref, const struct registry_auth *auth,
	       char id[DIGEST_STR_LEN + 1], struct err *err);

#endif
