/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A pod sandbox's network namespace: a new netns, loopback up, kept alive
 * by a bind mount of its nsfs file at <netns dir>/<sandbox id>, the path the
 * VMM's jailer joins and the CNI issue configures. The namespace is made
 * by a short-lived child process (fork, unshare, mount, exit), so no
 * thread of the agent ever changes namespace.
 *
 * Threads: any; each call works on its own path.
 */
#ifndef KVMLET_AGENT_POD_NETNS_H
#define KVMLET_AGENT_POD_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

/* Creates the file path (its directory made 0755 if missing) and a netns bound there. */
int pod_netns_create(const char *path, struct err *err);
/* Unmounts and unlinks path; a missing path or one not mounted is 0. */
int pod_netns_remove(const char *path, struct err *err);
/* Whether path holds a live network namespace (an nsfs bind mount). */
bool pod_netns_alive(const char *path);

#endif
