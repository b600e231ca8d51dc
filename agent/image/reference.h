/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references as docker and containerd read them (the grammar of
 * distribution/reference):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] component ( "/" component )*
 *   domain    := host ( "." host )* [ ":" port ]   host: [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?
 *   component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *
 * The first part is a domain when it holds '.' or ':', is "localhost", or
 * has an uppercase letter; otherwise the name lives on docker.io, and a
 * one-component name there gains "library/". "index.docker.io" is docker.io.
 * A reference with neither tag nor digest gains ":latest". One with both
 * keeps both: the digest is what is fetched, the tag what is recorded.
 * The name (domain and path) is at most REF_NAME_MAX characters. A name of
 * 64 hex digits is refused: it reads as an image id.
 *
 * No state: any thread may call these, each on its own struct image_ref.
 */
#ifndef KVMLET_AGENT_IMAGE_REFERENCE_H
#define KVMLET_AGENT_IMAGE_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/image/digest.h"
#include "lib/err.h"

#define REF_NAME_MAX	   255 /* distribution's NameTotalLengthMax */
#define REF_TAG_MAX	   128
/* The longest input: name ":" tag "@" digest. */
#define REF_MAX		   (REF_NAME_MAX + 1 + REF_TAG_MAX + 1 + DIGEST_STR_LEN)
#define REF_DEFAULT_DOMAIN "docker.io"
#define REF_DEFAULT_TAG	   "latest"

struct image_ref {
	char domain[REF_NAME_MAX + 1];	 /* "docker.io", "host:5000" */
	char path[REF_NAME_MAX + 1];	 /* "library/busybox" */
	char tag[REF_TAG_MAX + 1];	 /* "" with a digest and no tag */
	char digest[DIGEST_STR_LEN + 1]; /* "" when absent */
};

/* Parses and normalises s; each malformed form gets its own message (-EINVAL). */
int ref_parse(const char *s, struct image_ref *ref, struct err *err);

/*
 * Formatting, each into buf of size bytes (REF_MAX + 1 always fits); they
 * return the length, or -ENAMETOOLONG when buf is too small.
 *   ref_name:     "docker.io/library/busybox"
 *   ref_tagged:   "docker.io/library/busybox:latest"   (needs a tag)
 *   ref_digested: "docker.io/library/busybox@sha256:…" (needs a digest)
 *   ref_full:     name[:tag][@digest], every part kept
 *   ref_familiar: the short form docker prints: "busybox:latest", "user/app@sha256:…"
 */
int ref_name(const struct image_ref *ref, char *buf, size_t size);
int ref_tagged(const struct image_ref *ref, char *buf, size_t size);
int ref_digested(const struct image_ref *ref, char *buf, size_t size);
int ref_full(const struct image_ref *ref, char *buf, size_t size);
int ref_familiar(const struct image_ref *ref, char *buf, size_t size);

#endif
