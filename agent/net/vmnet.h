/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM on the pod network, Kata's way (docs/networking.md): in the pod's
 * namespace, a TAP with the CNI interface's MTU, up, and tc redirect both
 * ways between it and the CNI interface. The guest NIC takes the CNI
 * interface's MAC, so the network the CNI set up sees the same L2 address.
 * All of it goes through rtnetlink and /dev/net/tun on a thread made for
 * the call (nsrun.h); nothing is exec'd.
 *
 * Threads: any; calls for different namespaces run in parallel. Attach and
 * detach of one namespace must not run at once (the pod layer's busy mark).
 */
#ifndef KVMLET_AGENT_NET_VMNET_H
#define KVMLET_AGENT_NET_VMNET_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

struct vmnet_spec {
	const char *netns;  /* the pod's namespace (a bind-mounted nsfs file) */
	const char *ifname; /* the CNI interface: "eth0" */
	const char *tap;    /* the TAP to make: "tap0" */
	uid_t uid;	    /* the VM's user and group: the TAP's owner */
	gid_t gid;
};

struct vmnet_info {
	char mac[18]; /* the CNI interface's MAC, "aa:bb:cc:dd:ee:ff": the guest's */
	uint32_t mtu;
};

/* Makes the TAP and the redirect; on failure nothing is left. -EEXIST: the TAP exists. */
int vmnet_attach(const struct vmnet_spec *s, struct vmnet_info *out, struct err *err);
/* Removes the TAP and the qdiscs and filters; idempotent, a gone namespace is 0. */
int vmnet_detach(const char *netns, const char *ifname, const char *tap, struct err *err);
/* The CNI interface's MAC and MTU, read in the namespace: -ENODEV if absent. */
int vmnet_link(const char *netns, const char *ifname, struct vmnet_info *out, struct err *err);

#endif
