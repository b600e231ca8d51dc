// SPDX-License-Identifier: Apache-2.0
/*
 * ContainerStats, ListContainerStats, PodSandboxStats and
 * ListPodSandboxStats from the VM backend's figures (the pod's cgroup,
 * the VM's disk copies), shaped as containerd shapes them (docs/cri.md).
 */
#include <stdlib.h>
#include <string.h>

#include "agent/cri/handlers.h"
#include "agent/cri/pod_common.h"
#include "agent/cri/runtime.h"
#include "runtime/v1/api.pb-c.h"

static Runtime__V1__UInt64Value *u64(struct cri_call *c, uint64_t v)
{
	Runtime__V1__UInt64Value *w = cri_alloc(c, sizeof(*w));

	if (w) {
		runtime__v1__uint64_value__init(w);
		w->value = v;
	}
	return w;
}

static Runtime__V1__CpuUsage *cpu_usage(struct cri_call *c, const struct pod_stats *s)
{
	Runtime__V1__CpuUsage *u = cri_alloc(c, sizeof(*u));

	if (!u)
		return NULL;
	runtime__v1__cpu_usage__init(u);
	u->timestamp = s->vm.timestamp;
	u->usage_core_nano_seconds = u64(c, s->vm.cpu_usage_ns);
	u->usage_nano_cores = u64(c, s->nano_cores);
	return u;
}

static Runtime__V1__MemoryUsage *memory_usage(struct cri_call *c, const struct pod_stats *s)
{
	Runtime__V1__MemoryUsage *u = cri_alloc(c, sizeof(*u));

	if (!u)
		return NULL;
	runtime__v1__memory_usage__init(u);
	u->timestamp = s->vm.timestamp;
	u->working_set_bytes = u64(c, s->vm.memory_working_set);
	u->usage_bytes = u64(c, s->vm.memory_usage);
	return u;
}

static Runtime__V1__FilesystemUsage *disk_usage(struct cri_call *c, const struct pod_stats *s)
{
	Runtime__V1__FilesystemUsage *u = cri_alloc(c, sizeof(*u));
	Runtime__V1__FilesystemIdentifier *fs = cri_alloc(c, sizeof(*fs));

	if (!u || !fs)
		return NULL;
	runtime__v1__filesystem_usage__init(u);
	runtime__v1__filesystem_identifier__init(fs);
	fs->mountpoint = cri_strdup(c, c->rt->disk_dir ? c->rt->disk_dir : "");
	u->timestamp = s->vm.timestamp;
	u->fs_id = fs;
	u->used_bytes = u64(c, s->vm.disk_used_bytes);
	u->inodes_used = u64(c, s->vm.disk_inodes);
	return u;
}

/* One container's stats; NULL (the call failed, or err set) if the backend has none. */
static Runtime__V1__ContainerStats *container_stats(struct cri_call *c, struct pods *p,
						    struct pod_container *ct, struct err *err)
{
	const Runtime__V1__ContainerConfig *cfg = pod_container_config(ct);
	Runtime__V1__ContainerAttributes *a;
	Runtime__V1__ContainerStats *s;
	struct pod_stats ps;

	if (pods_container_stats(p, ct, &ps, err))
		return NULL;
	s = cri_alloc(c, sizeof(*s));
	a = cri_alloc(c, sizeof(*a));
	if (!s || !a)
		return NULL;
	runtime__v1__container_stats__init(s);
	runtime__v1__container_attributes__init(a);
	a->id = cri_strdup(c, pod_container_id(ct));
	a->metadata =
		cri_clone(c, &cfg->metadata->base, &runtime__v1__container_metadata__descriptor);
	CRI_COPY_MAP(c, a, cfg, runtime__v1__container_attributes);
	s->attributes = a;
	s->cpu = cpu_usage(c, &ps);
	s->memory = memory_usage(c, &ps);
	s->writable_layer = disk_usage(c, &ps);
	return s;
}

void cri_container_stats(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__ContainerStatsRequest *q =
		(const Runtime__V1__ContainerStatsRequest *)req;
	Runtime__V1__ContainerStatsResponse *r = (Runtime__V1__ContainerStatsResponse *)resp;
	struct pods *p = cri_pods(c);
	struct pod_container *ct;
	struct err err = { 0 };

	if (!p || !cri_check_id(c, "container_id", q->container_id))
		return;
	if (pods_container_get(p, q->container_id, &ct, &err)) {
		cri_fail_err(c, &err);
		return;
	}
	r->stats = container_stats(c, p, ct, &err);
	if (!r->stats && err.code)
		cri_fail_err(c, &err);
	pods_container_put(p, ct);
}

static bool stats_matches(const Runtime__V1__ContainerStatsFilter *f,
			  const struct pod_container *ct)
{
	const Runtime__V1__ContainerConfig *cfg = pod_container_config(ct);

	if (!f)
		return true;
	if (f->id && *f->id && strcmp(f->id, pod_container_id(ct)))
		return false;
	if (f->pod_sandbox_id && *f->pod_sandbox_id &&
	    strcmp(f->pod_sandbox_id, pod_container_sandbox_id(ct)))
		return false;
	return pod_labels_match(POD_KV(cfg->labels), cfg->n_labels, POD_KV(f->label_selector),
				f->n_label_selector);
}

/* The running containers that match, as containerd lists those with a task. */
static size_t running_stats(struct cri_call *c, struct pods *p,
			    const Runtime__V1__ContainerStatsFilter *f, const char *sandbox_id,
			    Runtime__V1__ContainerStats ***out)
{
	struct pod_container **list;
	size_t n, k = 0;

	*out = NULL;
	if (pods_container_list(p, &list, &n)) {
		c->alloc_failed = true;
		return 0;
	}
	*out = cri_alloc(c, (n + 1) * sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		struct pod_container_info in;
		struct err err = { 0 };
		Runtime__V1__ContainerStats *s;

		pod_container_info(p, list[i], &in);
		if (*out && in.state == CONTAINER_RUNNING && stats_matches(f, list[i]) &&
		    (!sandbox_id || !strcmp(sandbox_id, pod_container_sandbox_id(list[i]))) &&
		    (s = container_stats(c, p, list[i], &err)))
			(*out)[k++] = s;
		pods_container_put(p, list[i]);
	}
	free(list);
	return k;
}

void cri_list_container_stats(struct cri_call *c, const ProtobufCMessage *req,
			      ProtobufCMessage *resp)
{
	const Runtime__V1__ListContainerStatsRequest *q =
		(const Runtime__V1__ListContainerStatsRequest *)req;
	Runtime__V1__ListContainerStatsResponse *r =
		(Runtime__V1__ListContainerStatsResponse *)resp;
	struct pods *p = cri_pods(c);

	if (p)
		r->n_stats = running_stats(c, p, q->filter, NULL, &r->stats);
}

static Runtime__V1__PodSandboxStats *sandbox_stats(struct cri_call *c, struct pods *p,
						   struct pod_sandbox *sb, struct err *err)
{
	const Runtime__V1__PodSandboxConfig *cfg = pod_sandbox_config(sb);
	Runtime__V1__PodSandboxAttributes *a;
	Runtime__V1__LinuxPodSandboxStats *l;
	Runtime__V1__PodSandboxStats *s;
	struct pod_stats ps;

	if (pods_sandbox_stats(p, sb, &ps, err))
		return NULL;
	s = cri_alloc(c, sizeof(*s));
	a = cri_alloc(c, sizeof(*a));
	l = cri_alloc(c, sizeof(*l));
	if (!s || !a || !l)
		return NULL;
	runtime__v1__pod_sandbox_stats__init(s);
	runtime__v1__pod_sandbox_attributes__init(a);
	runtime__v1__linux_pod_sandbox_stats__init(l);
	a->id = cri_strdup(c, pod_sandbox_id(sb));
	a->metadata =
		cri_clone(c, &cfg->metadata->base, &runtime__v1__pod_sandbox_metadata__descriptor);
	CRI_COPY_MAP(c, a, cfg, runtime__v1__pod_sandbox_attributes);
	l->cpu = cpu_usage(c, &ps);
	l->memory = memory_usage(c, &ps);
	l->n_containers = running_stats(c, p, NULL, pod_sandbox_id(sb), &l->containers);
	s->attributes = a;
	s->linux = l;
	return s;
}

void cri_pod_sandbox_stats(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__PodSandboxStatsRequest *q =
		(const Runtime__V1__PodSandboxStatsRequest *)req;
	Runtime__V1__PodSandboxStatsResponse *r = (Runtime__V1__PodSandboxStatsResponse *)resp;
	struct pods *p = cri_pods(c);
	struct pod_sandbox *sb;
	struct err err = { 0 };

	if (!p || !cri_check_id(c, "pod_sandbox_id", q->pod_sandbox_id))
		return;
	if (pods_sandbox_get(p, q->pod_sandbox_id, &sb, &err)) {
		cri_fail_err(c, &err);
		return;
	}
	r->stats = sandbox_stats(c, p, sb, &err);
	if (!r->stats && err.code)
		cri_fail_err(c, &err);
	pods_sandbox_put(p, sb);
}

void cri_list_pod_sandbox_stats(struct cri_call *c, const ProtobufCMessage *req,
				ProtobufCMessage *resp)
{
	const Runtime__V1__ListPodSandboxStatsRequest *q =
		(const Runtime__V1__ListPodSandboxStatsRequest *)req;
	Runtime__V1__ListPodSandboxStatsResponse *r =
		(Runtime__V1__ListPodSandboxStatsResponse *)resp;
	const Runtime__V1__PodSandboxStatsFilter *f = q->filter;
	struct pods *p = cri_pods(c);
	struct pod_sandbox **list;
	size_t n;

	if (!p)
		return;
	if (pods_sandbox_list(p, &list, &n)) {
		cri_fail(c, CRI_INTERNAL, "out of memory");
		return;
	}
	r->stats = cri_alloc(c, (n + 1) * sizeof(*r->stats));
	for (size_t i = 0; i < n; i++) {
		const Runtime__V1__PodSandboxConfig *cfg = pod_sandbox_config(list[i]);
		struct pod_sandbox_info in;
		struct err err = { 0 };
		Runtime__V1__PodSandboxStats *s;

		pod_sandbox_info(p, list[i], &in);
		if (r->stats && in.state == SANDBOX_READY &&
		    (!f || !f->id || !*f->id || !strcmp(f->id, pod_sandbox_id(list[i]))) &&
		    (!f || pod_labels_match(POD_KV(cfg->labels), cfg->n_labels,
					    POD_KV(f->label_selector), f->n_label_selector)) &&
		    (s = sandbox_stats(c, p, list[i], &err)))
			r->stats[r->n_stats++] = s;
		pods_sandbox_put(p, list[i]);
	}
	free(list);
}
