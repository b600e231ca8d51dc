// SPDX-License-Identifier: Apache-2.0
/* The pod layer's records, busy marks and state changes (pods.h, pods_priv.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/pod/pods_priv.h"
#include "lib/log.h"

int64_t pods_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- records in memory --------------------------------------------------- */

void pods_sandbox_free(struct pod_sandbox *sb)
{
	if (sb->cfg)
		protobuf_c_message_free_unpacked(&sb->cfg->base, NULL);
	free(sb);
}

void pods_container_free(struct pod_container *c)
{
	if (c->cfg)
		protobuf_c_message_free_unpacked(&c->cfg->base, NULL);
	free(c);
}

struct pod_sandbox *pods_sandbox_find(struct pods *p, const char *id)
{
	for (struct pod_sandbox *sb = p->sandboxes; sb; sb = sb->next)
		if (!sb->creating && !strcmp(sb->id, id))
			return sb;
	return NULL;
}

struct pod_container *pods_container_find(struct pods *p, const char *id)
{
	for (struct pod_container *c = p->containers; c; c = c->next)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

void pods_sandbox_append(struct pods *p, struct pod_sandbox *sb)
{
	struct pod_sandbox **pp = &p->sandboxes;

	while (*pp)
		pp = &(*pp)->next;
	*pp = sb;
}

void pods_container_append(struct pods *p, struct pod_container *c)
{
	struct pod_container **pp = &p->containers;

	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
}

/* Under the lock: out of the list; freed once the last reference goes. */
void pods_sandbox_unlink(struct pods *p, struct pod_sandbox *sb)
{
	for (struct pod_sandbox **pp = &p->sandboxes; *pp; pp = &(*pp)->next)
		if (*pp == sb) {
			*pp = sb->next;
			break;
		}
	sb->removed = true;
	pthread_cond_broadcast(&p->cond);
}

void pods_container_unlink(struct pods *p, struct pod_container *c)
{
	for (struct pod_container **pp = &p->containers; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	c->removed = true;
	pthread_cond_broadcast(&p->cond);
}

void pods_sandbox_put_locked(struct pod_sandbox *sb)
{
	if (!--sb->refs && sb->removed)
		pods_sandbox_free(sb);
}

void pods_container_put_locked(struct pod_container *c)
{
	if (!--c->refs && c->removed)
		pods_container_free(c);
}

void pods_sandbox_put(struct pods *p, struct pod_sandbox *sb)
{
	if (!sb)
		return;
	pthread_mutex_lock(&p->lock);
	pods_sandbox_put_locked(sb);
	pthread_mutex_unlock(&p->lock);
}

void pods_container_put(struct pods *p, struct pod_container *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&p->lock);
	pods_container_put_locked(c);
	pthread_mutex_unlock(&p->lock);
}

int pods_sandbox_get(struct pods *p, const char *id, struct pod_sandbox **out, struct err *err)
{
	struct pod_sandbox *sb;

	pthread_mutex_lock(&p->lock);
	sb = pods_sandbox_find(p, id);
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
	c = pods_container_find(p, id);
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
int pods_sandbox_claim(struct pods *p, const char *id, struct pod_sandbox **out, struct err *err)
{
	struct pod_sandbox *sb;

	pthread_mutex_lock(&p->lock);
	sb = pods_sandbox_find(p, id);
	if (sb) {
		sb->refs++;
		while (sb->busy && !sb->removed)
			pthread_cond_wait(&p->cond, &p->lock);
		if (sb->removed) {
			pods_sandbox_put_locked(sb);
			sb = NULL;
		} else {
			sb->busy = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	*out = sb;
	return sb ? 0 : err_set(err, -ENOENT, "pod sandbox %s not found", id);
}

void pods_sandbox_release(struct pods *p, struct pod_sandbox *sb)
{
	pthread_mutex_lock(&p->lock);
	sb->busy = false;
	pthread_cond_broadcast(&p->cond);
	pods_sandbox_put_locked(sb);
	pthread_mutex_unlock(&p->lock);
}

/* The caller holds a reference; on success the claim takes one of its own. */
int pods_container_claim_locked(struct pods *p, struct pod_container *c)
{
	while (c->busy && !c->removed)
		pthread_cond_wait(&p->cond, &p->lock);
	if (c->removed)
		return -ENOENT;
	c->busy = true;
	c->refs++;
	return 0;
}

int pods_container_claim(struct pods *p, const char *id, struct pod_container **out,
			 struct err *err)
{
	struct pod_container *c;

	pthread_mutex_lock(&p->lock);
	c = pods_container_find(p, id);
	if (c) {
		bool gone;

		c->refs++; /* holds it while waiting */
		gone = pods_container_claim_locked(p, c) != 0;
		pods_container_put_locked(c);
		if (gone)
			c = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	*out = c;
	return c ? 0 : err_set(err, -ENOENT, "container %s not found", id);
}

void pods_container_release(struct pods *p, struct pod_container *c)
{
	pthread_mutex_lock(&p->lock);
	c->busy = false;
	pthread_cond_broadcast(&p->cond);
	pods_container_put_locked(c);
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
int pods_sandbox_step(struct pods *p, struct pod_sandbox *sb, enum sandbox_event ev,
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

int pods_container_check(struct pods *p, struct pod_container *c, enum container_event ev,
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
void pods_container_set(struct pods *p, struct pod_container *c, enum container_state s,
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
		c->st.finished_at = vs->finished_at ? vs->finished_at : pods_now_ns();
		c->st.exit_code = vs->exit_code;
		snprintf(c->st.reason, sizeof(c->st.reason), "%s", vs->reason);
		snprintf(c->st.message, sizeof(c->st.message), "%s", vs->message);
	}
}

/* Writes state.json of a record whose busy mark the caller holds (or at load). */
void pods_sandbox_persist(struct pods *p, struct pod_sandbox *sb)
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

void pods_container_persist(struct pods *p, struct pod_container *c)
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
bool pods_container_refresh(struct pods *p, struct pod_container *c)
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
			pods_container_set(p, c, next, NULL);
			snprintf(c->st.message, sizeof(c->st.message), "the VM is gone: %.200s",
				 err.msg);
		}
	} else if (!r && vs.state == VM_EXITED &&
		   container_transition(c->state, CONTAINER_EV_EXITED, &next, NULL, 0)) {
		pods_container_set(p, c, next, &vs);
	} else if (!r && vs.state == VM_RUNNING && c->state == CONTAINER_CREATED) {
		/* Started, but the agent went down before it recorded so. */
		pods_container_set(p, c, CONTAINER_RUNNING, &vs);
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
		pods_container_set(p, c, next, &vs);
		c->busy = true;
		c->refs++;
		save = true;
	}
	pthread_mutex_unlock(&p->lock);
	if (!save)
		return;
	log_fields(LOG_INFO, "container exited", "container", c->id, "reason", vs.reason, NULL);
	pods_container_persist(p, c);
	pods_container_release(p, c);
}

int pods_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	*out = malloc(*len ? *len : 1);
	if (!*out)
		return -ENOMEM;
	protobuf_c_message_pack(m, *out);
	return 0;
}

/* A fresh id no record has (a collision is 2^-256 unlikely, but cheap to rule out). */
int pods_new_id(struct pods *p, char id[POD_ID_LEN + 1], struct err *err)
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
		taken |= pods_container_find(p, id) != NULL;
		pthread_mutex_unlock(&p->lock);
	} while (taken);
	return 0;
}

int pods_container_vm_status(struct pods *p, struct pod_container *c, struct vm_status *out,
			     struct err *err)
{
	memset(out, 0, sizeof(*out));
	return p->be.ops->status(p->be.ctx, c->id, out, err);
}

/* usage_nano_cores from this sample and the previous one, as containerd computes it. */
uint64_t pods_nano_cores(struct sample *prev, const struct vm_stats *now)
{
	uint64_t v = 0;

	if (prev->ts && now->timestamp > prev->ts && now->cpu_usage_ns >= prev->cpu_ns)
		v = (uint64_t)((double)(now->cpu_usage_ns - prev->cpu_ns) * 1e9 /
			       (double)(now->timestamp - prev->ts));
	prev->ts = now->timestamp;
	prev->cpu_ns = now->cpu_usage_ns;
	return v;
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
