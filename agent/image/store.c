// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/image/store.h"
#include "agent/image/store_priv.h"
#include "agent/image/unpack.h"
#include "lib/json.h"
#include "lib/mkdir_p.h"
#include "lib/replace_file.h"

#define META_MAX   (1u << 20)
#define REFS_MAX   (64u << 20)
#define TMP_PREFIX ".tmp-"
#define DEL_PREFIX ".del-"

const char *store_root(const struct store *s)
{
	return s->root;
}

/* ---- small helpers ------------------------------------------------------ */

static bool hex64(const char *s)
{
	char d[DIGEST_STR_LEN + 1];

	if (strlen(s) != DIGEST_HEX_LEN)
		return false;
	snprintf(d, sizeof(d), "sha256:%s", s);
	return digest_valid(d);
}

int store_fsync(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

/*
 * Deletes a tree below dirfd; symlinks are removed, never followed. By
 * descriptor, not by path: an image's rootfs may nest deeper than PATH_MAX
 * from here, and a path walk (nftw) would leave such a tree behind for good.
 */
static int rm_tree_at(int dirfd, const char *name)
{
	return unpack_remove_tree(dirfd, name);
}

/* A fresh stream over dirfd: a dup() would share (and exhaust) its offset. */
DIR *store_opendir(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0)
		close(fd);
	return d;
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static char **strv_dup(char *const *v, size_t n)
{
	char **out = calloc(n + 1, sizeof(char *));

	for (size_t i = 0; out && i < n; i++) {
		out[i] = strdup(v[i]);
		if (!out[i]) {
			strv_free(out, i);
			return NULL;
		}
	}
	return out;
}

int store_strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

void store_image_free(struct store_image *img)
{
	free(img->username);
	strv_free(img->labels, 2 * img->nr_labels);
	free(img->rootfs);
	free(img->kernel);
	free(img->initrd);
	free(img->cmdline);
	strv_free(img->disks, img->nr_disks);
	strv_free(img->blobs, img->nr_blobs);
	strv_free(img->repo_tags, img->nr_repo_tags);
	strv_free(img->repo_digests, img->nr_repo_digests);
	memset(img, 0, sizeof(*img));
}

void store_image_list_free(struct store_image *list, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		store_image_free(&list[i]);
	free(list);
}

/* A deep copy of the stored fields (not the derived references). */
static int image_copy(struct store_image *dst, const struct store_image *src)
{
	*dst = (struct store_image){ .size = src->size,
				     .has_uid = src->has_uid,
				     .uid = src->uid,
				     .pinned = src->pinned,
				     .nr_labels = src->nr_labels,
				     .nr_disks = src->nr_disks,
				     .nr_blobs = src->nr_blobs };
	memcpy(dst->id, src->id, sizeof(dst->id));
	memcpy(dst->manifest_digest, src->manifest_digest, sizeof(dst->manifest_digest));
	dst->username = xstrdup(src->username);
	dst->rootfs = xstrdup(src->rootfs);
	dst->kernel = xstrdup(src->kernel);
	dst->initrd = xstrdup(src->initrd);
	dst->cmdline = xstrdup(src->cmdline);
	dst->labels = strv_dup(src->labels, 2 * src->nr_labels);
	dst->disks = strv_dup(src->disks, src->nr_disks);
	dst->blobs = strv_dup(src->blobs, src->nr_blobs);
	if ((src->username && !dst->username) || (src->rootfs && !dst->rootfs) ||
	    (src->kernel && !dst->kernel) || (src->initrd && !dst->initrd) ||
	    (src->cmdline && !dst->cmdline) || !dst->labels || !dst->disks || !dst->blobs) {
		store_image_free(dst);
		return -ENOMEM;
	}
	return 0;
}

/* ---- meta.json ---------------------------------------------------------- */

static cJSON *strv_json(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++)
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(v[i]))) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

/* cJSON_AddItemToObject leaves item with the caller when it fails. */
static bool add_owned(cJSON *o, const char *name, cJSON *item)
{
	if (item && cJSON_AddItemToObject(o, name, item))
		return true;
	cJSON_Delete(item);
	return false;
}

static char *meta_format(const struct store_image *img)
{
	cJSON *o = cJSON_CreateObject(), *labels = cJSON_CreateObject();
	char *text = NULL;
	bool ok = o && labels;

	for (size_t i = 0; ok && i < img->nr_labels; i++)
		ok = cJSON_AddStringToObject(labels, img->labels[2 * i], img->labels[2 * i + 1]);
	if (!ok)
		goto out;
	ok = cJSON_AddStringToObject(o, "id", img->id) &&
	     cJSON_AddStringToObject(o, "manifest_digest", img->manifest_digest) &&
	     cJSON_AddNumberToObject(o, "size", (double)img->size) &&
	     cJSON_AddBoolToObject(o, "pinned", img->pinned) &&
	     cJSON_AddItemToObject(o, "labels", labels);
	if (ok)
		labels = NULL; /* o owns it now; until then it is ours to free */
	if (ok && img->has_uid)
		ok = cJSON_AddNumberToObject(o, "uid", (double)img->uid);
	if (ok && img->username)
		ok = cJSON_AddStringToObject(o, "username", img->username);
	if (ok && img->rootfs)
		ok = cJSON_AddStringToObject(o, "rootfs", img->rootfs);
	if (ok && img->kernel)
		ok = cJSON_AddStringToObject(o, "kernel", img->kernel);
	if (ok && img->initrd)
		ok = cJSON_AddStringToObject(o, "initrd", img->initrd);
	if (ok && img->cmdline)
		ok = cJSON_AddStringToObject(o, "cmdline", img->cmdline);
	ok = ok && add_owned(o, "disks", strv_json(img->disks, img->nr_disks)) &&
	     add_owned(o, "blobs", strv_json(img->blobs, img->nr_blobs));
	if (ok)
		text = cJSON_Print(o);
out:
	cJSON_Delete(labels);
	cJSON_Delete(o);
	return text;
}

static int strv_parse(const char *what, const cJSON *o, const char *name, bool digests, char ***out,
		      size_t *nr, struct err *err)
{
	const cJSON *a = json_member(o, name), *e;

	*out = calloc(1, sizeof(char *));
	*nr = 0;
	if (!*out)
		return err_set(err, -ENOMEM, "out of memory");
	if (!a)
		return 0;
	if (!cJSON_IsArray(a))
		return err_set(err, -EINVAL, "%s.%s: expected an array", what, name);
	cJSON_ArrayForEach(e, a)
	{
		if (!cJSON_IsString(e) || (digests && !digest_valid(e->valuestring)))
			return err_set(err, -EINVAL, "%s.%s: bad entry", what, name);
		if (store_strv_push(out, nr, e->valuestring))
			return err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

static int meta_labels(const char *what, const cJSON *o, struct store_image *img, struct err *err)
{
	const cJSON *labels = json_member(o, "labels"), *l;
	size_t n = 0;

	img->labels = calloc(1, sizeof(char *));
	if (!img->labels)
		return err_set(err, -ENOMEM, "out of memory");
	if (!labels)
		return 0;
	if (!cJSON_IsObject(labels))
		return err_set(err, -EINVAL, "%s.labels: expected an object", what);
	cJSON_ArrayForEach(l, labels)
	{
		if (!cJSON_IsString(l))
			return err_set(err, -EINVAL, "%s.labels: expected strings", what);
		if (store_strv_push(&img->labels, &n, l->string) ||
		    store_strv_push(&img->labels, &n, l->valuestring))
			return err_set(err, -ENOMEM, "out of memory");
		img->nr_labels = n / 2;
	}
	return 0;
}

static int meta_parse(const char *what, const char *text, size_t len, struct store_image *img,
		      struct err *err)
{
	cJSON *o = json_parse(text, len, err);
	const char *id = NULL, *md = NULL, *username = NULL, *rootfs = NULL;
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
	int r;

	memset(img, 0, sizeof(*img));
	if (!o)
		return err_prefix(err, -EINVAL, "%s: ", what);
	r = json_get_string(what, o, "id", true, &id, err);
	if (!r)
		r = json_get_string(what, o, "manifest_digest", true, &md, err);
	if (!r)
		r = json_get_uint(what, o, "size", true, 0, UINT64_MAX, &img->size, err);
	if (!r)
		r = json_get_bool(what, o, "pinned", false, &img->pinned, err);
	if (!r)
		r = json_get_string(what, o, "username", false, &username, err);
	if (!r)
		r = json_get_string(what, o, "rootfs", false, &rootfs, err);
	if (!r)
		r = json_get_string(what, o, "kernel", false, &kernel, err);
	if (!r)
		r = json_get_string(what, o, "initrd", false, &initrd, err);
	if (!r)
		r = json_get_string(what, o, "cmdline", false, &cmdline, err);
	if (!r && json_member(o, "uid")) {
		img->has_uid = true;
		r = json_get_int(what, o, "uid", true, INT64_MIN, INT64_MAX, &img->uid, err);
	}
	if (!r && (!digest_valid(id) || !digest_valid(md)))
		r = err_set(err, -EINVAL, "%s: bad id or manifest digest", what);
	if (!r) {
		strcpy(img->id, id);
		strcpy(img->manifest_digest, md);
		img->username = xstrdup(username);
		img->rootfs = xstrdup(rootfs);
		img->kernel = xstrdup(kernel);
		img->initrd = xstrdup(initrd);
		img->cmdline = xstrdup(cmdline);
		if ((username && !img->username) || (rootfs && !img->rootfs) ||
		    (kernel && !img->kernel) || (initrd && !img->initrd) ||
		    (cmdline && !img->cmdline))
			r = err_set(err, -ENOMEM, "out of memory");
	}
	if (!r)
		r = meta_labels(what, o, img, err);
	if (!r)
		r = strv_parse(what, o, "disks", false, &img->disks, &img->nr_disks, err);
	if (!r)
		r = strv_parse(what, o, "blobs", true, &img->blobs, &img->nr_blobs, err);
	cJSON_Delete(o);
	if (r)
		store_image_free(img);
	return r;
}

/* Reads a whole small file below dirfd, NUL-terminated. */
int store_read_file(int dirfd, const char *name, size_t max, char **buf, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	ssize_t n;
	size_t got = 0;

	*buf = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return -EINVAL;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size && (n = read(fd, *buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;
}

/* Writes buf as dir/name (dir a path), atomically and durably. */
static int write_file(const char *dir, const char *name, const char *buf, const char *what,
		      struct err *err)
{
	char path[PATH_MAX];
	struct replace_file f;
	size_t len = strlen(buf), done = 0;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = replace_file_open(&f, path, what, err);
	if (r)
		return r;
	while (done < len) {
		ssize_t n = write(f.fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_set(err, -errno, "writing %s: %s", path, strerror(errno));
			replace_file_abort(&f);
			return r;
		}
		done += (size_t)n;
	}
	return replace_file_commit(&f, err);
}

/* ---- refs.json ---------------------------------------------------------- */

static void refs_free(struct store_ref *refs, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		free(refs[i].name);
	free(refs);
}

static int refs_save(struct store *s, const struct store_ref *refs, size_t nr, struct err *err)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	bool ok = o;
	int r;

	for (size_t i = 0; ok && i < nr; i++)
		ok = cJSON_AddStringToObject(o, refs[i].name, refs[i].id);
	if (ok)
		text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	r = write_file(s->root, "refs.json", text, "image references", err);
	free(text);
	return r;
}

static int refs_load(struct store *s, struct err *err)
{
	char *text;
	size_t len;
	cJSON *o;
	const cJSON *e;
	int r = store_read_file(s->root_fd, "refs.json", REFS_MAX, &text, &len);

	if (r == -ENOENT)
		return 0;
	if (r)
		return err_set(err, r, "%s/refs.json: %s", s->root, strerror(-r));
	o = json_parse(text, len, err);
	free(text);
	if (!o)
		return err_prefix(err, -EINVAL, "%s/refs.json: ", s->root);
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return err_set(err, -EINVAL, "%s/refs.json: expected an object", s->root);
	}
	s->refs = calloc((size_t)cJSON_GetArraySize(o) + 1, sizeof(*s->refs));
	if (!s->refs)
		r = err_set(err, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(e, o)
	{
		if (r)
			break;
		if (!cJSON_IsString(e) || !digest_valid(e->valuestring)) {
			r = err_set(err, -EINVAL, "%s/refs.json: '%.100s' has no valid id", s->root,
				    e->string);
			break;
		}
		s->refs[s->nr_refs].name = strdup(e->string);
		if (!s->refs[s->nr_refs].name) {
			r = err_set(err, -ENOMEM, "out of memory");
			break;
		}
		strcpy(s->refs[s->nr_refs++].id, e->valuestring);
	}
	cJSON_Delete(o);
	return r;
}

static struct store_ref *ref_find(struct store *s, const char *name)
{
	for (size_t i = 0; i < s->nr_refs; i++)
		if (!strcmp(s->refs[i].name, name))
			return &s->refs[i];
	return NULL;
}

static size_t refs_count(struct store *s, const char *id)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nr_refs; i++)
		n += !strcmp(s->refs[i].id, id);
	return n;
}

/* A copy of the references with name set to id (NULL: removed), saved, then in force. */
static int refs_update(struct store *s, const char *const *names, const char *id, size_t nr,
		       struct err *err)
{
	struct store_ref *refs = calloc(s->nr_refs + nr + 1, sizeof(*refs));
	size_t n = 0;
	int r = 0;

	if (!refs)
		return err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < s->nr_refs && !r; i++) {
		bool named = false;

		for (size_t j = 0; j < nr; j++)
			named |= !strcmp(s->refs[i].name, names[j]);
		if (named)
			continue;
		refs[n] = s->refs[i];
		refs[n].name = strdup(s->refs[i].name);
		r = refs[n++].name ? 0 : -ENOMEM;
	}
	for (size_t j = 0; id && j < nr && !r; j++) {
		refs[n].name = strdup(names[j]);
		strcpy(refs[n].id, id);
		r = refs[n++].name ? 0 : -ENOMEM;
	}
	if (r)
		err_set(err, r, "out of memory");
	else
		r = refs_save(s, refs, n, err);
	if (r) {
		refs_free(refs, n);
		return r;
	}
	refs_free(s->refs, s->nr_refs);
	s->refs = refs;
	s->nr_refs = n;
	return 0;
}

/* Every reference to id out, in one rename. */
static int refs_drop_image(struct store *s, const char *id, struct err *err)
{
	const char **names = calloc(s->nr_refs + 1, sizeof(char *));
	size_t n = 0;
	int r;

	if (!names)
		return err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < s->nr_refs; i++)
		if (!strcmp(s->refs[i].id, id))
			names[n++] = s->refs[i].name;
	r = n ? refs_update(s, names, NULL, n, err) : 0;
	free(names);
	return r;
}

/* ---- the in-memory index ------------------------------------------------- */

static struct store_image *image_find(struct store *s, const char *id)
{
	for (size_t i = 0; i < s->nr_images; i++)
		if (!strcmp(s->images[i].id, id))
			return &s->images[i];
	return NULL;
}

static void image_forget(struct store *s, struct store_image *img)
{
	store_image_free(img);
	*img = s->images[--s->nr_images];
}

/* Takes the image directory away: renamed first, so a crash leaves a .del-* to finish. */
static int image_dir_delete(struct store *s, const char *id, struct err *err)
{
	char del[128];
	int r;

	snprintf(del, sizeof(del), DEL_PREFIX "%s-%ld", digest_hex(id), (long)getpid());
	if (renameat(s->images_fd, digest_hex(id), s->images_fd, del) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, -errno, "removing image %s: %s", id, strerror(errno));
	}
	store_fsync(s->images_fd);
	r = rm_tree_at(s->images_fd, del);
	if (r < 0)
		return err_set(err, r, "removing image %s: %s", id, strerror(-r));
	return 0;
}

/* ---- open and repair ----------------------------------------------------- */

static int mkdir_open(int dirfd, const char *name, const char *root, struct err *err)
{
	int fd;

	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return err_set(err, -errno, "creating %s/%s: %s", root, name, strerror(errno));
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return err_set(err, -errno, "opening %s/%s: %s", root, name, strerror(errno));
	return fd;
}

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* Temporary files a crash left in dirfd: named prefix* (or containing .tmp-). */
static void remove_temps(int dirfd)
{
	DIR *d = store_opendir(dirfd);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strstr(e->d_name, TMP_PREFIX))
			unlinkat(dirfd, e->d_name, 0);
	closedir(d);
	store_fsync(dirfd);
}

/* Loads images/<hex>/meta.json; 0 and nothing for a directory to delete. */
static int image_load(struct store *s, const char *name, struct err *err)
{
	int fd = openat(s->images_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct store_image img, *grown;
	struct err ignored = { 0 };
	char *text;
	size_t len;
	int r;

	if (fd < 0)
		return 0;
	remove_temps(fd);
	r = store_read_file(fd, "meta.json", META_MAX, &text, &len);
	close(fd);
	if (r)
		return r == -ENOMEM ? err_set(err, r, "out of memory") : 0;
	r = meta_parse("meta.json", text, len, &img, &ignored);
	free(text);
	if (r)
		return r == -ENOMEM ? err_set(err, r, "out of memory") : 0;
	if (strcmp(digest_hex(img.id), name)) {
		store_image_free(&img);
		return 0;
	}
	grown = realloc(s->images, (s->nr_images + 1) * sizeof(*grown));
	if (!grown) {
		store_image_free(&img);
		return err_set(err, -ENOMEM, "out of memory");
	}
	s->images = grown;
	s->images[s->nr_images++] = img;
	return 0;
}

static int images_scan(struct store *s, struct err *err)
{
	DIR *d = store_opendir(s->images_fd);
	struct dirent *e;
	int r = 0;

	if (!d)
		return err_set(err, -errno, "reading %s/images: %s", s->root, strerror(errno));
	while (!r && (e = readdir(d))) {
		if (has_prefix(e->d_name, DEL_PREFIX) || has_prefix(e->d_name, TMP_PREFIX))
			rm_tree_at(s->images_fd, e->d_name);
		else if (hex64(e->d_name))
			r = image_load(s, e->d_name, err);
	}
	closedir(d);
	return r;
}

static int gc_locked(struct store *s, uint64_t *freed, struct err *err);

/*
 * Makes the index whole: references only to loaded images, images only with
 * references, directories only for images. No pull runs while this does.
 */
static int store_repair(struct store *s, struct err *err)
{
	const char **stale = calloc(s->nr_refs + 1, sizeof(char *));
	size_t nr_stale = 0;
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (!stale)
		return err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < s->nr_refs; i++)
		if (!image_find(s, s->refs[i].id))
			stale[nr_stale++] = s->refs[i].name;
	if (nr_stale)
		r = refs_update(s, stale, NULL, nr_stale, err);
	free(stale);
	for (size_t i = 0; !r && i < s->nr_images;) {
		if (refs_count(s, s->images[i].id)) {
			i++;
			continue;
		}
		r = image_dir_delete(s, s->images[i].id, err);
		image_forget(s, &s->images[i]);
	}
	/* Directories that never got a valid meta.json: a pull cut short. */
	d = store_opendir(s->images_fd);
	while (!r && d && (e = readdir(d))) {
		char id[DIGEST_STR_LEN + 1];

		if (!hex64(e->d_name))
			continue;
		snprintf(id, sizeof(id), "sha256:%.64s", e->d_name);
		if (!image_find(s, id))
			r = image_dir_delete(s, id, err);
	}
	if (d)
		closedir(d);
	return r ? r : gc_locked(s, NULL, err);
}

static int store_open_dirs(struct store *s, struct err *err)
{
	int sha, r;

	/* mkdir -p: the default root's parents (/var/lib/kvmlet) may not exist yet. */
	r = mkdir_parents(s->root, 0755);
	if (!r && mkdir(s->root, 0700) && errno != EEXIST)
		r = -errno;
	if (r)
		return err_set(err, r, "creating %s: %s", s->root, strerror(-r));
	s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0)
		return err_set(err, -errno, "opening %s: %s", s->root, strerror(errno));
	s->lock_fd = openat(s->root_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lock_fd < 0)
		return err_set(err, -errno, "opening %s/lock: %s", s->root, strerror(errno));
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return err_set(err, errno == EWOULDBLOCK ? -EBUSY : -errno,
			       "image store %s is in use by another process", s->root);
	sha = mkdir_open(s->root_fd, "blobs", s->root, err);
	if (sha < 0)
		return sha;
	s->blobs_fd = mkdir_open(sha, "sha256", s->root, err);
	close(sha);
	if (s->blobs_fd < 0)
		return s->blobs_fd;
	s->images_fd = mkdir_open(s->root_fd, "images", s->root, err);
	if (s->images_fd < 0)
		return s->images_fd;
	remove_temps(s->root_fd);
	remove_temps(s->blobs_fd);
	return 0;
}

int store_open(const struct store_options *opt, struct store **out, struct err *err)
{
	struct store *s = calloc(1, sizeof(*s));
	int r;

	*out = NULL;
	if (!s)
		return err_set(err, -ENOMEM, "out of memory");
	s->root_fd = s->blobs_fd = s->images_fd = s->lock_fd = -1;
	s->root = strdup(opt->root ? opt->root : STORE_DEFAULT_ROOT);
	s->in_use = opt->in_use;
	s->in_use_ctx = opt->in_use_ctx;
	pthread_mutex_init(&s->lock, NULL);
	r = s->root ? 0 : err_set(err, -ENOMEM, "out of memory");
	if (!r)
		r = store_open_dirs(s, err);
	if (!r)
		r = refs_load(s, err);
	if (!r)
		r = images_scan(s, err);
	if (!r)
		r = store_repair(s, err);
	if (r) {
		store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_image_list_free(s->images, s->nr_images);
	refs_free(s->refs, s->nr_refs);
	free(s->preps);
	for (int *fd = &s->root_fd; fd <= &s->lock_fd; fd++)
		if (*fd >= 0)
			close(*fd);
	pthread_mutex_destroy(&s->lock);
	free(s->root);
	free(s);
}

/* ---- images -------------------------------------------------------------- */

static int image_dir_make(struct store *s, const char *id, char *buf, size_t size, struct err *err)
{
	int r = digest_check(id, err);

	if (r)
		return r;
	if ((size_t)snprintf(buf, size, "%s/images/%s", s->root, digest_hex(id)) >= size)
		return err_set(err, -ENAMETOOLONG, "image directory name too long");
	if (mkdirat(s->images_fd, digest_hex(id), 0700) < 0 && errno != EEXIST)
		return err_set(err, -errno, "creating %s: %s", buf, strerror(errno));
	if (store_fsync(s->images_fd) < 0)
		return err_set(err, -errno, "fsync of %s/images: %s", s->root, strerror(errno));
	return 0;
}

static struct store_prep *prep_find(struct store *s, const char *id)
{
	for (size_t i = 0; i < s->nr_preps; i++)
		if (!strcmp(s->preps[i].id, id))
			return &s->preps[i];
	return NULL;
}

/* One preparation of id ends; false if there was none. */
static bool prep_put(struct store *s, const char *id)
{
	struct store_prep *p = prep_find(s, id);

	if (!p)
		return false;
	if (!--p->count)
		*p = s->preps[--s->nr_preps];
	return true;
}

int store_image_prepare(struct store *s, const char *id, char *buf, size_t size, struct err *err)
{
	struct store_prep *p, *grown;
	int r;

	pthread_mutex_lock(&s->lock);
	r = image_dir_make(s, id, buf, size, err);
	p = r ? NULL : prep_find(s, id);
	if (!r && !p) {
		grown = realloc(s->preps, (s->nr_preps + 1) * sizeof(*grown));
		if (grown) {
			s->preps = grown;
			p = &s->preps[s->nr_preps++];
			strcpy(p->id, id);
			p->count = 0;
		} else {
			r = err_set(err, -ENOMEM, "out of memory");
		}
	}
	if (p)
		p->count++;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void store_image_abandon(struct store *s, const char *id)
{
	struct err ignored = { 0 };

	pthread_mutex_lock(&s->lock);
	if (prep_put(s, id) && !prep_find(s, id) && !image_find(s, id))
		image_dir_delete(s, id, &ignored);
	pthread_mutex_unlock(&s->lock);
}

static int image_check(const struct store_image *img, struct err *err)
{
	int r = digest_check(img->id, err);

	if (!r)
		r = digest_check(img->manifest_digest, err);
	for (size_t i = 0; !r && i < img->nr_blobs; i++)
		r = digest_check(img->blobs[i], err);
	return r ? err_prefix(err, r, "image: ") : 0;
}

static int image_add_locked(struct store *s, const struct store_image *img,
			    const struct image_ref *ref, struct err *err)
{
	char dir[PATH_MAX], tagged[REF_MAX + 1], digested[REF_MAX + 1];
	const char *names[2];
	size_t nr = 0;
	struct store_image copy, *known = image_find(s, img->id), *grown;
	struct image_ref by_digest = *ref;
	char *meta;
	int r;

	r = image_dir_make(s, img->id, dir, sizeof(dir), err);
	if (r)
		return r;
	meta = meta_format(img);
	if (!meta)
		return err_set(err, -ENOMEM, "out of memory");
	/* What store_open could not read back would lose the image at the next start. */
	if (strlen(meta) > META_MAX) {
		free(meta);
		return err_set(err, -EFBIG, "image %s: metadata (labels) over %u bytes", img->id,
			       META_MAX);
	}
	r = write_file(dir, "meta.json", meta, "image metadata", err);
	free(meta);
	if (r)
		return r;
	r = image_copy(&copy, img) ? err_set(err, -ENOMEM, "out of memory") : 0;
	if (r)
		return r;
	/* Room first, references next, memory last: a failed refs.json save must not leave an image
	 * nothing names until the next start. */
	if (!known) {
		grown = realloc(s->images, (s->nr_images + 1) * sizeof(*grown));
		if (!grown) {
			store_image_free(&copy);
			return err_set(err, -ENOMEM, "out of memory");
		}
		s->images = grown;
	}
	if (ref->tag[0] && ref_tagged(ref, tagged, sizeof(tagged)) > 0)
		names[nr++] = tagged;
	strcpy(by_digest.digest, img->manifest_digest);
	if (ref_digested(&by_digest, digested, sizeof(digested)) > 0)
		names[nr++] = digested;
	r = refs_update(s, names, img->id, nr, err);
	if (r) {
		store_image_free(&copy);
		return r;
	}
	if (known) {
		store_image_free(known);
		*known = copy;
	} else {
		s->images[s->nr_images++] = copy;
	}
	return 0;
}

int store_image_add(struct store *s, const struct store_image *img, const struct image_ref *ref,
		    struct err *err)
{
	int r = image_check(img, err);

	if (r)
		return r;
	pthread_mutex_lock(&s->lock);
	r = image_add_locked(s, img, ref, err);
	if (!r)
		prep_put(s, img->id);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static bool is_hex_prefix(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > DIGEST_HEX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* containerd's localResolve, under the lock. */
static int resolve_locked(struct store *s, const char *ref_or_id, struct store_image **out,
			  struct err *err)
{
	struct image_ref ref;
	struct err ignored = { 0 };
	char name[REF_MAX + 1];
	const char *prefix = ref_or_id;
	struct store_image *found = NULL;

	*out = NULL;
	if (digest_valid(ref_or_id)) {
		*out = image_find(s, ref_or_id);
		return *out ? 0 : -ENOENT;
	}
	if (!ref_parse(ref_or_id, &ref, &ignored)) {
		int n = ref.digest[0] ? ref_digested(&ref, name, sizeof(name))
				      : ref_tagged(&ref, name, sizeof(name));
		struct store_ref *r = n > 0 ? ref_find(s, name) : NULL;

		if (r) {
			*out = image_find(s, r->id);
			return *out ? 0 : -ENOENT;
		}
	}
	if (has_prefix(prefix, "sha256:"))
		prefix += 7;
	if (!is_hex_prefix(prefix))
		return -ENOENT;
	for (size_t i = 0; i < s->nr_images; i++) {
		if (strncmp(digest_hex(s->images[i].id), prefix, strlen(prefix)))
			continue;
		if (found)
			return err_set(err, -ENOTUNIQ, "image id prefix '%s' is ambiguous", prefix);
		found = &s->images[i];
	}
	*out = found;
	return found ? 0 : -ENOENT;
}

/* A copy of img with its references, for a caller outside the lock. */
static int image_report(struct store *s, const struct store_image *img, struct store_image *out)
{
	int r = image_copy(out, img);

	out->repo_tags = calloc(1, sizeof(char *));
	out->repo_digests = calloc(1, sizeof(char *));
	if (!r && (!out->repo_tags || !out->repo_digests))
		r = -ENOMEM;
	for (size_t i = 0; !r && i < s->nr_refs; i++) {
		if (strcmp(s->refs[i].id, img->id))
			continue;
		if (strchr(s->refs[i].name, '@'))
			r = store_strv_push(&out->repo_digests, &out->nr_repo_digests,
					    s->refs[i].name);
		else
			r = store_strv_push(&out->repo_tags, &out->nr_repo_tags, s->refs[i].name);
	}
	if (r)
		store_image_free(out);
	return r;
}

int store_image_get(struct store *s, const char *ref_or_id, struct store_image *out,
		    struct err *err)
{
	struct store_image *img;
	int r;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&s->lock);
	r = resolve_locked(s, ref_or_id, &img, err);
	if (!r && image_report(s, img, out))
		r = err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_image_list(struct store *s, struct store_image **out, size_t *nr, struct err *err)
{
	struct store_image *list;
	int r = 0;

	*out = NULL;
	*nr = 0;
	pthread_mutex_lock(&s->lock);
	list = calloc(s->nr_images + 1, sizeof(*list));
	if (!list)
		r = err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; !r && i < s->nr_images; i++) {
		if (image_report(s, &s->images[i], &list[i])) {
			store_image_list_free(list, i);
			r = err_set(err, -ENOMEM, "out of memory");
		}
	}
	if (!r) {
		*out = list;
		*nr = s->nr_images;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* The last step of every removal: references are gone, now the image. */
static int image_delete_locked(struct store *s, struct store_image *img, struct err *err)
{
	char id[DIGEST_STR_LEN + 1];
	int r;

	strcpy(id, img->id);
	image_forget(s, img);
	r = image_dir_delete(s, id, err);
	return r ? r : gc_locked(s, NULL, err);
}

/* Whether the image may go: not while a VM uses it, nor while a pull fills its directory. */
static int image_busy(struct store *s, const char *id, struct err *err)
{
	if (s->in_use && s->in_use(id, s->in_use_ctx))
		return err_set(err, -EBUSY, "image %s is in use by a VM", id);
	if (prep_find(s, id))
		return err_set(err, -EBUSY, "image %s is being pulled", id);
	return 0;
}

int store_image_remove(struct store *s, const char *ref_or_id, struct err *err)
{
	struct store_image *img;
	int r;

	pthread_mutex_lock(&s->lock);
	r = resolve_locked(s, ref_or_id, &img, err);
	if (!r)
		r = image_busy(s, img->id, err);
	if (!r)
		r = refs_drop_image(s, img->id, err);
	if (!r)
		r = image_delete_locked(s, img, err);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_untag(struct store *s, const char *ref_s, struct err *err)
{
	char name[REF_MAX + 1], id[DIGEST_STR_LEN + 1];
	const char *names[1] = { name };
	struct image_ref ref;
	struct store_ref *found;
	struct store_image *img;
	int r = ref_parse(ref_s, &ref, err);

	if (r)
		return r;
	if ((ref.digest[0] ? ref_digested(&ref, name, sizeof(name))
			   : ref_tagged(&ref, name, sizeof(name))) < 0)
		return err_set(err, -EINVAL, "reference too long");
	pthread_mutex_lock(&s->lock);
	found = ref_find(s, name);
	r = found ? 0 : -ENOENT;
	if (!r) {
		strcpy(id, found->id);
		img = image_find(s, id);
		if (refs_count(s, id) == 1 && img)
			r = image_busy(s, id, err);
		if (!r)
			r = refs_update(s, names, NULL, 1, err);
		img = image_find(s, id);
		if (!r && img && !refs_count(s, id))
			r = image_delete_locked(s, img, err);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- garbage collection -------------------------------------------------- */

static bool blob_needed(struct store *s, const char *hex)
{
	for (size_t i = 0; i < s->nr_images; i++)
		for (size_t j = 0; j < s->images[i].nr_blobs; j++)
			if (!strcmp(digest_hex(s->images[i].blobs[j]), hex))
				return true;
	return false;
}

static int gc_locked(struct store *s, uint64_t *freed, struct err *err)
{
	DIR *d;
	struct dirent *e;
	bool any = false;

	if (s->holds) {
		s->gc_pending = true;
		return 0;
	}
	s->gc_pending = false;
	d = store_opendir(s->blobs_fd);
	if (!d)
		return err_set(err, -errno, "reading %s/blobs: %s", s->root, strerror(errno));
	while ((e = readdir(d))) {
		struct stat st;

		if (!hex64(e->d_name) || blob_needed(s, e->d_name))
			continue;
		if (freed && !fstatat(s->blobs_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW))
			*freed += (uint64_t)st.st_blocks * 512;
		if (!unlinkat(s->blobs_fd, e->d_name, 0))
			any = true;
	}
	closedir(d);
	if (any)
		store_fsync(s->blobs_fd);
	return 0;
}

int store_gc(struct store *s, uint64_t *freed, struct err *err)
{
	int r;

	if (freed)
		*freed = 0;
	pthread_mutex_lock(&s->lock);
	r = gc_locked(s, freed, err);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void store_hold(struct store *s)
{
	pthread_mutex_lock(&s->lock);
	s->holds++;
	pthread_mutex_unlock(&s->lock);
}

void store_release(struct store *s)
{
	struct err ignored = { 0 };

	pthread_mutex_lock(&s->lock);
	if (!--s->holds && s->gc_pending)
		gc_locked(s, NULL, &ignored);
	pthread_mutex_unlock(&s->lock);
}
