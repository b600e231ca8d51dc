/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the real VM backend (vm_host_open(), vm.h): the state every op
 * shares, and the helpers the op files (create.c, lifecycle.c, guest.c,
 * stats.c, host.c) have in common. docs/cri.md "From the pod to the VM"
 * describes what they do.
 *
 * Threads: struct vm_host is read-only after open, but for its ids (which
 * lock themselves); every op may run on any thread (vm.h).
 */
#ifndef KVMLET_AGENT_VM_HOST_PRIV_H
#define KVMLET_AGENT_VM_HOST_PRIV_H

/* How long emptying a VM's cgroup (SIGKILL, then its tasks leave) may take. */
#define CGROUP_KILL_MS 5000

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/vm/ids.h"
#include "agent/vm/record.h"
#include "agent/vm/vm.h"
#include "lib/err.h"

struct vm_host {
	char *state_dir;
	char *jail_base;
	char *vmm_path;
	char *jailer_path;
	char *shim_path;
	uint64_t default_memory_mib;
	uint64_t overhead_mib;
	int cgroup_version;
	bool vmm_serial_cri;   /* the VMM has --serial cri:PATH (required) */
	bool vmm_console_sock; /* and --console-sock (required) */
	struct vm_ids ids;
	int lock_fd; /* flock()ed: one process per state directory */
};

/* ---- shared helpers (host.c) ---------------------------------------------- */

bool host_id_valid(const char *id);
int host_state_path(const struct vm_host *h, const char *id, char *buf, size_t size);
int host_jail_paths(const struct vm_host *h, const char *id, char *dir, char *root, size_t size);
/* The record of id into rec, its state directory into dir; -ENOENT (with text) if none. */
int host_load(const struct vm_host *h, const char *id, char *dir, size_t size,
	      struct vm_record *rec, struct err *err);
/* A socket in the jail, connectable by the name put in buf; returns an fd to close after. */
int host_jail_socket(const char *root, const char *name, char *buf, size_t size);
/* One call to the VMM's API; a status of 300 or more is -EIO. *answer (if asked) is the body. */
int host_api_call(const char *root, const char *method, const char *path, const char *body,
		  unsigned int timeout_ms, long *status, char **answer, struct err *err);

/* A command line being built; the first failure sticks. */
struct argv_buf {
	char **v;
	size_t n;
	int failed;
};

/* Appends a copy of s (ctx is a struct argv_buf); returns the sticky error. */
int host_argv_push(void *ctx, const char *s);

enum host_liveness { LIVE_NEVER, LIVE_RUNNING, LIVE_EXITED, LIVE_LOST };

/* Where the VM is, and its exit record when it has one. */
enum host_liveness host_liveness(const char *dir, const struct vm_record *rec, struct vm_exit *e);

/* ---- the ops (vm.h), one file per group ------------------------------------ */

int host_create(void *ctx, const struct vm_request *req, struct err *err); /* create.c */
int host_start(void *ctx, const char *id, struct err *err);		   /* lifecycle.c */
int host_stop(void *ctx, const char *id, int64_t timeout_s, struct err *err);
int host_remove(void *ctx, const char *id, struct err *err);
int host_reopen_log(void *ctx, const char *id, struct err *err); /* guest.c */
int host_exec(void *ctx, const char *id, const char *const *argv, size_t argc, int64_t timeout_ms,
	      size_t cap, struct vm_exec_result *out, struct err *err);
int host_stats(void *ctx, const char *id, struct vm_stats *out, struct err *err); /* stats.c */
int host_sandbox_stats(void *ctx, const char *cgroup_parent, struct vm_stats *out, struct err *err);

#endif
