// SPDX-License-Identifier: Apache-2.0
/* Blobs: written through a verifying writer, read back by digest. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/image/store.h"
#include "agent/image/store_priv.h"

struct store_blob_writer {
	struct store *s;
	int fd;
	char tmp[64];
	char digest[DIGEST_STR_LEN + 1];
	uint64_t size, written;
	struct digest d;
};

int store_blob_begin(struct store *s, const char *digest, uint64_t size,
		     struct store_blob_writer **out, struct err *err)
{
	struct store_blob_writer *w;
	int r = digest_check(digest, err);

	*out = NULL;
	if (r)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return err_set(err, -ENOMEM, "out of memory");
	w->s = s;
	w->size = size;
	strcpy(w->digest, digest);
	snprintf(w->tmp, sizeof(w->tmp), TMP_PREFIX "%.16s-XXXXXX", digest_hex(digest));
	r = digest_init(&w->d);
	if (r) {
		free(w);
		return err_set(err, r, "out of memory");
	}
	/* mkostemp wants a path: the temp file lives next to the blobs. */
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", s->blobs_fd, w->tmp);
		w->fd = mkostemp(path, O_CLOEXEC);
		memcpy(w->tmp, strrchr(path, '/') + 1, strlen(w->tmp));
	}
	if (w->fd < 0) {
		r = err_set(err, -errno, "creating a blob in %s: %s", s->root, strerror(errno));
		digest_abort(&w->d);
		free(w);
		return r;
	}
	store_hold(s);
	*out = w;
	return 0;
}

int store_blob_write(struct store_blob_writer *w, const void *data, size_t len, struct err *err)
{
	size_t done = 0;

	if (len > w->size - w->written)
		return err_set(err, -EFBIG, "blob %s: more than the %" PRIu64 " bytes announced",
			       w->digest, w->size);
	while (done < len) {
		ssize_t n = write(w->fd, (const char *)data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, -errno, "writing blob %s: %s", w->digest,
				       strerror(errno));
		done += (size_t)n;
	}
	digest_update(&w->d, data, len);
	w->written += len;
	return 0;
}

static void writer_end(struct store_blob_writer *w, bool keep)
{
	struct store *s = w->s;

	if (w->fd >= 0)
		close(w->fd);
	if (!keep)
		unlinkat(s->blobs_fd, w->tmp, 0);
	digest_abort(&w->d);
	free(w);
	store_release(s);
}

void store_blob_abort(struct store_blob_writer *w)
{
	if (w)
		writer_end(w, false);
}

int store_blob_commit(struct store_blob_writer *w, struct err *err)
{
	char got[DIGEST_STR_LEN + 1];
	int r = 0;

	if (w->written != w->size)
		r = err_set(err, -EIO,
			    "blob %s: %" PRIu64 " bytes where %" PRIu64 " were announced",
			    w->digest, w->written, w->size);
	if (!r) {
		digest_final(&w->d, got);
		if (strcmp(got, w->digest))
			r = err_set(err, -EIO, "blob %s: the content's digest is %s", w->digest,
				    got);
	}
	if (!r && fdatasync(w->fd) < 0)
		r = err_set(err, -errno, "fdatasync of blob %s: %s", w->digest, strerror(errno));
	if (!r && renameat(w->s->blobs_fd, w->tmp, w->s->blobs_fd, digest_hex(w->digest)) < 0)
		r = err_set(err, -errno, "naming blob %s: %s", w->digest, strerror(errno));
	if (!r && store_fsync(w->s->blobs_fd) < 0)
		r = err_set(err, -errno, "fsync of %s/blobs: %s", w->s->root, strerror(errno));
	writer_end(w, !r);
	return r;
}

bool store_blob_has(struct store *s, const char *digest)
{
	return digest_valid(digest) && !faccessat(s->blobs_fd, digest_hex(digest), F_OK, 0);
}

int store_blob_open(struct store *s, const char *digest, struct err *err)
{
	int r = digest_check(digest, err), fd;

	if (r)
		return r;
	fd = openat(s->blobs_fd, digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(err, -errno, "blob %s: %s", digest, strerror(errno));
	return fd;
}

int store_blob_read(struct store *s, const char *digest, size_t max, char **buf, size_t *len,
		    struct err *err)
{
	int r = digest_check(digest, err);

	*buf = NULL;
	if (r)
		return r;
	r = store_read_file(s->blobs_fd, digest_hex(digest), max, buf, len);
	if (r == -EINVAL)
		return err_set(err, -EFBIG, "blob %s: larger than %zu bytes", digest, max);
	if (r)
		return err_set(err, r, "blob %s: %s", digest, strerror(-r));
	return 0;
}
