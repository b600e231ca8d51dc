/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the CRI handlers share: the agent's settings they report and the
 * state the runtime-info calls keep (the pod CIDR kubelet sends with
 * UpdateRuntimeConfig). The image store and the pods join it as they land.
 *
 * Threads: set up before the server starts and torn down after it stops;
 * handlers on any worker read the settings freely and the state through
 * these functions, which take rt->lock.
 */
#ifndef KVMLET_AGENT_CRI_RUNTIME_H
#define KVMLET_AGENT_CRI_RUNTIME_H

#include <pthread.h>
#include <stddef.h>

#define CRI_POD_CIDR_MAX 256

struct cri_runtime {
	const char *cni_conf_dir; /* NetworkReady: a CNI config file here */
	/* Status verbose info["config"]: the agent's configuration as a JSON object. */
	const char *config_json;

	pthread_mutex_t lock;
	char pod_cidr[CRI_POD_CIDR_MAX]; /* "" until kubelet sends one */
};

/* The strings are borrowed and must outlive rt. */
void cri_runtime_init(struct cri_runtime *rt, const char *cni_conf_dir, const char *config_json);
void cri_runtime_destroy(struct cri_runtime *rt);

void cri_runtime_set_pod_cidr(struct cri_runtime *rt, const char *cidr);
void cri_runtime_pod_cidr(struct cri_runtime *rt, char *buf, size_t cap);

#endif
