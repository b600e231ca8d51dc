/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's TAP in the pod's network namespace: persistent, owned by the
 * VM's uid/gid (so the jailed VMM opens it by name through the /dev/net/tun
 * the jailer puts in its jail), IFF_TAP|IFF_NO_PI|IFF_VNET_HDR as the VMM
 * opens it (devices/virtio/net/tap.c).
 *
 * Threads: call only from a thread inside the target namespace (nsrun.h).
 */
#ifndef KVMLET_AGENT_NET_TAP_H
#define KVMLET_AGENT_NET_TAP_H

#include <sys/types.h>

#include "lib/err.h"

/* Creates the TAP name owned by uid/gid; -EEXIST if the name is taken. */
int tap_create(const char *name, uid_t uid, gid_t gid, struct err *err);

#endif
