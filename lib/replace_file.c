// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/replace_file.h"

#define TMP_SUFFIX ".tmp-XXXXXX"

int replace_file_open(struct replace_file *f, const char *path, const char *what, struct err *err)
{
	size_t len = strlen(path) + sizeof(TMP_SUFFIX);

	f->fd = -1;
	f->path = path;
	f->tmp = malloc(len);
	if (!f->tmp)
		return err_set(err, -ENOMEM, "out of memory");
	snprintf(f->tmp, len, "%s" TMP_SUFFIX, path);
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		int r = err_set(err, -errno, "creating a temporary file for %s %s: %s", what, path,
				strerror(errno));

		free(f->tmp);
		f->tmp = NULL;
		return r;
	}
	return 0;
}

void replace_file_abort(struct replace_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	f->fd = -1;
	f->tmp = NULL;
}

/* Makes the rename itself durable. */
static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int replace_file_commit(struct replace_file *f, struct err *err)
{
	int r, fd = f->fd;

	f->fd = -1;
	if (fdatasync(fd) < 0) {
		r = err_set(err, -errno, "fdatasync of %s: %s", f->tmp, strerror(errno));
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		r = err_set(err, -errno, "closing %s: %s", f->tmp, strerror(errno));
		goto fail;
	}
	if (rename(f->tmp, f->path) < 0) {
		r = err_set(err, -errno, "renaming %s to %s: %s", f->tmp, f->path, strerror(errno));
		goto fail;
	}
	free(f->tmp);
	f->tmp = NULL;
	r = fsync_parent(f->path);
	return r ? err_set(err, r, "fsync of the directory of %s: %s", f->path, strerror(-r)) : 0;
fail:
	replace_file_abort(f);
	return r;
}
