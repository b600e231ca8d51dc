// SPDX-License-Identifier: Apache-2.0
/*
 * IPv4 (RFC 791) without options or fragments, ICMP echo (RFC 792) and
 * UDP (RFC 768). Every checksum of a received datagram is verified before
 * it is answered; a sender that got them wrong is counted in bad_csum.
 */
#include "libc.h"
#include "net.h"

#define IP_TTL		64
#define IP_DF		0x4000
#define IP_FRAG_MASK	0x3fff /* MF and the offset */
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO	8
#define ECHO_PAYLOAD	56 /* what ping(8) sends by default */

void net_ip_build(struct netif *nif, struct ip_hdr *ip, uint32_t daddr, uint8_t proto,
		  size_t payload_len)
{
	*ip = (struct ip_hdr){
		.ver_ihl = 0x45,
		.tot_len = htons((uint16_t)(IP_HLEN + payload_len)),
		.id = htons(nif->ip_id++),
		.frag_off = htons(IP_DF),
		.ttl = IP_TTL,
		.proto = proto,
		.saddr = nif->ip,
		.daddr = daddr,
	};
	ip->csum = net_csum_fold(net_csum_add(0, ip, IP_HLEN));
}

/* An echo reply or request: @data is the ICMP payload. */
static bool icmp_send(struct netif *nif, const uint8_t *dst_mac, uint32_t daddr, uint8_t type,
		      uint16_t id, uint16_t seq, const uint8_t *data, size_t len)
{
	uint8_t *frame;
	struct ip_hdr *ip;
	struct icmp_echo *ic;

	if (ETH_HLEN + IP_HLEN + ICMP_HLEN + len > VNET_MAX_FRAME)
		return false;
	frame = vnet_tx_buf(nif->nic);
	if (!frame) {
		nif->tx_full++;
		return false;
	}
	ip = (void *)net_eth_build(nif, frame, dst_mac, ETH_P_IP);
	net_ip_build(nif, ip, daddr, IPPROTO_ICMP, ICMP_HLEN + len);
	ic = (void *)(ip + 1);
	*ic = (struct icmp_echo){ .type = type, .id = id, .seq = seq };
	memcpy(ic + 1, data, len);
	ic->csum = net_csum_fold(net_csum_add(0, ic, ICMP_HLEN + len));
	vnet_tx(nif->nic, frame, ETH_HLEN + IP_HLEN + ICMP_HLEN + len, 0, 0);
	vnet_tx_kick(nif->nic);
	return true;
}

bool net_icmp_echo(struct netif *nif, uint16_t id, uint16_t seq)
{
	uint8_t data[ECHO_PAYLOAD];

	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0x10 + i);
	return icmp_send(nif, nif->peer_mac, nif->peer_ip, ICMP_ECHO, htons(id), htons(seq), data,
			 sizeof(data));
}

bool net_udp_send(struct netif *nif, const uint8_t *dst_mac, uint32_t daddr, uint16_t sport,
		  uint16_t dport, const void *data, size_t len, bool offload)
{
	uint8_t *frame;
	struct ip_hdr *ip;
	struct udp_hdr *u;
	uint16_t ulen = (uint16_t)(UDP_HLEN + len);
	uint32_t pseudo;

	if (len > UDP_MAX_PAYLOAD)
		return false;
	frame = vnet_tx_buf(nif->nic);
	if (!frame) {
		nif->tx_full++;
		return false;
	}
	ip = (void *)net_eth_build(nif, frame, dst_mac, ETH_P_IP);
	net_ip_build(nif, ip, daddr, IPPROTO_UDP, ulen);
	u = (void *)(ip + 1);
	*u = (struct udp_hdr){ .sport = htons(sport), .dport = htons(dport), .len = htons(ulen) };
	memcpy(u + 1, data, len);
	pseudo = net_pseudo_sum(ip->saddr, ip->daddr, IPPROTO_UDP, ulen);
	if (offload && nif->nic->tx_csum) {
		/*
		 * CHECKSUM_PARTIAL: the field holds the folded pseudo-header
		 * sum, uncomplemented; the device sums from csum_start to the
		 * end and stores the complement at csum_start + csum_offset.
		 */
		u->csum = (uint16_t)~net_csum_fold(pseudo);
		vnet_tx(nif->nic, frame, ETH_HLEN + IP_HLEN + ulen, ETH_HLEN + IP_HLEN,
			offsetof(struct udp_hdr, csum));
	} else {
		u->csum = net_csum_fold(net_csum_add(pseudo, u, ulen));
		if (!u->csum)
			u->csum = 0xffff; /* zero means "no checksum" in UDP */
		vnet_tx(nif->nic, frame, ETH_HLEN + IP_HLEN + ulen, 0, 0);
	}
	vnet_tx_kick(nif->nic);
	return true;
}

static void icmp_input(struct netif *nif, const struct eth_hdr *e, const struct ip_hdr *ip,
		       const uint8_t *p, size_t len)
{
	const struct icmp_echo *ic = (const void *)p;

	if (len < ICMP_HLEN) {
		nif->dropped++;
		return;
	}
	if (net_csum_fold(net_csum_add(0, p, len))) {
		nif->bad_csum++;
		return;
	}
	if (ic->type == ICMP_ECHO && ic->code == 0) {
		if (icmp_send(nif, e->src, ip->saddr, ICMP_ECHO_REPLY, ic->id, ic->seq,
			      p + ICMP_HLEN, len - ICMP_HLEN))
			nif->icmp_answered++;
	} else if (ic->type == ICMP_ECHO_REPLY && ntohs(ic->id) == nif->echo_id &&
		   ip->saddr == nif->peer_ip && ntohs(ic->seq) < 64) {
		nif->echo_replies |= 1ULL << ntohs(ic->seq);
	} else {
		nif->dropped++;
	}
}

static void udp_input(struct netif *nif, const struct eth_hdr *e, const struct ip_hdr *ip,
		      const uint8_t *p, size_t len)
{
	const struct udp_hdr *u = (const void *)p;
	uint16_t ulen;

	if (len < UDP_HLEN || (ulen = ntohs(u->len)) < UDP_HLEN || ulen > len) {
		nif->dropped++;
		return;
	}
	/* A zero checksum means the sender did not compute one (IPv4 only). */
	if (u->csum && net_csum_fold(net_csum_add(
			       net_pseudo_sum(ip->saddr, ip->daddr, IPPROTO_UDP, ulen), p, ulen))) {
		nif->bad_csum++;
		return;
	}
	nif->udp_in++;
	if (nif->udp)
		nif->udp(nif, e->src, ip->saddr, ntohs(u->sport), ntohs(u->dport), p + UDP_HLEN,
			 ulen - UDP_HLEN);
}

void net_ip_input(struct netif *nif, const uint8_t *frame, size_t len)
{
	const struct eth_hdr *e = (const void *)frame;
	const struct ip_hdr *ip = (const void *)(frame + ETH_HLEN);
	size_t ihl, tot;

	if (len < ETH_HLEN + IP_HLEN || (ip->ver_ihl >> 4) != 4) {
		nif->dropped++;
		return;
	}
	ihl = (size_t)(ip->ver_ihl & 0xf) * 4;
	tot = ntohs(ip->tot_len);
	if (ihl < IP_HLEN || tot < ihl || ETH_HLEN + tot > len) {
		nif->dropped++;
		return;
	}
	if (net_csum_fold(net_csum_add(0, ip, ihl))) {
		nif->bad_csum++;
		return;
	}
	if (ip->daddr != nif->ip || (ntohs(ip->frag_off) & IP_FRAG_MASK)) {
		nif->dropped++;
		return;
	}
	if (ip->proto == IPPROTO_ICMP)
		icmp_input(nif, e, ip, (const uint8_t *)ip + ihl, tot - ihl);
	else if (ip->proto == IPPROTO_UDP)
		udp_input(nif, e, ip, (const uint8_t *)ip + ihl, tot - ihl);
	else
		nif->dropped++;
}
