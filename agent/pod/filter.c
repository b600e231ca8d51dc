// SPDX-License-Identifier: Apache-2.0
/* Maps and label selectors (filter.h). */
#include <string.h>

#include "agent/pod/filter.h"

const char *pod_kv_get(const struct pod_kv *const *map, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (map[i] && map[i]->key && !strcmp(map[i]->key, key))
			return map[i]->value ? map[i]->value : "";
	return NULL;
}

bool pod_labels_match(const struct pod_kv *const *map, size_t n, const struct pod_kv *const *sel,
		      size_t nsel)
{
	for (size_t i = 0; i < nsel; i++) {
		const char *want = sel[i] && sel[i]->value ? sel[i]->value : "";
		const char *have;

		if (!sel[i] || !sel[i]->key)
			continue;
		have = pod_kv_get(map, n, sel[i]->key);
		if (!have || strcmp(have, want))
			return false;
	}
	return true;
}
