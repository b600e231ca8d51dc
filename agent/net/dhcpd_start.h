/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Starts a VM's kvmlet-dhcpd (dhcpd.c) for its TAP with the lease a CNI
 * result gives: the first IPv4 address, its gateway, the IPv4 DNS servers,
 * search domain, routes with a gateway, the MTU. The responder daemonizes
 * once it serves, so it is not the agent's child, outlives the agent, and
 * ends with the TAP (docs/networking.md, "The DHCP responder").
 *
 * Threads: any.
 */
#ifndef KVMLET_AGENT_NET_DHCPD_START_H
#define KVMLET_AGENT_NET_DHCPD_START_H

#include <stdint.h>

#include "agent/net/cni_result.h"
#include "lib/err.h"

/* 0 once it serves; -ENOENT if the result has no IPv4 address (nothing to hand out). */
int dhcpd_start(const char *dhcpd_path, const char *netns, const char *tap, const char *mac,
		uint32_t mtu, const struct cni_result *r, struct err *err);

#endif
