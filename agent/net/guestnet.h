/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the guest is told of its network, from a checked CNI result
 * (docs/networking.md, "The guest's address"): the kernel's ip= argument
 * for direct-boot Linux guests (with the firmware's kvmlet.ip=), the
 * arguments of its DHCP responder (kvmlet-dhcpd), and cloud-init's
 * network-config (version 2) for the cloud-init disk. The guest's address
 * is the first IPv4 address of the result on the pod's interface.
 *
 * Threads: pure functions.
 */
#ifndef KVMLET_AGENT_NET_GUESTNET_H
#define KVMLET_AGENT_NET_GUESTNET_H

#include <stddef.h>
#include <stdint.h>

#include "agent/net/cni_result.h"
#include "lib/err.h"

/*
 * "ip=<client>::<gw>:<netmask>:<hostname>:eth0:off[:<dns0>[:<dns1>]]
 * kvmlet.ip=<client>" into out; -ENOENT if the result has no IPv4 address.
 */
int guestnet_kernel_args(const struct cni_result *r, const char *hostname, char *out, size_t cap,
			 struct err *err);
/* network-config v2 (YAML) for the NIC with mac; -ENOSPC if cap is too small. */
int guestnet_cloud_init(const struct cni_result *r, const char *mac, uint32_t mtu, char *out,
			size_t cap, struct err *err);
/* The first IPv4 address of the result (its index into r->ips), or -1. */
int guestnet_ipv4(const struct cni_result *r);

#endif
