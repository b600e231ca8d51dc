// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/replace_file.h"
#include "vmm/snapshot/mem_file.h"

/* Large enough to amortise the syscall, small enough to stay under pwrite's cap. */
#define MEM_WRITE_MAX (64ull << 20)

static uint64_t nr_pages(const struct guest_memory *gm)
{
	return (gm->size + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE;
}

static uint64_t bitmap_words(uint64_t pages)
{
	return (pages + 63) / 64;
}

static bool test_bit(const uint64_t *bm, uint64_t bit)
{
	return bm[bit / 64] & (1ull << (bit % 64));
}

static bool page_is_zero(const struct guest_memory *gm, uint64_t pg)
{
	uint64_t off = pg * GM_PAGE_SIZE;
	uint64_t len = gm->size - off < GM_PAGE_SIZE ? gm->size - off : GM_PAGE_SIZE;
	const uint8_t *p = gm->base + off;
	uint64_t acc = 0;

	for (uint64_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (uint64_t i = len & ~7ull; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

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

/* Writes pages [first, first + n) of guest RAM at their own offsets. */
static int write_pages(const struct guest_memory *gm, int fd, uint64_t first, uint64_t n)
{
	uint64_t off = first * GM_PAGE_SIZE;
	uint64_t len = n * GM_PAGE_SIZE;

	if (len > gm->size - off)
		len = gm->size - off;
	return pwrite_all(fd, gm->base + off, len, off);
}

/*
 * Writes runs of pages, one pwrite per run of at most MEM_WRITE_MAX: the
 * pages set in dirty, or without a bitmap every page that is not all zero.
 */
static int write_runs(const struct guest_memory *gm, int fd, const uint64_t *dirty)
{
	uint64_t pages = nr_pages(gm), max = MEM_WRITE_MAX / GM_PAGE_SIZE;
	uint64_t pg = 0;

	while (pg < pages) {
		uint64_t start;
		int r;

		if (dirty ? !test_bit(dirty, pg) : page_is_zero(gm, pg)) {
			pg++;
			continue;
		}
		start = pg++;
		while (pg < pages && pg - start < max &&
		       (dirty ? test_bit(dirty, pg) : !page_is_zero(gm, pg)))
			pg++;
		r = write_pages(gm, fd, start, pg - start);
		if (r)
			return r;
	}
	return 0;
}

/*
 * Takes (and so clears) KVM's dirty log of every slot, ORing it into bm
 * when bm is not NULL. A slot without a dirty log is fine only when the
 * caller merely wants the log cleared.
 */
static int take_kvm_dirty(const struct guest_memory *gm, int vm_fd, uint64_t *bm, struct err *err)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct mem_region *reg = &gm->region[i];
		uint64_t pages = reg->size / GM_PAGE_SIZE;
		uint64_t first = (uint64_t)(reg->host - gm->base) / GM_PAGE_SIZE;
		uint64_t words = bitmap_words(pages);
		uint64_t *kbm = calloc(words ? words : 1, sizeof(uint64_t));
		struct kvm_dirty_log log = { .slot = i, .dirty_bitmap = kbm };

		if (!kbm)
			return err_set(err, -ENOMEM, "out of memory");
		if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			int e = errno;

			free(kbm);
			if (e == ENOENT && !bm)
				continue;
			return err_set(err, -e, "KVM_GET_DIRTY_LOG for RAM slot %u: %s%s", i,
				       strerror(e), e == ENOENT ? " (dirty tracking is off)" : "");
		}
		for (uint64_t w = 0; bm && w < words; w++) {
			uint64_t bits = kbm[w];

			while (bits) {
				uint64_t pg = first + w * 64 + (uint64_t)__builtin_ctzll(bits);

				bm[pg / 64] |= 1ull << (pg % 64);
				bits &= bits - 1;
			}
		}
		free(kbm);
	}
	return 0;
}

/* Empties the VMM's bitmap word by word, racing safely with gm_mark_dirty(). */
static void take_vmm_dirty(const struct guest_memory *gm, uint64_t *bm)
{
	/* Sized as gm_dirty_enable() sizes it: whole pages only. */
	uint64_t words = bitmap_words(gm->size / GM_PAGE_SIZE);

	if (!gm->dirty)
		return;
	for (uint64_t w = 0; w < words; w++) {
		uint64_t bits = __atomic_exchange_n(&gm->dirty[w], 0, __ATOMIC_ACQ_REL);

		if (bm)
			bm[w] |= bits;
	}
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
	r = write_runs(gm, fd, bm);
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
		bm = calloc(bitmap_words(nr_pages(gm)) + 1, sizeof(uint64_t));
		if (!bm)
			return err_set(err, -ENOMEM, "out of memory");
	}
	/* Reset before copying: a page written during the copy is in the next diff. */
	take_vmm_dirty(gm, bm);
	if (vm_fd >= 0 && (diff || gm->dirty))
		r = take_kvm_dirty(gm, vm_fd, bm, err);
	if (!r)
		r = diff ? write_diff(gm, path, bm, err) : write_full(gm, path, err);
	free(bm);
	return r;
}

int mem_dirty_log_set(struct guest_memory *gm, int vm_fd, bool enable, struct err *err)
{
	/* The VMM's bitmap is on before KVM's log and off after it: no write slips by. */
	if (enable && gm_dirty_enable(gm) < 0)
		return err_set(err, -ENOMEM, "out of memory for the dirty page bitmap");
	for (unsigned int i = 0; vm_fd >= 0 && i < gm->nr_regions; i++) {
		const struct mem_region *reg = &gm->region[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.flags = enable ? KVM_MEM_LOG_DIRTY_PAGES : 0,
			.guest_phys_addr = reg->gpa,
			.memory_size = reg->size,
			.userspace_addr = (uintptr_t)reg->host,
		};

		if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
			return err_set(err, -errno, "%s dirty logging on RAM slot %u: %s",
				       enable ? "enabling" : "disabling", i, strerror(errno));
	}
	if (!enable)
		gm_dirty_disable(gm);
	return 0;
}
