// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI ImageService: ListImages, ImageStatus, PullImage, RemoveImage and
 * ImageFsInfo over the image store (agent/image/store.h), answered as
 * containerd 1.6's CRI plugin answers them (docs/cri.md, "ImageService").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agent/cri/handlers.h"
#include "agent/cri/runtime.h"
#include "agent/image/registry.h"
#include "agent/image/store.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "runtime/v1/api.pb-c.h"

/* Decoded "user:password"; registry tokens used as passwords run to several KiB. */
#define AUTH_MAX (64 * 1024)

static bool have_store(struct cri_call *c)
{
	if (c->rt->store)
		return true;
	cri_fail(c, CRI_UNAVAILABLE, "the image store is not open");
	return false;
}

static const char *spec_image(const Runtime__V1__ImageSpec *spec)
{
	return spec && spec->image ? spec->image : "";
}

static char **strv_copy(struct cri_call *c, char *const *v, size_t n)
{
	char **out = cri_alloc(c, (n + 1) * sizeof(char *));

	for (size_t i = 0; out && i < n; i++)
		out[i] = cri_strdup(c, v[i]);
	return out;
}

/* The CRI Image for a store image, as containerd's toCRIImage fills it. */
static Runtime__V1__Image *to_cri_image(struct cri_call *c, const struct store_image *img)
{
	Runtime__V1__Image *r = cri_alloc(c, sizeof(*r));
	Runtime__V1__ImageSpec *spec = cri_alloc(c, sizeof(*spec));

	if (!r || !spec)
		return NULL;
	runtime__v1__image__init(r);
	runtime__v1__image_spec__init(spec);
	r->id = cri_strdup(c, img->id);
	r->n_repo_tags = img->nr_repo_tags;
	r->repo_tags = strv_copy(c, img->repo_tags, img->nr_repo_tags);
	r->n_repo_digests = img->nr_repo_digests;
	r->repo_digests = strv_copy(c, img->repo_digests, img->nr_repo_digests);
	r->size = img->size;
	r->pinned = img->pinned;
	if (img->has_uid) {
		r->uid = cri_alloc(c, sizeof(*r->uid));
		if (r->uid) {
			runtime__v1__int64_value__init(r->uid);
			r->uid->value = img->uid;
		}
	} else if (img->username) {
		r->username = cri_strdup(c, img->username);
	}
	spec->image = r->id;
	r->spec = spec;
	return r;
}

void cri_list_images(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__ListImagesRequest *q = (const Runtime__V1__ListImagesRequest *)req;
	Runtime__V1__ListImagesResponse *r = (Runtime__V1__ListImagesResponse *)resp;
	const char *filter = spec_image(q->filter ? q->filter->image : NULL);
	struct store_image *list = NULL, one;
	struct err err = { 0 };
	size_t nr = 0;
	int rc;

	if (!have_store(c))
		return;
	if (*filter) {
		rc = store_image_get(c->rt->store, filter, &one, &err);
		if (rc == -ENOENT || rc == -ENOTUNIQ || rc == -EINVAL)
			return; /* nothing matches: an empty list */
		if (!rc) {
			list = malloc(sizeof(*list));
			if (!list) {
				store_image_free(&one);
				cri_fail(c, CRI_INTERNAL, "out of memory");
				return;
			}
			list[0] = one;
			nr = 1;
		}
	} else {
		rc = store_image_list(c->rt->store, &list, &nr, &err);
	}
	if (rc) {
		cri_status_from_err(&c->status, &err);
		return;
	}
	r->images = cri_alloc(c, (nr + 1) * sizeof(*r->images));
	for (size_t i = 0; r->images && i < nr; i++)
		r->images[r->n_images++] = to_cri_image(c, &list[i]);
	store_image_list_free(list, nr);
}

/* verbose: info["info"], the VM parts and where they are, as JSON. */
static void status_info(struct cri_call *c, Runtime__V1__ImageStatusResponse *r,
			const struct store_image *img)
{
	Runtime__V1__ImageStatusResponse__InfoEntry *e = cri_alloc(c, sizeof(*e));
	Runtime__V1__ImageStatusResponse__InfoEntry **info = cri_alloc(c, sizeof(*info));
	cJSON *o = cJSON_CreateObject(), *disks = cJSON_CreateArray();
	char dir[PATH_MAX];
	char *text = NULL;

	snprintf(dir, sizeof(dir), "%s/images/%s", store_root(c->rt->store),
		 img->id + strlen("sha256:"));
	for (size_t i = 0; disks && i < img->nr_disks; i++)
		cJSON_AddItemToArray(disks, cJSON_CreateString(img->disks[i]));
	if (o && disks) {
		cJSON_AddStringToObject(o, "id", img->id);
		cJSON_AddStringToObject(o, "manifestDigest", img->manifest_digest);
		cJSON_AddStringToObject(o, "dir", dir);
		if (img->rootfs)
			cJSON_AddStringToObject(o, "rootfs", img->rootfs);
		if (img->kernel)
			cJSON_AddStringToObject(o, "kernel", img->kernel);
		if (img->initrd)
			cJSON_AddStringToObject(o, "initrd", img->initrd);
		if (img->cmdline)
			cJSON_AddStringToObject(o, "cmdline", img->cmdline);
		cJSON_AddItemToObject(o, "disks", disks);
		disks = NULL;
		text = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(disks);
	cJSON_Delete(o);
	if (!e || !info || !text) {
		c->alloc_failed = true;
		cJSON_free(text);
		return;
	}
	runtime__v1__image_status_response__info_entry__init(e);
	e->key = CRI_STR("info");
	e->value = cri_strdup(c, text);
	cJSON_free(text);
	info[0] = e;
	r->info = info;
	r->n_info = 1;
}

void cri_image_status(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__ImageStatusRequest *q = (const Runtime__V1__ImageStatusRequest *)req;
	Runtime__V1__ImageStatusResponse *r = (Runtime__V1__ImageStatusResponse *)resp;
	const char *name = spec_image(q->image);
	struct store_image img;
	struct err err = { 0 };
	int rc;

	if (!have_store(c))
		return;
	if (!*name) {
		cri_fail(c, CRI_INVALID_ARGUMENT, "ImageStatus: no image given");
		return;
	}
	rc = store_image_get(c->rt->store, name, &img, &err);
	/*
	 * Absent is an answer, not an error: kubelet pulls on image == nil. A
	 * name that is no reference is absent too, as in containerd.
	 */
	if (rc == -ENOENT || rc == -EINVAL)
		return;
	if (rc) {
		cri_status_from_err(&c->status, &err);
		return;
	}
	r->image = to_cri_image(c, &img);
	if (q->verbose)
		status_info(c, r, &img);
	store_image_free(&img);
}

/*
 * CRI's AuthConfig; "auth" is base64 "user:password", as in a docker config. *buf is what the
 * decoded credentials live in, *cap its size: the caller wipes and frees it.
 */
static int auth_from_cri(const Runtime__V1__AuthConfig *a, struct registry_auth *out, char **buf,
			 size_t *cap, struct err *err)
{
	unsigned char *dec;
	size_t len, slen;
	char *colon;

	memset(out, 0, sizeof(*out));
	*buf = NULL;
	*cap = 0;
	if (!a)
		return 0;
	out->username = a->username;
	out->password = a->password;
	out->identity_token = a->identity_token;
	out->registry_token = a->registry_token;
	if (!a->auth || !*a->auth || (a->username && *a->username))
		return 0;
	slen = strlen(a->auth);
	if (slen > (AUTH_MAX + 2) / 3 * 4)
		return err_set(err, -EINVAL, "auth: over %d bytes once decoded", AUTH_MAX);
	dec = base64_decode(a->auth, slen, &len);
	if (!dec)
		return err_set(err, -EINVAL, "auth: not base64 of \"user:password\"");
	/* base64_decode leaves room for one more byte. */
	*buf = (char *)dec;
	*cap = len + 1;
	dec[len] = '\0';
	if (len > AUTH_MAX)
		return err_set(err, -EINVAL, "auth: over %d bytes once decoded", AUTH_MAX);
	colon = strchr(*buf, ':');
	if (memchr(dec, '\0', len) || !colon)
		return err_set(err, -EINVAL, "auth: not base64 of \"user:password\"");
	*colon = '\0';
	out->username = *buf;
	out->password = colon + 1;
	return 0;
}

static void auth_buf_free(char *buf, size_t cap)
{
	if (buf)
		explicit_bzero(buf, cap);
	free(buf);
}

void cri_pull_image(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__PullImageRequest *q = (const Runtime__V1__PullImageRequest *)req;
	Runtime__V1__PullImageResponse *r = (Runtime__V1__PullImageResponse *)resp;
	const Runtime__V1__PodSandboxMetadata *pod =
		q->sandbox_config ? q->sandbox_config->metadata : NULL;
	const char *name = spec_image(q->image);
	char id[DIGEST_STR_LEN + 1], *userpass;
	size_t userpass_cap;
	struct registry_auth auth;
	struct err err = { 0 };

	if (!have_store(c))
		return;
	if (!c->rt->pull) {
		cri_fail(c, CRI_UNAVAILABLE, "pulling is not configured");
		return;
	}
	if (!*name) {
		cri_fail(c, CRI_INVALID_ARGUMENT, "PullImage: no image given");
		return;
	}
	if (auth_from_cri(q->auth, &auth, &userpass, &userpass_cap, &err) ||
	    c->rt->pull(c->rt->pull_ctx, name, &auth, id, &err)) {
		cri_status_from_err(&c->status, &err);
		auth_buf_free(userpass, userpass_cap);
		return;
	}
	auth_buf_free(userpass, userpass_cap);
	log_fields(LOG_INFO, "image pulled", "image", name, "id", id, "pod",
		   pod && pod->name ? pod->name : "", "namespace",
		   pod && pod->namespace_ ? pod->namespace_ : "", NULL);
	/* containerd answers the image id, not the reference it resolved to. */
	r->image_ref = cri_strdup(c, id);
}

void cri_remove_image(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__RemoveImageRequest *q = (const Runtime__V1__RemoveImageRequest *)req;
	const char *name = spec_image(q->image);
	struct err err = { 0 };
	int rc;

	(void)resp;
	if (!have_store(c))
		return;
	if (!*name) {
		cri_fail(c, CRI_INVALID_ARGUMENT, "RemoveImage: no image given");
		return;
	}
	rc = store_image_remove(c->rt->store, name, &err);
	if (rc == -ENOENT || rc == -EINVAL)
		return; /* already gone (or never was): containerd answers OK too */
	if (rc) {
		cri_status_from_err(&c->status, &err);
		return;
	}
	log_fields(LOG_INFO, "image removed", "image", name, NULL);
}

void cri_image_fs_info(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	Runtime__V1__ImageFsInfoResponse *r = (Runtime__V1__ImageFsInfoResponse *)resp;
	Runtime__V1__FilesystemUsage **fs = cri_alloc(c, sizeof(*fs));
	Runtime__V1__FilesystemUsage *u = cri_alloc(c, sizeof(*u));
	Runtime__V1__FilesystemIdentifier *id = cri_alloc(c, sizeof(*id));
	Runtime__V1__UInt64Value *bytes = cri_alloc(c, sizeof(*bytes));
	Runtime__V1__UInt64Value *inodes = cri_alloc(c, sizeof(*inodes));
	struct store_usage su;
	struct err err = { 0 };

	(void)req;
	if (!have_store(c) || !fs || !u || !id || !bytes || !inodes)
		return;
	if (store_usage(c->rt->store, &su, &err)) {
		cri_status_from_err(&c->status, &err);
		return;
	}
	runtime__v1__filesystem_usage__init(u);
	runtime__v1__filesystem_identifier__init(id);
	runtime__v1__uint64_value__init(bytes);
	runtime__v1__uint64_value__init(inodes);
	id->mountpoint = cri_strdup(c, su.mountpoint);
	bytes->value = su.bytes;
	inodes->value = su.inodes;
	u->timestamp = su.timestamp_ns;
	u->fs_id = id;
	u->used_bytes = bytes;
	u->inodes_used = inodes;
	fs[0] = u;
	r->image_filesystems = fs;
	r->n_image_filesystems = 1;
}
