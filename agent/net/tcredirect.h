/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kata's tc redirect between two interfaces of one namespace (the CNI's
 * eth0 and the VM's TAP): an ingress qdisc on each and a u32 match-all
 * filter whose mirred action sends every frame that arrives on one out of
 * the other. Frames never reach the namespace's IP stack.
 *
 * Threads: call only from a thread inside the namespace (nsrun.h), with a
 * netlink socket opened there.
 */
#ifndef KVMLET_AGENT_NET_TCREDIRECT_H
#define KVMLET_AGENT_NET_TCREDIRECT_H

#include "lib/err.h"

/* Both directions between ifindex a and b; on failure what was added is removed. */
int tcredirect_add(int nlfd, int a, int b, struct err *err);
/* Removes the ingress qdisc (and so its filters) of ifindex; absent is 0. */
int tcredirect_remove(int nlfd, int ifindex, struct err *err);

#endif
