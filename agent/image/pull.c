// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/image/pull.h"
#include "agent/image/vm_image.h"

#define ROOTFS "rootfs"

/* One blob being fetched, and whoever waits for it. */
struct inflight {
	struct inflight *next;
	char digest[DIGEST_STR_LEN + 1];
	unsigned int users;
	bool done;
	struct err result;
};

struct puller {
	struct puller_options opt;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct inflight *inflight;  /* blobs being fetched; guarded by lock */
	struct inflight *unpacking; /* image ids being unpacked; guarded by lock */
	struct unpack_limits limits;
};

int puller_new(const struct puller_options *opt, struct puller **out, struct err *err)
{
	struct puller *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return err_set(err, -ENOMEM, "out of memory");
	p->opt = *opt;
	if (!p->opt.parallel)
		p->opt.parallel = PULL_PARALLEL;
	p->limits = opt->limits ? *opt->limits : unpack_default_limits;
	if (!opt->limits)
		p->limits.keep_owner = geteuid() == 0;
	if (!p->opt.qcow2.max_virtual_size)
		p->opt.qcow2.max_virtual_size = p->limits.max_file_size;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->changed, NULL);
	*out = p;
	return 0;
}

void puller_free(struct puller *p)
{
	if (!p)
		return;
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void inflight_put(struct inflight **list, struct inflight *f)
{
	if (--f->users)
		return;
	for (struct inflight **pp = list; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	free(f);
}

/* The blob d in the store: already there, fetched by another pull, or fetched here. */
static int fetch_shared(struct puller *p, struct registry *r, const struct descriptor *d,
			struct err *err)
{
	struct store *s = p->opt.store;
	struct inflight *f;
	int rc;

	pthread_mutex_lock(&p->lock);
	if (store_blob_has(s, d->digest)) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	for (f = p->inflight; f && strcmp(f->digest, d->digest); f = f->next)
		;
	if (f) {
		f->users++;
		while (!f->done)
			pthread_cond_wait(&p->changed, &p->lock);
		rc = f->result.code;
		if (rc)
			err_set(err, rc, "%s", f->result.msg);
		inflight_put(&p->inflight, f);
		pthread_mutex_unlock(&p->lock);
		return rc;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&p->lock);
		return err_set(err, -ENOMEM, "out of memory");
	}
	strcpy(f->digest, d->digest);
	f->users = 1;
	f->next = p->inflight;
	p->inflight = f;
	pthread_mutex_unlock(&p->lock);

	rc = registry_get_blob(r, d, s, &f->result);
	if (!rc && p->opt.stats)
		atomic_fetch_add_explicit(&p->opt.stats->bytes, d->size, memory_order_relaxed);

	pthread_mutex_lock(&p->lock);
	f->done = true;
	if (rc)
		err_set(err, rc, "%s", f->result.msg);
	pthread_cond_broadcast(&p->changed);
	inflight_put(&p->inflight, f);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* ---- parallel layers ------------------------------------------------------ */

struct layer_jobs {
	struct puller *p;
	const struct registry *proto;
	const struct manifest *m;
	pthread_mutex_t lock;
	size_t next;	/* guarded by lock */
	struct err err; /* the first failure; guarded by lock */
};

static void *layer_worker(void *arg)
{
	struct layer_jobs *j = arg;
	struct registry *r = NULL;
	struct err err = { 0 };

	if (registry_clone(j->proto, &r, &err))
		goto out;
	for (;;) {
		size_t i;

		pthread_mutex_lock(&j->lock);
		i = j->err.code ? j->m->nr_layers : j->next++;
		pthread_mutex_unlock(&j->lock);
		if (i >= j->m->nr_layers)
			break;
		if (fetch_shared(j->p, r, &j->m->layers[i], &err))
			break;
	}
out:
	registry_close(r);
	if (err.code) {
		pthread_mutex_lock(&j->lock);
		if (!j->err.code)
			j->err = err;
		pthread_mutex_unlock(&j->lock);
	}
	return NULL;
}

static int fetch_layers(struct puller *p, const struct registry *r, const struct manifest *m,
			struct err *err)
{
	struct layer_jobs j = { .p = p, .proto = r, .m = m };
	pthread_t threads[16];
	unsigned int n = p->opt.parallel, started = 0;

	if (n > 16)
		n = 16;
	if (n > m->nr_layers)
		n = (unsigned int)m->nr_layers;
	pthread_mutex_init(&j.lock, NULL);
	for (; started < n; started++)
		if (pthread_create(&threads[started], NULL, layer_worker, &j))
			break;
	if (!started)
		layer_worker(&j);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&j.lock);
	if (j.err.code)
		return err_set(err, j.err.code, "%s", j.err.msg);
	return 0;
}

/* ---- one pull ----------------------------------------------------------------- */

/* A document already verified in memory, kept as a blob. */
static int keep_document(struct store *s, const char *digest, const char *body, size_t len,
			 struct err *err)
{
	struct store_blob_writer *w;
	int rc;

	if (store_blob_has(s, digest))
		return 0;
	rc = store_blob_begin(s, digest, len, &w, err);
	if (rc)
		return rc;
	rc = store_blob_write(w, body, len, err);
	if (rc) {
		store_blob_abort(w);
		return rc;
	}
	return store_blob_commit(w, err);
}

struct pull {
	struct image_ref ref;
	struct registry *r;
	char top_digest[DIGEST_STR_LEN + 1];   /* what the reference resolved to */
	char index_digest[DIGEST_STR_LEN + 1]; /* "" without an index */
	struct registry_manifest doc;
	struct manifest m;
	struct image_config config;
};

/* The image manifest of the reference, through an index if need be. */
static int resolve_manifest(struct puller *p, struct pull *pl, struct err *err)
{
	const char *name = pl->ref.digest[0] ? pl->ref.digest : pl->ref.tag;
	enum manifest_kind kind;
	int rc = registry_get_manifest(pl->r, name, &pl->doc, err);

	if (rc)
		return rc;
	strcpy(pl->top_digest, pl->doc.digest);
	rc = manifest_kind_detect(pl->doc.content_type, pl->doc.body, pl->doc.len, &kind, err);
	if (!rc && manifest_kind_is_index(kind)) {
		struct image_index idx;
		const struct descriptor *d;
		char digest[DIGEST_STR_LEN + 1];

		rc = index_parse(pl->doc.content_type, pl->doc.body, pl->doc.len, &idx, err);
		if (rc)
			return rc;
		rc = index_select(&idx, "linux", "amd64", &d, err);
		if (!rc)
			strcpy(digest, d->digest);
		index_free(&idx);
		if (!rc)
			rc = keep_document(p->opt.store, pl->doc.digest, pl->doc.body, pl->doc.len,
					   err);
		if (rc)
			return rc;
		strcpy(pl->index_digest, pl->doc.digest);
		registry_manifest_free(&pl->doc);
		rc = registry_get_manifest(pl->r, digest, &pl->doc, err);
	}
	if (!rc)
		rc = manifest_parse(pl->doc.content_type, pl->doc.body, pl->doc.len, &pl->m, err);
	if (!rc)
		rc = keep_document(p->opt.store, pl->doc.digest, pl->doc.body, pl->doc.len, err);
	return rc;
}

/* Refused before any download: a layer the unpacker cannot read would be fetched for nothing. */
static int check_layer_types(const struct manifest *m, struct err *err)
{
	for (size_t i = 0; i < m->nr_layers; i++)
		if (!unpack_media_type_supported(m->layers[i].media_type))
			return err_set(err, -EOPNOTSUPP, "layer %s: media type %s is not supported",
				       m->layers[i].digest, m->layers[i].media_type);
	return 0;
}

/*
 * Layers whose compressed sizes already pass the unpacker's total cap would
 * be downloaded (each up to DESCRIPTOR_MAX_SIZE) only to be refused: the
 * slack covers gzip's overhead on incompressible data.
 */
static int check_layer_sizes(const struct puller *p, const struct manifest *m, struct err *err)
{
	uint64_t cap = p->limits.max_total_size, total = 0;

	if (cap > UINT64_MAX / 2)
		return 0;
	cap += cap / 1024 + (uint64_t)m->nr_layers * (64u << 10);
	for (size_t i = 0; i < m->nr_layers; i++)
		total += m->layers[i].size; /* each at most DESCRIPTOR_MAX_SIZE: no overflow */
	if (total > cap)
		return err_set(err, -EFBIG, "layers of %llu bytes, over the image cap of %llu",
			       (unsigned long long)total,
			       (unsigned long long)p->limits.max_total_size);
	return 0;
}

static int fetch_config(struct puller *p, struct pull *pl, struct err *err)
{
	char *body;
	size_t len;
	int rc;

	if (pl->m.config.size > CONFIG_MAX_SIZE)
		return err_set(err, -EFBIG, "config %s: %llu bytes, over the limit of %u",
			       pl->m.config.digest, (unsigned long long)pl->m.config.size,
			       CONFIG_MAX_SIZE);
	rc = fetch_shared(p, pl->r, &pl->m.config, err);
	if (!rc)
		rc = store_blob_read(p->opt.store, pl->m.config.digest, CONFIG_MAX_SIZE, &body,
				     &len, err);
	if (rc)
		return rc;
	rc = image_config_parse(body, len, pl->m.nr_layers, &pl->config, err);
	free(body);
	return rc;
}

static const char *label(const struct image_config *c, const char *key)
{
	for (size_t i = 0; i < c->nr_labels; i++)
		if (!strcmp(c->labels[2 * i], key))
			return c->labels[2 * i + 1];
	return NULL;
}

/* The layers, in order, into dir/rootfs; then the VM parts, qcow2 disks made raw. */
static int unpack_vm(struct puller *p, struct pull *pl, const char *dir, struct store_image *img,
		     struct err *err)
{
	struct unpack_source *src = calloc(pl->m.nr_layers + 1, sizeof(*src));
	struct vm_image_parts parts;
	char dest[PATH_MAX];
	size_t opened = 0;
	int dfd, rc = 0;

	if (!src)
		return err_set(err, -ENOMEM, "out of memory");
	/* A failed unpack of this id may have left rootfs after unpacking. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || unpack_remove_tree(dfd, ROOTFS))
		rc = err_set(err, -EIO, "%s: cannot clear %s", dir, ROOTFS);
	if (dfd >= 0)
		close(dfd);
	for (; !rc && opened < pl->m.nr_layers; opened++) {
		const struct descriptor *d = &pl->m.layers[opened];

		if (!unpack_media_type_supported(d->media_type)) {
			rc = err_set(err, -EOPNOTSUPP, "layer %s: media type %s is not supported",
				     d->digest, d->media_type);
			break;
		}
		src[opened].media_type = d->media_type;
		src[opened].fd = store_blob_open(p->opt.store, d->digest, err);
		if (src[opened].fd < 0) {
			rc = src[opened].fd;
			break;
		}
	}
	if (!rc && snprintf(dest, sizeof(dest), "%s/%s", dir, ROOTFS) >= (int)sizeof(dest))
		rc = err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
	if (!rc)
		rc = unpack_image(src, pl->m.nr_layers, dest, &p->limits,
				  (const char *const *)pl->config.diff_ids, NULL, err);
	for (size_t i = 0; i < opened; i++)
		if (src[i].fd >= 0)
			close(src[i].fd);
	free(src);
	if (!rc)
		rc = vm_image_find(dir, ROOTFS, label(&pl->config, VM_IMAGE_CMDLINE_LABEL), &parts,
				   err);
	if (rc)
		return rc;
	rc = vm_image_convert_disks(dir, &parts, &p->opt.qcow2, err);
	if (!rc && !(img->rootfs = strdup(ROOTFS)))
		rc = err_set(err, -ENOMEM, "out of memory");
	if (!rc) {
		img->kernel = parts.kernel;
		img->initrd = parts.initrd;
		img->cmdline = parts.cmdline;
		img->disks = parts.disks;
		img->nr_disks = parts.nr_disks;
		memset(&parts, 0, sizeof(parts));
	}
	vm_image_parts_free(&parts);
	return rc;
}

/* The parts of an image already unpacked, or -ENOENT. */
static int known_parts(struct store *s, const char *id, struct store_image *img)
{
	struct store_image have;
	struct err ignored = { 0 };

	if (store_image_get(s, id, &have, &ignored))
		return -ENOENT;
	if (!have.rootfs) {
		store_image_free(&have);
		return -ENOENT;
	}
	img->rootfs = have.rootfs;
	img->kernel = have.kernel;
	img->initrd = have.initrd;
	img->cmdline = have.cmdline;
	img->disks = have.disks;
	img->nr_disks = have.nr_disks;
	have.rootfs = have.kernel = have.initrd = have.cmdline = NULL;
	have.disks = NULL;
	have.nr_disks = 0;
	store_image_free(&have);
	return 0;
}

/*
 * Unpacks and registers, or only registers an image already unpacked. One
 * pull per image id unpacks at a time; the others wait and then find it.
 */
static int unpack_and_add(struct puller *p, struct pull *pl, const char *dir,
			  struct store_image *img, struct err *err)
{
	struct inflight *f;
	int rc;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (f = p->unpacking; f && strcmp(f->digest, img->id); f = f->next)
			;
		if (!f)
			break;
		pthread_cond_wait(&p->changed, &p->lock);
	}
	if (!known_parts(p->opt.store, img->id, img)) {
		pthread_mutex_unlock(&p->lock);
		return store_image_add(p->opt.store, img, &pl->ref, err);
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		pthread_mutex_unlock(&p->lock);
		return err_set(err, -ENOMEM, "out of memory");
	}
	strcpy(f->digest, img->id);
	f->users = 1;
	f->next = p->unpacking;
	p->unpacking = f;
	pthread_mutex_unlock(&p->lock);

	rc = unpack_vm(p, pl, dir, img, err);
	if (!rc)
		rc = store_image_add(p->opt.store, img, &pl->ref, err);

	pthread_mutex_lock(&p->lock);
	inflight_put(&p->unpacking, f);
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Unpacks and records the image. */
static int register_image(struct puller *p, struct pull *pl, struct err *err)
{
	struct store_image img = { .has_uid = pl->config.has_uid, .uid = pl->config.uid };
	char dir[PATH_MAX];
	int rc = 0;

	strcpy(img.id, pl->m.config.digest);
	strcpy(img.manifest_digest, pl->top_digest);
	img.username = pl->config.username;
	img.nr_labels = pl->config.nr_labels;
	img.labels = pl->config.labels;
	img.size = pl->doc.len + pl->m.config.size;
	for (size_t i = 0; i < pl->m.nr_layers; i++)
		img.size += pl->m.layers[i].size;
	if (pl->index_digest[0])
		rc = store_strv_push(&img.blobs, &img.nr_blobs, pl->index_digest);
	if (!rc)
		rc = store_strv_push(&img.blobs, &img.nr_blobs, pl->doc.digest);
	if (!rc)
		rc = store_strv_push(&img.blobs, &img.nr_blobs, pl->m.config.digest);
	for (size_t i = 0; !rc && i < pl->m.nr_layers; i++)
		rc = store_strv_push(&img.blobs, &img.nr_blobs, pl->m.layers[i].digest);
	if (rc)
		rc = err_set(err, -ENOMEM, "out of memory");
	if (!rc)
		rc = store_image_prepare(p->opt.store, img.id, dir, sizeof(dir), err);
	if (!rc) {
		rc = unpack_and_add(p, pl, dir, &img, err);
		if (rc)
			store_image_abandon(p->opt.store, img.id);
	}
	for (size_t i = 0; i < img.nr_blobs; i++)
		free(img.blobs[i]);
	free(img.blobs);
	for (size_t i = 0; i < img.nr_disks; i++)
		free(img.disks[i]);
	free(img.disks);
	free(img.rootfs);
	free(img.kernel);
	free(img.initrd);
	free(img.cmdline);
	return rc;
}

int pull_image(struct puller *p, const char *ref, const struct registry_auth *auth,
	       char id[DIGEST_STR_LEN + 1], struct err *err)
{
	struct pull pl = { 0 };
	int rc = ref_parse(ref, &pl.ref, err);

	id[0] = '\0';
	if (rc) {
		if (p->opt.stats)
			atomic_fetch_add_explicit(&p->opt.stats->failures, 1, memory_order_relaxed);
		return rc;
	}
	store_hold(p->opt.store);
	rc = registry_open(&p->opt.registry, pl.ref.domain, pl.ref.path, auth, &pl.r, err);
	if (!rc)
		rc = resolve_manifest(p, &pl, err);
	if (!rc)
		rc = check_layer_types(&pl.m, err);
	if (!rc)
		rc = check_layer_sizes(p, &pl.m, err);
	if (!rc)
		rc = fetch_config(p, &pl, err);
	if (!rc)
		rc = fetch_layers(p, pl.r, &pl.m, err);
	if (!rc)
		rc = register_image(p, &pl, err);
	if (!rc)
		strcpy(id, pl.m.config.digest);
	registry_close(pl.r);
	registry_manifest_free(&pl.doc);
	manifest_free(&pl.m);
	image_config_free(&pl.config);
	store_release(p->opt.store);
	if (p->opt.stats)
		atomic_fetch_add_explicit(rc ? &p->opt.stats->failures : &p->opt.stats->pulls, 1,
					  memory_order_relaxed);
	return rc ? err_prefix(err, rc, "pulling %s: ", ref) : 0;
}
