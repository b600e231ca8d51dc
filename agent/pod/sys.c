// SPDX-License-Identifier: Apache-2.0
/* The real host under the pod layer: netns.c, cgroup.c and the image store (pods.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/image/store.h"
#include "agent/pod/cgroup.h"
#include "agent/pod/netns.h"
#include "agent/pod/pods.h"

static int host_netns_create(void *ctx, const char *path, struct err *err)
{
	(void)ctx;
	return pod_netns_create(path, err);
}

static int host_netns_remove(void *ctx, const char *path, struct err *err)
{
	(void)ctx;
	return pod_netns_remove(path, err);
}

static bool host_netns_alive(void *ctx, const char *path)
{
	(void)ctx;
	return pod_netns_alive(path);
}

static int host_cgroup_ensure(void *ctx, const char *cgroup_parent, struct err *err)
{
	struct pod_sys_host *h = ctx;

	return pod_cgroup_ensure(h->cgroup_root, cgroup_parent, err);
}

static int host_image_get(void *ctx, const char *name, struct store_image *img, char *dir,
			  size_t cap, struct err *err)
{
	struct pod_sys_host *h = ctx;
	int r;

	if (!h->store)
		return err_set(err, -ENXIO, "the image store is not open");
	if ((r = store_image_get(h->store, name, img, err)))
		return r;
	r = snprintf(dir, cap, "%s/images/%s", store_root(h->store), img->id + strlen("sha256:"));
	if (r < 0 || (size_t)r >= cap) {
		store_image_free(img);
		return err_set(err, -ENAMETOOLONG, "image directory: too long");
	}
	return 0;
}

static void host_image_put(void *ctx, struct store_image *img)
{
	(void)ctx;
	store_image_free(img);
}

static const struct pod_sys_ops host_ops = {
	.netns_create = host_netns_create,
	.netns_remove = host_netns_remove,
	.netns_alive = host_netns_alive,
	.cgroup_ensure = host_cgroup_ensure,
	.image_get = host_image_get,
	.image_put = host_image_put,
};

void pod_sys_host(struct pod_sys_host *host, struct pod_sys *out)
{
	out->ops = &host_ops;
	out->ctx = host;
}
