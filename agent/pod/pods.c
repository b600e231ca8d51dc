// SPDX-License-Identifier: Apache-2.0
/* Sandboxes and containers: the calls, the locking and the records (pods.h). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/image/store.h"
#include "agent/pod/check.h"
#include "agent/pod/logpath.h"
#include "agent/pod/pods.h"
#include "agent/pod/record.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"

#define HANDLER_DEFAULT "kvmlet"

struct sample {
	int64_t ts;
	uint64_t cpu_ns;
};

struct pod_sandbox {
	struct pod_sandbox *next;
	unsigned int refs;
	bool busy, removed;
	bool creating; /* reserved by RunPodSandbox: not listed, name taken */
	char id[POD_ID_LEN + 1];
	Runtime__V1__PodSandboxConfig *cfg;
	enum sandbox_state state;
	struct record_state st; /* what state.json holds; st.state follows state */
	struct sample prev;
};

struct pod_container {
	struct pod_container *next;
	unsigned int refs;
	bool busy, removed;
	char id[POD_ID_LEN + 1];
	Runtime__V1__ContainerConfig *cfg;
	enum container_state state;
	struct record_state st;
	struct sample prev;
};

struct pods {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a busy mark was cleared, or a record removed */
	char sb_dir[PATH_MAX], ct_dir[PATH_MAX], netns_dir[PATH_MAX];
	struct vm_backend be;
	struct pod_sys sys;
	struct pod_sandbox *sandboxes;
	struct pod_container *containers;
	uint64_t starts, exits;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- records in memory --------------------------------------------------- */

static void sandbox_free(struct pod_sandbox *sb)
{
	if (sb->cfg)
		protobuf_c_message_free_unpacked(&sb->cfg->base, NULL);
	free(sb);
}

static void container_free(struct pod_container *c)
{
	if (c->cfg)
		protobuf_c_message_free_unpacked(&c->cfg->base, NULL);
	free(c);
}

static struct pod_sandbox *sandbox_find(struct pods *p, const char *id)
{
	for (struct pod_sandbox *sb = p->sandboxes; sb; sb = sb->next)
		if (!sb->creating && !strcmp(sb->id, id))
			return sb;
	return NULL;
}

static struct pod_container *container_find(struct pods *p, const char *id)
{
	for (struct pod_container *c = p->containers; c; c = c->next)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

static void sandbox_append(struct pods *p, struct pod_sandbox *sb)
{
	struct pod_sandbox **pp = &p->sandboxes;

	while (*pp)
		pp = &(*pp)->next;
	*pp = sb;
}

static void container_append(struct pods *p, struct pod_container *c)
{
	struct pod_container **pp = &p->containers;

	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
}

/* Under the lock: out of the list; freed once the last reference goes. */
static void sandbox_unlink(struct pods *p, struct pod_sandbox *sb)
{
	for (struct pod_sandbox **pp = &p->sandboxes; *pp; pp = &(*pp)->next)
		if (*pp == sb) {
			*pp = sb->next;
			break;
		}
	sb->removed = true;
	pthread_cond_broadcast(&p->cond);
}

static void container_unlink(struct pods *p, struct pod_container *c)
{
	for (struct pod_container **pp = &p->containers; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->removed = true;
	pthread_cond_broadcast(&p->cond);
}

static void sandbox_put_locked(struct pod_sandbox *sb)
{
	if (!--sb->refs && sb->removed)
		sandbox_free(sb);
}

static void container_put_locked(struct pod_container *c)
{
	if (!--c->refs && c->removed)
		container_free(c);
}

void pods_sandbox_put(struct pods *p, struct pod_sandbox *sb)
{
	if (!sb)
		return;
	pthread_mutex_lock(&p->lock);
	sandbox_put_locked(sb);
	pthread_mutex_unlock(&p->lock);
}

void pods_container_put(struct pods *p, struct pod_container *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&p->lock);
	container_put_locked(c);
	pthread_mutex_unlock(&p->lock);
}

int pods_sandbox_get(struct pods *p, const char *id, struct pod_sandbox **out, struct err *err)
{
	struct pod_sandbox *sb;

	pthread_mutex_lock(&p->lock);
	sb = sandbox_find(p, id);
	if (sb)
		sb->refs++;
	pthread_mutex_unlock(&p->lock);
	*out = sb;
	return sb ? 0 : err_set(err, -ENOENT, "pod sandbox %s not found", id);
}

int pods_container_get(struct pods *p, const char *id, struct pod_container **out, struct err *err)
{
	struct pod_container *c;

	pthread_mutex_lock(&p->lock);
	c = container_find(p, id);
	if (c)
		c->refs++;
	pthread_mutex_unlock(&p->lock);
	*out = c;
	return c ? 0 : err_set(err, -ENOENT, "container %s not found", id);
}

/*
 * Takes the busy mark of a sandbox (waiting for the call that holds it),
 * with a reference. -ENOENT if there is none or it goes meanwhile.
 */
static int sandbox_claim(struct pods *p, const char *id, struct pod_sandbox **out, struct err *err)
{
	struct pod_sandbox *sb;

	pthread_mutex_lock(&p->lock);
	sb = sandbox_find(p, id);
	if (sb) {
		sb->refs++;
		while (sb->busy && !sb->removed)
			pthread_cond_wait(&p->cond, &p->lock);
		if (sb->removed) {
			sandbox_put_locked(sb);
			sb = NULL;
		} else {
			sb->busy = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	*out = sb;
	return sb ? 0 : err_set(err, -ENOENT, "pod sandbox %s not found", id);
}

static void sandbox_release(struct pods *p, struct pod_sandbox *sb)
{
	pthread_mutex_lock(&p->lock);
	sb->busy = false;
	pthread_cond_broadcast(&p->cond);
	sandbox_put_locked(sb);
	pthread_mutex_unlock(&p->lock);
}

/* The caller holds a reference; on success the claim takes one of its own. */
static int container_claim_locked(struct pods *p, struct pod_container *c)
{
	while (c->busy && !c->removed)
		pthread_cond_wait(&p->cond, &p->lock);
	if (c->removed)
		return -ENOENT;
	c->busy = true;
	c->refs++;
	return 0;
}

static int container_claim(struct pods *p, const char *id, struct pod_container **out,
			   struct err *err)
{
	struct pod_container *c;

	pthread_mutex_lock(&p->lock);
	c = container_find(p, id);
	if (c) {
		bool gone;

		c->refs++; /* holds it while waiting */
		gone = container_claim_locked(p, c) != 0;
		container_put_locked(c);
		if (gone)
			c = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	*out = c;
	return c ? 0 : err_set(err, -ENOENT, "container %s not found", id);
}

static void container_release(struct pods *p, struct pod_container *c)
{
	pthread_mutex_lock(&p->lock);
	c->busy = false;
	pthread_cond_broadcast(&p->cond);
	container_put_locked(c);
	pthread_mutex_unlock(&p->lock);
}

/* ---- accessors ----------------------------------------------------------- */

const char *pod_sandbox_id(const struct pod_sandbox *sb)
{
	return sb->id;
}

const Runtime__V1__PodSandboxConfig *pod_sandbox_config(const struct pod_sandbox *sb)
{
	return sb->cfg;
}

const char *pod_container_id(const struct pod_container *c)
{
	return c->id;
}

const char *pod_container_sandbox_id(const struct pod_container *c)
{
	return c->st.sandbox_id;
}

const Runtime__V1__ContainerConfig *pod_container_config(const struct pod_container *c)
{
	return c->cfg;
}

/* The newest container of a sandbox, under the lock; NULL if none. */
static struct pod_container *newest_container(struct pods *p, const char *sandbox_id)
{
	struct pod_container *last = NULL;

	for (struct pod_container *c = p->containers; c; c = c->next)
		if (!strcmp(c->st.sandbox_id, sandbox_id))
			last = c;
	return last;
}

void pod_sandbox_info(struct pods *p, struct pod_sandbox *sb, struct pod_sandbox_info *out)
{
	struct pod_container *c;

	pthread_mutex_lock(&p->lock);
	out->state = sb->state;
	out->created_at = sb->st.created_at;
	snprintf(out->runtime_handler, sizeof(out->runtime_handler), "%s", sb->st.runtime_handler);
	snprintf(out->netns, sizeof(out->netns), "%s", sb->st.netns);
	c = newest_container(p, sb->id);
	snprintf(out->container_id, sizeof(out->container_id), "%s", c ? c->id : "");
	pthread_mutex_unlock(&p->lock);
}

void pod_container_info(struct pods *p, struct pod_container *c, struct pod_container_info *out)
{
	pthread_mutex_lock(&p->lock);
	out->state = c->state;
	out->created_at = c->st.created_at;
	out->started_at = c->st.started_at;
	out->finished_at = c->st.finished_at;
	out->exit_code = c->st.exit_code;
	snprintf(out->reason, sizeof(out->reason), "%s", c->st.reason);
	snprintf(out->message, sizeof(out->message), "%s", c->st.message);
	snprintf(out->log_path, sizeof(out->log_path), "%s", c->st.log_path);
	snprintf(out->image_id, sizeof(out->image_id), "%s", c->st.image_id);
	snprintf(out->image_ref, sizeof(out->image_ref), "%s", c->st.image_ref);
	snprintf(out->image_name, sizeof(out->image_name), "%s", c->st.image_name);
	pthread_mutex_unlock(&p->lock);
}

int pods_sandbox_list(struct pods *p, struct pod_sandbox ***out, size_t *nr)
{
	size_t n = 0, i = 0;

	pthread_mutex_lock(&p->lock);
	for (struct pod_sandbox *sb = p->sandboxes; sb; sb = sb->next)
		n += !sb->creating;
	*out = malloc((n + 1) * sizeof(**out));
	if (!*out) {
		pthread_mutex_unlock(&p->lock);
		return -ENOMEM;
	}
	for (struct pod_sandbox *sb = p->sandboxes; sb; sb = sb->next)
		if (!sb->creating) {
			sb->refs++;
			(*out)[i++] = sb;
		}
	pthread_mutex_unlock(&p->lock);
	*nr = i;
	return 0;
}

int pods_container_list(struct pods *p, struct pod_container ***out, size_t *nr)
{
	size_t n = 0, i = 0;

	pthread_mutex_lock(&p->lock);
	for (struct pod_container *c = p->containers; c; c = c->next)
		n++;
	*out = malloc((n + 1) * sizeof(**out));
	if (!*out) {
		pthread_mutex_unlock(&p->lock);
		return -ENOMEM;
	}
	for (struct pod_container *c = p->containers; c; c = c->next) {
		c->refs++;
		(*out)[i++] = c;
	}
	pthread_mutex_unlock(&p->lock);
	*nr = i;
	return 0;
}

/* ---- state changes ----------------------------------------------------- */

/* A transition for a record whose busy mark the caller holds; -EBUSY naming the state. */
static int sandbox_step(struct pods *p, struct pod_sandbox *sb, enum sandbox_event ev,
			struct err *err)
{
	enum sandbox_state next;
	char msg[200];
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = sandbox_transition(sb->state, ev, &next, msg, sizeof(msg));
	if (ok) {
		sb->state = next;
		snprintf(sb->st.state, sizeof(sb->st.state), "%s", sandbox_state_name(next));
	}
	pthread_mutex_unlock(&p->lock);
	return ok ? 0 : err_set(err, -EBUSY, "pod sandbox %s: %s", sb->id, msg);
}

static int container_check(struct pods *p, struct pod_container *c, enum container_event ev,
			   enum container_state *next, struct err *err)
{
	char msg[200];
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = container_transition(c->state, ev, next, msg, sizeof(msg));
	pthread_mutex_unlock(&p->lock);
	return ok ? 0 : err_set(err, -EBUSY, "container %s: %s", c->id, msg);
}

/* Under the lock: the state and the exit details from a backend status. */
static void container_set(struct pods *p, struct pod_container *c, enum container_state s,
			  const struct vm_status *vs)
{
	if (s == CONTAINER_EXITED && c->state != CONTAINER_EXITED)
		p->exits++;
	if (s == CONTAINER_RUNNING && c->state != CONTAINER_RUNNING)
		p->starts++;
	c->state = s;
	snprintf(c->st.state, sizeof(c->st.state), "%s", container_state_name(s));
	if (!vs)
		return;
	if (vs->started_at)
		c->st.started_at = vs->started_at;
	if (s == CONTAINER_EXITED) {
		c->st.finished_at = vs->finished_at ? vs->finished_at : now_ns();
		c->st.exit_code = vs->exit_code;
		snprintf(c->st.reason, sizeof(c->st.reason), "%s", vs->reason);
		snprintf(c->st.message, sizeof(c->st.message), "%s", vs->message);
	}
}

/* Writes state.json of a record whose busy mark the caller holds (or at load). */
static void sandbox_persist(struct pods *p, struct pod_sandbox *sb)
{
	struct record_state st;
	struct err err = { 0 };

	pthread_mutex_lock(&p->lock);
	st = sb->st;
	pthread_mutex_unlock(&p->lock);
	if (record_update(p->sb_dir, sb->id, &st, &err))
		log_fields(LOG_ERROR, "cannot save the sandbox's state", "sandbox", sb->id, "error",
			   err.msg, NULL);
}

static void container_persist(struct pods *p, struct pod_container *c)
{
	struct record_state st;
	struct err err = { 0 };

	pthread_mutex_lock(&p->lock);
	st = c->st;
	pthread_mutex_unlock(&p->lock);
	if (record_update(p->ct_dir, c->id, &st, &err))
		log_fields(LOG_ERROR, "cannot save the container's state", "container", c->id,
			   "error", err.msg, NULL);
}

/*
 * After start, and on load: the backend's view decides the state; a VM that
 * is gone is UNKNOWN. Returns whether anything changed.
 */
static bool container_refresh_claimed(struct pods *p, struct pod_container *c)
{
	struct vm_status vs = { 0 };
	struct err err = { 0 };
	enum container_state next;
	int r = p->be.ops->status(p->be.ctx, c->id, &vs, &err);
	enum container_state before;

	pthread_mutex_lock(&p->lock);
	before = c->state;
	if (r == -ENOENT) {
		if (container_transition(c->state, CONTAINER_EV_LOST, &next, NULL, 0) &&
		    next != c->state) {
			container_set(p, c, next, NULL);
			snprintf(c->st.message, sizeof(c->st.message), "the VM is gone: %.200s",
				 err.msg);
		}
	} else if (!r && vs.state == VM_EXITED &&
		   container_transition(c->state, CONTAINER_EV_EXITED, &next, NULL, 0)) {
		container_set(p, c, next, &vs);
	} else if (!r && vs.state == VM_RUNNING && c->state == CONTAINER_CREATED) {
		/* Started, but the agent went down before it recorded so. */
		container_set(p, c, CONTAINER_RUNNING, &vs);
	}
	pthread_mutex_unlock(&p->lock);
	return c->state != before;
}

void pods_container_sync(struct pods *p, struct pod_container *c)
{
	struct vm_status vs = { 0 };
	struct err err = { 0 };
	enum container_state next;
	bool save = false;
	int r;

	pthread_mutex_lock(&p->lock);
	r = c->busy || c->removed ||
	    (c->state != CONTAINER_RUNNING && c->state != CONTAINER_UNKNOWN);
	pthread_mutex_unlock(&p->lock);
	if (r)
		return;
	if (p->be.ops->status(p->be.ctx, c->id, &vs, &err) || vs.state != VM_EXITED)
		return;
	pthread_mutex_lock(&p->lock);
	/* A call that holds the mark will look at the VM itself. */
	if (!c->busy && !c->removed &&
	    container_transition(c->state, CONTAINER_EV_EXITED, &next, NULL, 0)) {
		container_set(p, c, next, &vs);
		c->busy = true;
		c->refs++;
		save = true;
	}
	pthread_mutex_unlock(&p->lock);
	if (!save)
		return;
	log_fields(LOG_INFO, "container exited", "container", c->id, "reason", vs.reason, NULL);
	container_persist(p, c);
	container_release(p, c);
}

int pods_container_vm_status(struct pods *p, struct pod_container *c, struct vm_status *out,
			     struct err *err)
{
	memset(out, 0, sizeof(*out));
	return p->be.ops->status(p->be.ctx, c->id, out, err);
}

/* ---- sandboxes ------------------------------------------------------------ */

static bool same_sandbox_name(const Runtime__V1__PodSandboxMetadata *a,
			      const Runtime__V1__PodSandboxMetadata *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->namespace_, b->namespace_) &&
	       !strcmp(a->uid, b->uid) && a->attempt == b->attempt;
}

static int pack_message(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return -ENOMEM;
	protobuf_c_message_pack(m, *out);
	return 0;
}

/* A fresh id no record has (a collision is 2^-256 unlikely, but cheap to rule out). */
static int new_id(struct pods *p, char id[POD_ID_LEN + 1], struct err *err)
{
	bool taken;
	int r;

	do {
		if ((r = pod_id_new(id)))
			return err_set(err, r, "getrandom: %s", strerror(-r));
		pthread_mutex_lock(&p->lock);
		taken = false;
		for (struct pod_sandbox *sb = p->sandboxes; sb; sb = sb->next)
			taken |= !strcmp(sb->id, id);
		taken |= container_find(p, id) != NULL;
		pthread_mutex_unlock(&p->lock);
	} while (taken);
	return 0;
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
		sandbox_append(p, sb);
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void sandbox_unreserve(struct pods *p, struct pod_sandbox *sb)
{
	pthread_mutex_lock(&p->lock);
	sandbox_unlink(p, sb);
	sandbox_put_locked(sb);
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
	if (pack_message(&cfg->base, &packed, &len))
		return err_set(err, -ENOMEM, "out of memory");
	sb = calloc(1, sizeof(*sb));
	if (sb)
		sb->cfg = runtime__v1__pod_sandbox_config__unpack(NULL, len, packed);
	if (!sb || !sb->cfg) {
		free(packed);
		free(sb);
		return err_set(err, -ENOMEM, "out of memory");
	}
	if ((r = new_id(p, sb->id, err)) || (r = sandbox_reserve(p, sb, err))) {
		free(packed);
		sandbox_free(sb);
		return r;
	}
	sb->state = SANDBOX_READY;
	snprintf(sb->st.state, sizeof(sb->st.state), "%s", sandbox_state_name(SANDBOX_READY));
	snprintf(sb->st.runtime_handler, sizeof(sb->st.runtime_handler), "%s",
		 runtime_handler && *runtime_handler ? runtime_handler : HANDLER_DEFAULT);
	if (host_network(cfg))
		sb->st.netns[0] = '\0'; /* the VM joins the node's network namespace */
	else if (snprintf(sb->st.netns, sizeof(sb->st.netns), "%s/%s", p->netns_dir, sb->id) >=
		 (int)sizeof(sb->st.netns)) {
		sandbox_unreserve(p, sb);
		free(packed);
		return err_set(err, -ENAMETOOLONG, "netns path: too long");
	}
	sb->st.created_at = now_ns();
	/* The record first, so that a crash after the netns leaves a .new- that says where it is. */
	r = p->sys.ops->cgroup_ensure(p->sys.ctx, cgroup_parent ? cgroup_parent : "", err);
	if (!r)
		r = record_create(p->sb_dir, sb->id, packed, len, &sb->st, err);
	free(packed);
	if (!r &&
	    !(r = sb->st.netns[0] ? p->sys.ops->netns_create(p->sys.ctx, sb->st.netns, err) : 0) &&
	    !(r = record_commit(p->sb_dir, sb->id, err))) {
		pthread_mutex_lock(&p->lock);
		sb->creating = false;
		sb->busy = false;
		pthread_cond_broadcast(&p->cond);
		sandbox_put_locked(sb);
		pthread_mutex_unlock(&p->lock);
		snprintf(id, POD_ID_LEN + 1, "%s", sb->id);
		log_fields(LOG_INFO, "pod sandbox ready", "sandbox", id, "pod", cfg->metadata->name,
			   "namespace", cfg->metadata->namespace_, NULL);
		return 0;
	}
	{
		struct err e2 = { 0 };
		char name[POD_ID_LEN + 8];

		if (sb->st.netns[0])
			p->sys.ops->netns_remove(p->sys.ctx, sb->st.netns, &e2);
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

static int stop_claimed(struct pods *p, struct pod_container *c, int64_t timeout_s,
			struct err *err);
static int remove_claimed(struct pods *p, struct pod_container *c, struct err *err);

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
		cr = container_claim_locked(p, c);
		container_put_locked(c); /* the list's reference; a claim holds its own */
		pthread_mutex_unlock(&p->lock);
		if (cr)
			continue; /* removed meanwhile */
		cr = remove ? remove_claimed(p, c, err) : stop_claimed(p, c, 0, err);
		if (cr && !r)
			r = cr;
		container_release(p, c);
	}
	free(list);
	return r;
}

int pods_stop_sandbox(struct pods *p, const char *id, struct err *err)
{
	struct pod_sandbox *sb;
	int r;

	if ((r = sandbox_claim(p, id, &sb, err)))
		return r;
	if ((r = sandbox_each_container(p, sb, false, err)) ||
	    (sb->st.netns[0] && (r = p->sys.ops->netns_remove(p->sys.ctx, sb->st.netns, err))) ||
	    (r = sandbox_step(p, sb, SANDBOX_EV_STOP, err))) {
		sandbox_release(p, sb);
		return r;
	}
	sandbox_persist(p, sb);
	log_fields(LOG_INFO, "pod sandbox stopped", "sandbox", id, NULL);
	sandbox_release(p, sb);
	return 0;
}

int pods_remove_sandbox(struct pods *p, const char *id, struct err *err)
{
	struct pod_sandbox *sb;
	int r;

	if (sandbox_claim(p, id, &sb, err)) {
		memset(err, 0, sizeof(*err));
		return 0; /* already gone: containerd answers OK too */
	}
	if ((r = sandbox_each_container(p, sb, true, err)) ||
	    (sb->st.netns[0] && (r = p->sys.ops->netns_remove(p->sys.ctx, sb->st.netns, err))) ||
	    (r = sandbox_step(p, sb, SANDBOX_EV_REMOVE, err)) ||
	    (r = record_remove(p->sb_dir, sb->id, err))) {
		sandbox_release(p, sb);
		return r;
	}
	pthread_mutex_lock(&p->lock);
	sandbox_unlink(p, sb);
	pthread_mutex_unlock(&p->lock);
	log_fields(LOG_INFO, "pod sandbox removed", "sandbox", id, NULL);
	sandbox_release(p, sb);
	return 0;
}

/* ---- containers ----------------------------------------------------------- */

/*
 * One VM per pod: no container of another name, no second live one; the
 * same name and attempt again is AlreadyExists, as in containerd.
 */
static int one_vm_per_pod(struct pods *p, struct pod_sandbox *sb,
			  const Runtime__V1__ContainerMetadata *m, struct err *err)
{
	int r = 0;

	pthread_mutex_lock(&p->lock);
	for (struct pod_container *c = p->containers; c && !r; c = c->next) {
		const Runtime__V1__ContainerMetadata *o = c->cfg->metadata;

		if (strcmp(c->st.sandbox_id, sb->id))
			continue;
		if (strcmp(o->name, m->name))
			r = err_set(err, -EINVAL,
				    "kvmlet runs one VM per pod: pod sandbox %s already has "
				    "container \"%s\", so \"%s\" cannot be added (init and sidecar "
				    "containers are not supported)",
				    sb->id, o->name, m->name);
		else if (o->attempt == m->attempt)
			r = err_set(err, -EEXIST,
				    "container name \"%s\" attempt %u is already used by %s",
				    m->name, m->attempt, c->id);
		else if (c->state != CONTAINER_EXITED)
			r = err_set(err, -EINVAL,
				    "kvmlet runs one VM per pod: container %s (\"%s\") is still %s",
				    c->id, o->name, container_state_name(c->state));
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

/* containerd's image_ref: a repo digest when the image has one, else its id. */
static void image_ref_of(const struct store_image *img, char *out, size_t cap)
{
	snprintf(out, cap, "%s", img->nr_repo_digests ? img->repo_digests[0] : img->id);
}

static int create_claimed(struct pods *p, struct pod_sandbox *sb,
			  const Runtime__V1__ContainerConfig *cfg, struct pod_container *c,
			  struct err *err)
{
	struct store_image img;
	char image_dir[PATH_MAX], name[POD_ID_LEN + 8];
	struct err e2 = { 0 };
	uint8_t *packed = NULL;
	size_t len;
	int r;

	if ((r = sandbox_step(p, sb, SANDBOX_EV_ADD_CONTAINER, err)) ||
	    (r = one_vm_per_pod(p, sb, cfg->metadata, err)))
		return r;
	r = p->sys.ops->image_get(p->sys.ctx, cfg->image->image, &img, image_dir, sizeof(image_dir),
				  err);
	if (r == -ENOENT || r == -EINVAL || r == -ENOTUNIQ)
		return err_set(err, r == -ENOTUNIQ ? -EINVAL : -ENOENT,
			       "image \"%.200s\" not found (pull it first)", cfg->image->image);
	if (r)
		return r;
	snprintf(c->st.image_id, sizeof(c->st.image_id), "%s", img.id);
	image_ref_of(&img, c->st.image_ref, sizeof(c->st.image_ref));
	snprintf(c->st.image_name, sizeof(c->st.image_name), "%s",
		 img.nr_repo_tags ? img.repo_tags[0] : "");
	r = pod_log_path(sb->cfg->log_directory, cfg->log_path, c->st.log_path,
			 sizeof(c->st.log_path), err);
	if (!r && pack_message(&cfg->base, &packed, &len))
		r = err_set(err, -ENOMEM, "out of memory");
	if (!r)
		c->cfg = runtime__v1__container_config__unpack(NULL, len, packed);
	if (!r && !c->cfg)
		r = err_set(err, -ENOMEM, "out of memory");
	if (!r)
		r = record_create(p->ct_dir, c->id, packed, len, &c->st, err);
	free(packed);
	if (r) {
		p->sys.ops->image_put(p->sys.ctx, &img);
		return r;
	}
	r = p->be.ops->create(
		p->be.ctx,
		&(struct vm_request){
			.id = c->id,
			.sandbox_id = sb->id,
			.netns_path = sb->st.netns,
			.cgroup_parent = sb->cfg->linux && sb->cfg->linux->cgroup_parent
						 ? sb->cfg->linux->cgroup_parent
						 : "",
			.log_path = c->st.log_path,
			.sandbox = sb->cfg,
			.config = c->cfg,
			.image = &img,
			.image_dir = image_dir,
		},
		err);
	p->sys.ops->image_put(p->sys.ctx, &img);
	if (!r)
		r = record_commit(p->ct_dir, c->id, err);
	if (r) {
		p->be.ops->remove(p->be.ctx, c->id, &e2);
		snprintf(name, sizeof(name), ".new-%s", c->id);
		record_discard(p->ct_dir, name, &e2);
	}
	return r;
}

int pods_create_container(struct pods *p, const char *sandbox_id,
			  const Runtime__V1__ContainerConfig *cfg, char id[POD_ID_LEN + 1],
			  struct err *err)
{
	struct pod_sandbox *sb;
	struct pod_container *c;
	int r;

	if ((r = pod_check_container_config(cfg, err)))
		return r;
	if ((r = sandbox_claim(p, sandbox_id, &sb, err)))
		return r;
	c = calloc(1, sizeof(*c));
	if (!c) {
		sandbox_release(p, sb);
		return err_set(err, -ENOMEM, "out of memory");
	}
	c->state = CONTAINER_CREATED;
	snprintf(c->st.state, sizeof(c->st.state), "%s", container_state_name(c->state));
	snprintf(c->st.sandbox_id, sizeof(c->st.sandbox_id), "%s", sb->id);
	c->st.created_at = now_ns();
	if ((r = new_id(p, c->id, err)) || (r = create_claimed(p, sb, cfg, c, err))) {
		container_free(c);
		sandbox_release(p, sb);
		return r;
	}
	pthread_mutex_lock(&p->lock);
	container_append(p, c);
	pthread_mutex_unlock(&p->lock);
	snprintf(id, POD_ID_LEN + 1, "%s", c->id);
	log_fields(LOG_INFO, "container created", "container", id, "sandbox", sb->id, "name",
		   cfg->metadata->name, NULL);
	sandbox_release(p, sb);
	return 0;
}

int pods_start_container(struct pods *p, const char *id, struct err *err)
{
	struct pod_container *c;
	enum container_state next;
	int r;

	if ((r = container_claim(p, id, &c, err)))
		return r;
	if (!(r = container_check(p, c, CONTAINER_EV_START, &next, err)))
		r = p->be.ops->start(p->be.ctx, c->id, err);
	if (!r) {
		pthread_mutex_lock(&p->lock);
		container_set(p, c, CONTAINER_RUNNING, NULL);
		c->st.started_at = now_ns();
		pthread_mutex_unlock(&p->lock);
	}
	/* The backend's own times and, after a failed start, how the VM ended. */
	container_refresh_claimed(p, c);
	container_persist(p, c);
	if (!r)
		log_fields(LOG_INFO, "container started", "container", id, NULL);
	container_release(p, c);
	return r;
}

static int stop_claimed(struct pods *p, struct pod_container *c, int64_t timeout_s, struct err *err)
{
	enum container_state next;
	struct vm_status vs = { 0 };
	struct err e2 = { 0 };
	int r;

	if ((r = container_check(p, c, CONTAINER_EV_STOP, &next, err)))
		return r;
	if (next == c->state)
		return 0; /* created or exited: nothing runs */
	if ((r = p->be.ops->stop(p->be.ctx, c->id, timeout_s, err)) && r != -ENOENT)
		return r;
	r = p->be.ops->status(p->be.ctx, c->id, &vs, &e2);
	pthread_mutex_lock(&p->lock);
	if (r || vs.state != VM_EXITED) {
		/* No VM to ask: it ended without telling how. */
		memset(&vs, 0, sizeof(vs));
		vs.exit_code = 255;
		snprintf(vs.reason, sizeof(vs.reason), "Unknown");
		snprintf(vs.message, sizeof(vs.message), "the VM's exit was not recorded");
	}
	container_set(p, c, CONTAINER_EXITED, &vs);
	pthread_mutex_unlock(&p->lock);
	container_persist(p, c);
	return 0;
}

int pods_stop_container(struct pods *p, const char *id, int64_t timeout_s, struct err *err)
{
	struct pod_container *c;
	int r;

	if ((r = container_claim(p, id, &c, err)))
		return r;
	r = stop_claimed(p, c, timeout_s < 0 ? 0 : timeout_s, err);
	if (!r)
		log_fields(LOG_INFO, "container stopped", "container", id, NULL);
	container_release(p, c);
	return r;
}

static int remove_claimed(struct pods *p, struct pod_container *c, struct err *err)
{
	int r;

	if ((r = p->be.ops->remove(p->be.ctx, c->id, err)) ||
	    (r = record_remove(p->ct_dir, c->id, err)))
		return r;
	pthread_mutex_lock(&p->lock);
	if (c->state == CONTAINER_RUNNING)
		p->exits++;
	c->state = CONTAINER_REMOVED;
	container_unlink(p, c);
	pthread_mutex_unlock(&p->lock);
	log_fields(LOG_INFO, "container removed", "container", c->id, NULL);
	return 0;
}

int pods_remove_container(struct pods *p, const char *id, struct err *err)
{
	struct pod_container *c;
	int r;

	if (container_claim(p, id, &c, err)) {
		memset(err, 0, sizeof(*err));
		return 0; /* api.proto: removing a removed container is no error */
	}
	r = remove_claimed(p, c, err);
	container_release(p, c);
	return r;
}

int pods_reopen_log(struct pods *p, const char *id, struct err *err)
{
	enum container_state next;
	struct pod_container *c;
	int r;

	if ((r = container_claim(p, id, &c, err)))
		return r;
	if (!(r = container_check(p, c, CONTAINER_EV_REOPEN_LOG, &next, err)))
		r = p->be.ops->reopen_log(p->be.ctx, c->id, err);
	container_release(p, c);
	return r;
}

int pods_exec(struct pods *p, const char *id, const char *const *argv, size_t argc,
	      int64_t timeout_s, size_t cap, struct vm_exec_result *out, struct err *err)
{
	enum container_state next;
	struct pod_container *c;
	int r;

	memset(out, 0, sizeof(*out));
	if (!argc)
		return err_set(err, -EINVAL, "cmd: empty");
	if ((r = pods_container_get(p, id, &c, err)))
		return r;
	pods_container_sync(p, c);
	if (!(r = container_check(p, c, CONTAINER_EV_EXEC, &next, err)))
		r = p->be.ops->exec(p->be.ctx, c->id, argv, argc,
				    timeout_s > 0 ? timeout_s * 1000 : 0, cap, out, err);
	pods_container_put(p, c);
	return r;
}

/* usage_nano_cores from this sample and the previous one, as containerd computes it. */
static uint64_t nano_cores(struct sample *prev, const struct vm_stats *now)
{
	uint64_t v = 0;

	if (prev->ts && now->timestamp > prev->ts && now->cpu_usage_ns >= prev->cpu_ns)
		v = (uint64_t)((double)(now->cpu_usage_ns - prev->cpu_ns) * 1e9 /
			       (double)(now->timestamp - prev->ts));
	prev->ts = now->timestamp;
	prev->cpu_ns = now->cpu_usage_ns;
	return v;
}

int pods_container_stats(struct pods *p, struct pod_container *c, struct pod_stats *out,
			 struct err *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = p->be.ops->stats(p->be.ctx, c->id, &out->vm, err)))
		return r;
	pthread_mutex_lock(&p->lock);
	out->nano_cores = nano_cores(&c->prev, &out->vm);
	pthread_mutex_unlock(&p->lock);
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
		out->timestamp = now_ns();
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
	out->nano_cores = nano_cores(&sb->prev, &out->vm);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

bool pods_image_in_use(struct pods *p, const char *image_id)
{
	bool used = false;

	pthread_mutex_lock(&p->lock);
	for (struct pod_container *c = p->containers; c && !used; c = c->next)
		used = !strcmp(c->st.image_id, image_id);
	pthread_mutex_unlock(&p->lock);
	return used;
}

void pods_counts(struct pods *p, struct pods_counts *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&p->lock);
	for (struct pod_sandbox *sb = p->sandboxes; sb; sb = sb->next)
		if (!sb->creating)
			out->sandboxes[sb->state]++;
	for (struct pod_container *c = p->containers; c; c = c->next)
		out->containers[c->state]++;
	out->starts = p->starts;
	out->exits = p->exits;
	pthread_mutex_unlock(&p->lock);
}

/* ---- open: load, repair, re-adopt ---------------------------------------- */

static void log_record(const char *msg, const char *kind, const char *id, const struct err *e)
{
	log_fields(LOG_WARN, msg, kind, id, "error", e ? e->msg : "", NULL);
}

/* A .new- or .del- sandbox left by a crash: its netns goes, then the directory. */
static void sandbox_leftover(struct pods *p, const char *name)
{
	struct record_state st;
	struct err err = { 0 };
	uint8_t *cfg = NULL;
	size_t len;

	if (!record_load(p->sb_dir, name, &cfg, &len, &st, &err) && st.netns[0])
		p->sys.ops->netns_remove(p->sys.ctx, st.netns, &err);
	free(cfg);
	log_record("rolling back an unfinished pod sandbox", "record", name, NULL);
	memset(&err, 0, sizeof(err));
	if (record_discard(p->sb_dir, name, &err))
		log_record("cannot remove a record", "record", name, &err);
}

static void sandbox_load(struct pods *p, const char *id)
{
	struct pod_sandbox *sb = calloc(1, sizeof(*sb));
	struct err err = { 0 };
	uint8_t *cfg = NULL;
	size_t len;
	int s;

	if (!sb || record_load(p->sb_dir, id, &cfg, &len, &sb->st, &err)) {
		log_record("cannot load a pod sandbox; left as it is", "sandbox", id, &err);
		free(sb);
		return;
	}
	sb->cfg = runtime__v1__pod_sandbox_config__unpack(NULL, len, cfg);
	free(cfg);
	s = sandbox_state_parse(sb->st.state);
	if (!sb->cfg || pod_check_sandbox_config(sb->cfg, &err) || s < 0 || s == SANDBOX_REMOVED) {
		log_record("a pod sandbox record is damaged; left as it is", "sandbox", id, &err);
		sandbox_free(sb);
		return;
	}
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	sb->state = (enum sandbox_state)s;
	if (sb->state == SANDBOX_READY && sb->st.netns[0] &&
	    !p->sys.ops->netns_alive(p->sys.ctx, sb->st.netns)) {
		/* A reboot took the namespace: kubelet makes a new sandbox. */
		sb->state = SANDBOX_NOTREADY;
		snprintf(sb->st.state, sizeof(sb->st.state), "%s", sandbox_state_name(sb->state));
		sandbox_persist(p, sb);
		log_fields(LOG_WARN, "pod sandbox lost its network namespace", "sandbox", id, NULL);
	}
	sandbox_append(p, sb);
}

static void container_leftover(struct pods *p, const char *name, const char *id)
{
	struct err err = { 0 };

	log_record("rolling back an unfinished container", "record", name, NULL);
	if (p->be.ops->remove(p->be.ctx, id, &err) || record_discard(p->ct_dir, name, &err))
		log_record("cannot roll back a container", "record", name, &err);
}

static void container_load(struct pods *p, const char *id)
{
	struct pod_container *c = calloc(1, sizeof(*c));
	struct err err = { 0 };
	uint8_t *cfg = NULL;
	size_t len;
	int s;

	if (!c || record_load(p->ct_dir, id, &cfg, &len, &c->st, &err)) {
		log_record("cannot load a container; left as it is", "container", id, &err);
		free(c);
		return;
	}
	c->cfg = runtime__v1__container_config__unpack(NULL, len, cfg);
	free(cfg);
	s = container_state_parse(c->st.state);
	if (!c->cfg || pod_check_container_config(c->cfg, &err) || s < 0 ||
	    s == CONTAINER_REMOVED) {
		log_record("a container record is damaged; left as it is", "container", id, &err);
		container_free(c);
		return;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->state = (enum container_state)s;
	if (!sandbox_find(p, c->st.sandbox_id)) {
		/* Its sandbox was being removed when the agent stopped: finish that. */
		log_record("removing a container whose sandbox is gone", "container", id, NULL);
		if (p->be.ops->remove(p->be.ctx, id, &err) || record_remove(p->ct_dir, id, &err))
			log_record("cannot remove a container", "container", id, &err);
		container_free(c);
		return;
	}
	container_append(p, c);
	/* The VM may have ended, or started, while the agent was away. */
	if (container_refresh_claimed(p, c))
		container_persist(p, c);
}

typedef void dir_fn(struct pods *p, const char *name, enum record_kind kind, const char *id);

static int scan(struct pods *p, const char *dir, dir_fn *fn, struct err *err)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0)
		return err_set(err, -errno, "%s: %m", dir);
	for (int i = 0; i < n; i++) {
		const char *id = NULL;
		enum record_kind k = record_kind(names[i]->d_name, &id);

		if (k != RECORD_OTHER)
			fn(p, names[i]->d_name, k, id);
		free(names[i]);
	}
	free(names);
	return 0;
}

static void sandbox_entry(struct pods *p, const char *name, enum record_kind kind, const char *id)
{
	if (kind == RECORD_LIVE)
		sandbox_load(p, id);
	else
		sandbox_leftover(p, name);
}

static void container_entry(struct pods *p, const char *name, enum record_kind kind, const char *id)
{
	if (kind == RECORD_LIVE)
		container_load(p, id);
	else
		container_leftover(p, name, id);
}

/* scandir gives names in alphabetical order; records keep creation order. */
static void sort_by_creation(struct pods *p)
{
	bool moved = true;

	while (moved) {
		moved = false;
		for (struct pod_sandbox **pp = &p->sandboxes; *pp && (*pp)->next;
		     pp = &(*pp)->next) {
			struct pod_sandbox *a = *pp, *b = a->next;

			if (a->st.created_at > b->st.created_at) {
				a->next = b->next;
				b->next = a;
				*pp = b;
				moved = true;
			}
		}
		for (struct pod_container **pp = &p->containers; *pp && (*pp)->next;
		     pp = &(*pp)->next) {
			struct pod_container *a = *pp, *b = a->next;

			if (a->st.created_at > b->st.created_at) {
				a->next = b->next;
				b->next = a;
				*pp = b;
				moved = true;
			}
		}
	}
}

/* VMs the backend has that no container record knows: a create the agent never finished. */
static void remove_orphan_vms(struct pods *p)
{
	struct err err = { 0 };
	char **ids = NULL;
	size_t n = 0;

	if (p->be.ops->list(p->be.ctx, &ids, &n, &err)) {
		log_fields(LOG_WARN, "cannot list the VMs", "error", err.msg, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!container_find(p, ids[i])) {
			log_fields(LOG_WARN, "removing a VM no container owns", "vm", ids[i], NULL);
			memset(&err, 0, sizeof(err));
			if (p->be.ops->remove(p->be.ctx, ids[i], &err))
				log_fields(LOG_WARN, "cannot remove a VM", "vm", ids[i], "error",
					   err.msg, NULL);
		}
		free(ids[i]);
	}
	free(ids);
}

int pods_open(const struct pods_options *opt, struct pods **out, struct err *err)
{
	struct pods *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->be = opt->backend;
	p->sys = opt->sys;
	if (snprintf(p->sb_dir, sizeof(p->sb_dir), "%s/sandboxes", opt->root) >=
		    (int)sizeof(p->sb_dir) ||
	    snprintf(p->ct_dir, sizeof(p->ct_dir), "%s/containers", opt->root) >=
		    (int)sizeof(p->ct_dir) ||
	    snprintf(p->netns_dir, sizeof(p->netns_dir), "%s", opt->netns_dir) >=
		    (int)sizeof(p->netns_dir)) {
		pods_close(p);
		return err_set(err, -ENAMETOOLONG, "%s: too long", opt->root);
	}
	if ((r = mkdir_p(p->sb_dir, 0700)) || (r = mkdir_p(p->ct_dir, 0700))) {
		err_set(err, r, "%s: cannot create it: %s", opt->root, strerror(-r));
		pods_close(p);
		return r;
	}
	/* Loading runs before any call: the lock is only for the helpers' sake. */
	if ((r = scan(p, p->sb_dir, sandbox_entry, err)) ||
	    (r = scan(p, p->ct_dir, container_entry, err))) {
		pods_close(p);
		return r;
	}
	sort_by_creation(p);
	remove_orphan_vms(p);
	*out = p;
	return 0;
}

void pods_close(struct pods *p)
{
	if (!p)
		return;
	while (p->containers) {
		struct pod_container *c = p->containers;

		p->containers = c->next;
		container_free(c);
	}
	while (p->sandboxes) {
		struct pod_sandbox *sb = p->sandboxes;

		p->sandboxes = sb->next;
		sandbox_free(sb);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
