/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applying OCI image layers to a directory, the way containerd's applier
 * does: entries in order, OCI whiteouts honoured (".wh.<name>" deletes the
 * lower entry, ".wh..wh..opq" empties a directory of what lower layers put
 * there). libarchive parses the tar; every change to the filesystem is made
 * here, relative to the destination's dirfd, with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS) for every directory walked through and *at() calls
 * that never follow the last component. Nothing is ever written through a
 * symlink, so no entry of this or an earlier layer can lead a write out of
 * the destination.
 *
 * Layers are hostile input. Refused, with an error naming the entry:
 * absolute paths and "..", paths over PATH_MAX or not printable UTF-8,
 * writes through a symlink, hardlinks out of the image or to nothing,
 * device nodes, FIFOs and sockets, a file over max_file_size, more than
 * max_entries entries, more than max_total_size uncompressed bytes (a gzip
 * bomb stops there), and any truncated or corrupt gzip or tar stream.
 * setuid, setgid and sticky bits are dropped; owners are kept only when
 * running as root with keep_owner set. Symlinks are kept as they are, and
 * whoever reads the tree must not follow them out of it either.
 *
 * A refused layer leaves a half-applied directory: unpack_image() unpacks
 * into a fresh temporary directory and renames it into place only when
 * every layer applied, removing it on any failure.
 *
 * Threads: the functions share no state; one call uses its own descriptors
 * and buffers, so different destinations may be unpacked concurrently.
 */
#ifndef KVMLET_AGENT_IMAGE_UNPACK_H
#define KVMLET_AGENT_IMAGE_UNPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/image/digest.h"
#include "lib/err.h"

#define UNPACK_MEDIA_TAR	 "application/vnd.oci.image.layer.v1.tar"
#define UNPACK_MEDIA_TAR_GZIP	 "application/vnd.oci.image.layer.v1.tar+gzip"
#define UNPACK_MEDIA_DOCKER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

struct unpack_limits {
	uint64_t max_file_size;	 /* one regular file's size */
	uint64_t max_total_size; /* uncompressed tar bytes (per image in unpack_image) */
	uint64_t max_entries;	 /* tar entries, whiteouts included */
	bool keep_owner;	 /* keep uid/gid from the tar (only as root) */
};

/* Generous defaults for VM images: 64 GiB per file and in all, 1M entries. */
extern const struct unpack_limits unpack_default_limits;

struct unpack_stats {
	uint64_t entries;   /* tar entries applied */
	uint64_t files;	    /* regular files and hardlinks created */
	uint64_t bytes;	    /* bytes of file data written */
	uint64_t tar_bytes; /* the uncompressed stream, as given to tee */
};

/* Sees every uncompressed byte of a layer in order (for its diff_id). */
typedef void unpack_tee_fn(void *ctx, const void *buf, size_t len);

/* True for the three layer media types unpack_layer() accepts. */
bool unpack_media_type_supported(const char *media_type);

/*
 * Applies the layer read from blob_fd (from its current offset to EOF) onto
 * dest_dirfd. tee may be NULL. st (may be NULL) is added to, not reset.
 * Returns 0 or a negative errno with err set; the tree may then be
 * partly changed.
 */
int unpack_layer(int blob_fd, const char *media_type, int dest_dirfd,
		 const struct unpack_limits *lim, unpack_tee_fn *tee, void *ctx,
		 struct unpack_stats *st, struct err *err);

struct unpack_source {
	int fd;
	const char *media_type;
};

/*
 * Unpacks layers[0..n) in order into "<dest_path>.tmp-XXXXXX", syncs it and
 * renames it to dest_path, which must not exist (-EEXIST). With diff_ids
 * (the config's rootfs.diff_ids, may be NULL) each layer's uncompressed
 * digest must match its entry before anything is renamed. On failure the
 * temporary directory is removed and dest_path is untouched. A crash can
 * leave "<dest_path>.tmp-*" behind, never a partial dest_path; whoever owns
 * the parent directory removes those at start (unpack_remove_tree()).
 */
int unpack_image(const struct unpack_source *layers, size_t n, const char *dest_path,
		 const struct unpack_limits *lim, const char *const *diff_ids,
		 struct unpack_stats *st, struct err *err);

/*
 * Removes name (a file or a whole tree) under dirfd without following any
 * symlink. Depth is bounded by what unpack_layer() accepts. 0 or -errno;
 * a missing name is 0.
 */
int unpack_remove_tree(int dirfd, const char *name);

#endif
