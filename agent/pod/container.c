// SPDX-License-Identifier: Apache-2.0
/* CreateContainer and the container calls (pods.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>

#include "agent/image/store.h"
#include "agent/pod/check.h"
#include "agent/pod/logpath.h"
#include "agent/pod/pods_priv.h"
#include "lib/log.h"

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

	if ((r = pods_sandbox_step(p, sb, SANDBOX_EV_ADD_CONTAINER, err)) ||
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
	if (!r && pods_pack(&cfg->base, &packed, &len))
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
	/* The pod's network, if the CNI gave it one: the VM takes eth0's place. */
	char kargs[512], netcfg[4096];
	bool net = sb->st.netns[0] && p->sys.ops->net_guest &&
		   !p->sys.ops->net_guest(p->sys.ctx, sb->id, sb->st.netns, kargs, sizeof(kargs),
					  netcfg, sizeof(netcfg));

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
			/* The backend opens the log beneath the directory itself (no TOCTOU). */
			.log_directory = c->st.log_path[0] ? sb->cfg->log_directory : NULL,
			.log_relpath = c->st.log_path[0] ? cfg->log_path : NULL,
			.sandbox = sb->cfg,
			.config = c->cfg,
			.image = &img,
			.image_dir = image_dir,
			.tap_name = net ? "tap0" : NULL,
			.kernel_ip_arg = net ? kargs : NULL,
			.network_config = net ? netcfg : NULL,
		},
		err);
	p->sys.ops->image_put(p->sys.ctx, &img);
	/* DHCP is for guests that ask; ip= has told the others already, so a failure only warns. */
	if (!r && net && p->sys.ops->net_dhcp_start &&
	    p->sys.ops->net_dhcp_start(p->sys.ctx, sb->id, sb->st.netns, &e2)) {
		log_fields(LOG_WARN, "no DHCP for the VM", "container", c->id, "error", e2.msg,
			   NULL);
		memset(&e2, 0, sizeof(e2));
	}
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
	if ((r = pods_sandbox_claim(p, sandbox_id, &sb, err)))
		return r;
	c = calloc(1, sizeof(*c));
	if (!c) {
		pods_sandbox_release(p, sb);
		return err_set(err, -ENOMEM, "out of memory");
	}
	c->state = CONTAINER_CREATED;
	snprintf(c->st.state, sizeof(c->st.state), "%s", container_state_name(c->state));
	snprintf(c->st.sandbox_id, sizeof(c->st.sandbox_id), "%s", sb->id);
	c->st.created_at = pods_now_ns();
	if ((r = pods_new_id(p, c->id, err)) || (r = create_claimed(p, sb, cfg, c, err))) {
		pods_container_free(c);
		pods_sandbox_release(p, sb);
		return r;
	}
	pthread_mutex_lock(&p->lock);
	pods_container_append(p, c);
	pthread_mutex_unlock(&p->lock);
	snprintf(id, POD_ID_LEN + 1, "%s", c->id);
	log_fields(LOG_INFO, "container created", "container", id, "sandbox", sb->id, "name",
		   cfg->metadata->name, NULL);
	pods_sandbox_release(p, sb);
	return 0;
}

int pods_start_container(struct pods *p, const char *id, struct err *err)
{
	struct pod_container *c;
	enum container_state next;
	int r;

	if ((r = pods_container_claim(p, id, &c, err)))
		return r;
	if (!(r = pods_container_check(p, c, CONTAINER_EV_START, &next, err)))
		r = p->be.ops->start(p->be.ctx, c->id, err);
	if (!r) {
		pthread_mutex_lock(&p->lock);
		pods_container_set(p, c, CONTAINER_RUNNING, NULL);
		c->st.started_at = pods_now_ns();
		pthread_mutex_unlock(&p->lock);
	}
	/* The backend's own times and, after a failed start, how the VM ended. */
	pods_container_refresh(p, c);
	pods_container_persist(p, c);
	if (!r)
		log_fields(LOG_INFO, "container started", "container", id, NULL);
	pods_container_release(p, c);
	return r;
}

int pods_stop_claimed(struct pods *p, struct pod_container *c, int64_t timeout_s, struct err *err)
{
	enum container_state next;
	struct vm_status vs = { 0 };
	struct err e2 = { 0 };
	int r;

	if ((r = pods_container_check(p, c, CONTAINER_EV_STOP, &next, err)))
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
	pods_container_set(p, c, CONTAINER_EXITED, &vs);
	pthread_mutex_unlock(&p->lock);
	pods_container_persist(p, c);
	return 0;
}

int pods_stop_container(struct pods *p, const char *id, int64_t timeout_s, struct err *err)
{
	struct pod_container *c;
	int r;

	if ((r = pods_container_claim(p, id, &c, err)))
		return r;
	r = pods_stop_claimed(p, c, timeout_s < 0 ? 0 : timeout_s, err);
	if (!r)
		log_fields(LOG_INFO, "container stopped", "container", id, NULL);
	pods_container_release(p, c);
	return r;
}

int pods_remove_claimed(struct pods *p, struct pod_container *c, struct err *err)
{
	int r;

	if ((r = p->be.ops->remove(p->be.ctx, c->id, err)) ||
	    (r = record_remove(p->ct_dir, c->id, err)))
		return r;
	pthread_mutex_lock(&p->lock);
	if (c->state == CONTAINER_RUNNING)
		p->exits++;
	c->state = CONTAINER_REMOVED;
	pods_container_unlink(p, c);
	pthread_mutex_unlock(&p->lock);
	log_fields(LOG_INFO, "container removed", "container", c->id, NULL);
	return 0;
}

int pods_remove_container(struct pods *p, const char *id, struct err *err)
{
	struct pod_container *c;
	int r;

	if (pods_container_claim(p, id, &c, err)) {
		memset(err, 0, sizeof(*err));
		return 0; /* api.proto: removing a removed container is no error */
	}
	r = pods_remove_claimed(p, c, err);
	pods_container_release(p, c);
	return r;
}

int pods_reopen_log(struct pods *p, const char *id, struct err *err)
{
	enum container_state next;
	struct pod_container *c;
	int r;

	if ((r = pods_container_claim(p, id, &c, err)))
		return r;
	if (!(r = pods_container_check(p, c, CONTAINER_EV_REOPEN_LOG, &next, err)))
		r = p->be.ops->reopen_log(p->be.ctx, c->id, err);
	pods_container_release(p, c);
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
	if (!(r = pods_container_check(p, c, CONTAINER_EV_EXEC, &next, err)))
		r = p->be.ops->exec(p->be.ctx, c->id, argv, argc,
				    timeout_s > 0 ? timeout_s * 1000 : 0, cap, out, err);
	pods_container_put(p, c);
	return r;
}

int pods_container_stats(struct pods *p, struct pod_container *c, struct pod_stats *out,
			 struct err *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = p->be.ops->stats(p->be.ctx, c->id, &out->vm, err)))
		return r;
	pthread_mutex_lock(&p->lock);
	out->nano_cores = pods_nano_cores(&c->prev, &out->vm);
	pthread_mutex_unlock(&p->lock);
	return 0;
}
