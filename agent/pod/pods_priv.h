/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the pod layer: the records, the registry and the helpers the
 * calls share (pods.c), used by sandbox.c, container.c and restore.c.
 * Locking as pods.h says: p->lock guards the lists and each record's
 * mutable fields and is never held across a backend call, a netns or a
 * disk write; a record being changed is marked busy (claimed).
 */
#ifndef KVMLET_AGENT_POD_PODS_PRIV_H
#define KVMLET_AGENT_POD_PODS_PRIV_H

#include <limits.h>
#include <pthread.h>

#include "agent/pod/pods.h"
#include "agent/pod/record.h"

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

int64_t pods_now_ns(void);

/* Records in memory. Under p->lock: find, append, unlink, put_locked. */
void pods_sandbox_free(struct pod_sandbox *sb);
/* The CNI DEL of a sandbox (sys.ops->net_del), 0 without networking or a namespace; cfg may be NULL. */
int pods_net_del(struct pods *p, const char *id, const char *netns,
		 const Runtime__V1__PodSandboxConfig *cfg, struct err *err);
void pods_container_free(struct pod_container *c);
struct pod_sandbox *pods_sandbox_find(struct pods *p, const char *id);
struct pod_container *pods_container_find(struct pods *p, const char *id);
void pods_sandbox_append(struct pods *p, struct pod_sandbox *sb);
void pods_container_append(struct pods *p, struct pod_container *c);
void pods_sandbox_unlink(struct pods *p, struct pod_sandbox *sb);
void pods_container_unlink(struct pods *p, struct pod_container *c);
void pods_sandbox_put_locked(struct pod_sandbox *sb);
void pods_container_put_locked(struct pod_container *c);

/* Busy marks, with a reference; -ENOENT if the record is (or goes) missing. */
int pods_sandbox_claim(struct pods *p, const char *id, struct pod_sandbox **out, struct err *err);
void pods_sandbox_release(struct pods *p, struct pod_sandbox *sb);
int pods_container_claim_locked(struct pods *p, struct pod_container *c);
int pods_container_claim(struct pods *p, const char *id, struct pod_container **out,
			 struct err *err);
void pods_container_release(struct pods *p, struct pod_container *c);

/* State changes of a claimed record (state.c's tables); -EBUSY naming the state. */
int pods_sandbox_step(struct pods *p, struct pod_sandbox *sb, enum sandbox_event ev,
		      struct err *err);
int pods_container_check(struct pods *p, struct pod_container *c, enum container_event ev,
			 enum container_state *next, struct err *err);
/* Under the lock: the state and, from vs, the times and the exit. */
void pods_container_set(struct pods *p, struct pod_container *c, enum container_state s,
			const struct vm_status *vs);
/* state.json of a claimed record; failures are logged. */
void pods_sandbox_persist(struct pods *p, struct pod_sandbox *sb);
void pods_container_persist(struct pods *p, struct pod_container *c);
/* The backend's view of a claimed container; whether its state changed. */
bool pods_container_refresh(struct pods *p, struct pod_container *c);

int pods_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len);
int pods_new_id(struct pods *p, char id[POD_ID_LEN + 1], struct err *err);
uint64_t pods_nano_cores(struct sample *prev, const struct vm_stats *now);

/* container.c, for the sandbox calls: on a claimed container. */
int pods_stop_claimed(struct pods *p, struct pod_container *c, int64_t timeout_s, struct err *err);
int pods_remove_claimed(struct pods *p, struct pod_container *c, struct err *err);

#endif
