// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio/blk/disk.h"
#include "lib/log.h"

#define DISK_SECTOR 512U

static bool power_of_two(uint32_t v)
{
	return v && !(v & (v - 1));
}

/*
 * The alignment O_DIRECT needs on this fd: buffer address and file offset.
 * Returns false when it cannot be known.
 */
static bool dio_alignment(int fd, bool blkdev, uint32_t *mem, uint32_t *off)
{
	struct statx sx;
	int lbs;

	if (!statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) && (sx.stx_mask & STATX_DIOALIGN) &&
	    sx.stx_dio_offset_align) {
		*mem = sx.stx_dio_mem_align;
		*off = sx.stx_dio_offset_align;
		return power_of_two(*mem) && power_of_two(*off);
	}
	/* Kernels before 6.11 do not report it for block devices; the logical block size is safe. */
	if (blkdev && !ioctl(fd, BLKSSZGET, &lbs) && lbs > 0) {
		*mem = *off = (uint32_t)lbs;
		return power_of_two(*mem);
	}
	return false;
}

/* Turns O_DIRECT off again, saying why once. */
static int disk_go_buffered(struct blk_disk *d, const char *id, const char *why)
{
	int fl = fcntl(d->fd, F_GETFL);

	if (fl < 0 || fcntl(d->fd, F_SETFL, fl & ~O_DIRECT) < 0)
		return -errno;
	d->direct = false;
	d->mem_align = 1;
	log_info("drive '%s': %s; using buffered I/O", id, why);
	return 0;
}

static int disk_pick_io_mode(struct blk_disk *d, const char *id)
{
	uint32_t mem, off;
	char why[96];

	if (!dio_alignment(d->fd, d->blkdev, &mem, &off))
		return disk_go_buffered(d, id, "direct I/O alignment unknown");
	/* The guest's block size is 512: larger offset alignment would need read-modify-write. */
	if (off > DISK_SECTOR || mem > 4096) {
		snprintf(why, sizeof(why), "direct I/O needs %u-byte offsets and %u-byte buffers",
			 off, mem);
		return disk_go_buffered(d, id, why);
	}
	d->mem_align = mem;
	return 0;
}

static uint32_t disk_discard_align(const struct blk_disk *d, const struct stat *st)
{
	unsigned int pbs = 0;
	uint64_t v = st->st_blksize;

	if (d->blkdev && !ioctl(d->fd, BLKPBSZGET, &pbs))
		v = pbs;
	if (v < DISK_SECTOR || v > (1U << 20) || !power_of_two((uint32_t)v))
		v = DISK_SECTOR;
	return (uint32_t)v;
}

int blk_disk_open(struct blk_disk *d, const char *id, const char *path, bool readonly,
		  struct err *err)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int r;

	*d = (struct blk_disk){ .fd = -1, .mem_align = 1 };
	d->fd = open(path, flags | O_DIRECT);
	d->direct = d->fd >= 0;
	/* The file system has no O_DIRECT (tmpfs before 6.6, some FUSE mounts). */
	if (d->fd < 0 && errno == EINVAL)
		d->fd = open(path, flags);
	if (d->fd < 0) {
		r = -errno;
		if (!readonly && (r == -EACCES || r == -EPERM || r == -EROFS || r == -ETXTBSY))
			return err_set(err, r,
				       "drive '%s': %s is not writable: %s (readonly=on opens it "
				       "read-only)",
				       id, path, strerror(-r));
		return err_set(err, r, "drive '%s': cannot open %s: %s", id, path, strerror(-r));
	}
	if (fstat(d->fd, &st) < 0) {
		r = err_set(err, -errno, "drive '%s': %s: %s", id, path, strerror(errno));
		goto fail;
	}
	if (S_ISREG(st.st_mode)) {
		d->size = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		d->blkdev = true;
		if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0) {
			r = err_set(err, -errno, "drive '%s': %s: cannot read the size: %s", id,
				    path, strerror(errno));
			goto fail;
		}
	} else {
		r = err_set(err, -EINVAL, "drive '%s': %s is not a regular file or block device",
			    id, path);
		goto fail;
	}
	if (d->size % DISK_SECTOR) {
		r = err_set(err, -EINVAL, "drive '%s': %s is %llu bytes, not a multiple of %u", id,
			    path, (unsigned long long)d->size, DISK_SECTOR);
		goto fail;
	}
	if (d->size > (uint64_t)INT64_MAX) {
		r = err_set(err, -EFBIG, "drive '%s': %s is too large", id, path);
		goto fail;
	}
	if (!d->direct)
		log_info("drive '%s': %s does not support O_DIRECT; using buffered I/O", id, path);
	r = d->direct ? disk_pick_io_mode(d, id) : 0;
	if (r) {
		err_set(err, r, "drive '%s': %s: fcntl: %s", id, path, strerror(-r));
		goto fail;
	}
	d->discard_align = disk_discard_align(d, &st);
	return 0;
fail:
	close(d->fd);
	d->fd = -1;
	return r;
}

void blk_disk_close(struct blk_disk *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}
