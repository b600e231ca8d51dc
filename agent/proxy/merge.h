/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Combining two runtimes' answers to one call, on packed protobuf bytes:
 * lists concatenated (ListPodSandbox, ListImages, ImageFsInfo, ...) and
 * Status combined (a condition is true only when both runtimes say so; the
 * upstream's reason goes through, its message prefixed with its name).
 * Everything else in the local answer is kept as it is.
 *
 * Threads: no state; any thread.
 */
#ifndef KVMLET_AGENT_PROXY_MERGE_H
#define KVMLET_AGENT_PROXY_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * Decodes a and b as desc, appends b's elements of each repeated message
 * field named in fields (NULL-ended) to a's, and packs the result into
 * *out (malloc'd; NULL and 0 for an empty message). -EINVAL if either does
 * not decode or a field is not a repeated message field, -ENOMEM.
 */
int merge_lists(const ProtobufCMessageDescriptor *desc, const char *const *fields, const uint8_t *a,
		size_t alen, const uint8_t *b, size_t blen, uint8_t **out, size_t *out_len);

/*
 * Combines a local StatusResponse with the upstream's (up; NULL when the
 * upstream failed, with up_error saying why): each condition of the local
 * answer is true only if the upstream's of the same type is too (an
 * upstream that failed has none true); a false one keeps its own reason,
 * or takes the upstream's, with the message "upstream <name>: <message>".
 * Conditions only the upstream has are added. Verbose info keeps the local
 * keys and adds the upstream's as "upstream.<key>".
 */
int merge_status(const uint8_t *local, size_t llen, const uint8_t *up, size_t ulen,
		 const char *up_name, const char *up_error, uint8_t **out, size_t *out_len);

#endif
