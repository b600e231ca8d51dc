/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRI's string maps (labels, annotations, label selectors) as one type,
 * and the List* label selector: a record matches when it carries every
 * key of the selector with the same value (api.proto: "AND"ed exact
 * matches, not Kubernetes' selector syntax).
 *
 * protobuf-c generates each map<string, string> entry as its own message
 * type with one layout (the message header, key, value); struct pod_kv is
 * that layout, so one matcher serves them all.
 *
 * Threads: pure functions.
 */
#ifndef KVMLET_AGENT_POD_FILTER_H
#define KVMLET_AGENT_POD_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct pod_kv {
	ProtobufCMessage base;
	char *key;
	char *value;
};

/* A generated map (its n_ field and entry array) as pod_kv entries. */
#define POD_KV(arr) ((const struct pod_kv *const *)(const void *)(arr))

/* The value of key in the map, or NULL. */
const char *pod_kv_get(const struct pod_kv *const *map, size_t n, const char *key);
/* Every selector entry is in map with the same value (an empty selector matches all). */
bool pod_labels_match(const struct pod_kv *const *map, size_t n, const struct pod_kv *const *sel,
		      size_t nsel);

#endif
