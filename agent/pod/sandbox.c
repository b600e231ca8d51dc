// SPDX-License-Identifier: Apache-2.0
/* RunPodSandbox, StopPodSandbox, RemovePodSandbox and the pod's stats (pods.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pod/check.h"
#include "agent/pod/pods_priv.h"
#include "lib/log.h"

static bool same_sandbox_name(const Runtime__V1__PodSandboxMetadata *a,
			      const Runtime__V1__PodSandboxMetadata *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->namespace_, b->namespace_) &&
	       !strcmp(a->uid, b->uid) && a->attempt == b->attempt;
}

/* Reserves the name (a creating record in the list), -EEXIST if taken. */
static int sandbox_reserve(struct pods *p, struct pod_sandbox *sb, struct err *err)
{
	const Runtime__V1__PodSandboxMetadata *m = sb->cfg->metadata;
	int r = 0;

	pthread_mutex_lock(&p->lock);
	for (struct pod_sandbox *o = p->sandboxes; o; o = o->next)
		if (same_sandbox_name(o->cfg->metadata, m)) {
			r = err_set(err, -EEXIST,
				    "pod sandbox name \"%s_%s_%s_%u\" is already used by %s",
				    m->name, m->namespace_, m->uid, m->attempt, o->id);
			break;
		}
	if (!r) {
		sb->creating = true;
		sb->busy = true;
		sb->refs = 1;
		pods_sandbox_append(p, sb);
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void sandbox_unreserve(struct pods *p, struct pod_sandbox *sb)
{
	pthread_mutex_lock(&p->lock);
	pods_sandbox_unlink(p, sb);
	pods_sandbox_put_locked(sb);
	pthread_mutex_unlock(&p->lock);
}

/* hostNetwork: kubelet asks for the node's network namespace. */
static bool host_network(const Runtime__V1__PodSandboxConfig *cfg)
{
	const Runtime__V1__LinuxSandboxSecurityContext *sc =
		cfg->linux ? cfg->linux->security_context : NULL;

	return sc && sc->namespace_options &&
	       sc->namespace_options->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
}

/* CNI ADD in the new namespace, if the host has networking. */
static int net_add(struct pods *p, struct pod_sandbox *sb, struct err *err)
{
	if (!p->sys.ops->net_add || !sb->st.netns[0])
		return 0;
	return p->sys.ops->net_add(p->sys.ctx, sb->id, sb->st.netns, sb->cfg, err);
}

int pods_net_del(struct pods *p, const char *id, const char *netns,
		 const Runtime__V1__PodSandboxConfig *cfg, struct err *err)
{
	if (!p->sys.ops->net_del || !netns[0])
		return 0;
	return p->sys.ops->net_del(p->sys.ctx, id, netns, cfg, err);
}

size_t pod_sandbox_ips(struct pods *p, struct pod_sandbox *sb, char (*ips)[64], size_t max)
{
	return p->sys.ops->net_ips ? p->sys.ops->net_ips(p->sys.ctx, sb->id, ips, max) : 0;
}

int pods_run_sandbox(struct pods *p, const Runtime__V1__PodSandboxConfig *cfg,
		     const char *runtime_handler, char id[POD_ID_LEN + 1], struct err *err)
{
	const char *cgroup_parent = cfg && cfg->linux ? cfg->linux->cgroup_parent : NULL;
	struct pod_sandbox *sb;
	uint8_t *packed;
	size_t len;
	int r;

	if (runtime_handler && *runtime_handler && strcmp(runtime_handler, HANDLER_DEFAULT))
		return err_set(err, -EINVAL,
			       "runtime_handler \"%.64s\": kvmlet-agent serves only \"kvmlet\" "
			       "(or \"\")",
			       runtime_handler);
	if ((r = pod_check_sandbox_config(cfg, err)))
		return r;
	/* A VM has a kernel and a network stack of its own; the node's cannot be shared with it. */
	if (host_network(cfg))
		return err_set(err, -EINVAL,
			       "hostNetwork: a VM cannot share the host's network stack "
			       "(docs/networking.md)");
	if (pods_pack(&cfg->base, &packed, &len))
		return err_set(err, -ENOMEM, "out of memory");
	sb = calloc(1, sizeof(*sb));
	if (sb)
		sb->cfg = runtime__v1__pod_sandbox_config__unpack(NULL, len, packed);
	if (!sb || !sb->cfg) {
		free(packed);
		free(sb);
		return err_set(err, -ENOMEM, "out of memory");
	}
	if ((r = pods_new_id(p, sb->id, err)) || (r = sandbox_reserve(p, sb, err))) {
		free(packed);
		pods_sandbox_free(sb);
		return r;
	}
	sb->state = SANDBOX_READY;
	snprintf(sb->st.state, sizeof(sb->st.state), "%s", sandbox_state_name(SANDBOX_READY));
	snprintf(sb->st.runtime_handler, sizeof(sb->st.runtime_handler), "%s",
		 runtime_handler && *runtime_handler ? runtime_handler : HANDLER_DEFAULT);
	if (snprintf(sb->st.netns, sizeof(sb->st.netns), "%s/%s", p->netns_dir, sb->id) >=
	    (int)sizeof(sb->st.netns)) {
		sandbox_unreserve(p, sb);
		free(packed);
		return err_set(err, -ENAMETOOLONG, "netns path: too long");
	}
	sb->st.created_at = pods_now_ns();
	/* The record first, so that a crash after the netns leaves a .new- that says where it is. */
	r = p->sys.ops->cgroup_ensure(p->sys.ctx, cgroup_parent ? cgroup_parent : "", err);
	if (!r)
		r = record_create(p->sb_dir, sb->id, packed, len, &sb->st, err);
	free(packed);
	if (!r &&
	    !(r = sb->st.netns[0] ? p->sys.ops->netns_create(p->sys.ctx, sb->st.netns, err) : 0) &&
	    !(r = net_add(p, sb, err)) && !(r = record_commit(p->sb_dir, sb->id, err))) {
		pthread_mutex_lock(&p->lock);
		sb->creating = false;
		sb->busy = false;
		pthread_cond_broadcast(&p->cond);
		pods_sandbox_put_locked(sb);
		pthread_mutex_unlock(&p->lock);
		snprintf(id, POD_ID_LEN + 1, "%s", sb->id);
		log_fields(LOG_INFO, "pod sandbox ready", "sandbox", id, "pod", cfg->metadata->name,
			   "namespace", cfg->metadata->namespace_, NULL);
		return 0;
	}
	{
		struct err e2 = { 0 };
		char name[POD_ID_LEN + 8];

		if (sb->st.netns[0]) {
			pods_net_del(p, sb->id, sb->st.netns, sb->cfg, &e2);
			p->sys.ops->netns_remove(p->sys.ctx, sb->st.netns, &e2);
		}
		snprintf(name, sizeof(name), ".new-%s", sb->id);
		record_discard(p->sb_dir, name, &e2);
	}
	sandbox_unreserve(p, sb);
	return r;
}

/* The sandbox's containers, referenced (the caller claims and puts each). */
static size_t sandbox_containers(struct pods *p, const char *sandbox_id,
				 struct pod_container ***out)
{
	size_t n = 0;

	*out = NULL;
	pthread_mutex_lock(&p->lock);
	for (struct pod_container *c = p->containers; c; c = c->next)
		n += !strcmp(c->st.sandbox_id, sandbox_id);
	*out = calloc(n + 1, sizeof(**out));
	n = 0;
	for (struct pod_container *c = p->containers; *out && c; c = c->next)
		if (!strcmp(c->st.sandbox_id, sandbox_id)) {
			c->refs++;
			(*out)[n++] = c;
		}
	pthread_mutex_unlock(&p->lock);
	return *out ? n : 0;
}

/* Stops or removes each container of the sandbox whose mark the caller holds. */
static int sandbox_each_container(struct pods *p, struct pod_sandbox *sb, bool remove,
				  struct err *err)
{
	struct pod_container **list;
	size_t n = sandbox_containers(p, sb->id, &list);
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		struct pod_container *c = list[i];
		int cr;

		pthread_mutex_lock(&p->lock);
		cr = pods_container_claim_locked(p, c);
		pods_container_put_locked(c); /* the list's reference; a claim holds its own */
		pthread_mutex_unlock(&p->lock);
		if (cr)
			continue; /* removed meanwhile */
		cr = remove ? pods_remove_claimed(p, c, err) : pods_stop_claimed(p, c, 0, err);
		if (cr && !r)
			r = cr;
		pods_container_release(p, c);
	}
	free(list);
	return r;
}

int pods_stop_sandbox(struct pods *p, const char *id, struct err *err)
{
	struct pod_sandbox *sb;
	int r;

	if ((r = pods_sandbox_claim(p, id, &sb, err)))
		return r;
	if ((r = sandbox_each_container(p, sb, false, err)) ||
	    (r = pods_net_del(p, sb->id, sb->st.netns, sb->cfg, err)) ||
	    (sb->st.netns[0] && (r = p->sys.ops->netns_remove(p->sys.ctx, sb->st.netns, err))) ||
	    (r = pods_sandbox_step(p, sb, SANDBOX_EV_STOP, err))) {
		pods_sandbox_release(p, sb);
		return r;
	}
	pods_sandbox_persist(p, sb);
	log_fields(LOG_INFO, "pod sandbox stopped", "sandbox", id, NULL);
	pods_sandbox_release(p, sb);
	return 0;
}

int pods_remove_sandbox(struct pods *p, const char *id, struct err *err)
{
	struct pod_sandbox *sb;
	int r;

	if (pods_sandbox_claim(p, id, &sb, err)) {
		memset(err, 0, sizeof(*err));
		return 0; /* already gone: containerd answers OK too */
	}
	if ((r = sandbox_each_container(p, sb, true, err)) ||
	    (r = pods_net_del(p, sb->id, sb->st.netns, sb->cfg, err)) ||
	    (sb->st.netns[0] && (r = p->sys.ops->netns_remove(p->sys.ctx, sb->st.netns, err))) ||
	    (r = pods_sandbox_step(p, sb, SANDBOX_EV_REMOVE, err)) ||
	    (r = record_remove(p->sb_dir, sb->id, err))) {
		pods_sandbox_release(p, sb);
		return r;
	}
	pthread_mutex_lock(&p->lock);
	pods_sandbox_unlink(p, sb);
	pthread_mutex_unlock(&p->lock);
	log_fields(LOG_INFO, "pod sandbox removed", "sandbox", id, NULL);
	pods_sandbox_release(p, sb);
	return 0;
}

/*
 * Without a cgroup_parent the pod has no cgroup of its own (the backend
 * would sum every parentless VM): its one VM is the pod.
 */
static int sandbox_vm_stats(struct pods *p, struct pod_sandbox *sb, struct vm_stats *out,
			    struct err *err)
{
	char id[POD_ID_LEN + 1] = "";
	struct pod_container *c;

	pthread_mutex_lock(&p->lock);
	for (c = p->containers; c; c = c->next)
		if (!strcmp(c->st.sandbox_id, sb->id) && c->state == CONTAINER_RUNNING)
			snprintf(id, sizeof(id), "%s", c->id);
	pthread_mutex_unlock(&p->lock);
	memset(out, 0, sizeof(*out));
	if (!*id) {
		out->timestamp = pods_now_ns();
		return 0;
	}
	return p->be.ops->stats(p->be.ctx, id, out, err);
}

int pods_sandbox_stats(struct pods *p, struct pod_sandbox *sb, struct pod_stats *out,
		       struct err *err)
{
	const char *cg = sb->cfg->linux && sb->cfg->linux->cgroup_parent
				 ? sb->cfg->linux->cgroup_parent
				 : "";
	int r;

	memset(out, 0, sizeof(*out));
	if (*cg)
		r = p->be.ops->sandbox_stats(p->be.ctx, cg, &out->vm, err);
	else
		r = sandbox_vm_stats(p, sb, &out->vm, err);
	if (r)
		return r;
	pthread_mutex_lock(&p->lock);
	out->nano_cores = pods_nano_cores(&sb->prev, &out->vm);
	pthread_mutex_unlock(&p->lock);
	return 0;
}
