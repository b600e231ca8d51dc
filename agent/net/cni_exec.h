/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs one CNI plugin: posix_spawn (no shell) in a process group of its
 * own, the given environment only, the network configuration on stdin,
 * stdout and stderr read up to a cap each, a deadline after which the whole
 * process group is killed.
 *
 * Threads: any; the call blocks until the plugin has exited or was killed.
 */
#ifndef KVMLET_AGENT_NET_CNI_EXEC_H
#define KVMLET_AGENT_NET_CNI_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

#define CNI_OUTPUT_MAX (256u * 1024) /* stdout; stderr keeps its last 4 KiB at most */

struct cni_exec {
	int status;	/* the wait status, when it exited */
	bool timed_out; /* killed at the deadline */
	bool out_cut;	/* stdout went beyond CNI_OUTPUT_MAX */
	char *out;	/* stdout, NUL-terminated (malloc'd) */
	size_t out_len;
	char errtail[4096]; /* stderr's last bytes, for messages */
};

/*
 * Runs path with envp; 0 once it ended (see status and timed_out), -errno
 * (err set) if it could not run at all.
 */
int cni_exec_run(const char *path, char *const envp[], const char *in, size_t in_len,
		 int timeout_ms, struct cni_exec *out, struct err *err);
void cni_exec_free(struct cni_exec *x);

#endif
