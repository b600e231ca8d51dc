// SPDX-License-Identifier: Apache-2.0
/*
 * RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus and
 * ListPodSandbox over the pod layer (agent/pod/pods.h; docs/cri.md, "Pods").
 */
#include <stdlib.h>
#include <string.h>

#include "agent/cri/handlers.h"
#include "agent/cri/pod_common.h"
#include "agent/cri/runtime.h"
#include "runtime/v1/api.pb-c.h"

void cri_run_pod_sandbox(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__RunPodSandboxRequest *q = (const Runtime__V1__RunPodSandboxRequest *)req;
	Runtime__V1__RunPodSandboxResponse *r = (Runtime__V1__RunPodSandboxResponse *)resp;
	struct pods *p = cri_pods(c);
	char id[POD_ID_LEN + 1];
	struct err err = { 0 };

	if (!p)
		return;
	if (pods_run_sandbox(p, q->config, q->runtime_handler, id, &err)) {
		cri_fail_err(c, &err);
		return;
	}
	r->pod_sandbox_id = cri_strdup(c, id);
}

void cri_stop_pod_sandbox(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__StopPodSandboxRequest *q =
		(const Runtime__V1__StopPodSandboxRequest *)req;
	struct pods *p = cri_pods(c);
	struct err err = { 0 };

	(void)resp;
	if (p && cri_check_id(c, "pod_sandbox_id", q->pod_sandbox_id) &&
	    pods_stop_sandbox(p, q->pod_sandbox_id, &err))
		cri_fail_err(c, &err);
}

void cri_remove_pod_sandbox(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__RemovePodSandboxRequest *q =
		(const Runtime__V1__RemovePodSandboxRequest *)req;
	struct pods *p = cri_pods(c);
	struct err err = { 0 };

	(void)resp;
	if (p && cri_check_id(c, "pod_sandbox_id", q->pod_sandbox_id) &&
	    pods_remove_sandbox(p, q->pod_sandbox_id, &err))
		cri_fail_err(c, &err);
}

/* The namespace options kubelet asked for, echoed: kubelet reads hostNetwork back from them. */
static Runtime__V1__LinuxPodSandboxStatus *linux_status(struct cri_call *c,
							const Runtime__V1__PodSandboxConfig *cfg)
{
	const Runtime__V1__LinuxSandboxSecurityContext *sc =
		cfg->linux ? cfg->linux->security_context : NULL;
	Runtime__V1__LinuxPodSandboxStatus *l;
	Runtime__V1__Namespace *ns;

	if (!sc || !sc->namespace_options)
		return NULL;
	l = cri_alloc(c, sizeof(*l));
	ns = cri_alloc(c, sizeof(*ns));
	if (!l || !ns)
		return NULL;
	runtime__v1__linux_pod_sandbox_status__init(l);
	runtime__v1__namespace__init(ns);
	ns->options = cri_clone(c, &sc->namespace_options->base,
				&runtime__v1__namespace_option__descriptor);
	l->namespaces = ns;
	return l;
}

/* The pod's CNI addresses: the first is ip, the others additional_ips (docs/networking.md). */
static void sandbox_ips(struct cri_call *c, struct pods *p, struct pod_sandbox *sb,
			Runtime__V1__PodSandboxNetworkStatus *net)
{
	char ips[8][64];
	size_t n = pod_sandbox_ips(p, sb, ips, 8);

	if (!n)
		return;
	net->ip = cri_strdup(c, ips[0]);
	net->additional_ips = n > 1 ? cri_alloc(c, (n - 1) * sizeof(*net->additional_ips)) : NULL;
	for (size_t i = 1; net->additional_ips && i < n; i++) {
		Runtime__V1__PodIP *ip = cri_alloc(c, sizeof(*ip));

		if (!ip)
			return;
		runtime__v1__pod_ip__init(ip);
		ip->ip = cri_strdup(c, ips[i]);
		net->additional_ips[net->n_additional_ips++] = ip;
	}
}

static void sandbox_verbose(struct cri_call *c, Runtime__V1__PodSandboxStatusResponse *r,
			    const struct pod_sandbox *sb, const struct pod_sandbox_info *in)
{
	const Runtime__V1__PodSandboxConfig *cfg = pod_sandbox_config(sb);
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "id", pod_sandbox_id(sb));
		cJSON_AddStringToObject(o, "netns", in->netns);
		cJSON_AddStringToObject(o, "runtimeHandler", in->runtime_handler);
		cJSON_AddStringToObject(o, "containerId", in->container_id);
		cJSON_AddStringToObject(
			o, "cgroupParent",
			cfg->linux && cfg->linux->cgroup_parent ? cfg->linux->cgroup_parent : "");
		cJSON_AddStringToObject(o, "logDirectory",
					cfg->log_directory ? cfg->log_directory : "");
	}
	r->info = cri_info(c, o, &runtime__v1__pod_sandbox_status_response__info_entry__descriptor,
			   &r->n_info);
}

void cri_pod_sandbox_status(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__PodSandboxStatusRequest *q =
		(const Runtime__V1__PodSandboxStatusRequest *)req;
	Runtime__V1__PodSandboxStatusResponse *r = (Runtime__V1__PodSandboxStatusResponse *)resp;
	struct pods *p = cri_pods(c);
	const Runtime__V1__PodSandboxConfig *cfg;
	Runtime__V1__PodSandboxStatus *st;
	Runtime__V1__PodSandboxNetworkStatus *net;
	struct pod_sandbox_info in;
	struct pod_sandbox *sb;
	struct err err = { 0 };

	if (!p || !cri_check_id(c, "pod_sandbox_id", q->pod_sandbox_id))
		return;
	if (pods_sandbox_get(p, q->pod_sandbox_id, &sb, &err)) {
		cri_fail_err(c, &err);
		return;
	}
	cfg = pod_sandbox_config(sb);
	pod_sandbox_info(p, sb, &in);
	if (in.state == SANDBOX_REMOVED) { /* removed since it was looked up */
		cri_fail(c, CRI_NOT_FOUND, "pod sandbox %s not found", q->pod_sandbox_id);
		pods_sandbox_put(p, sb);
		return;
	}
	st = cri_alloc(c, sizeof(*st));
	net = cri_alloc(c, sizeof(*net));
	if (st && net) {
		runtime__v1__pod_sandbox_status__init(st);
		runtime__v1__pod_sandbox_network_status__init(net);
		st->id = cri_strdup(c, pod_sandbox_id(sb));
		st->metadata = cri_clone(c, &cfg->metadata->base,
					 &runtime__v1__pod_sandbox_metadata__descriptor);
		st->state = in.state == SANDBOX_READY
				    ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
				    : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
		st->created_at = in.created_at;
		net->ip = CRI_STR("");
		sandbox_ips(c, p, sb, net);
		st->network = net;
		st->linux = linux_status(c, cfg);
		CRI_COPY_MAP(c, st, cfg, runtime__v1__pod_sandbox_status);
		st->runtime_handler = cri_strdup(c, in.runtime_handler);
		r->status = st;
		if (q->verbose)
			sandbox_verbose(c, r, sb, &in);
	}
	pods_sandbox_put(p, sb);
}

static bool sandbox_matches(const Runtime__V1__PodSandboxFilter *f, const struct pod_sandbox *sb,
			    enum sandbox_state state)
{
	const Runtime__V1__PodSandboxConfig *cfg = pod_sandbox_config(sb);

	if (!f)
		return true;
	if (f->id && *f->id && strcmp(f->id, pod_sandbox_id(sb)))
		return false;
	if (f->state && (int)f->state->state != (int)state)
		return false;
	return pod_labels_match(POD_KV(cfg->labels), cfg->n_labels, POD_KV(f->label_selector),
				f->n_label_selector);
}

void cri_list_pod_sandbox(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__ListPodSandboxRequest *q =
		(const Runtime__V1__ListPodSandboxRequest *)req;
	Runtime__V1__ListPodSandboxResponse *r = (Runtime__V1__ListPodSandboxResponse *)resp;
	struct pods *p = cri_pods(c);
	struct pod_sandbox **list;
	size_t n;

	if (!p)
		return;
	if (pods_sandbox_list(p, &list, &n)) {
		cri_fail(c, CRI_INTERNAL, "out of memory");
		return;
	}
	r->items = cri_alloc(c, (n + 1) * sizeof(*r->items));
	for (size_t i = 0; i < n; i++) {
		const Runtime__V1__PodSandboxConfig *cfg = pod_sandbox_config(list[i]);
		struct pod_sandbox_info in;
		Runtime__V1__PodSandbox *it;

		pod_sandbox_info(p, list[i], &in);
		if (r->items && in.state != SANDBOX_REMOVED &&
		    sandbox_matches(q->filter, list[i], in.state) &&
		    (it = cri_alloc(c, sizeof(*it)))) {
			runtime__v1__pod_sandbox__init(it);
			it->id = cri_strdup(c, pod_sandbox_id(list[i]));
			it->metadata = cri_clone(c, &cfg->metadata->base,
						 &runtime__v1__pod_sandbox_metadata__descriptor);
			it->state = (Runtime__V1__PodSandboxState)in.state;
			it->created_at = in.created_at;
			CRI_COPY_MAP(c, it, cfg, runtime__v1__pod_sandbox);
			it->runtime_handler = cri_strdup(c, in.runtime_handler);
			r->items[r->n_items++] = it;
		}
		pods_sandbox_put(p, list[i]);
	}
	free(list);
}
