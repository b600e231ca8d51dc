/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM's state on disk, one directory per VM under the state directory
 * (docs/cri.md "From the pod to the VM"):
 *
 *   <state_dir>/<id>/vm.json    what create decided and start recorded
 *   <state_dir>/<id>/exit.json  how the VMM ended, written by kvmlet-shim
 *   <state_dir>/<id>/vmm.log    the jailer's and VMM's stderr
 *
 * Both JSON files are replaced atomically (lib/replace_file.h), so a crash
 * leaves the old or the new one, never half of one. Readers treat them as
 * hostile (lib/json.h): unknown or missing fields are errors.
 *
 * Threads: no state; any thread, each on its own record.
 */
#ifndef KVMLET_AGENT_VM_RECORD_H
#define KVMLET_AGENT_VM_RECORD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define VM_ID_MAX 64

struct vm_record {
	char id[VM_ID_MAX + 1];
	char sandbox_id[VM_ID_MAX + 1];
	uint32_t uid; /* uid and gid */
	uint32_t cid;
	uint32_t vcpus;
	uint64_t memory_mib;
	int cgroup_version;	 /* 1 or 2, as the jailer was told */
	char cgroup[PATH_MAX];	 /* <parent>/<id>, relative to each hierarchy's root */
	char log_path[PATH_MAX]; /* the CRI log on the host, "" for none */
	/* kubelet's log_directory: log_path is log_directory/<relative CRI log_path> */
	char log_directory[PATH_MAX];
	bool log_mounted;	   /* its directory is bind-mounted at <jail root>/log */
	int64_t created_at;	   /* ns since the epoch */
	int64_t started_at;	   /* 0 until start */
	int64_t shim_pid;	   /* 0 until start */
	uint64_t shim_start_ticks; /* /proc/<pid>/stat field 22: tells a reused pid apart */
	int64_t stop_requested_at; /* ns since the epoch: StopContainer asked the guest; 0 if not */
	size_t argc;
	char **argv; /* kvmlet-jailer's whole command line */
	size_t nr_disks;
	char **disks; /* the writable copies, by name in the jail root */
};

struct vm_exit {
	int exit_status;     /* the VMM's exit status, or -1 when a signal ended it */
	int signal;	     /* the signal, or 0 */
	int64_t finished_at; /* ns since the epoch */
	bool oom;	     /* the VM's memory cgroup saw an OOM kill */
	bool killed;	     /* kvmlet-shim killed it (a stop's grace ran out) */
	/*
	 * Written by the agent, not the shim: the shim was gone without a
	 * record; the VM's cgroup was emptied, finished_at is when that was
	 * seen. exit_status is then 255.
	 */
	bool lost;
};

int vm_record_write(const char *dir, const struct vm_record *rec, struct err *err);
int vm_record_read(const char *dir, struct vm_record *rec, struct err *err);
int vm_record_parse(const char *json, size_t len, struct vm_record *rec, struct err *err);
void vm_record_free(struct vm_record *rec);

int vm_exit_write(const char *dir, const struct vm_exit *e, struct err *err);
/* -ENOENT (no text) when the VMM has not ended or nobody saw it end. */
int vm_exit_read(const char *dir, struct vm_exit *e, struct err *err);
int vm_exit_parse(const char *json, size_t len, struct vm_exit *e, struct err *err);

/* The CRI log path relative to rec->log_directory, "" for none. */
const char *vm_record_log_relpath(const struct vm_record *rec);

/* Appends a copy of s to a NULL-terminated list; -ENOMEM. */
int vm_strv_push(char ***v, size_t *n, const char *s);
void vm_strv_free(char **v, size_t n);

#endif
