/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the RuntimeService handlers (sandbox_service.c,
 * container_service.c, stats_service.c) share: argument checks and copies
 * of records into a response. Threads: as methods.h.
 */
#ifndef KVMLET_AGENT_CRI_POD_COMMON_H
#define KVMLET_AGENT_CRI_POD_COMMON_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agent/cri/methods.h"
#include "agent/pod/filter.h"
#include "agent/pod/pods.h"

/* rt->pods, or UNAVAILABLE. */
struct pods *cri_pods(struct cri_call *c);
/* A 64-hex id, or INVALID_ARGUMENT naming field. */
bool cri_check_id(struct cri_call *c, const char *field, const char *id);
/* A map copied as another map's entry type; *n_out its length. */
void *cri_copy_map(struct cri_call *c, const struct pod_kv *const *src, size_t n,
		   const ProtobufCMessageDescriptor *entry, size_t *n_out);
/* A one-entry info map {"info": JSON of o}, o consumed; entry is the map's entry type. */
void *cri_info(struct cri_call *c, cJSON *o, const ProtobufCMessageDescriptor *entry,
	       size_t *n_out);
/* Fails the call with err's code and message. */
void cri_fail_err(struct cri_call *c, const struct err *err);

#define CRI_COPY_MAP(c, dst, src, entry_type)                                                     \
	((dst)->labels = cri_copy_map((c), POD_KV((src)->labels), (src)->n_labels,                \
				      &entry_type##__labels_entry__descriptor, &(dst)->n_labels), \
	 (dst)->annotations = cri_copy_map((c), POD_KV((src)->annotations), (src)->n_annotations, \
					   &entry_type##__annotations_entry__descriptor,          \
					   &(dst)->n_annotations))

#endif
