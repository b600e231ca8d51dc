// SPDX-License-Identifier: Apache-2.0
/* Bringing an interface up from the command line, and finding the peer. */
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "cpu.h"
#include "fmt.h"
#include "libc.h"
#include "net.h"

#define ARP_RETRY_US 250000

static bool ip_from_cmdline(const char *key, uint32_t *ip, char *why, size_t len)
{
	size_t vlen;
	const char *v = cmdline_get(bootinfo.cmdline, key, &vlen);

	if (!v) {
		fmt_snprintf(why, len, "no %s= on the command line", key);
		return false;
	}
	if (!net_parse_ip(v, vlen, ip)) {
		fmt_snprintf(why, len, "%s=%.*s is not an IPv4 address", key, (int)vlen, v);
		return false;
	}
	return true;
}

bool netif_open(struct netif *nif, struct vnet *nic, const struct virtio_dev *d, unsigned int idx,
		uint32_t rx_buf_size, char *why, size_t len)
{
	*nif = (struct netif){ .nic = nic, .idx = idx };
	if (!ip_from_cmdline("kvmlet.ip", &nif->ip, why, len) ||
	    !ip_from_cmdline("kvmlet.peer", &nif->peer_ip, why, len))
		return false;
	return vnet_open(nic, d, VNET_FEATURES, VIRTQ_MAX_SIZE, rx_buf_size, why, len);
}

bool netif_resolve_peer(struct netif *nif, uint64_t timeout_us)
{
	struct deadline end = deadline_in_us(timeout_us), retry = deadline_in_us(0);

	while (!nif->peer_known) {
		if (deadline_passed(&end))
			return false;
		if (deadline_passed(&retry)) {
			net_arp_request(nif);
			retry = deadline_in_us(ARP_RETRY_US);
		}
		if (!net_poll(nif))
			cpu_relax();
	}
	return true;
}
