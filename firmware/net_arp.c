// SPDX-License-Identifier: Apache-2.0
/* ARP (RFC 826) for IPv4 over Ethernet: ask for the peer, answer for ourselves. */
#include "libc.h"
#include "net.h"

#define ARP_HTYPE_ETH 1
#define ARP_REQUEST   1
#define ARP_REPLY     2

static const uint8_t broadcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static bool arp_send(struct netif *nif, uint16_t oper, const uint8_t *dst_mac, const uint8_t *tha,
		     uint32_t tpa)
{
	uint8_t *frame = vnet_tx_buf(nif->nic);
	struct arp_pkt *a;

	if (!frame) {
		nif->tx_full++;
		return false;
	}
	a = (void *)net_eth_build(nif, frame, dst_mac, ETH_P_ARP);
	*a = (struct arp_pkt){
		.htype = htons(ARP_HTYPE_ETH),
		.ptype = htons(ETH_P_IP),
		.hlen = ETH_ALEN,
		.plen = 4,
		.oper = htons(oper),
		.spa = nif->ip,
		.tpa = tpa,
	};
	memcpy(a->sha, nif->nic->mac, ETH_ALEN);
	memcpy(a->tha, tha, ETH_ALEN);
	/* Ethernet's minimum frame is 60 bytes without the FCS: pad with zeros. */
	memset(frame + ETH_HLEN + sizeof(*a), 0, 60 - ETH_HLEN - sizeof(*a));
	vnet_tx(nif->nic, frame, 60, 0, 0);
	vnet_tx_kick(nif->nic);
	return true;
}

bool net_arp_request(struct netif *nif)
{
	static const uint8_t unknown[ETH_ALEN];

	return arp_send(nif, ARP_REQUEST, broadcast, unknown, nif->peer_ip);
}

void net_arp_input(struct netif *nif, const uint8_t *frame, size_t len)
{
	const struct arp_pkt *a = (const void *)(frame + ETH_HLEN);
	uint16_t oper;

	if (len < ETH_HLEN + sizeof(*a) || a->htype != htons(ARP_HTYPE_ETH) ||
	    a->ptype != htons(ETH_P_IP) || a->hlen != ETH_ALEN || a->plen != 4) {
		nif->dropped++;
		return;
	}
	oper = ntohs(a->oper);
	/* Whoever talks ARP from the peer's address tells us its MAC (RFC 826's merge). */
	if (a->spa == nif->peer_ip && nif->peer_ip) {
		memcpy(nif->peer_mac, a->sha, ETH_ALEN);
		nif->peer_known = true;
	}
	if (oper == ARP_REQUEST && a->tpa == nif->ip && nif->ip) {
		if (arp_send(nif, ARP_REPLY, a->sha, a->sha, a->spa))
			nif->arp_answered++;
	} else if (oper != ARP_REPLY) {
		nif->dropped++;
	}
}
