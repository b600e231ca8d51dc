/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runs a function inside a network namespace on a thread of its own, made
 * for the call: it setns()s into the namespace, runs fn, and ends. The
 * namespace is a per-thread attribute, so the caller's thread (a CRI
 * worker) never changes namespace and no pooled thread is ever left in a
 * pod's. Sockets and TAPs fn opens live in the pod's namespace.
 *
 * Threads: any; the call blocks until fn has returned.
 */
#ifndef KVMLET_AGENT_NET_NSRUN_H
#define KVMLET_AGENT_NET_NSRUN_H

#include "lib/err.h"

typedef int nsrun_fn(void *arg, struct err *err);

/* fn's return value, or -errno (err set) if the namespace at netns_path cannot be entered. */
int nsrun(const char *netns_path, nsrun_fn *fn, void *arg, struct err *err);

#endif
