// SPDX-License-Identifier: Apache-2.0
/*
 * The layer unpacker on archives built here with libarchive's writer (and,
 * for what no writer produces, raw ustar headers): the happy paths, and
 * every hostile layer, each refused naming its entry with nothing left
 * behind and nothing outside the image touched.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/image/digest.h"
#include "agent/image/unpack.h"
#include "agent/image/unpack_pathset.h"

#define MTIME 1000000000

/* A scratch directory with outside/secret beside where the image goes. */
struct fixture {
	char base[64];
	char dest[96];
	char outside[96];
};

struct tar {
	struct archive *a;
	int fd;
};

static void tar_begin_as(struct tar *t, bool gzip, bool pax)
{
	t->fd = memfd_create("layer", MFD_CLOEXEC);
	assert_true(t->fd >= 0);
	t->a = archive_write_new();
	if (pax)
		archive_write_set_format_pax(t->a);
	else
		archive_write_set_format_pax_restricted(t->a);
	if (gzip)
		archive_write_add_filter_gzip(t->a);
	assert_int_equal(archive_write_open_fd(t->a, t->fd), ARCHIVE_OK);
}

static void tar_begin(struct tar *t, bool gzip)
{
	tar_begin_as(t, gzip, false);
}

static struct archive_entry *entry(const char *path, mode_t type, mode_t perm)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_copy_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, MTIME, 0);
	return e;
}

static void tar_put(struct tar *t, struct archive_entry *e, const void *data, size_t len)
{
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (len)
		assert_int_equal(archive_write_data(t->a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void tar_file_mode(struct tar *t, const char *path, const char *data, mode_t perm)
{
	struct archive_entry *e = entry(path, AE_IFREG, perm);

	archive_entry_set_size(e, (la_int64_t)strlen(data));
	tar_put(t, e, data, strlen(data));
}

static void tar_file(struct tar *t, const char *path, const char *data)
{
	tar_file_mode(t, path, data, 0644);
}

static void tar_dir(struct tar *t, const char *path)
{
	tar_put(t, entry(path, AE_IFDIR, 0755), NULL, 0);
}

static void tar_symlink(struct tar *t, const char *path, const char *target)
{
	struct archive_entry *e = entry(path, AE_IFLNK, 0777);

	archive_entry_copy_symlink(e, target);
	tar_put(t, e, NULL, 0);
}

static void tar_hardlink(struct tar *t, const char *path, const char *target)
{
	struct archive_entry *e = entry(path, AE_IFREG, 0644);

	archive_entry_copy_hardlink(e, target);
	archive_entry_set_size(e, 0);
	tar_put(t, e, NULL, 0);
}

static void tar_special(struct tar *t, const char *path, mode_t type)
{
	tar_put(t, entry(path, type, 0600), NULL, 0);
}

static int tar_end(struct tar *t)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	assert_int_equal(lseek(t->fd, 0, SEEK_SET), 0);
	return t->fd;
}

static int memfd_with(const void *buf, size_t len)
{
	int fd = memfd_create("raw", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* One ustar header, for names and sizes no writer would produce. */
static void raw_header(unsigned char h[512], const char *name, char type, unsigned long long size)
{
	unsigned sum = 0;

	memset(h, 0, 512);
	memcpy(h, name, strnlen(name, 100));
	sprintf((char *)h + 100, "%07o", 0644);
	sprintf((char *)h + 108, "%07o", 0);
	sprintf((char *)h + 116, "%07o", 0);
	sprintf((char *)h + 124, "%011llo", size);
	sprintf((char *)h + 136, "%011o", MTIME);
	h[156] = (unsigned char)type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += h[i];
	sprintf((char *)h + 148, "%06o", sum);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	strcpy(f->base, "/tmp/unpack-test-XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dest, sizeof(f->dest), "%s/img", f->base);
	snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
	assert_int_equal(mkdir(f->outside, 0755), 0);
	fd = openat(AT_FDCWD, f->outside, O_RDONLY | O_DIRECTORY);
	assert_int_equal(mkdirat(fd, "dir", 0755), 0);
	close(fd);
	fd = open(f->outside, O_RDONLY | O_DIRECTORY);
	int s = openat(fd, "secret", O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_int_equal(write(s, "keep", 4), 4);
	close(s);
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(unpack_remove_tree(AT_FDCWD, f->base), 0);
	free(f);
	return 0;
}

/* Unpacks the layers (all closed afterwards) into f->dest. */
static int unpack_fds(struct fixture *f, const int *fds, const char *const *types, size_t n,
		      const struct unpack_limits *lim, struct unpack_stats *st, struct err *err)
{
	struct unpack_source src[8];
	int rc;

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		src[i] = (struct unpack_source){ fds[i], types ? types[i] : UNPACK_MEDIA_TAR_GZIP };
	memset(err, 0, sizeof(*err));
	rc = unpack_image(src, n, f->dest, lim, NULL, st, err);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	return rc;
}

static char *read_in(struct fixture *f, const char *rel)
{
	static char buf[256];
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dest, rel);
	fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static bool exists_in(struct fixture *f, const char *rel, struct stat *sb)
{
	char path[PATH_MAX];
	struct stat tmp;

	snprintf(path, sizeof(path), "%s/%s", f->dest, rel);
	return !lstat(path, sb ? sb : &tmp);
}

/* After a refusal: no image, no temporary directory, outside/ as it was. */
static void assert_nothing_left(struct fixture *f)
{
	char buf[16] = { 0 };
	struct dirent *de;
	int n = 0, fd;
	DIR *d;

	d = opendir(f->base);
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			assert_string_equal(de->d_name, "outside");
	closedir(d);
	d = opendir(f->outside);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	assert_int_equal(n, 2); /* dir and secret */
	fd = openat(AT_FDCWD, f->outside, O_RDONLY | O_DIRECTORY);
	int s = openat(fd, "secret", O_RDONLY | O_NOFOLLOW);
	assert_true(s >= 0);
	assert_int_equal(read(s, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "keep");
	close(s);
	d = fdopendir(openat(fd, "dir", O_RDONLY | O_DIRECTORY));
	n = 0;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	close(fd);
	assert_int_equal(n, 0);
}

static void assert_refused(struct fixture *f, int rc, const struct err *err, int code,
			   const char *needle)
{
	if (rc != code || !strstr(err->msg, needle))
		fail_msg("rc %d (want %d), message '%s' (want '%s')", rc, code, err->msg, needle);
	assert_nothing_left(f);
}

/* One refused single layer, built by fill(). */
static void refuse1(void **state, void (*fill)(struct tar *), int code, const char *needle)
{
	struct fixture *f = *state;
	struct err err;
	struct tar t;
	int fd, rc;

	tar_begin(&t, true);
	fill(&t);
	fd = tar_end(&t);
	rc = unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, code, needle);
}

/* --- happy paths --- */

static void multiple_layers(void **state)
{
	struct fixture *f = *state;
	struct unpack_stats st = { 0 };
	struct stat sb;
	struct tar t;
	struct err err;
	int fds[2];

	tar_begin(&t, true);
	tar_dir(&t, "./");
	tar_dir(&t, "etc");
	tar_file(&t, "etc/a", "one");
	tar_file(&t, "etc/b", "bee");
	tar_file(&t, "var/lib/deep/f", "implicit parents"); /* no entries for the dirs */
	tar_file(&t, "x", "file, then a directory");
	tar_dir(&t, "d");
	tar_file(&t, "d/in", "directory, then a file");
	fds[0] = tar_end(&t);
	tar_begin(&t, true);
	tar_file(&t, "./etc/a", "two");
	tar_dir(&t, "x");
	tar_file(&t, "x/y", "under");
	tar_file(&t, "d", "now a file");
	fds[1] = tar_end(&t);
	assert_int_equal(unpack_fds(f, fds, NULL, 2, NULL, &st, &err), 0);
	assert_string_equal(read_in(f, "etc/a"), "two");
	assert_string_equal(read_in(f, "etc/b"), "bee");
	assert_string_equal(read_in(f, "var/lib/deep/f"), "implicit parents");
	assert_string_equal(read_in(f, "x/y"), "under");
	assert_string_equal(read_in(f, "d"), "now a file");
	assert_true(exists_in(f, "var/lib", &sb) && S_ISDIR(sb.st_mode));
	assert_true(exists_in(f, ".", &sb) && (sb.st_mode & 07777) == 0755);
	assert_int_equal(st.files, 8);
	assert_int_equal(st.entries, 12);
}

static void whiteouts(void **state)
{
	struct fixture *f = *state;
	struct tar t;
	struct err err;
	int fds[2];

	tar_begin(&t, true);
	tar_file(&t, "a", "gone");
	tar_file(&t, "b", "stays");
	tar_file(&t, "dir/x", "gone");
	tar_file(&t, "dir/sub/y", "gone");
	tar_file(&t, "keep/z", "stays");
	fds[0] = tar_end(&t);
	tar_begin(&t, true);
	tar_file(&t, ".wh.a", "");
	tar_file(&t, ".wh.dir", "");
	tar_file(&t, "keep/.wh.missing", ""); /* nothing to delete: fine */
	tar_file(&t, "new/.wh.nothing", "");  /* nor under a missing directory */
	fds[1] = tar_end(&t);
	assert_int_equal(unpack_fds(f, fds, NULL, 2, NULL, NULL, &err), 0);
	assert_false(exists_in(f, "a", NULL));
	assert_false(exists_in(f, ".wh.a", NULL));
	assert_false(exists_in(f, "dir", NULL));
	assert_false(exists_in(f, ".wh.dir", NULL));
	assert_false(exists_in(f, "keep/.wh.missing", NULL));
	assert_string_equal(read_in(f, "b"), "stays");
	assert_string_equal(read_in(f, "keep/z"), "stays");
}

static void opaque_dir(void **state)
{
	struct fixture *f = *state;
	struct tar t;
	struct err err;
	int fds[2];

	tar_begin(&t, true);
	tar_file(&t, "d/old", "gone");
	tar_file(&t, "d/sub/old", "gone");
	tar_file(&t, "other", "stays");
	fds[0] = tar_end(&t);
	tar_begin(&t, true);
	tar_dir(&t, "d");
	tar_file(&t, "d/new", "this layer's"); /* before the marker: still kept */
	tar_file(&t, "d/made/inner", "this layer's too");
	tar_file(&t, "d/.wh..wh..opq", "");
	tar_file(&t, "d/later", "after the marker");
	fds[1] = tar_end(&t);
	assert_int_equal(unpack_fds(f, fds, NULL, 2, NULL, NULL, &err), 0);
	assert_false(exists_in(f, "d/old", NULL));
	assert_false(exists_in(f, "d/sub", NULL));
	assert_false(exists_in(f, "d/.wh..wh..opq", NULL));
	assert_string_equal(read_in(f, "d/new"), "this layer's");
	assert_string_equal(read_in(f, "d/made/inner"), "this layer's too");
	assert_string_equal(read_in(f, "d/later"), "after the marker");
	assert_string_equal(read_in(f, "other"), "stays");
}

static void links_inside(void **state)
{
	struct fixture *f = *state;
	struct stat a, b;
	struct tar t;
	struct err err;
	char buf[64];
	char path[PATH_MAX];
	int fds[2];
	ssize_t n;

	tar_begin(&t, true);
	tar_file(&t, "sub/f", "target");
	tar_hardlink(&t, "hard", "sub/f");
	tar_hardlink(&t, "sub/hard2", "./sub/f");
	tar_symlink(&t, "rel", "sub/f");
	tar_symlink(&t, "abs", "/sub/f");
	tar_symlink(&t, "up", "../../../../etc/passwd"); /* kept: never followed */
	tar_symlink(&t, "over", "sub/f");
	fds[0] = tar_end(&t);
	tar_begin(&t, true);
	tar_file(&t, "over", "replaces the symlink"); /* not written through it */
	fds[1] = tar_end(&t);
	assert_int_equal(unpack_fds(f, fds, NULL, 2, NULL, NULL, &err), 0);
	assert_true(exists_in(f, "sub/f", &a));
	assert_true(exists_in(f, "hard", &b));
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(exists_in(f, "sub/hard2", &b));
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 3);
	snprintf(path, sizeof(path), "%s/rel", f->dest);
	n = readlink(path, buf, sizeof(buf) - 1);
	assert_int_equal(n, 5);
	buf[n] = '\0';
	assert_string_equal(buf, "sub/f");
	snprintf(path, sizeof(path), "%s/abs", f->dest);
	n = readlink(path, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	assert_string_equal(buf, "/sub/f");
	assert_true(exists_in(f, "up", &b) && S_ISLNK(b.st_mode));
	assert_true(exists_in(f, "over", &b) && S_ISREG(b.st_mode));
	assert_string_equal(read_in(f, "over"), "replaces the symlink");
	assert_string_equal(read_in(f, "sub/f"), "target");
}

static void modes_owners_times(void **state)
{
	struct fixture *f = *state;
	struct archive_entry *e;
	struct stat sb;
	struct tar t;
	struct err err;
	int fd;

	tar_begin(&t, true);
	tar_file_mode(&t, "suid", "x", 04755);
	tar_file_mode(&t, "sgid", "x", 02711);
	tar_put(&t, entry("sticky", AE_IFDIR, 01777), NULL, 0);
	e = entry("owned", AE_IFREG, 0640);
	archive_entry_set_uid(e, 107);
	archive_entry_set_gid(e, 108);
	tar_put(&t, e, NULL, 0);
	fd = tar_end(&t);
	assert_int_equal(unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err), 0);
	assert_true(exists_in(f, "suid", &sb));
	assert_int_equal(sb.st_mode & 07777, 0755);
	assert_int_equal(sb.st_mtime, MTIME);
	assert_true(exists_in(f, "sgid", &sb));
	assert_int_equal(sb.st_mode & 07777, 0711);
	assert_true(exists_in(f, "sticky", &sb));
	assert_int_equal(sb.st_mode & 07000, 0);
	assert_true(exists_in(f, "owned", &sb));
	assert_int_equal(sb.st_mode & 07777, 0640);
	if (geteuid() == 0) {
		assert_int_equal(sb.st_uid, 107);
		assert_int_equal(sb.st_gid, 108);
	}
}

static void owners_not_kept(void **state)
{
	struct fixture *f = *state;
	struct unpack_limits lim = unpack_default_limits;
	struct archive_entry *e;
	struct stat sb;
	struct tar t;
	struct err err;
	int fd;

	lim.keep_owner = false;
	tar_begin(&t, true);
	e = entry("owned", AE_IFREG, 0644);
	archive_entry_set_uid(e, 107);
	tar_put(&t, e, NULL, 0);
	fd = tar_end(&t);
	assert_int_equal(unpack_fds(f, &fd, NULL, 1, &lim, NULL, &err), 0);
	assert_true(exists_in(f, "owned", &sb));
	assert_int_equal(sb.st_uid, geteuid());
}

static void tee_digest(void *ctx, const void *buf, size_t len)
{
	digest_update(ctx, buf, len);
}

/* A big file of mostly zeros, uncompressed and gzip, with the tee's digest. */
static void big_file_and_tee(void **state)
{
	struct fixture *f = *state;
	const size_t size = 16 << 20;
	char *data = calloc(1, size);
	char want[DIGEST_STR_LEN + 1], got[DIGEST_STR_LEN + 1];
	struct unpack_stats st = { 0 };
	struct archive_entry *e;
	struct stat sb;
	struct digest d;
	struct err err = { 0 };
	struct tar t;
	int raw, gz, root;
	off_t len;
	void *map;

	assert_non_null(data);
	memcpy(data, "start", 5);
	memcpy(data + size - 3, "end", 3);
	for (int gzip = 0; gzip < 2; gzip++) {
		tar_begin(&t, gzip);
		e = entry("disk/big.img", AE_IFREG, 0444);
		archive_entry_set_size(e, (la_int64_t)size);
		tar_put(&t, e, data, size);
		if (gzip)
			gz = tar_end(&t);
		else
			raw = tar_end(&t);
	}
	free(data);
	len = lseek(raw, 0, SEEK_END);
	map = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, raw, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(digest_buffer(map, (size_t)len, want), 0);
	munmap(map, (size_t)len);
	assert_int_equal(lseek(raw, 0, SEEK_SET), 0);

	/* unpack_layer() straight onto a directory, with the tee. */
	assert_int_equal(mkdir(f->dest, 0755), 0);
	root = open(f->dest, O_RDONLY | O_DIRECTORY);
	assert_int_equal(digest_init(&d), 0);
	assert_int_equal(
		unpack_layer(gz, UNPACK_MEDIA_DOCKER_GZIP, root, NULL, tee_digest, &d, &st, &err),
		0);
	digest_final(&d, got);
	assert_string_equal(got, want);
	assert_int_equal(st.tar_bytes, len);
	assert_int_equal(st.bytes, size);
	assert_int_equal(st.files, 1);
	/* The same layer uncompressed, over it: the file is replaced. */
	assert_int_equal(digest_init(&d), 0);
	assert_int_equal(unpack_layer(raw, UNPACK_MEDIA_TAR, root, NULL, tee_digest, &d, &st, &err),
			 0);
	digest_final(&d, got);
	assert_string_equal(got, want);
	close(root);
	close(raw);
	close(gz);
	assert_true(exists_in(f, "disk/big.img", &sb));
	assert_int_equal(sb.st_size, size);
	assert_string_equal(read_in(f, "disk/big.img"), "start");
}

/* A pax sparse file: two data runs, a hole between them. */
static void sparse_file(void **state)
{
	struct fixture *f = *state;
	const la_int64_t size = 16 << 20;
	char block[4096], path[PATH_MAX], buf[4];
	struct archive_entry *e;
	struct stat sb;
	struct err err;
	struct tar t;
	int fd;

	memset(block, 'S', sizeof(block));
	tar_begin_as(&t, true, true);
	e = entry("disk/sparse.img", AE_IFREG, 0644);
	archive_entry_set_size(e, size);
	archive_entry_sparse_add_entry(e, 0, sizeof(block));
	archive_entry_sparse_add_entry(e, size - (la_int64_t)sizeof(block), sizeof(block));
	assert_int_equal(archive_write_header(t.a, e), ARCHIVE_OK);
	/* The writer takes the whole contents and leaves the holes out. */
	assert_int_equal(archive_write_data(t.a, block, sizeof(block)), sizeof(block));
	memset(block, 0, sizeof(block));
	for (la_int64_t at = sizeof(block); at < size - (la_int64_t)sizeof(block);
	     at += (la_int64_t)sizeof(block))
		assert_int_equal(archive_write_data(t.a, block, sizeof(block)), sizeof(block));
	memset(block, 'S', sizeof(block));
	assert_int_equal(archive_write_data(t.a, block, sizeof(block)), sizeof(block));
	archive_entry_free(e);
	fd = tar_end(&t);
	assert_int_equal(unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err), 0);
	assert_true(exists_in(f, "disk/sparse.img", &sb));
	assert_int_equal(sb.st_size, size);
	assert_true(sb.st_blocks * 512 < size / 4); /* the hole stayed a hole */
	snprintf(path, sizeof(path), "%s/disk/sparse.img", f->dest);
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, buf, 1, size - 1), 1);
	assert_int_equal(buf[0], 'S');
	assert_int_equal(pread(fd, buf, 1, size / 2), 1);
	assert_int_equal(buf[0], 0);
	close(fd);
}

static void empty_layers(void **state)
{
	struct fixture *f = *state;
	const char *types[3] = { UNPACK_MEDIA_TAR_GZIP, UNPACK_MEDIA_TAR, UNPACK_MEDIA_TAR };
	struct unpack_stats st = { 0 };
	struct tar t;
	struct err err;
	int fds[3];

	tar_begin(&t, true);
	fds[0] = tar_end(&t); /* gzip of a tar with no entries */
	tar_begin(&t, false);
	fds[1] = tar_end(&t);
	fds[2] = memfd_with("", 0); /* no bytes at all */
	assert_int_equal(unpack_fds(f, fds, types, 3, NULL, &st, &err), 0);
	assert_int_equal(st.entries, 0);
	assert_true(exists_in(f, ".", NULL));
}

static void diff_ids_checked(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {
		"sha256:0000000000000000000000000000000000000000000000000000000000000000"
	};
	struct unpack_source src;
	struct tar t;
	struct err err = { 0 };
	int rc;

	tar_begin(&t, true);
	tar_file(&t, "a", "a");
	src = (struct unpack_source){ tar_end(&t), UNPACK_MEDIA_TAR_GZIP };
	rc = unpack_image(&src, 1, f->dest, NULL, bad, NULL, &err);
	close(src.fd);
	assert_refused(f, rc, &err, -EINVAL, "is not the config's diff_id");
}

static void dest_exists(void **state)
{
	struct fixture *f = *state;
	struct unpack_source src;
	struct tar t;
	struct err err = { 0 };
	int rc;

	assert_int_equal(mkdir(f->dest, 0755), 0);
	tar_begin(&t, true);
	tar_file(&t, "a", "a");
	src = (struct unpack_source){ tar_end(&t), UNPACK_MEDIA_TAR_GZIP };
	rc = unpack_image(&src, 1, f->dest, NULL, NULL, NULL, &err);
	close(src.fd);
	assert_int_equal(rc, -EEXIST);
	assert_int_equal(rmdir(f->dest), 0);
	assert_nothing_left(f);
}

/* --- hostile layers --- */

static void fill_dotdot(struct tar *t)
{
	tar_file(t, "ok", "fine");
	tar_file(t, "a/../../outside/pwned", "x");
}

static void fill_absolute(struct tar *t)
{
	tar_file(t, "/outside/pwned", "x");
}

static void dotdot(void **state)
{
	refuse1(state, fill_dotdot, -EPERM, "entry 'a/../../outside/pwned': path has a '..'");
}

static void absolute(void **state)
{
	refuse1(state, fill_absolute, -EPERM, "entry '/outside/pwned': path is absolute");
}

static struct fixture *cur; /* for fills that need the outside's path */

static void fill_symlink_escape(struct tar *t)
{
	tar_symlink(t, "esc", cur->outside);
	tar_file(t, "esc/pwned", "x");
}

static void fill_symlink_escape_rel(struct tar *t)
{
	tar_symlink(t, "esc", "../outside");
	tar_dir(t, "esc/dir/sub");
}

static void fill_symlink_deep(struct tar *t)
{
	tar_symlink(t, "a", "../outside");
	tar_hardlink(t, "b/c", "a/secret");
}

static void symlink_escape(void **state)
{
	cur = *state;
	refuse1(state, fill_symlink_escape, -ELOOP,
		"entry 'esc/pwned': 'esc' is a symlink: nothing is written through one");
	refuse1(state, fill_symlink_escape_rel, -ELOOP, "'esc' is a symlink");
	refuse1(state, fill_symlink_deep, -ELOOP, "entry 'b/c': 'a' is a symlink");
}

/* Across layers: the symlink in one, the write (or whiteout) in the next. */
static void symlink_escape_across_layers(void **state)
{
	static const char *const second[] = { "esc/pwned", "esc/.wh.secret", "esc/.wh..wh..opq",
					      "esc/dir/x" };
	struct fixture *f = *state;

	for (size_t i = 0; i < 4; i++) {
		struct err err;
		struct tar t;
		int fds[2], rc;

		tar_begin(&t, true);
		tar_symlink(&t, "esc", f->outside);
		fds[0] = tar_end(&t);
		tar_begin(&t, true);
		tar_file(&t, second[i], "");
		fds[1] = tar_end(&t);
		rc = unpack_fds(f, fds, NULL, 2, NULL, NULL, &err);
		assert_refused(f, rc, &err, -ELOOP, "layer 2: entry 'esc/");
	}
}

static void fill_hardlink_out(struct tar *t)
{
	tar_hardlink(t, "h", "../outside/secret");
}

static void fill_hardlink_abs(struct tar *t)
{
	tar_hardlink(t, "h", "/etc/passwd");
}

static void fill_hardlink_missing(struct tar *t)
{
	tar_file(t, "a", "a");
	tar_hardlink(t, "h", "nothing/here");
}

static void fill_hardlink_dir(struct tar *t)
{
	tar_dir(t, "d");
	tar_hardlink(t, "h", "d");
}

static void hardlinks(void **state)
{
	refuse1(state, fill_hardlink_out, -EPERM, "entry 'h': hardlink target has a '..'");
	refuse1(state, fill_hardlink_abs, -EPERM, "entry 'h': hardlink target is absolute");
	refuse1(state, fill_hardlink_missing, -ENOENT,
		"entry 'h': hardlink to missing 'nothing/here'");
	refuse1(state, fill_hardlink_dir, -EPERM, "which is not a file");
}

static void fill_chr(struct tar *t)
{
	tar_special(t, "dev/null", AE_IFCHR);
}

static void fill_blk(struct tar *t)
{
	tar_special(t, "dev/sda", AE_IFBLK);
}

static void fill_fifo(struct tar *t)
{
	tar_file(t, "ok", "fine");
	tar_special(t, "fifo", AE_IFIFO);
}

static void specials(void **state)
{
	refuse1(state, fill_chr, -EPERM, "entry 'dev/null': character devices are not allowed");
	refuse1(state, fill_blk, -EPERM, "entry 'dev/sda': block devices are not allowed");
	refuse1(state, fill_fifo, -EPERM, "entry 'fifo': FIFOs are not allowed");
}

/*
 * The same from a raw ustar header (type '6', a FIFO). tar has no type for
 * a socket; the kinds table refuses AE_IFSOCK should a reader produce one.
 */
static void raw_fifo(void **state)
{
	struct fixture *f = *state;
	unsigned char buf[512 * 3] = { 0 };
	struct err err;
	int fd, rc;

	raw_header(buf, "pipe", '6', 0);
	fd = memfd_with(buf, sizeof(buf));
	rc = unpack_fds(f, &fd, (const char *const[]){ UNPACK_MEDIA_TAR }, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -EPERM, "entry 'pipe': FIFOs are not allowed");
}

static void caps(void **state)
{
	struct fixture *f = *state;
	struct unpack_limits lim = unpack_default_limits;
	struct err err;
	struct tar t;
	int fd, rc;

	lim.max_file_size = 10;
	tar_begin(&t, true);
	tar_file(&t, "small", "0123456789");
	tar_file(&t, "big", "0123456789A");
	fd = tar_end(&t);
	rc = unpack_fds(f, &fd, NULL, 1, &lim, NULL, &err);
	assert_refused(f, rc, &err, -EFBIG, "entry 'big': file of 11 bytes is over the cap of 10");

	lim = unpack_default_limits;
	lim.max_entries = 10;
	tar_begin(&t, true);
	for (int i = 0; i < 11; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		tar_file(&t, name, "");
	}
	fd = tar_end(&t);
	rc = unpack_fds(f, &fd, NULL, 1, &lim, NULL, &err);
	assert_refused(f, rc, &err, -EFBIG, "over 10 entries");
}

static void count_tee(void *ctx, const void *buf, size_t len)
{
	*(uint64_t *)ctx += len;
}

/* 256 MiB of zeros in about 256 KiB of gzip: stopped at the cap, not inflated. */
static void gzip_bomb(void **state)
{
	struct fixture *f = *state;
	struct unpack_limits lim = unpack_default_limits;
	const size_t chunk = 1 << 20, size = 256 << 20;
	char *zeros = calloc(1, chunk);
	struct archive_entry *e;
	uint64_t seen = 0;
	struct err err = { 0 };
	struct tar t;
	int fd, root, rc;

	assert_non_null(zeros);
	tar_begin(&t, true);
	e = entry("bomb", AE_IFREG, 0644);
	archive_entry_set_size(e, (la_int64_t)size);
	assert_int_equal(archive_write_header(t.a, e), ARCHIVE_OK);
	for (size_t done = 0; done < size; done += chunk)
		assert_int_equal(archive_write_data(t.a, zeros, chunk), (la_ssize_t)chunk);
	archive_entry_free(e);
	free(zeros);
	fd = tar_end(&t);
	lim.max_total_size = 4 << 20;

	assert_int_equal(mkdir(f->dest, 0755), 0);
	root = open(f->dest, O_RDONLY | O_DIRECTORY);
	rc = unpack_layer(fd, UNPACK_MEDIA_TAR_GZIP, root, &lim, count_tee, &seen, NULL, &err);
	close(root);
	assert_int_equal(rc, -EFBIG);
	assert_non_null(strstr(err.msg, "over the cap of 4194304 uncompressed bytes"));
	assert_non_null(strstr(err.msg, "'bomb'"));
	assert_true(seen <= lim.max_total_size);
	assert_int_equal(unpack_remove_tree(AT_FDCWD, f->dest), 0);

	/* Through unpack_image(), the cap is the whole image's. */
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	rc = unpack_fds(f, &fd, NULL, 1, &lim, NULL, &err);
	assert_refused(f, rc, &err, -EFBIG, "layer 1: at entry 'bomb'");
}

static void long_and_odd_names(void **state)
{
	struct fixture *f = *state;
	static const char *const odd[] = { "bad\xff\xfename", "ctl\x01name", "over\xc0\xafong",
					   "del\x7f" };
	char name[PATH_MAX + 16];
	struct err err;
	struct tar t;
	int fd, rc;

	/* pax carries a name longer than PATH_MAX. */
	memset(name, 0, sizeof(name));
	for (size_t i = 0; i + 2 < PATH_MAX + 10; i += 2)
		memcpy(name + i, "a/", 2);
	memcpy(name + PATH_MAX + 8, "f", 1);
	tar_begin_as(&t, true, true);
	tar_file(&t, name, "x");
	fd = tar_end(&t);
	rc = unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -ENAMETOOLONG, "path is longer than PATH_MAX");

	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		unsigned char buf[512 * 3] = { 0 };

		raw_header(buf, odd[i], '0', 0);
		fd = memfd_with(buf, sizeof(buf));
		rc = unpack_fds(f, &fd, (const char *const[]){ UNPACK_MEDIA_TAR }, 1, NULL, NULL,
				&err);
		assert_refused(f, rc, &err, -EILSEQ, "path is not printable UTF-8");
	}
	/* The error shows the bytes escaped. */
	assert_non_null(strstr(err.msg, "entry 'del\\x7f'"));

	/*
	 * A pax path with a NUL in it: libarchive (3.6) cuts the value at the
	 * NUL and offers no way to see the rest, so the entry is applied as
	 * "a", which passes every check like any other name. This pins that
	 * down: it lands inside the image and nowhere else.
	 */
	unsigned char pax[512 * 5] = { 0 };

	raw_header(pax, "PaxHeader", 'x', 12);
	memcpy(pax + 512, "12 path=a\0b\n", 12);
	raw_header(pax + 1024, "placeholder", '0', 0);
	fd = memfd_with(pax, sizeof(pax));
	rc = unpack_fds(f, &fd, (const char *const[]){ UNPACK_MEDIA_TAR }, 1, NULL, NULL, &err);
	if (rc)
		fail_msg("rc %d: %s", rc, err.msg);
	assert_true(exists_in(f, "a", NULL));
	assert_false(exists_in(f, "placeholder", NULL));
	assert_int_equal(unpack_remove_tree(AT_FDCWD, f->dest), 0);
	assert_nothing_left(f);
}

static void corrupt_streams(void **state)
{
	struct fixture *f = *state;
	unsigned char buf[512 * 4] = { 0 };
	struct err err;
	struct tar t;
	char blob[8192];
	off_t len;
	int fd, rc;

	/* A gzip layer cut short. */
	tar_begin(&t, true);
	tar_file(&t, "a", "some data that makes the stream longer than its header");
	tar_file(&t, "b", "more");
	fd = tar_end(&t);
	len = lseek(fd, 0, SEEK_END);
	assert_true(len < (off_t)sizeof(blob));
	assert_int_equal(pread(fd, blob, (size_t)len, 0), len);
	close(fd);
	fd = memfd_with(blob, (size_t)len - 10);
	rc = unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -EINVAL, "truncated gzip stream");

	/* Its trailer wrong (the CRC): caught even after tar's end. */
	blob[len - 6] ^= 0x55;
	fd = memfd_with(blob, (size_t)len);
	rc = unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -EINVAL, "corrupt gzip stream");

	/* Not gzip at all. */
	fd = memfd_with("plain text, not gzip", 20);
	rc = unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -EINVAL, "corrupt gzip stream");

	/* An empty blob is no gzip stream either. */
	fd = memfd_with("", 0);
	rc = unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -EINVAL, "truncated gzip stream");

	/* Not a tar. */
	memset(blob, 'x', sizeof(blob));
	fd = memfd_with(blob, sizeof(blob));
	rc = unpack_fds(f, &fd, (const char *const[]){ UNPACK_MEDIA_TAR }, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -EINVAL, "not a tar stream");

	/* A file declaring 1000 bytes with 10 before the end. */
	raw_header(buf, "short", '0', 1000);
	memcpy(buf + 512, "0123456789", 10);
	fd = memfd_with(buf, 512 + 10);
	rc = unpack_fds(f, &fd, (const char *const[]){ UNPACK_MEDIA_TAR }, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -EINVAL, "'short'");

	/* A file declaring 10 bytes followed by more data than that. */
	memset(buf, 'z', sizeof(buf));
	raw_header(buf, "long", '0', 10);
	fd = memfd_with(buf, sizeof(buf));
	rc = unpack_fds(f, &fd, (const char *const[]){ UNPACK_MEDIA_TAR }, 1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -EINVAL, "bad tar header (last entry 'long')");
}

static void bad_whiteouts(void **state)
{
	static const char *const names[] = { ".wh..", "d/.wh...", ".wh." };
	struct fixture *f = *state;

	for (size_t i = 0; i < 3; i++) {
		struct err err;
		struct tar t;
		int fd, rc;

		tar_begin(&t, true);
		tar_file(&t, names[i], "");
		fd = tar_end(&t);
		rc = unpack_fds(f, &fd, NULL, 1, NULL, NULL, &err);
		assert_refused(f, rc, &err, -EINVAL, "whiteout of nothing");
	}
}

static void media_types(void **state)
{
	struct fixture *f = *state;
	struct err err;
	int fd, rc;

	assert_true(unpack_media_type_supported(UNPACK_MEDIA_TAR));
	assert_true(unpack_media_type_supported(UNPACK_MEDIA_TAR_GZIP));
	assert_true(unpack_media_type_supported(UNPACK_MEDIA_DOCKER_GZIP));
	assert_false(unpack_media_type_supported(NULL));
	fd = memfd_with("", 0);
	rc = unpack_fds(f, &fd,
			(const char *const[]){ "application/vnd.oci.image.layer.v1.tar+zstd" }, 1,
			NULL, NULL, &err);
	assert_refused(f, rc, &err, -ENOTSUP,
		       "layer media type 'application/vnd.oci.image.layer.v1.tar+zstd' is not "
		       "supported");
	fd = memfd_with("", 0);
	rc = unpack_fds(f, &fd,
			(const char *const[]){
				"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" },
			1, NULL, NULL, &err);
	assert_refused(f, rc, &err, -ENOTSUP, "is not supported");
}

/*
 * 2^14 names that unseeded FNV-1a puts in one slot of any table up to 2^22
 * (its low bits depend only on low bits, so pairs of 4-byte blocks that
 * agree there compose): with them one probe run held every name and a
 * million-entry layer took hours. Now no run comes near that.
 */
static void pathset_collisions(void **state)
{
	static const char *const pairs[][2] = {
		{ "adx8", "arpf" }, { "aol8", "aqdf" }, { "aol8", "aqdf" }, { "aol8", "aqdf" },
		{ "aol8", "aqdf" }, { "aol8", "aqdf" }, { "aol8", "aqdf" }, { "aol8", "aqdf" },
		{ "aol8", "aqdf" }, { "aol8", "aqdf" }, { "aol8", "aqdf" }, { "aol8", "aqdf" },
		{ "aol8", "aqdf" }, { "aol8", "aqdf" },
	};
	const size_t levels = sizeof(pairs) / sizeof(pairs[0]), n = (size_t)1 << levels;
	struct unpack_pathset set = { 0 };
	char name[4 * 14 + 1];
	size_t run = 0, longest = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t l = 0; l < levels; l++)
			memcpy(name + 4 * l, pairs[l][(i >> l) & 1], 4);
		name[4 * levels] = '\0';
		assert_int_equal(unpack_pathset_add(&set, name, strlen(name)), 0);
	}
	assert_int_equal(set.len, n);
	assert_true(unpack_pathset_has(&set, name, strlen(name)));
	/* Twice round, so a run that wraps the end is counted whole. */
	for (size_t i = 0; i < 2 * set.cap; i++) {
		run = set.slot[i & (set.cap - 1)] ? run + 1 : 0;
		longest = run > longest ? run : longest;
	}
	if (longest > 256)
		fail_msg("a probe run of %zu slots for %zu names", longest, n);
	unpack_pathset_free(&set);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(multiple_layers),
		T(whiteouts),
		T(opaque_dir),
		T(links_inside),
		T(modes_owners_times),
		T(owners_not_kept),
		T(big_file_and_tee),
		T(sparse_file),
		T(empty_layers),
		T(diff_ids_checked),
		T(dest_exists),
		T(dotdot),
		T(absolute),
		T(symlink_escape),
		T(symlink_escape_across_layers),
		T(hardlinks),
		T(specials),
		T(raw_fifo),
		T(caps),
		T(gzip_bomb),
		T(long_and_odd_names),
		T(corrupt_streams),
		T(bad_whiteouts),
		T(media_types),
		cmocka_unit_test(pathset_collisions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
