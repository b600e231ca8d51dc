/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the CRI handlers share: the agent's settings they report, the
 * state the runtime-info calls keep (the pod CIDR kubelet sends with
 * UpdateRuntimeConfig), the image store with the function that pulls
 * into it (the ImageService), and the pods (the RuntimeService).
 *
 * Threads: set up before the server starts and torn down after it stops;
 * handlers on any worker read the settings freely and the state through
 * these functions, which take rt->lock.
 */
#ifndef KVMLET_AGENT_CRI_RUNTIME_H
#define KVMLET_AGENT_CRI_RUNTIME_H

#include <pthread.h>
#include <stddef.h>

#include "agent/image/digest.h"
#include "lib/err.h"

struct store;
struct registry_auth;
struct pods;

/* Pulls ref into the store (agent/image/pull.h's pull_image()); id gets the image id. */
typedef int cri_pull_fn(void *ctx, const char *ref, const struct registry_auth *auth,
			char id[DIGEST_STR_LEN + 1], struct err *err);

#define CRI_POD_CIDR_MAX 256

struct cri_runtime {
	const char *cni_conf_dir; /* NetworkReady: a CNI config file here */
	/* Status verbose info["config"]: the agent's configuration as a JSON object. */
	const char *config_json;

	/* The ImageService; NULL store: it answers UNAVAILABLE. Thread-safe themselves. */
	struct store *store;
	cri_pull_fn *pull;
	void *pull_ctx;

	/* The RuntimeService's pods (agent/pod/pods.h); NULL: those calls answer UNAVAILABLE. */
	struct pods *pods;
	const char *disk_dir; /* where VM disk copies live: writable_layer's fs_id */

	pthread_mutex_t lock;
	char pod_cidr[CRI_POD_CIDR_MAX]; /* "" until kubelet sends one */
};

/* The strings are borrowed and must outlive rt. */
void cri_runtime_init(struct cri_runtime *rt, const char *cni_conf_dir, const char *config_json);
void cri_runtime_destroy(struct cri_runtime *rt);
/* Before the server starts; store and pull_ctx must outlive rt's use. */
void cri_runtime_set_images(struct cri_runtime *rt, struct store *store, cri_pull_fn *pull,
			    void *pull_ctx);

/* Before the server starts; pods must outlive rt's use. */
void cri_runtime_set_pods(struct cri_runtime *rt, struct pods *pods, const char *disk_dir);

void cri_runtime_set_pod_cidr(struct cri_runtime *rt, const char *cidr);
void cri_runtime_pod_cidr(struct cri_runtime *rt, char *buf, size_t cap);

#endif
