/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing a VM image (docs/images.md) as an OCI image layout: oci-layout,
 * index.json naming the manifest by tag, and blobs/sha256/ holding one gzip
 * layer per struct pack_layer, the image config and the manifest. The
 * output is deterministic: the same files give the same digests (fixed
 * mtimes, owners and modes, entries in name order, gzip without a time).
 *
 * Threads: no shared state; one call writes one directory.
 */
#ifndef KVMLET_AGENT_IMAGE_PACK_H
#define KVMLET_AGENT_IMAGE_PACK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/image/digest.h"
#include "lib/err.h"

#define PACK_LABEL_CMDLINE "io.kvmlet.kernel.cmdline"
#define PACK_REF_NAME	   "org.opencontainers.image.ref.name"

/* One file of the image: src on the host becomes name ("dir/file") in it. */
struct pack_file {
	const char *src;
	const char *name;
	uint32_t uid, gid;
	mode_t mode;
};

struct pack_layer {
	const struct pack_file *files; /* in name order */
	size_t n;
};

struct pack_image {
	const struct pack_layer *layers;
	size_t n_layers;
	const char *cmdline; /* the label's value, or NULL for none */
	const char *tag;     /* index.json's ref.name */
	int64_t mtime;	     /* every entry's mtime (seconds) */
};

/*
 * Creates dir (or reuses it: blobs are content-addressed) and writes the
 * layout; index.json then names this image only. manifest (may be NULL)
 * receives the manifest's digest. 0 or -errno with err set.
 */
int pack_write_layout(const char *dir, const struct pack_image *img,
		      char manifest[DIGEST_STR_LEN + 1], struct err *err);

#endif
