// SPDX-License-Identifier: Apache-2.0
/* pods_open(): records loaded back, crash leftovers finished, VMs re-adopted (pods.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pod/check.h"
#include "agent/pod/pods_priv.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"

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

	if (!record_load(p->sb_dir, name, &cfg, &len, &st, &err) && st.netns[0]) {
		/* The record's name is .new-<id> or .del-<id>: the CNI knows it by <id>. */
		const char *dash = strchr(name + 1, '-');

		if (dash && pods_net_del(p, dash + 1, st.netns, NULL, &err))
			log_record("CNI DEL of an unfinished pod sandbox failed", "record", name,
				   &err);
		memset(&err, 0, sizeof(err));
		p->sys.ops->netns_remove(p->sys.ctx, st.netns, &err);
	}
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
		pods_sandbox_free(sb);
		return;
	}
	snprintf(sb->id, sizeof(sb->id), "%s", id);
	sb->state = (enum sandbox_state)s;
	if (sb->state == SANDBOX_READY && sb->st.netns[0] &&
	    !p->sys.ops->netns_alive(p->sys.ctx, sb->st.netns)) {
		/* A reboot took the namespace: kubelet makes a new sandbox. */
		sb->state = SANDBOX_NOTREADY;
		/* What the CNI holds outside the namespace (leases, rules) goes now. */
		if (pods_net_del(p, id, sb->st.netns, sb->cfg, &err))
			log_record("CNI DEL of a pod sandbox that lost its namespace failed",
				   "sandbox", id, &err);
		snprintf(sb->st.state, sizeof(sb->st.state), "%s", sandbox_state_name(sb->state));
		pods_sandbox_persist(p, sb);
		log_fields(LOG_WARN, "pod sandbox lost its network namespace", "sandbox", id, NULL);
	}
	pods_sandbox_append(p, sb);
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
		pods_container_free(c);
		return;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->state = (enum container_state)s;
	if (!pods_sandbox_find(p, c->st.sandbox_id)) {
		/* Its sandbox was being removed when the agent stopped: finish that. */
		log_record("removing a container whose sandbox is gone", "container", id, NULL);
		if (p->be.ops->remove(p->be.ctx, id, &err) || record_remove(p->ct_dir, id, &err))
			log_record("cannot remove a container", "container", id, &err);
		pods_container_free(c);
		return;
	}
	pods_container_append(p, c);
	/* The VM may have ended, or started, while the agent was away. */
	if (pods_container_refresh(p, c))
		pods_container_persist(p, c);
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
		if (!pods_container_find(p, ids[i])) {
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
		pods_container_free(c);
	}
	while (p->sandboxes) {
		struct pod_sandbox *sb = p->sandboxes;

		p->sandboxes = sb->next;
		pods_sandbox_free(sb);
	}
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
