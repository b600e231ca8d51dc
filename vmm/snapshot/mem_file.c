// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/replace_file.h"
#include "memory/dirty.h"
#include "memory/page_runs.h"
#include "vmm/snapshot/mem_file.h"

/* Large enough to amortise the syscall, small enough to stay under pwrite's cap. */
#define MEM_WRITE_MAX (64ull << 20)

static int pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/*
 * Writes one run at its own offset, one pwrite per MEM_WRITE_MAX; zero runs
 * (full writes only) stay holes.
 */
static int write_run(const struct gm_run *run, void *ctx)
{
	const int *fd = ctx;

	if (run->zero)
		return 0;
	for (uint64_t done = 0; done < run->len; done += MEM_WRITE_MAX) {
		uint64_t len = run->len - done < MEM_WRITE_MAX ? run->len - done : MEM_WRITE_MAX;
		int r = pwrite_all(*fd, run->host + done, len, run->offset + done);

		if (r)
			return r;
	}
	return 0;
}

/* Writes guest RAM into the regular file fd: every page, or those set in bm. */
static int write_ram(const struct guest_memory *gm, int fd, const char *path, const uint64_t *bm,
		     struct err *err)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return err_set(err, -errno, "stat of memory file %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, -EINVAL, "memory file %s is not a regular file", path);
	/* Full: holes for zero pages. Diff onto a new file: holes for clean ones. */
	if ((uint64_t)st.st_size < gm->size && ftruncate(fd, (off_t)gm->size) < 0)
		return err_set(err, -errno, "sizing memory file %s to %llu bytes: %s", path,
			       (unsigned long long)gm->size, strerror(errno));
	/* A full write reads every page, a diff only the dirty ones. */
	r = gm_for_each_run(gm, bm, bm ? 0 : GM_RUNS_SPLIT_ZERO, write_run, &fd);
	if (r)
		return err_set(err, r, "writing guest RAM to %s: %s", path, strerror(-r));
	return 0;
}

/* A diff updates the file in place. */
static int write_diff(const struct guest_memory *gm, const char *path, const uint64_t *bm,
		      struct err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600), r;

	if (fd < 0)
		return err_set(err, -errno, "opening memory file %s: %s", path, strerror(errno));
	r = write_ram(gm, fd, path, bm, err);
	if (!r && fdatasync(fd) < 0)
		r = err_set(err, -errno, "fdatasync of memory file %s: %s", path, strerror(errno));
	if (close(fd) < 0 && !r)
		r = err_set(err, -errno, "closing memory file %s: %s", path, strerror(errno));
	return r;
}

/*
 * A full write goes to a new file renamed over path: a crash leaves the
 * old file whole, and a VM running from the old file (gm_map_file maps it
 * privately, pages still unread come from it) keeps its pages.
 */
static int write_full(const struct guest_memory *gm, const char *path, struct err *err)
{
	struct replace_file f;
	int r = replace_file_open(&f, path, "memory file", err);

	if (r)
		return r;
	r = write_ram(gm, f.fd, path, NULL, err);
	if (r) {
		replace_file_abort(&f);
		return r;
	}
	return replace_file_commit(&f, err);
}

int mem_file_write(const struct guest_memory *gm, int vm_fd, const char *path, bool diff,
		   struct err *err)
{
	uint64_t *bm = NULL;
	int r = 0;

	if (diff && !gm->dirty)
		return err_set(err, -EINVAL,
			       "a diff snapshot of guest RAM needs dirty tracking, which is off");
	if (diff) {
		bm = calloc(gm_bitmap_words(gm) + 1, sizeof(uint64_t));
		if (!bm)
			return err_set(err, -ENOMEM, "out of memory");
	}
	/* Reset before copying: a page written during the copy is in the next diff. */
	if (gm->dirty)
		r = dirty_harvest(gm, vm_fd, bm, err);
	if (!r)
		r = diff ? write_diff(gm, path, bm, err) : write_full(gm, path, err);
	free(bm);
	return r;
}
