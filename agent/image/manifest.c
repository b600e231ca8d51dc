// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/image/manifest.h"
#include "lib/json.h"

struct kind_name {
	enum manifest_kind kind;
	const char *media_type;
	const char *config_type; /* for image manifests */
};

static const struct kind_name kinds[] = {
	{ MANIFEST_OCI, MT_OCI_MANIFEST, MT_OCI_CONFIG },
	{ MANIFEST_DOCKER, MT_DOCKER_MANIFEST, MT_DOCKER_CONFIG },
	{ MANIFEST_OCI_INDEX, MT_OCI_INDEX, NULL },
	{ MANIFEST_DOCKER_LIST, MT_DOCKER_LIST, NULL },
};

/* Layer media types the unpacker is handed; anything else is refused here. */
static const char *const layer_types[] = {
	MT_OCI_LAYER,
	MT_OCI_LAYER_GZIP,
	MT_OCI_LAYER_ZSTD,
	MT_DOCKER_LAYER_GZIP,
};

/* Types that mean "no media type here": the body decides. */
static const char *const generic_types[] = { "application/json", "text/plain",
					     "application/octet-stream" };

bool manifest_kind_is_index(enum manifest_kind kind)
{
	return kind == MANIFEST_OCI_INDEX || kind == MANIFEST_DOCKER_LIST;
}

const char *manifest_kind_media_type(enum manifest_kind kind)
{
	return kinds[kind].media_type;
}

/* The bare type of a Content-Type header: no parameters, no blanks. */
static void media_type_bare(const char *ct, char out[MEDIA_TYPE_MAX + 1])
{
	size_t n = 0;

	while (*ct == ' ' || *ct == '\t')
		ct++;
	while (ct[n] && ct[n] != ';' && ct[n] != ' ' && ct[n] != '\t' && n < MEDIA_TYPE_MAX)
		n++;
	memcpy(out, ct, n);
	out[n] = '\0';
}

/* 1: a kind; 0: generic or absent; -EINVAL: refused by name. */
static int kind_of_type(const char *what, const char *type, enum manifest_kind *kind,
			struct err *err)
{
	if (!type || !*type)
		return 0;
	for (size_t i = 0; i < sizeof(generic_types) / sizeof(generic_types[0]); i++)
		if (!strcasecmp(type, generic_types[i]))
			return 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(type, kinds[i].media_type)) {
			*kind = kinds[i].kind;
			return 1;
		}
	if (!strcmp(type, MT_DOCKER_SCHEMA1) || !strcmp(type, MT_DOCKER_SCHEMA1_SIGNED))
		return err_set(err, -EINVAL,
			       "%s: Docker schema 1 manifests are not supported (re-push the image "
			       "with a current tool)",
			       what);
	return err_set(err, -EINVAL, "%s: unsupported media type '%.100s'", what, type);
}

static int detect_tree(const char *content_type, const cJSON *root, enum manifest_kind *kind,
		       struct err *err)
{
	char ct[MEDIA_TYPE_MAX + 1] = "";
	const char *body_type;
	enum manifest_kind from_ct = MANIFEST_OCI, from_body = MANIFEST_OCI;
	uint64_t version;
	int have_ct, have_body, r;

	if (!cJSON_IsObject(root))
		return err_set(err, -EINVAL, "manifest: expected an object");
	r = json_get_uint("manifest", root, "schemaVersion", true, 0, UINT32_MAX, &version, err);
	if (r)
		return r;
	if (version == 1)
		return err_set(err, -EINVAL,
			       "manifest: Docker schema 1 manifests are not supported (re-push "
			       "the image with a current tool)");
	if (version != 2)
		return err_set(err, -EINVAL, "manifest: schemaVersion %" PRIu64 " is not 2",
			       version);
	r = json_get_string("manifest", root, "mediaType", false, &body_type, err);
	if (r)
		return r;
	if (content_type)
		media_type_bare(content_type, ct);
	have_ct = kind_of_type("manifest Content-Type", ct, &from_ct, err);
	if (have_ct < 0)
		return have_ct;
	have_body = kind_of_type("manifest mediaType", body_type, &from_body, err);
	if (have_body < 0)
		return have_body;
	if (have_ct && have_body && from_ct != from_body)
		return err_set(err, -EINVAL, "manifest: Content-Type '%s' but mediaType '%.100s'",
			       ct, body_type);
	if (have_ct || have_body) {
		*kind = have_ct ? from_ct : from_body;
		return 0;
	}
	/* OCI allows mediaType to be absent: the shape decides. */
	if (json_member(root, "manifests") && !json_member(root, "layers"))
		*kind = MANIFEST_OCI_INDEX;
	else if (json_member(root, "layers") && !json_member(root, "manifests"))
		*kind = MANIFEST_OCI;
	else
		return err_set(err, -EINVAL,
			       "manifest: no media type, and neither an image "
			       "manifest nor an index");
	return 0;
}

static cJSON *parse_bounded(const char *what, const char *body, size_t len, size_t max,
			    struct err *err)
{
	cJSON *root;

	if (len > max)
		return err_set(err, -EFBIG, "%s: %zu bytes, over the limit of %zu", what, len, max),
		       NULL;
	root = json_parse(body, len, err);
	if (!root)
		err_prefix(err, -EINVAL, "%s: ", what);
	return root;
}

int manifest_kind_detect(const char *content_type, const char *body, size_t len,
			 enum manifest_kind *kind, struct err *err)
{
	cJSON *root = parse_bounded("manifest", body, len, MANIFEST_MAX_SIZE, err);
	int r;

	if (!root)
		return err->code ? err->code : -EINVAL;
	r = detect_tree(content_type, root, kind, err);
	cJSON_Delete(root);
	return r;
}

static int copy_string(const char *what, const char *name, const char *s, char *out, size_t size,
		       struct err *err)
{
	size_t n = strlen(s);

	if (n >= size)
		return err_set(err, -EINVAL, "%s.%s: longer than %zu characters", what, name,
			       size - 1);
	memcpy(out, s, n + 1);
	return 0;
}

static int descriptor_parse(const char *what, const cJSON *v, struct descriptor *d, struct err *err)
{
	const char *media_type, *digest;
	int r;

	if (!cJSON_IsObject(v))
		return err_set(err, -EINVAL, "%s: expected an object", what);
	r = json_get_nonempty_string(what, v, "mediaType", true, &media_type, err);
	if (!r)
		r = json_get_string(what, v, "digest", true, &digest, err);
	if (!r)
		r = json_get_uint(what, v, "size", true, 0, DESCRIPTOR_MAX_SIZE, &d->size, err);
	if (!r)
		r = copy_string(what, "mediaType", media_type, d->media_type, sizeof(d->media_type),
				err);
	if (r)
		return r;
	r = digest_check(digest, err);
	if (r)
		return err_prefix(err, r, "%s: ", what);
	strcpy(d->digest, digest);
	return 0;
}

static bool in_list(const char *s, const char *const *list, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

static int manifest_fill(const cJSON *root, struct manifest *m, struct err *err)
{
	const cJSON *config = json_member(root, "config"), *layers = json_member(root, "layers");
	const char *config_type = kinds[m->kind].config_type;
	size_t i = 0;
	const cJSON *l;
	int r;

	if (!config)
		return err_set(err, -EINVAL, "manifest: missing field 'config'");
	r = descriptor_parse("manifest.config", config, &m->config, err);
	if (r)
		return r;
	if (strcmp(m->config.media_type, config_type))
		return err_set(err, -EINVAL,
			       "manifest.config: media type '%.100s' is not an image config (%s)",
			       m->config.media_type, config_type);
	if (!cJSON_IsArray(layers))
		return err_set(err, -EINVAL, "manifest.layers: expected an array");
	m->nr_layers = (size_t)cJSON_GetArraySize(layers);
	if (m->nr_layers > MANIFEST_MAX_LAYERS)
		return err_set(err, -E2BIG, "manifest: %zu layers, over the limit of %d",
			       m->nr_layers, MANIFEST_MAX_LAYERS);
	if (!m->nr_layers)
		return err_set(err, -EINVAL, "manifest: no layers");
	m->layers = calloc(m->nr_layers, sizeof(*m->layers));
	if (!m->layers)
		return err_set(err, -ENOMEM, "manifest: out of memory");
	cJSON_ArrayForEach(l, layers)
	{
		char what[40];

		snprintf(what, sizeof(what), "manifest.layers[%zu]", i);
		r = descriptor_parse(what, l, &m->layers[i], err);
		if (r)
			return r;
		if (!in_list(m->layers[i].media_type, layer_types,
			     sizeof(layer_types) / sizeof(layer_types[0])))
			return err_set(err, -EINVAL, "%s: unsupported layer media type '%.100s'",
				       what, m->layers[i].media_type);
		i++;
	}
	return 0;
}

int manifest_parse(const char *content_type, const char *body, size_t len, struct manifest *m,
		   struct err *err)
{
	cJSON *root = parse_bounded("manifest", body, len, MANIFEST_MAX_SIZE, err);
	int r;

	memset(m, 0, sizeof(*m));
	if (!root)
		return err->code ? err->code : -EINVAL;
	r = detect_tree(content_type, root, &m->kind, err);
	if (!r && manifest_kind_is_index(m->kind))
		r = err_set(err, -EINVAL,
			    "manifest: an index where an image manifest was expected");
	if (!r)
		r = manifest_fill(root, m, err);
	cJSON_Delete(root);
	if (r)
		manifest_free(m);
	return r;
}

void manifest_free(struct manifest *m)
{
	free(m->layers);
	m->layers = NULL;
	m->nr_layers = 0;
}

static int platform_parse(const char *what, const cJSON *v, struct platform *p, struct err *err)
{
	static const char *const names[] = { "os", "architecture", "variant" };
	char *const outs[] = { p->os, p->architecture, p->variant };

	if (!cJSON_IsObject(v))
		return err_set(err, -EINVAL, "%s: expected an object", what);
	for (size_t i = 0; i < 3; i++) {
		const char *s;
		int r = json_get_string(what, v, names[i], i < 2, &s, err);

		if (!r && s)
			r = copy_string(what, names[i], s, outs[i], sizeof(p->os), err);
		if (r)
			return r;
	}
	return 0;
}

static int index_fill(const cJSON *root, struct image_index *idx, struct err *err)
{
	const cJSON *list = json_member(root, "manifests"), *e;
	size_t i = 0;
	int r;

	if (!cJSON_IsArray(list))
		return err_set(err, -EINVAL, "index.manifests: expected an array");
	idx->nr_entries = (size_t)cJSON_GetArraySize(list);
	if (idx->nr_entries > INDEX_MAX_MANIFESTS)
		return err_set(err, -E2BIG, "index: %zu manifests, over the limit of %d",
			       idx->nr_entries, INDEX_MAX_MANIFESTS);
	idx->entries = calloc(idx->nr_entries ? idx->nr_entries : 1, sizeof(*idx->entries));
	if (!idx->entries)
		return err_set(err, -ENOMEM, "index: out of memory");
	cJSON_ArrayForEach(e, list)
	{
		const cJSON *platform = json_member(e, "platform");
		char what[48];

		snprintf(what, sizeof(what), "index.manifests[%zu]", i);
		r = descriptor_parse(what, e, &idx->entries[i].desc, err);
		if (!r && platform) {
			strcat(what, ".platform");
			r = platform_parse(what, platform, &idx->entries[i].platform, err);
		}
		if (r)
			return r;
		i++;
	}
	return 0;
}

int index_parse(const char *content_type, const char *body, size_t len, struct image_index *idx,
		struct err *err)
{
	cJSON *root = parse_bounded("index", body, len, MANIFEST_MAX_SIZE, err);
	int r;

	memset(idx, 0, sizeof(*idx));
	if (!root)
		return err->code ? err->code : -EINVAL;
	r = detect_tree(content_type, root, &idx->kind, err);
	if (!r && !manifest_kind_is_index(idx->kind))
		r = err_set(err, -EINVAL, "index: an image manifest where an index was expected");
	if (!r)
		r = index_fill(root, idx, err);
	cJSON_Delete(root);
	if (r)
		index_free(idx);
	return r;
}

void index_free(struct image_index *idx)
{
	free(idx->entries);
	idx->entries = NULL;
	idx->nr_entries = 0;
}

/* Entries that are themselves manifests: not attestations or nested indexes. */
static bool entry_is_manifest(const struct index_entry *e)
{
	return !strcmp(e->desc.media_type, MT_OCI_MANIFEST) ||
	       !strcmp(e->desc.media_type, MT_DOCKER_MANIFEST);
}

int index_select(const struct image_index *idx, const char *os, const char *architecture,
		 const struct descriptor **out, struct err *err)
{
	char offers[160] = "";
	size_t used = 0;

	*out = NULL;
	for (size_t i = 0; i < idx->nr_entries; i++) {
		const struct index_entry *e = &idx->entries[i];

		if (entry_is_manifest(e) && !strcmp(e->platform.os, os) &&
		    !strcmp(e->platform.architecture, architecture)) {
			*out = &e->desc;
			return 0;
		}
	}
	for (size_t i = 0; i < idx->nr_entries && used < sizeof(offers); i++) {
		const struct platform *p = &idx->entries[i].platform;
		int n;

		if (!entry_is_manifest(&idx->entries[i]))
			continue;
		n = snprintf(offers + used, sizeof(offers) - used, "%s%s/%s%s%s", used ? ", " : "",
			     p->os[0] ? p->os : "?", p->architecture[0] ? p->architecture : "?",
			     p->variant[0] ? "/" : "", p->variant);
		if (n > 0)
			used += (size_t)n;
	}
	return err_set(err, -ENOENT, "index has no manifest for %s/%s; it offers: %s", os,
		       architecture, offers[0] ? offers : "nothing");
}

void image_user_split(const char *user, bool *has_uid, int64_t *uid, const char **name,
		      size_t *name_len)
{
	size_t n = strcspn(user, ":");
	char buf[24];
	char *end;
	long long v;

	*has_uid = false;
	*uid = 0;
	*name = NULL;
	*name_len = 0;
	if (!n)
		return;
	if (n < sizeof(buf)) {
		memcpy(buf, user, n);
		buf[n] = '\0';
		errno = 0;
		v = strtoll(buf, &end, 10);
		/* strconv.ParseInt: optional sign, digits, nothing else. */
		if (!errno && !*end && buf[0] != ' ' && buf[0] != '\t' && buf[0] != '\n') {
			*has_uid = true;
			*uid = v;
			return;
		}
	}
	*name = user;
	*name_len = n;
}

static int config_user(const cJSON *cfg, struct image_config *c, struct err *err)
{
	const char *user, *name;
	size_t name_len;
	int r = json_get_string("config.config", cfg, "User", false, &user, err);

	if (r || !user || !*user)
		return r;
	c->user = strdup(user);
	if (!c->user)
		return err_set(err, -ENOMEM, "config: out of memory");
	image_user_split(c->user, &c->has_uid, &c->uid, &name, &name_len);
	if (name) {
		c->username = strndup(name, name_len);
		if (!c->username)
			return err_set(err, -ENOMEM, "config: out of memory");
	}
	return 0;
}

static int config_labels(const cJSON *cfg, struct image_config *c, struct err *err)
{
	const cJSON *labels = json_member(cfg, "Labels"), *l;
	size_t n, i = 0;

	if (!labels)
		return 0;
	if (!cJSON_IsObject(labels))
		return err_set(err, -EINVAL, "config.config.Labels: expected an object");
	n = (size_t)cJSON_GetArraySize(labels);
	c->labels = calloc(2 * n + 1, sizeof(char *));
	if (!c->labels)
		return err_set(err, -ENOMEM, "config: out of memory");
	cJSON_ArrayForEach(l, labels)
	{
		if (!cJSON_IsString(l))
			return err_set(err, -EINVAL,
				       "config.config.Labels.%.60s: expected a string", l->string);
		c->labels[2 * i] = strdup(l->string);
		c->labels[2 * i + 1] = strdup(l->valuestring);
		c->nr_labels = ++i;
		if (!c->labels[2 * i - 2] || !c->labels[2 * i - 1])
			return err_set(err, -ENOMEM, "config: out of memory");
	}
	return 0;
}

static int config_rootfs(const cJSON *root, size_t nr_layers, struct image_config *c,
			 struct err *err)
{
	const cJSON *rootfs = json_member(root, "rootfs"), *ids, *id;
	const char *type;
	size_t i = 0;
	int r;

	if (!cJSON_IsObject(rootfs))
		return err_set(err, -EINVAL, "config.rootfs: expected an object");
	r = json_get_string("config.rootfs", rootfs, "type", true, &type, err);
	if (r)
		return r;
	if (strcmp(type, "layers"))
		return err_set(err, -EINVAL, "config.rootfs.type: '%.60s' is not 'layers'", type);
	ids = json_member(rootfs, "diff_ids");
	if (!cJSON_IsArray(ids))
		return err_set(err, -EINVAL, "config.rootfs.diff_ids: expected an array");
	if (cJSON_GetArraySize(ids) != (int)nr_layers || nr_layers > SIZE_MAX / sizeof(char *) - 1)
		return err_set(err, -EINVAL, "config: %d diff_ids for %zu layers",
			       cJSON_GetArraySize(ids), nr_layers);
	c->diff_ids = calloc(nr_layers + 1, sizeof(char *));
	if (!c->diff_ids)
		return err_set(err, -ENOMEM, "out of memory");
	cJSON_ArrayForEach(id, ids)
	{
		if (!cJSON_IsString(id))
			return err_set(err, -EINVAL,
				       "config.rootfs.diff_ids[%zu]: expected a string", i);
		r = digest_check(id->valuestring, err);
		if (r)
			return err_prefix(err, r, "config.rootfs.diff_ids[%zu]: ", i);
		c->diff_ids[i] = strdup(id->valuestring);
		if (!c->diff_ids[i])
			return err_set(err, -ENOMEM, "out of memory");
		i++;
	}
	c->nr_diff_ids = i;
	if (i != nr_layers)
		return err_set(err, -EINVAL, "config: %zu diff_ids for %zu layers", i, nr_layers);
	return 0;
}

static int config_fill(const cJSON *root, size_t nr_layers, struct image_config *c, struct err *err)
{
	const char *arch, *os;
	const cJSON *cfg;
	int r;

	if (!cJSON_IsObject(root))
		return err_set(err, -EINVAL, "config: expected an object");
	r = json_get_string("config", root, "architecture", true, &arch, err);
	if (!r)
		r = json_get_string("config", root, "os", true, &os, err);
	if (!r)
		r = copy_string("config", "architecture", arch, c->architecture,
				sizeof(c->architecture), err);
	if (!r)
		r = copy_string("config", "os", os, c->os, sizeof(c->os), err);
	if (r)
		return r;
	if (strcmp(c->os, "linux") || strcmp(c->architecture, "amd64"))
		return err_set(err, -EINVAL, "config: the image is for %s/%s, not linux/amd64",
			       c->os, c->architecture);
	cfg = json_member(root, "config");
	if (cfg && !cJSON_IsObject(cfg))
		return err_set(err, -EINVAL, "config.config: expected an object");
	if (cfg) {
		r = config_user(cfg, c, err);
		if (!r)
			r = config_labels(cfg, c, err);
		if (r)
			return r;
	}
	return config_rootfs(root, nr_layers, c, err);
}

int image_config_parse(const char *body, size_t len, size_t nr_layers, struct image_config *c,
		       struct err *err)
{
	cJSON *root = parse_bounded("config", body, len, CONFIG_MAX_SIZE, err);
	int r;

	memset(c, 0, sizeof(*c));
	if (!root)
		return err->code ? err->code : -EINVAL;
	r = config_fill(root, nr_layers, c, err);
	cJSON_Delete(root);
	if (r)
		image_config_free(c);
	return r;
}

void image_config_free(struct image_config *c)
{
	for (size_t i = 0; c->labels && i < 2 * c->nr_labels; i++)
		free(c->labels[i]);
	free(c->labels);
	for (size_t i = 0; c->diff_ids && c->diff_ids[i]; i++)
		free(c->diff_ids[i]);
	free(c->diff_ids);
	free(c->user);
	free(c->username);
	memset(c, 0, sizeof(*c));
}
