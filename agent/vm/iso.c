// SPDX-License-Identifier: Apache-2.0
/* ISO 9660 images of mounts and cloud-init data, with libarchive (iso.h). */
#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/vm/iso.h"

#define MAX_DEPTH      16    /* directory levels, links included: no loops */
#define MAX_ENTRIES    10000 /* files and directories in one image */
/* What one entry costs in the image beyond its data, for the size bound. */
#define ENTRY_OVERHEAD 2048

struct walk {
	struct archive *a;
	int root_fd;	   /* the mount's root directory: every name resolves beneath it */
	const char *label; /* the mount's host path, for messages */
	uint64_t max;
	uint64_t used;
	struct vm_iso_report *rep;
	struct err *err;
};
static struct archive *iso_open(const char *volume_id, int out_fd, struct err *err)
{
	struct archive *a = archive_write_new();

	if (!a) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	if (strlen(volume_id) > VM_ISO_VOLUME_ID_MAX ||
	    archive_write_set_format_iso9660(a) != ARCHIVE_OK ||
	    archive_write_set_format_option(a, "iso9660", "volume-id", volume_id) != ARCHIVE_OK ||
	    /* "strict": the files' own modes; the default "useful" makes all readable. */
	    archive_write_set_format_option(a, "iso9660", "rockridge", "strict") != ARCHIVE_OK ||
	    /* No 300 KiB of padding per image: these are disks, not CDs to burn. */
	    archive_write_set_format_option(a, "iso9660", "pad", NULL) != ARCHIVE_OK ||
	    archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
		err_set(err, -EIO, "ISO image '%s': %s", volume_id, archive_error_string(a));
		archive_write_free(a);
		return NULL;
	}
	return a;
}

static int iso_close(struct archive *a, const char *volume_id, struct err *err)
{
	int r = 0;

	if (archive_write_close(a) != ARCHIVE_OK)
		r = err_set(err, -EIO, "ISO image '%s': %s", volume_id, archive_error_string(a));
	archive_write_free(a);
	return r;
}

static int put_header(struct archive *a, const char *name, mode_t type, mode_t perm, int64_t size,
		      time_t mtime, struct err *err)
{
	struct archive_entry *e = archive_entry_new();
	int r = 0;

	if (!e)
		return err_set(err, -ENOMEM, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm & 07777);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		r = err_set(err, -EIO, "ISO entry '%s': %s", name, archive_error_string(a));
	archive_entry_free(e);
	return r;
}

static int put_data(struct archive *a, const char *name, const void *data, size_t len,
		    struct err *err)
{
	if (len && archive_write_data(a, data, len) != (la_ssize_t)len)
		return err_set(err, -EIO, "ISO entry '%s': %s", name, archive_error_string(a));
	return 0;
}

/* Counts an entry against the bounds before anything of it is written. */
static int charge(struct walk *w, uint64_t bytes, const char *name)
{
	uint64_t cost = bytes + ENTRY_OVERHEAD;

	if (w->rep->files + w->rep->dirs >= MAX_ENTRIES)
		return err_set(w->err, -EFBIG, "mount '%s': more than %u files", w->label,
			       MAX_ENTRIES);
	if (cost > w->max - w->used || w->used > w->max)
		return err_set(w->err, -EFBIG,
			       "mount '%s': its files exceed %llu MiB at '%s' (too big for a VM "
			       "mount disk)",
			       w->label, (unsigned long long)(w->max >> 20), name);
	w->used += cost;
	return 0;
}

/*
 * A volume's writer (a shared PVC, a hostPath) may swap any name for a
 * symlink or a FIFO while we walk: names are resolved only beneath the
 * mount's root descriptor (a link may point within it, as the atomic
 * writer's do, never out), and an entry is looked at as an O_PATH handle
 * first, so that opening a FIFO or a device never happens.
 */
static int open_beneath(int root_fd, const char *rel)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* Reads what an O_PATH handle names, the very inode that was checked. */
static int reopen(int path_fd, int flags)
{
	char proc[64];
	int fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path_fd);
	fd = open(proc, flags | O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Exactly st->st_size bytes from fd, even if the file changes meanwhile. */
static int put_file(struct walk *w, int fd, const char *name, const struct stat *st)
{
	char buf[65536];
	off_t left = st->st_size;
	int r;

	r = charge(w, (uint64_t)st->st_size, name);
	if (!r)
		r = put_header(w->a, name, AE_IFREG, st->st_mode, st->st_size, st->st_mtime,
			       w->err);
	while (!r && left > 0) {
		ssize_t n = read(fd, buf, (size_t)left < sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			memset(buf, 0, sizeof(buf));
			n = (ssize_t)((size_t)left < sizeof(buf) ? (size_t)left : sizeof(buf));
		}
		r = put_data(w->a, name, buf, (size_t)n, w->err);
		left -= n;
	}
	if (!r) {
		w->rep->files++;
		w->rep->bytes += (uint64_t)st->st_size;
	}
	return r;
}

static int walk_dir(struct walk *w, int dir_fd, const char *rel, const char *prefix,
		    unsigned int depth);

/* One directory entry: rel beneath the root, stored as iso_name. */
static int walk_entry(struct walk *w, const char *rel, const char *iso_name, unsigned int depth)
{
	struct stat st;
	int pfd, fd, r;

	pfd = open_beneath(w->root_fd, rel);
	if (pfd < 0 || fstat(pfd, &st) ||
	    !(S_ISREG(st.st_mode) || (S_ISDIR(st.st_mode) && depth + 1 < MAX_DEPTH))) {
		/* escaping or dangling links, special files, too deep */
		if (pfd >= 0)
			close(pfd);
		w->rep->skipped++;
		return 0;
	}
	fd = reopen(pfd, S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
	close(pfd);
	if (fd < 0) {
		w->rep->skipped++;
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		r = put_file(w, fd, iso_name, &st);
		close(fd);
		return r;
	}
	r = charge(w, 0, iso_name);
	if (!r)
		r = put_header(w->a, iso_name, AE_IFDIR, st.st_mode, 0, st.st_mtime, w->err);
	if (!r) {
		w->rep->dirs++;
		r = walk_dir(w, fd, rel, iso_name, depth + 1);
	}
	close(fd);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir_fd (not closed), sorted: the same directory, the same image. */
static int list_dir(struct walk *w, int dir_fd, const char *rel, char ***out, size_t *nr)
{
	int fd = dup(dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int r = 0;

	if (!d) {
		r = err_set(w->err, -errno, "mount '%s': directory '%s': %s", w->label,
			    *rel ? rel : ".", strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	while (!r && (de = readdir(d))) {
		/* ".", "..", and the atomic writer's "..data", "..2026_..." */
		if (!strncmp(de->d_name, "..", 2) || !strcmp(de->d_name, "."))
			continue;
		if (n >= MAX_ENTRIES) {
			r = err_set(w->err, -EFBIG, "mount '%s': more than %u files", w->label,
				    MAX_ENTRIES);
			break;
		}
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 16) * sizeof(*names));
			if (!nn) {
				r = err_set(w->err, -ENOMEM, "out of memory");
				break;
			}
			names = nn;
			cap = cap ? cap * 2 : 16;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = err_set(w->err, -ENOMEM, "out of memory");
			break;
		}
		n++;
	}
	closedir(d);
	if (!r)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*nr = n;
	return r;
}

static int walk_dir(struct walk *w, int dir_fd, const char *rel, const char *prefix,
		    unsigned int depth)
{
	char **names = NULL;
	size_t n = 0;
	int r = list_dir(w, dir_fd, rel, &names, &n);

	for (size_t i = 0; !r && i < n; i++) {
		char sub[PATH_MAX], iso_name[PATH_MAX];

		/* Resolved from the root again: links like "../..data/x" reach their files. */
		if (snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", names[i]) >=
			    (int)sizeof(sub) ||
		    snprintf(iso_name, sizeof(iso_name), "%s%s%s", prefix, *prefix ? "/" : "",
			     names[i]) >= (int)sizeof(iso_name)) {
			w->rep->skipped++;
			continue;
		}
		r = walk_entry(w, sub, iso_name, depth);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

/*
 * One source into the open image: its tree (or file) under dir ("" for the
 * root). host_path itself is kubelet's (trusted, and it may be a link);
 * only what lies beneath it is the volume's.
 */
static int put_source(struct walk *w, const struct vm_iso_source *src)
{
	const char *dir = src->dir ? src->dir : "";
	char name[PATH_MAX];
	struct stat st;
	int fd, r;

	w->label = src->host_path;
	fd = open(src->host_path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return err_set(w->err, -errno, "mount '%s': %s", src->host_path, strerror(errno));
	if (fstat(fd, &st) || (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))) {
		close(fd);
		return err_set(w->err, -EINVAL,
			       "mount '%s': neither a directory nor a regular file",
			       src->host_path);
	}
	r = 0;
	if (*dir) {
		r = charge(w, 0, dir);
		if (!r)
			r = put_header(w->a, dir, AE_IFDIR, 0755, 0, st.st_mtime, w->err);
		if (!r)
			w->rep->dirs++;
	}
	if (!r && S_ISDIR(st.st_mode)) {
		w->root_fd = fd;
		r = walk_dir(w, fd, "", dir, *dir ? 1 : 0);
	} else if (!r) {
		const char *base = strrchr(src->host_path, '/');

		base = base ? base + 1 : src->host_path;
		if (!*base || snprintf(name, sizeof(name), "%s%s%s", dir, *dir ? "/" : "", base) >=
				      (int)sizeof(name))
			r = err_set(w->err, -ENAMETOOLONG, "mount '%s': bad file name",
				    src->host_path);
		else
			r = put_file(w, fd, name, &st);
	}
	close(fd);
	return r;
}

int vm_iso_from_sources(const struct vm_iso_source *src, size_t nr, const char *volume_id,
			uint64_t max_bytes, int out_fd, struct vm_iso_report *rep, struct err *err)
{
	struct walk w = { .root_fd = -1, .max = max_bytes, .rep = rep, .err = err };
	int r = 0;

	memset(rep, 0, sizeof(*rep));
	w.a = iso_open(volume_id, out_fd, err);
	if (!w.a)
		return err->code;
	for (size_t i = 0; !r && i < nr; i++)
		r = put_source(&w, &src[i]);
	if (r) {
		archive_write_free(w.a);
		return r;
	}
	return iso_close(w.a, volume_id, err);
}

int vm_iso_from_path(const char *host_path, const char *volume_id, uint64_t max_bytes, int out_fd,
		     struct vm_iso_report *rep, struct err *err)
{
	const struct vm_iso_source src = { .host_path = host_path, .dir = "" };

	return vm_iso_from_sources(&src, 1, volume_id, max_bytes, out_fd, rep, err);
}

int vm_iso_from_files(const struct vm_iso_file *files, size_t nr, const char *volume_id, int out_fd,
		      struct err *err)
{
	struct archive *a = iso_open(volume_id, out_fd, err);
	time_t now = time(NULL);
	int r = 0;

	if (!a)
		return err->code;
	for (size_t i = 0; !r && i < nr; i++) {
		r = put_header(a, files[i].name, AE_IFREG, files[i].mode, (int64_t)files[i].len,
			       now, err);
		if (!r)
			r = put_data(a, files[i].name, files[i].data, files[i].len, err);
	}
	if (r) {
		archive_write_free(a);
		return r;
	}
	return iso_close(a, volume_id, err);
}

void vm_iso_volume_name(const char *container_path, unsigned int index, char *buf, size_t size)
{
	const char *p = container_path ? container_path : "";
	size_t len = strlen(p), n;

	while (len && p[len - 1] == '/')
		len--;
	const char *base = p + len;
	while (base > p && base[-1] != '/')
		base--;
	n = (size_t)snprintf(buf, size, "%u_", index);
	if (n >= size)
		n = size - 1;
	/* ISO 9660 d-characters: what the volume id keeps unchanged. */
	for (; base < p + len && n + 1 < size; base++) {
		unsigned char c = (unsigned char)toupper((unsigned char)*base);

		buf[n++] = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? (char)c : '_';
	}
	buf[n] = '\0';
}
