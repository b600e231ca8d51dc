// SPDX-License-Identifier: Apache-2.0
/* Helpers of the RuntimeService handlers (pod_common.h). */
#include "agent/cri/pod_common.h"
#include "agent/cri/runtime.h"
#include "agent/pod/id.h"

struct pods *cri_pods(struct cri_call *c)
{
	if (!c->rt->pods)
		cri_fail(c, CRI_UNAVAILABLE, "pods are not available: the VM backend is not open");
	return c->rt->pods;
}

bool cri_check_id(struct cri_call *c, const char *field, const char *id)
{
	if (!id || !*id) {
		cri_fail(c, CRI_INVALID_ARGUMENT, "%s: missing", field);
		return false;
	}
	if (!pod_id_valid(id)) {
		cri_fail(c, CRI_INVALID_ARGUMENT,
			 "%s: \"%.80s\" is not an id (64 lowercase hex digits)", field, id);
		return false;
	}
	return true;
}

void *cri_copy_map(struct cri_call *c, const struct pod_kv *const *src, size_t n,
		   const ProtobufCMessageDescriptor *entry, size_t *n_out)
{
	void **out = cri_alloc(c, (n + 1) * sizeof(*out));

	*n_out = 0;
	for (size_t i = 0; out && i < n; i++)
		out[(*n_out)++] = cri_clone(c, &src[i]->base, entry);
	return out;
}

void *cri_info(struct cri_call *c, cJSON *o, const ProtobufCMessageDescriptor *entry, size_t *n_out)
{
	char *text = o ? cJSON_PrintUnformatted(o) : NULL;
	struct pod_kv **map = cri_alloc(c, sizeof(*map));
	struct pod_kv *e = cri_alloc(c, entry->sizeof_message);

	cJSON_Delete(o);
	*n_out = 0;
	if (!text || !map || !e || entry->sizeof_message != sizeof(*e)) {
		c->alloc_failed = true;
		cJSON_free(text);
		return NULL;
	}
	protobuf_c_message_init(entry, e);
	e->key = CRI_STR("info");
	e->value = cri_strdup(c, text);
	cJSON_free(text);
	map[0] = e;
	*n_out = 1;
	return map;
}

void cri_fail_err(struct cri_call *c, const struct err *err)
{
	if (err->code)
		cri_status_from_err(&c->status, err);
	else
		cri_fail(c, CRI_INTERNAL, "failed without a reason");
}
