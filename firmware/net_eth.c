// SPDX-License-Identifier: Apache-2.0
/* Ethernet: dispatch of received frames by type, and the header on the way out. */
#include "libc.h"
#include "net.h"

uint8_t *net_eth_build(struct netif *nif, uint8_t *frame, const uint8_t *dst, uint16_t type)
{
	struct eth_hdr *e = (void *)frame;

	memcpy(e->dst, dst, ETH_ALEN);
	memcpy(e->src, nif->nic->mac, ETH_ALEN);
	e->type = htons(type);
	return frame + ETH_HLEN;
}

void net_input(struct netif *nif, const uint8_t *frame, size_t len)
{
	const struct eth_hdr *e = (const void *)frame;

	if (len < ETH_HLEN) {
		nif->dropped++;
		return;
	}
	switch (ntohs(e->type)) {
	case ETH_P_ARP:
		net_arp_input(nif, frame, len);
		return;
	case ETH_P_IP:
		net_ip_input(nif, frame, len);
		return;
	}
	nif->dropped++; /* IPv6 neighbour discovery and the like */
}

unsigned int net_poll(struct netif *nif)
{
	const uint8_t *frame;
	unsigned int n = 0;
	size_t len;

	while ((len = vnet_rx(nif->nic, &frame))) {
		net_input(nif, frame, len);
		n++;
	}
	return n;
}
