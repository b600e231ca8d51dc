/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON documents of an OCI image: image manifests and indexes (OCI, and
 * Docker's v2 schema 2 manifest and manifest list) and the image config.
 *
 * Each parser bounds its input, reads only the fields kvmlet uses, ignores
 * the rest (forward compatible) and refuses a known field of the wrong type.
 * A document's kind comes from the HTTP Content-Type and its own mediaType;
 * when both are given they must agree. Schema 1 manifests and unknown media
 * types are refused by name. Results own their memory (copied out of the
 * JSON): free them with the matching *_free().
 *
 * No state: any thread may call these, each on its own results.
 */
#ifndef KVMLET_AGENT_IMAGE_MANIFEST_H
#define KVMLET_AGENT_IMAGE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/image/digest.h"
#include "lib/err.h"

#define MANIFEST_MAX_SIZE   (4u << 20) /* a manifest or an index */
#define CONFIG_MAX_SIZE	    (8u << 20)
#define MANIFEST_MAX_LAYERS 256
#define INDEX_MAX_MANIFESTS 1024
#define DESCRIPTOR_MAX_SIZE (1ull << 40) /* any one blob */
#define MEDIA_TYPE_MAX	    255

#define MT_OCI_MANIFEST		 "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX		 "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG		 "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER		 "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP	 "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD	 "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_MANIFEST	 "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST		 "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG	 "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER_GZIP	 "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_DOCKER_SCHEMA1	 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* The Accept header a registry client sends for a manifest. */
#define MANIFEST_ACCEPT \
	MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST

enum manifest_kind {
	MANIFEST_OCI,	    /* an image manifest */
	MANIFEST_DOCKER,    /* the same, Docker's v2 schema 2 */
	MANIFEST_OCI_INDEX, /* a list of manifests by platform */
	MANIFEST_DOCKER_LIST,
};

struct descriptor {
	char media_type[MEDIA_TYPE_MAX + 1];
	char digest[DIGEST_STR_LEN + 1];
	uint64_t size;
};

struct manifest {
	enum manifest_kind kind;
	struct descriptor config;
	size_t nr_layers;
	struct descriptor *layers;
};

struct platform {
	char os[32];
	char architecture[32];
	char variant[32];
};

struct index_entry {
	struct descriptor desc;
	struct platform platform; /* empty strings when the entry has none */
};

struct image_index {
	enum manifest_kind kind;
	size_t nr_entries;
	struct index_entry *entries;
};

struct image_config {
	char architecture[32];
	char os[32];
	char *user;   /* config.User as written, or NULL */
	bool has_uid; /* User was numeric ("123" or "123:456") */
	int64_t uid;
	char *username;	  /* User was a name (before any ':group'), or NULL */
	size_t nr_labels; /* config.Labels as key/value pairs */
	char **labels;	  /* 2 * nr_labels strings */
	size_t nr_diff_ids;
	char **diff_ids; /* rootfs.diff_ids, nr_diff_ids of them, NULL-terminated */
};

/*
 * The kind of a manifest or index. content_type may be NULL or a generic
 * type ("application/json", "text/plain"), then the body decides: its
 * mediaType, or for OCI documents without one, the presence of "manifests"
 * or "layers". Parameters after ';' are ignored.
 */
int manifest_kind_detect(const char *content_type, const char *body, size_t len,
			 enum manifest_kind *kind, struct err *err);
bool manifest_kind_is_index(enum manifest_kind kind);
const char *manifest_kind_media_type(enum manifest_kind kind);

/* An image manifest; an index is refused (-EINVAL), as is an unknown layer media type. */
int manifest_parse(const char *content_type, const char *body, size_t len, struct manifest *m,
		   struct err *err);
void manifest_free(struct manifest *m);

int index_parse(const char *content_type, const char *body, size_t len, struct image_index *idx,
		struct err *err);
void index_free(struct image_index *idx);
/*
 * The manifest for os/architecture (variant ignored for amd64). When absent,
 * the error lists what the index offers (-ENOENT).
 */
int index_select(const struct image_index *idx, const char *os, const char *architecture,
		 const struct descriptor **out, struct err *err);

/* The config of an image with nr_layers layers: diff_ids must match that count. */
int image_config_parse(const char *body, size_t len, size_t nr_layers, struct image_config *c,
		       struct err *err);
void image_config_free(struct image_config *c);

/* config.User as containerd's ImageStatus reports it: a uid, or a name. */
void image_user_split(const char *user, bool *has_uid, int64_t *uid, const char **name,
		      size_t *name_len);

#endif
