// SPDX-License-Identifier: Apache-2.0
/* Writable disk copies: reflink, else sparse copy (disk.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/vm/disk.h"

/* Copies [off, end) with copy_file_range (the kernel's copy, no user buffer). */
static int copy_range(int in, int out, off_t off, off_t end)
{
	while (off < end) {
		loff_t io = off, oo = off;
		size_t n = (size_t)(end - off) > (1U << 30) ? (1U << 30) : (size_t)(end - off);
		ssize_t w = copy_file_range(in, &io, out, &oo, n, 0);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO; /* the source shrank under us */
		off += w;
	}
	return 0;
}

int vm_disk_copy_sparse(int in, int out, struct err *err)
{
	struct stat st;
	off_t off = 0;
	int r;

	if (fstat(in, &st))
		return err_set(err, -errno, "disk copy: stat: %s", strerror(errno));
	while (off < st.st_size) {
		off_t data = lseek(in, off, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			break; /* only a hole is left */
		if (data < 0)
			return err_set(err, -errno, "disk copy: SEEK_DATA: %s", strerror(errno));
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return err_set(err, -errno, "disk copy: SEEK_HOLE: %s", strerror(errno));
		r = copy_range(in, out, data, hole);
		if (r)
			return err_set(err, r, "disk copy: %s", strerror(-r));
		off = hole;
	}
	/* The trailing hole: the size without blocks. */
	if (ftruncate(out, st.st_size))
		return err_set(err, -errno, "disk copy: truncate: %s", strerror(errno));
	return 0;
}

int vm_disk_clone(const char *src, const char *dst, gid_t gid, bool *reflinked, struct err *err)
{
	int in, out, r = 0;

	*reflinked = false;
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return err_set(err, -errno, "disk '%s': %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		r = err_set(err, -errno, "disk copy '%s': %s", dst, strerror(errno));
		close(in);
		return r;
	}
	if (ioctl(out, FICLONE, in) == 0)
		*reflinked = true;
	else
		r = vm_disk_copy_sparse(in, out, err);
	/*
	 * No fsync: after a host crash the container is created anew, with a
	 * fresh copy, so this one never needs to survive one.
	 */
	if (!r && (fchown(out, 0, gid) || fchmod(out, 0660)))
		r = err_set(err, -errno, "disk copy '%s': chown: %s", dst, strerror(errno));
	close(out);
	close(in);
	if (r)
		unlink(dst);
	return r;
}
