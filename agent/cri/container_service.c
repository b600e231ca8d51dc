// SPDX-License-Identifier: Apache-2.0
/*
 * CreateContainer, StartContainer, StopContainer, RemoveContainer,
 * ListContainers, ContainerStatus, UpdateContainerResources,
 * ReopenContainerLog and ExecSync over the pod layer (agent/pod/pods.h;
 * docs/cri.md, "Pods").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cri/handlers.h"
#include "agent/cri/pod_common.h"
#include "agent/cri/runtime.h"
#include "lib/log.h"
#include "runtime/v1/api.pb-c.h"

/*
 * ExecSync's answer must fit kubelet's 16 MiB message limit: each stream
 * gets a little under half of it, and a note on stderr says what was cut.
 */
#define EXEC_STREAM_CAP ((8u << 20) - (64u << 10))

void cri_create_container(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__CreateContainerRequest *q =
		(const Runtime__V1__CreateContainerRequest *)req;
	Runtime__V1__CreateContainerResponse *r = (Runtime__V1__CreateContainerResponse *)resp;
	struct pods *p = cri_pods(c);
	char id[POD_ID_LEN + 1];
	struct err err = { 0 };

	if (!p || !cri_check_id(c, "pod_sandbox_id", q->pod_sandbox_id))
		return;
	/* The sandbox config kubelet repeats here is ignored: the agent keeps its own. */
	if (pods_create_container(p, q->pod_sandbox_id, q->config, id, &err)) {
		cri_fail_err(c, &err);
		return;
	}
	r->container_id = cri_strdup(c, id);
}

void cri_start_container(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__StartContainerRequest *q =
		(const Runtime__V1__StartContainerRequest *)req;
	struct pods *p = cri_pods(c);
	struct err err = { 0 };

	(void)resp;
	if (p && cri_check_id(c, "container_id", q->container_id) &&
	    pods_start_container(p, q->container_id, &err))
		cri_fail_err(c, &err);
}

void cri_stop_container(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__StopContainerRequest *q = (const Runtime__V1__StopContainerRequest *)req;
	struct pods *p = cri_pods(c);
	struct err err = { 0 };

	(void)resp;
	if (p && cri_check_id(c, "container_id", q->container_id) &&
	    pods_stop_container(p, q->container_id, q->timeout, &err))
		cri_fail_err(c, &err);
}

void cri_remove_container(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__RemoveContainerRequest *q =
		(const Runtime__V1__RemoveContainerRequest *)req;
	struct pods *p = cri_pods(c);
	struct err err = { 0 };

	(void)resp;
	if (p && cri_check_id(c, "container_id", q->container_id) &&
	    pods_remove_container(p, q->container_id, &err))
		cri_fail_err(c, &err);
}

/* As containerd: the image's repo tag when it has one, else the spec kubelet gave. */
static Runtime__V1__ImageSpec *image_spec(struct cri_call *c,
					  const Runtime__V1__ContainerConfig *cfg,
					  const struct pod_container_info *in)
{
	Runtime__V1__ImageSpec *s =
		cri_clone(c, &cfg->image->base, &runtime__v1__image_spec__descriptor);

	if (s && in->image_name[0])
		s->image = cri_strdup(c, in->image_name);
	return s;
}

static bool container_matches(const Runtime__V1__ContainerFilter *f, const struct pod_container *ct,
			      enum container_state state)
{
	const Runtime__V1__ContainerConfig *cfg = pod_container_config(ct);

	if (!f)
		return true;
	if (f->id && *f->id && strcmp(f->id, pod_container_id(ct)))
		return false;
	if (f->pod_sandbox_id && *f->pod_sandbox_id &&
	    strcmp(f->pod_sandbox_id, pod_container_sandbox_id(ct)))
		return false;
	if (f->state && (int)f->state->state != (int)state)
		return false;
	return pod_labels_match(POD_KV(cfg->labels), cfg->n_labels, POD_KV(f->label_selector),
				f->n_label_selector);
}

void cri_list_containers(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__ListContainersRequest *q =
		(const Runtime__V1__ListContainersRequest *)req;
	Runtime__V1__ListContainersResponse *r = (Runtime__V1__ListContainersResponse *)resp;
	struct pods *p = cri_pods(c);
	struct pod_container **list;
	size_t n;

	if (!p)
		return;
	if (pods_container_list(p, &list, &n)) {
		cri_fail(c, CRI_INTERNAL, "out of memory");
		return;
	}
	r->containers = cri_alloc(c, (n + 1) * sizeof(*r->containers));
	for (size_t i = 0; i < n; i++) {
		const Runtime__V1__ContainerConfig *cfg = pod_container_config(list[i]);
		struct pod_container_info in;
		Runtime__V1__Container *it;

		/* kubelet's relist learns of exits from here: ask the VM first. */
		pods_container_sync(p, list[i]);
		pod_container_info(p, list[i], &in);
		if (r->containers && in.state != CONTAINER_REMOVED &&
		    container_matches(q->filter, list[i], in.state) &&
		    (it = cri_alloc(c, sizeof(*it)))) {
			runtime__v1__container__init(it);
			it->id = cri_strdup(c, pod_container_id(list[i]));
			it->pod_sandbox_id = cri_strdup(c, pod_container_sandbox_id(list[i]));
			it->metadata = cri_clone(c, &cfg->metadata->base,
						 &runtime__v1__container_metadata__descriptor);
			it->image = image_spec(c, cfg, &in);
			it->image_ref = cri_strdup(c, in.image_ref);
			it->state = (Runtime__V1__ContainerState)in.state;
			it->created_at = in.created_at;
			CRI_COPY_MAP(c, it, cfg, runtime__v1__container);
			r->containers[r->n_containers++] = it;
		}
		pods_container_put(p, list[i]);
	}
	free(list);
}

/* verbose: the record's ids and paths, and the VM as the backend sees it. */
static void container_verbose(struct cri_call *c, Runtime__V1__ContainerStatusResponse *r,
			      struct pods *p, struct pod_container *ct,
			      const struct pod_container_info *in)
{
	cJSON *o = cJSON_CreateObject(), *vm = cJSON_CreateObject();
	struct err err = { 0 };
	struct vm_status vs;

	if (o && vm) {
		cJSON_AddStringToObject(o, "id", pod_container_id(ct));
		cJSON_AddStringToObject(o, "sandboxId", pod_container_sandbox_id(ct));
		cJSON_AddStringToObject(o, "imageId", in->image_id);
		cJSON_AddStringToObject(o, "logPath", in->log_path);
		if (!pods_container_vm_status(p, ct, &vs, &err)) {
			cJSON_AddNumberToObject(vm, "vcpus", vs.vcpus);
			cJSON_AddNumberToObject(vm, "guestMemoryBytes",
						(double)vs.guest_memory_bytes);
			cJSON_AddNumberToObject(vm, "vsockCid", vs.vsock_cid);
		} else {
			cJSON_AddStringToObject(vm, "error", err.msg);
		}
		cJSON_AddItemToObject(o, "vm", vm);
		vm = NULL;
	}
	cJSON_Delete(vm);
	r->info = cri_info(c, o, &runtime__v1__container_status_response__info_entry__descriptor,
			   &r->n_info);
}

void cri_container_status(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__ContainerStatusRequest *q =
		(const Runtime__V1__ContainerStatusRequest *)req;
	Runtime__V1__ContainerStatusResponse *r = (Runtime__V1__ContainerStatusResponse *)resp;
	struct pods *p = cri_pods(c);
	const Runtime__V1__ContainerConfig *cfg;
	struct pod_container_info in;
	Runtime__V1__ContainerStatus *st;
	struct pod_container *ct;
	struct err err = { 0 };

	if (!p || !cri_check_id(c, "container_id", q->container_id))
		return;
	if (pods_container_get(p, q->container_id, &ct, &err)) {
		cri_fail_err(c, &err);
		return;
	}
	pods_container_sync(p, ct);
	pod_container_info(p, ct, &in);
	cfg = pod_container_config(ct);
	if (in.state == CONTAINER_REMOVED) { /* removed since it was looked up */
		cri_fail(c, CRI_NOT_FOUND, "container %s not found", q->container_id);
		pods_container_put(p, ct);
		return;
	}
	st = cri_alloc(c, sizeof(*st));
	if (st) {
		runtime__v1__container_status__init(st);
		st->id = cri_strdup(c, pod_container_id(ct));
		st->metadata = cri_clone(c, &cfg->metadata->base,
					 &runtime__v1__container_metadata__descriptor);
		st->state = (Runtime__V1__ContainerState)in.state;
		st->created_at = in.created_at;
		st->started_at = in.started_at;
		st->finished_at = in.finished_at;
		st->exit_code = in.exit_code;
		st->image = image_spec(c, cfg, &in);
		st->image_ref = cri_strdup(c, in.image_ref);
		st->reason = cri_strdup(c, in.reason);
		st->message = cri_strdup(c, in.message);
		CRI_COPY_MAP(c, st, cfg, runtime__v1__container_status);
		st->mounts = cri_alloc(c, (cfg->n_mounts + 1) * sizeof(*st->mounts));
		for (size_t i = 0; st->mounts && i < cfg->n_mounts; i++)
			st->mounts[st->n_mounts++] = cri_clone(c, &cfg->mounts[i]->base,
							       &runtime__v1__mount__descriptor);
		st->log_path = cri_strdup(c, in.log_path);
		r->status = st;
		if (q->verbose)
			container_verbose(c, r, p, ct, &in);
	}
	pods_container_put(p, ct);
}

void cri_update_container_resources(struct cri_call *c, const ProtobufCMessage *req,
				    ProtobufCMessage *resp)
{
	(void)req;
	(void)resp;
	cri_fail(c, CRI_UNIMPLEMENTED,
		 "UpdateContainerResources: a VM's vCPUs and memory are fixed when it boots "
		 "(no CPU or memory hotplug yet); restart the pod to change them");
}

void cri_reopen_container_log(struct cri_call *c, const ProtobufCMessage *req,
			      ProtobufCMessage *resp)
{
	const Runtime__V1__ReopenContainerLogRequest *q =
		(const Runtime__V1__ReopenContainerLogRequest *)req;
	struct pods *p = cri_pods(c);
	struct err err = { 0 };

	(void)resp;
	if (p && cri_check_id(c, "container_id", q->container_id) &&
	    pods_reopen_log(p, q->container_id, &err))
		cri_fail_err(c, &err);
}

/* Moves a backend buffer into the call's memory, with a note when it was cut at the cap. */
static void exec_stream(struct cri_call *c, ProtobufCBinaryData *dst, const uint8_t *src,
			size_t len, const char *note)
{
	size_t nlen = note ? strlen(note) : 0;
	uint8_t *buf;

	if (!len && !nlen)
		return;
	buf = cri_alloc(c, len + nlen);
	if (!buf)
		return;
	if (len)
		memcpy(buf, src, len);
	if (nlen)
		memcpy(buf + len, note, nlen);
	dst->data = buf;
	dst->len = len + nlen;
}

/* vm.h: both buffers are malloc'd. */
static void exec_result_free(struct vm_exec_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

void cri_exec_sync(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__ExecSyncRequest *q = (const Runtime__V1__ExecSyncRequest *)req;
	Runtime__V1__ExecSyncResponse *r = (Runtime__V1__ExecSyncResponse *)resp;
	static const char note[] = "\n[kvmlet: output cut at 8 MiB per stream]\n";
	struct pods *p = cri_pods(c);
	struct vm_exec_result res;
	struct err err = { 0 };
	bool cut;

	if (!p || !cri_check_id(c, "container_id", q->container_id))
		return;
	if (pods_exec(p, q->container_id, (const char *const *)q->cmd, q->n_cmd, q->timeout,
		      EXEC_STREAM_CAP, &res, &err)) {
		cri_fail_err(c, &err);
		exec_result_free(&res);
		return;
	}
	cut = res.out_len >= EXEC_STREAM_CAP || res.err_len >= EXEC_STREAM_CAP;
	exec_stream(c, &r->stdout, res.out, res.out_len, NULL);
	exec_stream(c, &r->stderr, res.err, res.err_len, cut ? note : NULL);
	r->exit_code = res.exit_code;
	exec_result_free(&res);
}
