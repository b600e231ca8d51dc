/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content-addressed image store, under a root (STORE_DEFAULT_ROOT):
 *
 *   blobs/sha256/<hex>        manifests, configs and layers, by digest
 *   blobs/sha256/.tmp-<hex>-* a blob being written
 *   images/<config hex>/      one image: meta.json, and what the unpacker
 *                             made there (rootfs/, disks)
 *   images/.del-<hex>-*       an image being removed
 *   refs.json                 every reference: {"<name>:<tag>": "<id>",
 *                             "<name>@<digest>": "<id>", ...}
 *   lock                      flock()ed by the one process using the root
 *
 * References live in one file, replaced atomically (lib/replace_file.h): a
 * tag that moves from one image to another does so in one rename, and a
 * node holds tens to hundreds of references, so rewriting them is cheap.
 * repo_tags and repo_digests are derived from it, never stored twice.
 *
 * Crash safety: adding writes the blobs, then images/<hex>/meta.json, then
 * refs.json; removal goes the other way (refs.json, then the image directory
 * is renamed to .del-* and deleted, then unreferenced blobs). Each step is
 * fsynced with its directory. store_open() then finishes or undoes whatever
 * a crash cut short: it deletes temporary files and .del-* directories,
 * image directories without a valid meta.json or without a reference (no
 * pull can be in progress then: the lock file keeps other processes out),
 * references to images that are gone, and blobs no image references.
 *
 * Lookups resolve as containerd's CRI plugin does (localResolve): a full
 * "sha256:<hex>" is an id; otherwise a reference, normalised ("busybox" is
 * "docker.io/library/busybox:latest"; "name:tag@digest" is looked up by
 * "name@digest"); otherwise a prefix of an id, with or without "sha256:",
 * of any length as in containerd's digest set, refused when it matches more
 * than one image (-ENOTUNIQ).
 *
 * Removal works like containerd's RemoveImage: whatever names the image (a
 * tag, a digest reference or an id), the whole image goes with all its
 * references; an unknown image is not an error (-ENOENT for the caller to
 * ignore). store_untag() removes one reference only. Unlike containerd, an
 * image a VM still uses is refused (-EBUSY): the caller's in_use callback
 * says so. A VM's disks live in the image directory, so deleting it under a
 * running VM would take its disks away.
 *
 * Threads: every function may be called from any thread. A mutex guards
 * the in-memory index and the files that describe it; blob writes stream
 * outside it. Garbage collection waits while any hold is taken (a pull in
 * progress, an open blob writer): it runs when the last one is released.
 */
#ifndef KVMLET_AGENT_IMAGE_STORE_H
#define KVMLET_AGENT_IMAGE_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/image/digest.h"
#include "agent/image/reference.h"
#include "lib/err.h"

#define STORE_DEFAULT_ROOT "/var/lib/kvmlet/images"

struct store;
struct store_blob_writer;

/*
 * Whether a VM uses image id. Called with the store's lock held: it must
 * not call back into the store.
 */
typedef bool store_in_use_fn(const char *id, void *ctx);

struct store_options {
	const char *root;	 /* NULL: STORE_DEFAULT_ROOT */
	store_in_use_fn *in_use; /* NULL: nothing is in use */
	void *in_use_ctx;
};

/* Creates the layout if needed, takes the lock, repairs (see above). */
int store_open(const struct store_options *opt, struct store **out, struct err *err);
void store_close(struct store *s);
const char *store_root(const struct store *s);

/* ---- blobs -------------------------------------------------------------- */

/*
 * A writer for the blob digest of size bytes. Writes check the size as they
 * go; commit checks size and digest, makes the blob durable and names it.
 * Any failure, or abort, removes the temporary file. Each writer belongs to
 * one thread; several may stream at once (even of the same digest).
 */
int store_blob_begin(struct store *s, const char *digest, uint64_t size,
		     struct store_blob_writer **out, struct err *err);
int store_blob_write(struct store_blob_writer *w, const void *data, size_t len, struct err *err);
/* Ends the writer, success or not. */
int store_blob_commit(struct store_blob_writer *w, struct err *err);
void store_blob_abort(struct store_blob_writer *w);

bool store_blob_has(struct store *s, const char *digest);
/* A read-only fd (O_CLOEXEC), or -ENOENT. */
int store_blob_open(struct store *s, const char *digest, struct err *err);
/* A whole blob of at most max bytes, NUL-terminated, into *buf (free it). */
int store_blob_read(struct store *s, const char *digest, size_t max, char **buf, size_t *len,
		    struct err *err);

/* ---- images ------------------------------------------------------------- */

struct store_image {
	char id[DIGEST_STR_LEN + 1];		  /* the config digest */
	char manifest_digest[DIGEST_STR_LEN + 1]; /* what the reference resolved to */
	uint64_t size;
	bool has_uid;
	int64_t uid;
	char *username; /* or NULL */
	size_t nr_labels;
	char **labels; /* key, value, key, value ... */
	bool pinned;
	char *rootfs; /* relative to the image directory; NULL before unpacking */
	size_t nr_disks;
	char **disks; /* relative to the image directory, raw, in boot order */
	/* The VM parts (docs/images.md), NULL when the image has none. */
	char *kernel;  /* relative to the image directory */
	char *initrd;  /* relative to the image directory */
	char *cmdline; /* the default kernel arguments themselves */
	size_t nr_blobs;
	char **blobs; /* every digest the image needs: GC keeps these */
	/* Derived from the references by lookups; ignored by store_image_add(). */
	size_t nr_repo_tags;
	char **repo_tags; /* "docker.io/library/busybox:latest" */
	size_t nr_repo_digests;
	char **repo_digests; /* "docker.io/library/busybox@sha256:..." */
};

/*
 * The directory for image id (created if absent) into buf: a pull unpacks
 * there before store_image_add() makes the image visible. Until then (or
 * store_image_abandon()), removing the image is refused (-EBUSY). Pulls
 * also take a hold, so that GC leaves their blobs alone meanwhile.
 */
int store_image_prepare(struct store *s, const char *id, char *buf, size_t size, struct err *err);
/* A failed pull: the directory goes unless the image is registered or another pull fills it. */
void store_image_abandon(struct store *s, const char *id);

/*
 * Records img (its meta.json) and points the references of ref at it: its
 * tag, if any ("name:tag"), and "name@<img->manifest_digest>". A tag that
 * named another image moves; that image keeps its digest reference. On
 * success, ends one store_image_prepare() of the image, if any.
 */
int store_image_add(struct store *s, const struct store_image *img, const struct image_ref *ref,
		    struct err *err);
/* -ENOENT when nothing matches (no error text), -ENOTUNIQ for an ambiguous prefix. */
int store_image_get(struct store *s, const char *ref_or_id, struct store_image *out,
		    struct err *err);
int store_image_list(struct store *s, struct store_image **out, size_t *nr, struct err *err);
void store_image_free(struct store_image *img);
/*
 * Appends a copy of s to one of a store_image's NULL-terminated string lists
 * (v, with *n entries), for a caller building an image; -ENOMEM.
 */
int store_strv_push(char ***v, size_t *n, const char *s);
void store_image_list_free(struct store_image *list, size_t nr);

/* The whole image, as containerd does; -EBUSY while a VM uses it; -ENOENT if unknown. */
int store_image_remove(struct store *s, const char *ref_or_id, struct err *err);
/* One reference; the image goes with its last one. */
int store_untag(struct store *s, const char *ref, struct err *err);

/* ---- space -------------------------------------------------------------- */

void store_hold(struct store *s);
void store_release(struct store *s);
/* Deletes blobs no image needs, now or (under a hold) when released. */
int store_gc(struct store *s, uint64_t *freed, struct err *err);

struct store_usage {
	uint64_t bytes;		   /* st_blocks * 512 of everything under the root */
	uint64_t inodes;	   /* every file and directory under it, the root included */
	int64_t timestamp_ns;	   /* CLOCK_REALTIME when measured */
	char mountpoint[PATH_MAX]; /* the mount the root lives on */
};

int store_usage(struct store *s, struct store_usage *u, struct err *err);

#endif
