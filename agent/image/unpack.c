// SPDX-License-Identifier: Apache-2.0
/*
 * The layer applier. The order of checks matters: an entry is judged from
 * its header alone (path, type, size) before anything on disk changes, and
 * every directory on the way to it is entered with openat2() refusing
 * symlinks, so a refused entry changes nothing and an accepted one changes
 * only what lies beneath the destination.
 */
#include "agent/image/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/image/unpack_pathset.h"
#include "agent/image/unpack_stream.h"

/* Path components per entry; also bounds the recursion of tree removal. */
#define MAX_DEPTH 128
#define WH_PREFIX ".wh."
#define WH_META	  ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

const struct unpack_limits unpack_default_limits = {
	.max_file_size = 64ull << 30,
	.max_total_size = 64ull << 30,
	.max_entries = 1u << 20,
	.keep_owner = true,
};

/* One layer being applied. */
struct layer {
	int root;
	const struct unpack_limits *lim;
	bool as_root;
	struct archive *ar;
	struct unpack_stream *stream;
	struct unpack_pathset made; /* what this layer created, for opaque dirs */
	struct unpack_stats st;
	struct err *err;
	char shown[160]; /* the entry's name as errors print it */
};

/* The name made printable (\xNN for other bytes) and cut to fit. */
static void show_name(struct layer *l, const char *name)
{
	size_t o = 0, max = sizeof(l->shown) - 8;

	for (const unsigned char *p = (const unsigned char *)name; *p && o < max; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			l->shown[o++] = (char)*p;
		else
			o += (size_t)snprintf(l->shown + o, sizeof(l->shown) - o, "\\x%02x", *p);
	}
	if (o >= max)
		o += (size_t)snprintf(l->shown + o, sizeof(l->shown) - o, "...");
	l->shown[o] = '\0';
}

static int entry_fail(struct layer *l, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int entry_fail(struct layer *l, int code, const char *fmt, ...)
{
	char why[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err_set(l->err, code, "entry '%s': %s", l->shown, why);
}

/* libarchive failed; the stream's own error (cap, gzip) says it best. */
static int archive_fail(struct layer *l, const char *what)
{
	const char *why = archive_error_string(l->ar);

	if (l->err->code)
		return *l->shown ? err_prefix(l->err, l->err->code, "at entry '%s': ", l->shown)
				 : l->err->code;
	if (!why)
		why = "corrupt tar stream";
	if (*l->shown)
		return err_set(l->err, -EINVAL, "%s (last entry '%s'): %s", what, l->shown, why);
	return err_set(l->err, -EINVAL, "%s: %s", what, why);
}

/* Printable UTF-8: no control bytes, overlong forms, surrogates or > U+10FFFF. */
static bool printable_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p, n, cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/*
 * Cleans a tar name into out ("./a//b/" is "a/b", the root is ""): no
 * absolute paths, no "..", at most MAX_DEPTH components of NAME_MAX.
 */
static int clean_path(struct layer *l, const char *what, const char *name, char *out)
{
	size_t o = 0, depth = 0;
	const char *p = name;

	if (!name)
		return entry_fail(l, -EINVAL, "%s is missing", what);
	if (strlen(name) >= PATH_MAX)
		return entry_fail(l, -ENAMETOOLONG, "%s is longer than PATH_MAX", what);
	if (!printable_utf8(name))
		return entry_fail(l, -EILSEQ, "%s is not printable UTF-8", what);
	if (name[0] == '/')
		return entry_fail(l, -EPERM, "%s is absolute", what);
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && !memcmp(p, "..", 2))
			return entry_fail(l, -EPERM, "%s has a '..' component", what);
		if (n > NAME_MAX)
			return entry_fail(l, -ENAMETOOLONG, "%s has a name over NAME_MAX", what);
		if (n && !(n == 1 && p[0] == '.')) {
			if (++depth > MAX_DEPTH)
				return entry_fail(l, -ELOOP, "%s is nested over %d deep", what,
						  MAX_DEPTH);
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n + (p[n] == '/');
	}
	out[o] = '\0';
	return 0;
}

/* openat2() one name below dirfd, never through a symlink or out of it. */
static int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * Opens the directory that holds path's last component and points *base at
 * it. With create, missing directories are made (0755, as tar does) and
 * recorded; without, a missing one is -ENOENT and nothing is reported.
 * The caller closes the result unless it is l->root.
 */
static int open_parent(struct layer *l, char *path, const char **base, bool create)
{
	char *slash = strrchr(path, '/'), *p = path;
	int cur = l->root;

	*base = slash ? slash + 1 : path;
	while (slash && p <= slash) {
		char *end = strchr(p, '/');
		int next;

		*end = '\0';
		next = open_beneath(cur, p, O_PATH | O_DIRECTORY);
		if (next == -ENOENT && create) {
			if (mkdirat(cur, p, 0755) && errno != EEXIST)
				next = -errno;
			else if (unpack_pathset_add(&l->made, path, strlen(path)))
				next = -ENOMEM;
			else
				next = open_beneath(cur, p, O_PATH | O_DIRECTORY);
		}
		if (cur != l->root)
			close(cur);
		if (next < 0) {
			int rc = next;

			if (rc == -ELOOP)
				rc = entry_fail(l, -ELOOP,
						"'%s' is a symlink: nothing is "
						"written through one",
						path);
			else if (rc == -ENOTDIR)
				rc = entry_fail(l, -ENOTDIR, "'%s' is not a directory", path);
			else if (rc != -ENOENT || create)
				rc = entry_fail(l, rc, "cannot open '%s': %s", path, strerror(-rc));
			*end = '/';
			return rc;
		}
		*end = '/';
		cur = next;
		p = end + 1;
	}
	return cur;
}

static void close_parent(struct layer *l, int fd)
{
	if (fd >= 0 && fd != l->root)
		close(fd);
}

static int remove_tree(int dirfd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (!unlinkat(dirfd, name, 0) || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -errno;
	if (depth > MAX_DEPTH + 1)
		return -ELOOP;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while (!rc && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = remove_tree(fd, de->d_name, depth + 1);
	closedir(d);
	if (!rc && unlinkat(dirfd, name, AT_REMOVEDIR) && errno != ENOENT)
		rc = -errno;
	return rc;
}

int unpack_remove_tree(int dirfd, const char *name)
{
	return remove_tree(dirfd, name, 0);
}

/*
 * Makes room for a new entry: what a lower layer left under that name goes
 * (a whole tree if need be), except a directory when keep_dir. Returns 1
 * when a directory was kept.
 */
static int clear_slot(struct layer *l, int dir, const char *base, bool keep_dir)
{
	struct stat sb;
	int rc;

	if (fstatat(dir, base, &sb, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : entry_fail(l, -errno, "stat: %s", strerror(errno));
	if (S_ISDIR(sb.st_mode) && keep_dir)
		return 1;
	rc = S_ISDIR(sb.st_mode) ? remove_tree(dir, base, 0)
				 : (unlinkat(dir, base, 0) ? -errno : 0);
	if (rc)
		return entry_fail(l, rc, "cannot replace what is there: %s", strerror(-rc));
	return 0;
}

/* Mode bits kept: permissions only; setuid, setgid and sticky are dropped. */
static mode_t entry_mode(const struct layer *l, struct archive_entry *e, bool dir)
{
	mode_t m = archive_entry_perm(e) & 0777;

	/* Without CAP_DAC_OVERRIDE the unpacker must still fill and remove it. */
	return dir && !l->as_root ? m | 0700 : m;
}

static int set_owner(struct layer *l, struct archive_entry *e, int fd, int dir, const char *base)
{
	la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
	int rc;

	if (!l->as_root || !l->lim->keep_owner)
		return 0;
	if (uid < 0 || gid < 0 || uid >= UINT32_MAX || gid >= UINT32_MAX)
		return entry_fail(l, -EINVAL, "owner %lld:%lld out of range", (long long)uid,
				  (long long)gid);
	rc = fd >= 0 ? fchown(fd, (uid_t)uid, (gid_t)gid)
		     : fchownat(dir, base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW);
	return rc ? entry_fail(l, -errno, "chown: %s", strerror(errno)) : 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	if (archive_entry_mtime_is_set(e)) {
		ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
		ts[0].tv_nsec = ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	} else {
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_OMIT;
	}
}

static int write_all(struct layer *l, int fd, const void *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return entry_fail(l, n ? -errno : -EIO, "write: %s",
					  n ? strerror(errno) : "short write");
		buf = (const char *)buf + n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int copy_data(struct layer *l, int fd, uint64_t size)
{
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int rc = archive_read_data_block(l->ar, &buf, &len, &off);

		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc != ARCHIVE_OK)
			return archive_fail(l, "reading file data");
		if (off < 0 || (uint64_t)off > size || len > size - (uint64_t)off)
			return entry_fail(l, -EINVAL, "data runs past its declared size");
		rc = write_all(l, fd, buf, len, (off_t)off);
		if (rc)
			return rc;
		l->st.bytes += len;
	}
}

static int apply_file(struct layer *l, struct archive_entry *e, int dir, const char *base)
{
	uint64_t size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
	struct timespec ts[2];
	int fd, rc;

	rc = clear_slot(l, dir, base, false);
	if (rc < 0)
		return rc;
	/* O_EXCL: a name a lower layer left is gone by now, never followed. */
	fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return entry_fail(l, -errno, "create: %s", strerror(errno));
	rc = copy_data(l, fd, size);
	if (!rc && ftruncate(fd, (off_t)size)) /* a sparse file's hole at the end */
		rc = entry_fail(l, -errno, "truncate: %s", strerror(errno));
	if (!rc)
		rc = set_owner(l, e, fd, dir, base);
	if (!rc && fchmod(fd, entry_mode(l, e, false)))
		rc = entry_fail(l, -errno, "chmod: %s", strerror(errno));
	entry_times(e, ts);
	if (!rc && futimens(fd, ts))
		rc = entry_fail(l, -errno, "set times: %s", strerror(errno));
	close(fd);
	l->st.files += !rc;
	return rc;
}

static int apply_dir(struct layer *l, struct archive_entry *e, int dir, const char *base)
{
	int fd, rc = clear_slot(l, dir, base, true);

	if (rc < 0)
		return rc;
	if (!rc && mkdirat(dir, base, 0700))
		return entry_fail(l, -errno, "mkdir: %s", strerror(errno));
	fd = open_beneath(dir, base, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return entry_fail(l, fd, "open: %s", strerror(-fd));
	rc = set_owner(l, e, fd, dir, base);
	if (!rc && fchmod(fd, entry_mode(l, e, true)))
		rc = entry_fail(l, -errno, "chmod: %s", strerror(errno));
	close(fd);
	return rc;
}

/* Kept as written, wherever it points: nothing here ever follows it. */
static int apply_symlink(struct layer *l, struct archive_entry *e, int dir, const char *base)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2];
	int rc;

	if (!target || !*target)
		return entry_fail(l, -EINVAL, "symlink without a target");
	if (strlen(target) >= PATH_MAX || !printable_utf8(target))
		return entry_fail(l, -EILSEQ,
				  "symlink target is over PATH_MAX or not "
				  "printable UTF-8");
	rc = clear_slot(l, dir, base, false);
	if (rc < 0)
		return rc;
	if (symlinkat(target, dir, base))
		return entry_fail(l, -errno, "symlink: %s", strerror(errno));
	rc = set_owner(l, e, -1, dir, base);
	entry_times(e, ts);
	if (!rc && utimensat(dir, base, ts, AT_SYMLINK_NOFOLLOW))
		rc = entry_fail(l, -errno, "set times: %s", strerror(errno));
	return rc;
}

/* A hardlink names a file or symlink already beneath the destination. */
static int apply_hardlink(struct layer *l, struct archive_entry *e, int dir, const char *base,
			  const char *path)
{
	char target[PATH_MAX];
	const char *tbase;
	struct stat sb;
	int tdir, rc;

	rc = clean_path(l, "hardlink target", archive_entry_hardlink(e), target);
	if (rc)
		return rc;
	if (!*target || !strcmp(target, path))
		return entry_fail(l, -EINVAL, "hardlink to itself or to the image root");
	tdir = open_parent(l, target, &tbase, false);
	if (tdir == -ENOENT)
		return entry_fail(l, -ENOENT, "hardlink to missing '%s'", target);
	if (tdir < 0)
		return tdir;
	rc = fstatat(tdir, tbase, &sb, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	if (rc == -ENOENT)
		rc = entry_fail(l, rc, "hardlink to missing '%s'", target);
	else if (rc)
		rc = entry_fail(l, rc, "hardlink target: %s", strerror(-rc));
	else if (!S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode))
		rc = entry_fail(l, -EPERM, "hardlink to '%s', which is not a file", target);
	if (!rc)
		rc = clear_slot(l, dir, base, false);
	if (!rc && linkat(tdir, tbase, dir, base, 0))
		rc = entry_fail(l, -errno, "link: %s", strerror(errno));
	close_parent(l, tdir);
	l->st.files += !rc;
	return rc;
}

/* ".wh..wh..opq": what lower layers left in the directory goes. */
static int apply_opaque(struct layer *l, int dir, const char *dirpath)
{
	char child[PATH_MAX];
	struct dirent *de;
	int fd, rc = 0;
	DIR *d;

	fd = open_beneath(dir, ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return entry_fail(l, -EIO, "cannot read the opaque directory");
	}
	while (!rc && (de = readdir(d))) {
		int n;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = snprintf(child, sizeof(child), "%s%s%s", dirpath, *dirpath ? "/" : "",
			     de->d_name);
		if (n < 0 || (size_t)n >= sizeof(child) ||
		    !unpack_pathset_has(&l->made, child, (size_t)n))
			rc = remove_tree(fd, de->d_name, 0);
	}
	closedir(d);
	return rc ? entry_fail(l, rc, "opaque directory: %s", strerror(-rc)) : 0;
}

/* ".wh.<name>" removes <name> as lower layers left it; a missing one is fine. */
static int apply_whiteout(struct layer *l, char *path, const char *base)
{
	const char *name = base + strlen(WH_PREFIX);
	int dir, rc = 0;

	if (!strcmp(base, WH_OPAQUE)) {
		dir = open_parent(l, path, &base, true);
		if (dir >= 0) {
			size_t plen = (size_t)(base - path);
			char parent[PATH_MAX];

			memcpy(parent, path, plen);
			parent[plen ? plen - 1 : 0] = '\0';
			rc = apply_opaque(l, dir, parent);
		}
	} else if (!strncmp(base, WH_META, strlen(WH_META))) {
		return 0; /* aufs metadata, as containerd skips it */
	} else if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		return entry_fail(l, -EINVAL, "whiteout of nothing");
	} else {
		dir = open_parent(l, path, &base, false);
		if (dir == -ENOENT)
			return 0;
		if (dir >= 0) {
			rc = remove_tree(dir, name, 0);
			if (rc)
				rc = entry_fail(l, rc, "whiteout: %s", strerror(-rc));
		}
	}
	if (dir < 0)
		return dir;
	close_parent(l, dir);
	return rc;
}

typedef int apply_fn(struct layer *l, struct archive_entry *e, int dir, const char *base);

/* Entry types: what each is called in errors, and how it is applied (NULL: refused). */
static const struct entry_kind {
	mode_t type;
	const char *what;
	apply_fn *apply;
} kinds[] = {
	{ AE_IFREG, "regular file", apply_file },
	{ AE_IFDIR, "directory", apply_dir },
	{ AE_IFLNK, "symlink", apply_symlink },
	{ AE_IFCHR, "character device", NULL },
	{ AE_IFBLK, "block device", NULL },
	{ AE_IFIFO, "FIFO", NULL },
	{ AE_IFSOCK, "socket", NULL },
};

static const struct entry_kind *entry_kind(struct archive_entry *e)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].type == archive_entry_filetype(e))
			return &kinds[i];
	return NULL;
}

static int apply_entry(struct layer *l, struct archive_entry *e)
{
	const char *link = archive_entry_hardlink(e), *base;
	const struct entry_kind *k = entry_kind(e);
	char path[PATH_MAX];
	int dir, rc;

	show_name(l, archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
	rc = clean_path(l, "path", archive_entry_pathname(e), path);
	if (rc)
		return rc;
	/* A whiteout only deletes, whatever its own type. */
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX)))
		return apply_whiteout(l, path, base);
	if (!link && !k)
		return entry_fail(l, -EPERM, "unknown entry type 0%o",
				  (unsigned)archive_entry_filetype(e));
	if (!link && !k->apply)
		return entry_fail(l, -EPERM, "%ss are not allowed in an image", k->what);
	if (!link && k->type == AE_IFREG && archive_entry_size(e) >= 0 &&
	    (uint64_t)archive_entry_size(e) > l->lim->max_file_size)
		return entry_fail(l, -EFBIG, "file of %lld bytes is over the cap of %llu",
				  (long long)archive_entry_size(e),
				  (unsigned long long)l->lim->max_file_size);
	if (!*path) {
		if (!link && k->type == AE_IFDIR)
			return 0; /* "./": the destination itself */
		return entry_fail(l, -EINVAL, "names the image root");
	}

	dir = open_parent(l, path, &base, true);
	if (dir < 0)
		return dir;
	rc = link ? apply_hardlink(l, e, dir, base, path) : k->apply(l, e, dir, base);
	close_parent(l, dir);
	if (!rc && unpack_pathset_add(&l->made, path, strlen(path)))
		rc = entry_fail(l, -ENOMEM, "out of memory");
	return rc;
}

static int apply_entries(struct layer *l)
{
	for (;;) {
		struct archive_entry *e;
		int rc = archive_read_next_header(l->ar, &e);

		if (rc == ARCHIVE_EOF)
			return 0;
		if (rc != ARCHIVE_OK)
			return archive_fail(l, "bad tar header");
		if (++l->st.entries > l->lim->max_entries)
			return err_set(l->err, -EFBIG, "layer has over %llu entries",
				       (unsigned long long)l->lim->max_entries);
		rc = apply_entry(l, e);
		if (rc)
			return rc;
	}
}

static la_ssize_t archive_read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct layer *l = ctx;
	ssize_t n = unpack_stream_read(l->stream, buf);

	if (n < 0) {
		archive_set_error(a, (int)-n, "%s", l->err->msg);
		return -1;
	}
	return n;
}

bool unpack_media_type_supported(const char *media_type)
{
	return media_type && (!strcmp(media_type, UNPACK_MEDIA_TAR) ||
			      !strcmp(media_type, UNPACK_MEDIA_TAR_GZIP) ||
			      !strcmp(media_type, UNPACK_MEDIA_DOCKER_GZIP));
}

static void stats_add(struct unpack_stats *to, const struct unpack_stats *from)
{
	to->entries += from->entries;
	to->files += from->files;
	to->bytes += from->bytes;
	to->tar_bytes += from->tar_bytes;
}

int unpack_layer(int blob_fd, const char *media_type, int dest_dirfd,
		 const struct unpack_limits *lim, unpack_tee_fn *tee, void *ctx,
		 struct unpack_stats *st, struct err *err)
{
	struct layer l = { .root = dest_dirfd,
			   .lim = lim ? lim : &unpack_default_limits,
			   .as_root = geteuid() == 0,
			   .err = err };
	int rc;

	if (!unpack_media_type_supported(media_type))
		return err_set(err, -ENOTSUP,
			       "layer media type '%.80s' is not supported "
			       "(only OCI tar, tar+gzip and Docker tar.gzip)",
			       media_type ? media_type : "");
	l.stream = malloc(sizeof(*l.stream));
	if (!l.stream)
		return err_set(err, -ENOMEM, "out of memory");
	rc = unpack_stream_init(l.stream, blob_fd, strcmp(media_type, UNPACK_MEDIA_TAR) != 0,
				l.lim->max_total_size, tee, ctx, err);
	if (rc) {
		free(l.stream);
		return rc;
	}
	l.ar = archive_read_new();
	if (!l.ar) {
		rc = err_set(err, -ENOMEM, "out of memory");
	} else {
		archive_read_support_format_tar(l.ar);
		archive_read_support_format_empty(l.ar);
		if (archive_read_open(l.ar, &l, NULL, archive_read_cb, NULL) != ARCHIVE_OK)
			rc = archive_fail(&l, "not a tar stream");
		else
			rc = apply_entries(&l);
		/* The rest (tar's end blocks, gzip trailer) still counts and is checked. */
		if (!rc)
			rc = unpack_stream_drain(l.stream);
		archive_read_free(l.ar);
	}
	l.st.tar_bytes = l.stream->total;
	unpack_stream_fini(l.stream);
	free(l.stream);
	unpack_pathset_free(&l.made);
	if (!rc && st)
		stats_add(st, &l.st);
	return rc;
}

static void tee_digest(void *ctx, const void *buf, size_t len)
{
	digest_update(ctx, buf, len);
}

static int apply_layers(const struct unpack_source *layers, size_t n, int root,
			const struct unpack_limits *lim, const char *const *diff_ids,
			struct unpack_stats *st, struct err *err)
{
	struct unpack_limits left = *lim;

	for (size_t i = 0; i < n; i++) {
		char got[DIGEST_STR_LEN + 1];
		struct unpack_stats ls = { 0 };
		struct digest d;
		int rc = digest_init(&d);

		if (rc)
			return err_set(err, rc, "out of memory");
		rc = unpack_layer(layers[i].fd, layers[i].media_type, root, &left, tee_digest, &d,
				  &ls, err);
		if (rc) {
			digest_abort(&d);
			return err_prefix(err, rc, "layer %zu: ", i + 1);
		}
		digest_final(&d, got);
		if (diff_ids && strcmp(got, diff_ids[i]))
			return err_set(err, -EINVAL,
				       "layer %zu: uncompressed digest %s is not "
				       "the config's diff_id",
				       i + 1, got);
		left.max_total_size -= ls.tar_bytes;
		stats_add(st, &ls);
	}
	return 0;
}

/* The rename survives a crash once the directory holding it is synced. */
static int sync_parent(const char *path)
{
	char *copy = strdup(path), *slash;
	int fd, rc;

	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	if (slash)
		*(slash == copy ? slash + 1 : slash) = '\0';
	fd = open(slash ? copy : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rc = fd < 0 || fsync(fd) ? -errno : 0;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

int unpack_image(const struct unpack_source *layers, size_t n, const char *dest_path,
		 const struct unpack_limits *lim, const char *const *diff_ids,
		 struct unpack_stats *st, struct err *err)
{
	struct unpack_stats total = { 0 };
	char *tmp;
	int root, rc;

	if (asprintf(&tmp, "%s.tmp-XXXXXX", dest_path) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	if (!mkdtemp(tmp)) {
		rc = err_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	root = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0)
		rc = err_set(err, -errno, "cannot open '%s': %s", tmp, strerror(errno));
	else
		rc = apply_layers(layers, n, root, lim ? lim : &unpack_default_limits, diff_ids,
				  &total, err);
	if (!rc && fchmod(root, 0755))
		rc = err_set(err, -errno, "chmod '%s': %s", tmp, strerror(errno));
	if (!rc && syncfs(root))
		rc = err_set(err, -errno, "sync '%s': %s", tmp, strerror(errno));
	if (!rc && renameat2(AT_FDCWD, tmp, AT_FDCWD, dest_path, RENAME_NOREPLACE))
		rc = err_set(err, -errno, "cannot rename the image to '%s': %s", dest_path,
			     strerror(errno));
	if (!rc && (rc = sync_parent(dest_path)))
		err_set(err, rc, "sync the directory of '%s': %s", dest_path, strerror(-rc));
	if (root >= 0)
		close(root);
	if (rc)
		unpack_remove_tree(AT_FDCWD, tmp);
	else if (st)
		stats_add(st, &total);
	free(tmp);
	return rc;
}
