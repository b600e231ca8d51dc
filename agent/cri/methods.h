/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI method table: one row per gRPC method path of runtime.v1
 * ("/runtime.v1.RuntimeService/Version"), with the protobuf-c descriptors of
 * its request and response and the handler that answers it. Dispatch is
 * path -> row -> unpack -> handler -> pack; the gRPC server (server.h) only
 * moves bytes, so this part runs, and is fuzzed, without gRPC.
 *
 * Adding a method is one row and one handler:
 *
 *	static void image_status(struct cri_call *c, const ProtobufCMessage *req,
 *				 ProtobufCMessage *resp);
 *	CRI_IMAGE("ImageStatus", image_status, image_status_request, image_status_response),
 *
 * A handler reads req (already validated by protobuf-c), fills resp (zeroed
 * and initialised to proto3 defaults), and on failure sets c->status with
 * cri_fail() or cri_status_from_err(); resp is then not sent. Memory that
 * resp points to comes from cri_alloc()/cri_strdup(), freed after the
 * response is packed. Handlers run on the server's worker threads, several
 * at once: what they share lives in struct cri_runtime (runtime.h), under
 * its own locks.
 */
#ifndef KVMLET_AGENT_CRI_METHODS_H
#define KVMLET_AGENT_CRI_METHODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "agent/cri/status.h"

struct cri_runtime;
struct cri_arena;

/* One call as a handler sees it. */
struct cri_call {
	struct cri_runtime *rt;
	struct cri_status status;
	struct cri_arena *arena; /* what cri_alloc() handed out */
	bool alloc_failed;
};

typedef void (*cri_handler_fn)(struct cri_call *c, const ProtobufCMessage *req,
			       ProtobufCMessage *resp);

struct cri_method {
	const char *path; /* "/runtime.v1.RuntimeService/Version" */
	const char *name; /* "Version", in logs and metrics */
	const ProtobufCMessageDescriptor *request;
	const ProtobufCMessageDescriptor *response;
	cri_handler_fn fn;
};

/* The table, in the order of api.proto's services; stable for a build. */
extern const struct cri_method cri_methods[];
extern const size_t cri_nr_methods;

/* The row for a method path, or NULL: the caller answers UNIMPLEMENTED. */
const struct cri_method *cri_method_find(const char *path);
/* Its index in cri_methods[] (for per-method counters). */
size_t cri_method_index(const struct cri_method *m);

/*
 * Unpacks req[0..len) as m's request, runs its handler and packs the
 * response into *out (malloc'd, *out_len bytes; NULL and 0 for an empty
 * message or on failure). Returns the call's status code; *st holds the
 * message. An undecodable request is INVALID_ARGUMENT; no memory INTERNAL.
 */
enum cri_code cri_method_invoke(const struct cri_method *m, struct cri_runtime *rt,
				const uint8_t *req, size_t len, uint8_t **out, size_t *out_len,
				struct cri_status *st);

/*
 * A constant for a protobuf-c string field (char *): a response is only
 * packed, never freed or written through its fields, so this is safe.
 */
#define CRI_STR(s) ((char *)(s))

/* Zeroed memory that lives until the response is packed; NULL (and the call fails) without. */
void *cri_alloc(struct cri_call *c, size_t size);
char *cri_strdup(struct cri_call *c, const char *s);
/*
 * A deep copy of m in the call's memory, as message type as (the same
 * type, or another with the same wire form: one map's entry as another's).
 * NULL for a NULL m, or without memory (the call then fails).
 */
void *cri_clone(struct cri_call *c, const ProtobufCMessage *m, const ProtobufCMessageDescriptor *as);
/* Sets the call's status (first failure wins). */
void cri_fail(struct cri_call *c, enum cri_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
