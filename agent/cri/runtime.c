// SPDX-License-Identifier: Apache-2.0
/* The state CRI handlers share (runtime.h). */
#include <stdio.h>
#include <string.h>

#include "agent/cri/runtime.h"

void cri_runtime_init(struct cri_runtime *rt, const char *cni_conf_dir, const char *config_json)
{
	memset(rt, 0, sizeof(*rt));
	rt->cni_conf_dir = cni_conf_dir;
	rt->config_json = config_json;
	pthread_mutex_init(&rt->lock, NULL);
}

void cri_runtime_set_images(struct cri_runtime *rt, struct store *store, cri_pull_fn *pull,
			    void *pull_ctx)
{
	rt->store = store;
	rt->pull = pull;
	rt->pull_ctx = pull_ctx;
}

void cri_runtime_set_pods(struct cri_runtime *rt, struct pods *pods, const char *disk_dir)
{
	rt->pods = pods;
	rt->disk_dir = disk_dir;
}

void cri_runtime_destroy(struct cri_runtime *rt)
{
	pthread_mutex_destroy(&rt->lock);
}

void cri_runtime_set_pod_cidr(struct cri_runtime *rt, const char *cidr)
{
	pthread_mutex_lock(&rt->lock);
	snprintf(rt->pod_cidr, sizeof(rt->pod_cidr), "%s", cidr);
	pthread_mutex_unlock(&rt->lock);
}

void cri_runtime_pod_cidr(struct cri_runtime *rt, char *buf, size_t cap)
{
	pthread_mutex_lock(&rt->lock);
	snprintf(buf, cap, "%s", rt->pod_cidr);
	pthread_mutex_unlock(&rt->lock);
}
