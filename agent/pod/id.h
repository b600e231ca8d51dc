/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sandbox and container ids: 64 lowercase hex digits (32 bytes from
 * getrandom), as containerd makes them. CRI passes full ids; crictl's short
 * prefixes are resolved on its side, so an id is matched exactly.
 *
 * Threads: pure functions.
 */
#ifndef KVMLET_AGENT_POD_ID_H
#define KVMLET_AGENT_POD_ID_H

#include <stdbool.h>

#define POD_ID_LEN 64

/* A fresh random id into out (POD_ID_LEN + 1 bytes); 0 or -errno. */
int pod_id_new(char out[POD_ID_LEN + 1]);
/* Exactly 64 lowercase hex digits. */
bool pod_id_valid(const char *s);

#endif
