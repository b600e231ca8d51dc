// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/image/pull.h"

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
	struct inflight *inflight; /* guarded by lock */
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

static void inflight_put(struct puller *p, struct inflight *f)
{
	if (--f->users)
		return;
	for (struct inflight **pp = &p->inflight; *pp; pp = &(*pp)->next)
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
		inflight_put(p, f);
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

	pthread_mutex_lock(&p->lock);
	f->done = true;
	if (rc)
		err_set(err, rc, "%s", f->result.msg);
	pthread_cond_broadcast(&p->changed);
	inflight_put(p, f);
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

static int strv_add(char ***v, size_t *n, const char *s)
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

/* Unpacks (if a hook is set) and records the image. */
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
		rc = strv_add(&img.blobs, &img.nr_blobs, pl->index_digest);
	if (!rc)
		rc = strv_add(&img.blobs, &img.nr_blobs, pl->doc.digest);
	if (!rc)
		rc = strv_add(&img.blobs, &img.nr_blobs, pl->m.config.digest);
	for (size_t i = 0; !rc && i < pl->m.nr_layers; i++)
		rc = strv_add(&img.blobs, &img.nr_blobs, pl->m.layers[i].digest);
	if (rc)
		rc = err_set(err, -ENOMEM, "out of memory");
	if (!rc)
		rc = store_image_prepare(p->opt.store, img.id, dir, sizeof(dir), err);
	if (!rc) {
		if (p->opt.unpack)
			rc = p->opt.unpack(p->opt.unpack_ctx, p->opt.store, dir, &pl->m,
					   &img.rootfs, &img.disks, &img.nr_disks, err);
		if (!rc)
			rc = store_image_add(p->opt.store, &img, &pl->ref, err);
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
	return rc;
}

int pull_image(struct puller *p, const char *ref, const struct registry_auth *auth,
	       char id[DIGEST_STR_LEN + 1], struct err *err)
{
	struct pull pl = { 0 };
	int rc = ref_parse(ref, &pl.ref, err);

	id[0] = '\0';
	if (rc)
		return rc;
	store_hold(p->opt.store);
	rc = registry_open(&p->opt.registry, pl.ref.domain, pl.ref.path, auth, &pl.r, err);
	if (!rc)
		rc = resolve_manifest(p, &pl, err);
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
	return rc ? err_prefix(err, rc, "pulling %s: ", ref) : 0;
}
