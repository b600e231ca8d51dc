/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client for the OCI distribution API (pull only), over lib/http_client:
 *
 *   - GET /v2/ probes the registry; a 401 carries the challenge:
 *     "Bearer realm=…,service=…,scope=…" gets a token from the realm
 *     (with Basic credentials, an identity token, or anonymously), "Basic"
 *     takes the credentials as they are. A registry token is sent as is.
 *   - manifests with every Accept type kvmlet parses (manifest.h), bounded
 *     by MANIFEST_MAX_SIZE, their sha256 checked against the digest asked
 *     for or the Docker-Content-Digest header;
 *   - blobs by digest, streamed into a store blob writer that checks size
 *     and digest as they arrive; a redirect (to blob storage) is followed
 *     without the Authorization header when it leaves the registry's host;
 *   - retries with exponential backoff on 429, 5xx and dropped connections;
 *     a blob's transfer is bounded in time (a minute plus 1 ms per KiB);
 *   - HTTPS with the system CA bundle, plain HTTP only for registries listed
 *     as insecure.
 *
 * docker.io is reached at registry-1.docker.io.
 *
 * Threads: a struct registry (one repository on one registry) belongs to
 * one thread at a time; registry_clone() gives another thread its own,
 * sharing the token already obtained.
 */
#ifndef KVMLET_AGENT_IMAGE_REGISTRY_H
#define KVMLET_AGENT_IMAGE_REGISTRY_H

#include <stddef.h>

#include "agent/image/digest.h"
#include "agent/image/manifest.h"
#include "agent/image/store.h"
#include "lib/err.h"

#define REGISTRY_RETRIES       4
#define REGISTRY_BACKOFF_MS    200
#define REGISTRY_MAX_REDIRECTS 5

/* CRI's AuthConfig: any may be NULL or empty. */
struct registry_auth {
	const char *username;
	const char *password;
	const char *identity_token; /* an OAuth2 refresh token for the token endpoint */
	const char *registry_token; /* a bearer token, sent as is */
};

struct registry_options {
	const char *const *insecure; /* "host[:port]" reached over HTTP; NULL-terminated */
	const char *ca_file;	     /* NULL: the system bundle */
	unsigned int retries;	     /* 0: REGISTRY_RETRIES */
	unsigned int backoff_ms;     /* 0: REGISTRY_BACKOFF_MS */
	unsigned int timeout_ms;     /* a manifest or token request; 0: lib's default */
};

struct registry;

/* A session with repo on domain (as struct image_ref holds them); probes /v2/. */
int registry_open(const struct registry_options *opt, const char *domain, const char *repo,
		  const struct registry_auth *auth, struct registry **out, struct err *err);
int registry_clone(const struct registry *r, struct registry **out, struct err *err);
void registry_close(struct registry *r);

struct registry_manifest {
	char *body; /* NUL-terminated, len bytes before it */
	size_t len;
	char *content_type;
	char digest[DIGEST_STR_LEN + 1]; /* sha256 of body, checked */
};

/* The manifest or index named by a tag or a digest. -ENOENT if unknown. */
int registry_get_manifest(struct registry *r, const char *tag_or_digest,
			  struct registry_manifest *m, struct err *err);
void registry_manifest_free(struct registry_manifest *m);

/* The blob d, streamed into the store and named there once verified. */
int registry_get_blob(struct registry *r, const struct descriptor *d, struct store *s,
		      struct err *err);

#endif
