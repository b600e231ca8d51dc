/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's insides, shared by its files: store.c (the index, references,
 * images, GC and repair), store_blob.c (blob writers and reads) and
 * store_usage.c (ImageFsInfo). Not for use outside agent/image/store*.c.
 */
#ifndef KVMLET_AGENT_IMAGE_STORE_PRIV_H
#define KVMLET_AGENT_IMAGE_STORE_PRIV_H

#include <dirent.h>
#include <pthread.h>

#include "agent/image/store.h"

#define TMP_PREFIX ".tmp-" /* in every temporary file's name; removed at open */

struct store_ref {
	char *name; /* "name:tag" or "name@digest" */
	char id[DIGEST_STR_LEN + 1];
};

/* An image directory a pull is filling, not yet registered. */
struct store_prep {
	char id[DIGEST_STR_LEN + 1];
	unsigned int count; /* pulls of this image under way */
};

struct store {
	char *root;
	int root_fd, blobs_fd, images_fd, lock_fd;
	store_in_use_fn *in_use;
	void *in_use_ctx;
	pthread_mutex_t lock;
	/* Guarded by lock. */
	struct store_image *images;
	size_t nr_images;
	struct store_ref *refs;
	size_t nr_refs;
	unsigned int holds;
	bool gc_pending;
	struct store_prep *preps;
	size_t nr_preps;
};

/* fsync(), as a negative errno. */
int store_fsync(int fd);
/* A fresh stream over dirfd: a dup() would share (and exhaust) its offset. */
DIR *store_opendir(int dirfd);
/* A whole regular file of at most max bytes below dirfd, NUL-terminated (free *buf). */
int store_read_file(int dirfd, const char *name, size_t max, char **buf, size_t *len);

#endif
