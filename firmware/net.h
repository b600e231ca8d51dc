/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny IPv4 stack over one virtio-net interface: ARP (asking for one
 * peer, answering for our address), ICMP echo both ways, and UDP handed to
 * a callback. No routing, fragments, options or IPv6: frames we do not
 * understand are counted and dropped. All checksums are computed here and
 * verified on receipt; UDP transmit may leave its checksum to the device
 * (VIRTIO_NET_F_CSUM).
 *
 * Addresses are kept in network byte order, as they are on the wire.
 */
#ifndef FW_NET_H
#define FW_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "virtio_net.h"

#define ETH_ALEN	6
#define ETH_HLEN	14
#define ETH_P_IP	0x0800
#define ETH_P_ARP	0x0806
#define IP_HLEN		20
#define IPPROTO_ICMP	1
#define IPPROTO_UDP	17
#define UDP_HLEN	8
#define ICMP_HLEN	8
#define UDP_MAX_PAYLOAD (VNET_MAX_FRAME - ETH_HLEN - IP_HLEN - UDP_HLEN) /* 1472 */

struct eth_hdr {
	uint8_t dst[ETH_ALEN];
	uint8_t src[ETH_ALEN];
	uint16_t type;
} __attribute__((packed));

struct arp_pkt {
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t oper;
	uint8_t sha[ETH_ALEN];
	uint32_t spa;
	uint8_t tha[ETH_ALEN];
	uint32_t tpa;
} __attribute__((packed));

struct ip_hdr {
	uint8_t ver_ihl;
	uint8_t tos;
	uint16_t tot_len;
	uint16_t id;
	uint16_t frag_off;
	uint8_t ttl;
	uint8_t proto;
	uint16_t csum;
	uint32_t saddr, daddr;
} __attribute__((packed));

struct icmp_echo {
	uint8_t type, code;
	uint16_t csum;
	uint16_t id, seq;
} __attribute__((packed));

struct udp_hdr {
	uint16_t sport, dport, len, csum;
} __attribute__((packed));

static inline uint16_t htons(uint16_t v)
{
	return (uint16_t)(v << 8 | v >> 8);
}
#define ntohs htons

struct netif;

/* A datagram for us; @from_mac / @from_ip / @sport say where to answer. */
typedef void (*udp_handler)(struct netif *nif, const uint8_t *from_mac, uint32_t from_ip,
			    uint16_t sport, uint16_t dport, const uint8_t *data, size_t len);

struct netif {
	struct vnet *nic;
	unsigned int idx;
	uint32_t ip, peer_ip;
	uint8_t peer_mac[ETH_ALEN];
	bool peer_known;
	bool csum_offload; /* UDP sends leave their checksum to the device */
	uint16_t ip_id;
	udp_handler udp;
	void *ctx; /* the udp handler's */
	/* Echo replies seen for our echo id, one bit per sequence number < 64. */
	uint16_t echo_id;
	uint64_t echo_replies;
	/* What was answered and dropped. */
	uint64_t arp_answered, icmp_answered, udp_in, dropped, bad_csum, tx_full;
};

/*
 * net_if.c: brings up @d as interface @idx with kvmlet.ip= and
 * kvmlet.peer= from the command line; receive buffers of @rx_buf_size.
 */
bool netif_open(struct netif *nif, struct vnet *nic, const struct virtio_dev *d, unsigned int idx,
		uint32_t rx_buf_size, char *why, size_t len);
/* ARPs for the peer until it answers or @timeout_us passes, serving input meanwhile. */
bool netif_resolve_peer(struct netif *nif, uint64_t timeout_us);

/* Parses "A.B.C.D"; false if malformed. */
bool net_parse_ip(const char *s, size_t len, uint32_t *ip);
/* "A.B.C.D" into @buf (16 bytes). */
const char *net_ip_str(uint32_t ip, char *buf);

/* The Internet checksum (RFC 1071): partial sums, then the folded complement. */
uint32_t net_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t net_csum_fold(uint32_t sum);
uint32_t net_pseudo_sum(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len);

/* Handles one received frame: ARP, ICMP echo, UDP. */
void net_input(struct netif *nif, const uint8_t *frame, size_t len);
/* Drains the receive ring through net_input(); returns frames handled. */
unsigned int net_poll(struct netif *nif);

/* The Ethernet header, in a transmit buffer; returns what follows it. */
uint8_t *net_eth_build(struct netif *nif, uint8_t *frame, const uint8_t *dst, uint16_t type);
/* ARP request for the peer (broadcast). False if the transmit ring is full. */
bool net_arp_request(struct netif *nif);
void net_arp_input(struct netif *nif, const uint8_t *frame, size_t len);

/* An IPv4 header at @ip for @payload_len bytes of @proto to @daddr. */
void net_ip_build(struct netif *nif, struct ip_hdr *ip, uint32_t daddr, uint8_t proto,
		  size_t payload_len);
void net_ip_input(struct netif *nif, const uint8_t *frame, size_t len);
/* ICMP echo request to the peer (whose MAC must be known). */
bool net_icmp_echo(struct netif *nif, uint16_t id, uint16_t seq);
/*
 * A UDP datagram; with @offload (and the device's CSUM) the checksum is
 * left for the device to finish. False if the transmit ring is full.
 */
bool net_udp_send(struct netif *nif, const uint8_t *dst_mac, uint32_t daddr, uint16_t sport,
		  uint16_t dport, const void *data, size_t len, bool offload);

#endif
