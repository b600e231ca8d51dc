/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content digests as OCI writes them: "sha256:" and 64 lowercase hex
 * digits (the only algorithm the image-spec requires and the only one kvmlet
 * accepts). A digest is checked while its bytes stream past, so nothing is
 * trusted before it is verified.
 *
 * Threads: a struct digest belongs to one thread at a time; the functions
 * keep no other state.
 */
#ifndef KVMLET_AGENT_IMAGE_DIGEST_H
#define KVMLET_AGENT_IMAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

#define DIGEST_HEX_LEN 64
#define DIGEST_STR_LEN (7 + DIGEST_HEX_LEN) /* "sha256:" + hex, without the NUL */

struct digest {
	void *md; /* OpenSSL's EVP_MD_CTX */
};

/* A running SHA-256. digest_init() fails only without memory (-ENOMEM). */
int digest_init(struct digest *d);
void digest_update(struct digest *d, const void *data, size_t len);
/* Writes "sha256:<hex>" (DIGEST_STR_LEN + 1 bytes) and frees the state. */
void digest_final(struct digest *d, char out[DIGEST_STR_LEN + 1]);
/* Frees the state without a result (an aborted stream). Safe after final. */
void digest_abort(struct digest *d);

/* The digest of one buffer. */
int digest_buffer(const void *data, size_t len, char out[DIGEST_STR_LEN + 1]);

/*
 * True for a well-formed "sha256:<64 lowercase hex>", and nothing else: a
 * digest names a file in the store, so it must never carry '/' or "..".
 */
bool digest_valid(const char *s);
/* The same, as an error naming what was wrong (-EINVAL). */
int digest_check(const char *s, struct err *err);
/* The hex part of a valid digest. */
const char *digest_hex(const char *valid);

#endif
