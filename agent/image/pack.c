// SPDX-License-Identifier: Apache-2.0
/*
 * The layer is streamed: libarchive writes the tar to a callback that
 * hashes it (the diff_id), gzips it and writes and hashes the result (the
 * blob digest), so a disk of any size passes through once in fixed memory.
 */
#include "agent/image/pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/json.h"
#include "lib/replace_file.h"

#define MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_INDEX    "application/vnd.oci.image.index.v1+json"
#define MEDIA_CONFIG   "application/vnd.oci.image.config.v1+json"
#define MEDIA_LAYER    "application/vnd.oci.image.layer.v1.tar+gzip"
#define CHUNK	       (1 << 20)

/* A blob written and hashed as it goes. */
struct blob {
	char descr_digest[DIGEST_STR_LEN + 1];
	uint64_t size;
};

struct layer_out {
	int fd;
	z_stream z;
	struct digest diff, blob;
	uint64_t size;
	int error; /* first write error, as -errno */
	unsigned char buf[CHUNK];
};

static int write_all(int fd, const void *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EIO;
		buf = (const char *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

/* Deflates what is in z's input (all of it, or the end with Z_FINISH). */
static int deflate_out(struct layer_out *o, int flush)
{
	int rc;

	do {
		o->z.next_out = o->buf;
		o->z.avail_out = sizeof(o->buf);
		rc = deflate(&o->z, flush);
		if (rc == Z_STREAM_ERROR)
			return -EIO;
		size_t n = sizeof(o->buf) - o->z.avail_out;

		digest_update(&o->blob, o->buf, n);
		o->size += n;
		int w = write_all(o->fd, o->buf, n);

		if (w)
			return w;
	} while (o->z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
	return 0;
}

static la_ssize_t tar_write_cb(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct layer_out *o = ctx;

	digest_update(&o->diff, buf, len);
	o->z.next_in = (Bytef *)buf;
	o->z.avail_in = (uInt)len;
	o->error = deflate_out(o, Z_NO_FLUSH);
	if (o->error) {
		archive_set_error(a, -o->error, "writing the layer: %s", strerror(-o->error));
		return -1;
	}
	return (la_ssize_t)len;
}

static struct archive_entry *new_entry(const char *name, mode_t type, mode_t perm, uint32_t uid,
				       uint32_t gid, int64_t mtime)
{
	struct archive_entry *e = archive_entry_new();

	if (!e)
		return NULL;
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, gid);
	archive_entry_set_mtime(e, mtime, 0);
	return e;
}

static int add_dir(struct archive *a, const char *name, int64_t mtime, struct err *err)
{
	struct archive_entry *e = new_entry(name, AE_IFDIR, 0755, 0, 0, mtime);
	int rc = e ? archive_write_header(a, e) : ARCHIVE_FATAL;

	archive_entry_free(e);
	if (rc != ARCHIVE_OK)
		return err_set(err, -EIO, "tar entry '%s': %s", name, archive_error_string(a));
	return 0;
}

static int add_file(struct archive *a, const struct pack_file *f, int64_t mtime, unsigned char *buf,
		    struct err *err)
{
	struct archive_entry *e;
	struct stat sb;
	int fd, rc = 0;

	fd = open(f->src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb))
		rc = err_set(err, -errno, "'%s': %s", f->src, strerror(errno));
	else if (!S_ISREG(sb.st_mode))
		rc = err_set(err, -EINVAL, "'%s' is not a regular file", f->src);
	e = rc ? NULL : new_entry(f->name, AE_IFREG, f->mode, f->uid, f->gid, mtime);
	if (!rc && !e)
		rc = err_set(err, -ENOMEM, "out of memory");
	if (!rc) {
		archive_entry_set_size(e, sb.st_size);
		if (archive_write_header(a, e) != ARCHIVE_OK)
			rc = err_set(err, -EIO, "tar entry '%s': %s", f->name,
				     archive_error_string(a));
	}
	for (off_t left = sb.st_size; !rc && left > 0;) {
		ssize_t n = read(fd, buf, CHUNK);

		if (n <= 0)
			rc = err_set(err, n ? -errno : -EIO, "reading '%s': %s", f->src,
				     n ? strerror(errno) : "file shrank");
		else if (archive_write_data(a, buf, (size_t)n) != n)
			rc = err_set(err, -EIO, "tar entry '%s': %s", f->name,
				     archive_error_string(a));
		left -= n;
	}
	archive_entry_free(e);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The directories each file sits in, once, before the file itself. */
static int add_entries(struct archive *a, const struct pack_layer *l, int64_t mtime,
		       unsigned char *buf, struct err *err)
{
	char done[PATH_MAX] = "";

	for (size_t i = 0; i < l->n; i++) {
		const char *slash = strrchr(l->files[i].name, '/');
		size_t dlen = slash ? (size_t)(slash - l->files[i].name) : 0;
		int rc;

		if (dlen &&
		    (dlen >= sizeof(done) || strncmp(done, l->files[i].name, dlen) || done[dlen])) {
			if (dlen >= sizeof(done))
				return err_set(err, -ENAMETOOLONG, "name too long");
			memcpy(done, l->files[i].name, dlen);
			done[dlen] = '\0';
			rc = add_dir(a, done, mtime, err);
			if (rc)
				return rc;
		}
		rc = add_file(a, &l->files[i], mtime, buf, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int blobs_path(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/blobs/sha256/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Moves a finished temporary blob to its name by digest. */
static int name_blob(const char *dir, const char *tmp, const char *digest, struct err *err)
{
	char path[PATH_MAX];

	if (blobs_path(path, sizeof(path), dir, digest_hex(digest)))
		return err_set(err, -ENAMETOOLONG, "output path too long");
	if (rename(tmp, path))
		return err_set(err, -errno, "rename to '%s': %s", path, strerror(errno));
	return 0;
}

static int write_layer(const char *dir, const struct pack_layer *l, int64_t mtime,
		       char diff_id[DIGEST_STR_LEN + 1], struct blob *out, struct err *err)
{
	struct layer_out *o = calloc(1, sizeof(*o));
	unsigned char *buf = malloc(CHUNK);
	struct archive *a = archive_write_new();
	char tmp[PATH_MAX];
	int rc = 0;

	if (!o || !buf || !a || digest_init(&o->diff) || digest_init(&o->blob) ||
	    deflateInit2(&o->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out_free;
	}
	if (blobs_path(tmp, sizeof(tmp), dir, "layer-XXXXXX") || (o->fd = mkstemp(tmp)) < 0 ||
	    fchmod(o->fd, 0644)) {
		rc = err_set(err, -errno, "cannot create a blob in '%s': %s", dir, strerror(errno));
		goto out_free;
	}
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_per_block(a, 0); /* no padding beyond tar's own */
	if (archive_write_open(a, o, NULL, tar_write_cb, NULL) != ARCHIVE_OK)
		rc = err_set(err, -EIO, "tar: %s", archive_error_string(a));
	if (!rc)
		rc = add_entries(a, l, mtime, buf, err);
	if (!rc && archive_write_close(a) != ARCHIVE_OK)
		rc = err_set(err, o->error ? o->error : -EIO, "tar: %s", archive_error_string(a));
	if (!rc && (o->error = deflate_out(o, Z_FINISH)))
		rc = err_set(err, o->error, "writing the layer: %s", strerror(-o->error));
	if (!rc && fsync(o->fd))
		rc = err_set(err, -errno, "fsync: %s", strerror(errno));
	/* Before the digests end: after a failure, freeing still flushes into them. */
	archive_write_free(a);
	a = NULL;
	close(o->fd);
	digest_final(&o->diff, diff_id);
	digest_final(&o->blob, out->descr_digest);
	out->size = o->size;
	if (!rc)
		rc = name_blob(dir, tmp, out->descr_digest, err);
	if (rc)
		unlink(tmp);
out_free:
	if (o) {
		digest_abort(&o->diff);
		digest_abort(&o->blob);
		deflateEnd(&o->z);
	}
	archive_write_free(a);
	free(buf);
	free(o);
	return rc;
}

/* A small file written whole, durably, under dir. */
static int write_file(const char *path, const char *text, size_t len, struct err *err)
{
	struct replace_file f;
	int rc = replace_file_open(&f, path, "image layout file", err);

	if (rc)
		return rc;
	rc = fchmod(f.fd, 0644) ? -errno : write_all(f.fd, text, len);
	if (rc) {
		replace_file_abort(&f);
		return err_set(err, rc, "writing '%s': %s", path, strerror(-rc));
	}
	return replace_file_commit(&f, err);
}

/* Serialises json (consumed) as a blob; out gets its digest and size. */
static int write_json_blob(const char *dir, cJSON *json, struct blob *out, struct err *err)
{
	char *text = json ? cJSON_PrintUnformatted(json) : NULL;
	char path[PATH_MAX];
	int rc;

	cJSON_Delete(json);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	out->size = strlen(text);
	rc = digest_buffer(text, out->size, out->descr_digest);
	if (!rc && blobs_path(path, sizeof(path), dir, digest_hex(out->descr_digest)))
		rc = -ENAMETOOLONG;
	if (rc)
		rc = err_set(err, rc, "cannot name a blob in '%s'", dir);
	else
		rc = write_file(path, text, out->size, err);
	cJSON_free(text);
	return rc;
}

static cJSON *descriptor(const char *media_type, const struct blob *b)
{
	cJSON *d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "mediaType", media_type);
	cJSON_AddStringToObject(d, "digest", b->descr_digest);
	cJSON_AddNumberToObject(d, "size", (double)b->size);
	return d;
}

static cJSON *config_json(const struct pack_image *img, char (*diff_ids)[DIGEST_STR_LEN + 1])
{
	cJSON *c = cJSON_CreateObject(), *cfg, *rootfs, *ids;

	cJSON_AddStringToObject(c, "created", "1970-01-01T00:00:00Z");
	cJSON_AddStringToObject(c, "architecture", "amd64");
	cJSON_AddStringToObject(c, "os", "linux");
	cfg = cJSON_AddObjectToObject(c, "config");
	if (img->cmdline && cfg)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(cfg, "Labels"), PACK_LABEL_CMDLINE,
					img->cmdline);
	rootfs = cJSON_AddObjectToObject(c, "rootfs");
	cJSON_AddStringToObject(rootfs, "type", "layers");
	ids = cJSON_AddArrayToObject(rootfs, "diff_ids");
	for (size_t i = 0; i < img->n_layers; i++)
		cJSON_AddItemToArray(ids, cJSON_CreateString(diff_ids[i]));
	return c;
}

static cJSON *manifest_json(const struct pack_image *img, const struct blob *config,
			    const struct blob *layers)
{
	cJSON *m = cJSON_CreateObject(), *arr;

	cJSON_AddNumberToObject(m, "schemaVersion", 2);
	cJSON_AddStringToObject(m, "mediaType", MEDIA_MANIFEST);
	cJSON_AddItemToObject(m, "config", descriptor(MEDIA_CONFIG, config));
	arr = cJSON_AddArrayToObject(m, "layers");
	for (size_t i = 0; i < img->n_layers; i++)
		cJSON_AddItemToArray(arr, descriptor(MEDIA_LAYER, &layers[i]));
	return m;
}

static int write_index(const char *dir, const struct pack_image *img, const struct blob *manifest,
		       struct err *err)
{
	cJSON *idx = cJSON_CreateObject(), *d = descriptor(MEDIA_MANIFEST, manifest);
	char path[PATH_MAX];
	char *text;
	int rc;

	cJSON_AddStringToObject(cJSON_AddObjectToObject(d, "annotations"), PACK_REF_NAME, img->tag);
	cJSON_AddNumberToObject(idx, "schemaVersion", 2);
	cJSON_AddStringToObject(idx, "mediaType", MEDIA_INDEX);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(idx, "manifests"), d);
	text = cJSON_PrintUnformatted(idx);
	cJSON_Delete(idx);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	snprintf(path, sizeof(path), "%s/index.json", dir);
	rc = write_file(path, text, strlen(text), err);
	cJSON_free(text);
	return rc;
}

static int make_dirs(const char *dir, struct err *err)
{
	const char *sub[] = { "", "/blobs", "/blobs/sha256" };
	char path[PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s%s", dir, sub[i]) >= sizeof(path))
			return err_set(err, -ENAMETOOLONG, "output path too long");
		if (mkdir(path, 0755) && errno != EEXIST)
			return err_set(err, -errno, "mkdir '%s': %s", path, strerror(errno));
	}
	return 0;
}

int pack_write_layout(const char *dir, const struct pack_image *img,
		      char manifest[DIGEST_STR_LEN + 1], struct err *err)
{
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	char(*diff_ids)[DIGEST_STR_LEN + 1] = calloc(img->n_layers + 1, sizeof(*diff_ids));
	struct blob *layers = calloc(img->n_layers + 1, sizeof(*layers));
	struct blob config, man;
	char path[PATH_MAX];
	int rc = make_dirs(dir, err);

	if (!rc && (!diff_ids || !layers))
		rc = err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; !rc && i < img->n_layers; i++) {
		rc = write_layer(dir, &img->layers[i], img->mtime, diff_ids[i], &layers[i], err);
		if (rc)
			err_prefix(err, rc, "layer %zu: ", i + 1);
	}
	if (!rc)
		rc = write_json_blob(dir, config_json(img, diff_ids), &config, err);
	if (!rc)
		rc = write_json_blob(dir, manifest_json(img, &config, layers), &man, err);
	if (!rc) {
		snprintf(path, sizeof(path), "%s/oci-layout", dir);
		rc = write_file(path, layout, strlen(layout), err);
	}
	if (!rc)
		rc = write_index(dir, img, &man, err);
	if (!rc && manifest)
		memcpy(manifest, man.descr_digest, sizeof(man.descr_digest));
	free(diff_ids);
	free(layers);
	return rc;
}
