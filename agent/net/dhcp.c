// SPDX-License-Identifier: Apache-2.0
#include "agent/net/dhcp.h"

#include <stdbool.h>
#include <string.h>

enum {
	ETH_HLEN_ = 14,
	IP_HLEN = 20,
	UDP_HLEN = 8,
	BOOTP_FIXED = 236, /* op .. file, before the magic cookie */
	PORT_SERVER = 67,
	PORT_CLIENT = 68,
};

enum dhcp_type {
	DHCPDISCOVER = 1,
	DHCPOFFER = 2,
	DHCPREQUEST = 3,
	DHCPACK = 5,
	DHCPNAK = 6,
};

static const uint8_t cookie[4] = { 99, 130, 83, 99 };

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* What the request says, after the checks. */
struct request {
	const uint8_t *bootp; /* the fixed part */
	int type;
	bool has_requested, has_server;
	uint8_t requested[4], server[4];
};

/* The options of a request: bounded walk, every length checked against the end. */
static bool options_parse(const uint8_t *p, size_t len, struct request *rq)
{
	size_t i = 0;

	while (i < len) {
		uint8_t code = p[i++];

		if (code == 0)
			continue;
		if (code == 255)
			return true;
		if (i >= len || p[i] > len - i - 1)
			return false;
		uint8_t olen = p[i++];
		const uint8_t *v = p + i;

		if (code == 53 && olen == 1)
			rq->type = v[0];
		else if (code == 50 && olen == 4) {
			memcpy(rq->requested, v, 4);
			rq->has_requested = true;
		} else if (code == 54 && olen == 4) {
			memcpy(rq->server, v, 4);
			rq->has_server = true;
		}
		i += olen;
	}
	return true; /* no end option: tolerated, as many clients pad to the end */
}

/* An IPv4/UDP/BOOTREQUEST from the lease's client; false for anything else. */
static bool request_parse(const struct dhcp_lease *l, const uint8_t *f, size_t len,
			  struct request *rq)
{
	memset(rq, 0, sizeof(*rq));
	if (len < ETH_HLEN_ + IP_HLEN + UDP_HLEN + BOOTP_FIXED + 4 || be16(f + 12) != 0x0800)
		return false;
	const uint8_t *ip = f + ETH_HLEN_;
	size_t ihl = (size_t)(ip[0] & 15) * 4, tot = be16(ip + 2);

	if (ip[0] >> 4 != 4 || ihl < IP_HLEN || tot < ihl + UDP_HLEN || tot > len - ETH_HLEN_ ||
	    ip[9] != 17 || (be16(ip + 6) & 0x3fff))
		return false; /* not IPv4, bad lengths, not UDP, or a fragment */
	const uint8_t *udp = ip + ihl;
	size_t ulen = be16(udp + 4);

	if (be16(udp + 2) != PORT_SERVER || ulen < UDP_HLEN + BOOTP_FIXED + 4 || ulen > tot - ihl)
		return false;
	const uint8_t *b = udp + UDP_HLEN;
	size_t blen = ulen - UDP_HLEN;

	/* BOOTREQUEST, Ethernet, 6-byte address: this client's, in the frame and in chaddr. */
	if (b[0] != 1 || b[1] != 1 || b[2] != 6 || memcmp(b + 28, l->client_mac, 6) ||
	    memcmp(f + 6, l->client_mac, 6) || memcmp(b + BOOTP_FIXED, cookie, 4))
		return false;
	rq->bootp = b;
	return options_parse(b + BOOTP_FIXED + 4, blen - BOOTP_FIXED - 4, rq);
}

static uint8_t *opt(uint8_t *p, uint8_t code, const void *v, size_t len)
{
	p[0] = code;
	p[1] = (uint8_t)len;
	memcpy(p + 2, v, len);
	return p + 2 + len;
}

/* RFC 3442: the destination's significant octets only. */
static size_t route_put(uint8_t *p, const uint8_t dst[4], unsigned int prefix, const uint8_t gw[4])
{
	size_t n = (prefix + 7) / 8;

	p[0] = (uint8_t)prefix;
	memcpy(p + 1, dst, n);
	memcpy(p + 1 + n, gw, 4);
	return 1 + n + 4;
}

static uint8_t *options_put(const struct dhcp_lease *l, uint8_t type, uint8_t *p)
{
	static const uint8_t zero[4];
	uint8_t v[4];
	uint32_t m = l->prefix ? ~0u << (32 - l->prefix) : 0;
	bool router = memcmp(l->router, zero, 4) != 0;

	p = opt(p, 53, &type, 1);
	p = opt(p, 54, l->server_id, 4);
	if (type == DHCPNAK)
		return p;
	put32(v, l->lease_s);
	p = opt(p, 51, v, 4);
	put32(v, m);
	p = opt(p, 1, v, 4);
	if (router)
		p = opt(p, 3, l->router, 4);
	if (l->nr_dns)
		p = opt(p, 6, l->dns, 4 * l->nr_dns);
	if (l->domain[0])
		p = opt(p, 15, l->domain, strlen(l->domain));
	if (l->hostname[0])
		p = opt(p, 12, l->hostname, strlen(l->hostname));
	if (l->mtu) {
		put16(v, l->mtu);
		p = opt(p, 26, v, 2);
	}
	if (l->nr_routes) {
		/* A client that takes option 121 ignores option 3: the default route goes in too. */
		uint8_t r[255];
		size_t n = 0;

		for (size_t i = 0; i < l->nr_routes; i++)
			n += route_put(r + n, l->routes[i].dst, l->routes[i].prefix,
				       l->routes[i].gw);
		if (router)
			n += route_put(r + n, zero, 0, l->router);
		p = opt(p, 121, r, n);
	}
	*p++ = 255;
	return p;
}

static size_t reply_build(const struct dhcp_lease *l, const struct request *rq, uint8_t type,
			  uint8_t *out)
{
	static const uint8_t bcast_mac[6] = { 255, 255, 255, 255, 255, 255 };
	const uint8_t *q = rq->bootp;
	bool bcast = (q[10] & 0x80) || type == DHCPNAK;
	uint8_t *ip = out + ETH_HLEN_, *udp = ip + IP_HLEN, *b = udp + UDP_HLEN;

	memset(out, 0, DHCP_FRAME_MAX);
	memcpy(out, bcast ? bcast_mac : l->client_mac, 6);
	memcpy(out + 6, l->server_mac, 6);
	put16(out + 12, 0x0800);
	b[0] = 2; /* BOOTREPLY */
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, q + 4, 4);   /* xid */
	memcpy(b + 10, q + 10, 2); /* flags */
	if (type != DHCPNAK)
		memcpy(b + 16, l->ip, 4); /* yiaddr */
	memcpy(b + 24, q + 24, 4);	  /* giaddr */
	memcpy(b + 28, q + 28, 16);	  /* chaddr */
	memcpy(b + BOOTP_FIXED, cookie, 4);
	uint8_t *end = options_put(l, type, b + BOOTP_FIXED + 4);
	size_t blen = (size_t)(end - b);

	if (blen < 300) /* BOOTP's minimum, which some clients still expect */
		blen = 300;
	size_t ulen = UDP_HLEN + blen, tot = IP_HLEN + ulen;

	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)tot);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, l->server_id, 4);
	if (bcast)
		memset(ip + 16, 255, 4);
	else
		memcpy(ip + 16, l->ip, 4);
	put16(ip + 10, fold(sum16(ip, IP_HLEN, 0)));
	put16(udp, PORT_SERVER);
	put16(udp + 2, PORT_CLIENT);
	put16(udp + 4, (uint16_t)ulen);
	/* The pseudo-header: addresses, protocol, UDP length. */
	uint32_t s = sum16(ip + 12, 8, 17 + (uint32_t)ulen);
	uint16_t c = fold(sum16(udp, ulen, s));

	put16(udp + 6, c ? c : 0xffff);
	return ETH_HLEN_ + tot;
}

size_t dhcp_answer(const struct dhcp_lease *l, const uint8_t *frame, size_t len, uint8_t *out)
{
	struct request rq;

	if (len > DHCP_FRAME_MAX + 4 || !request_parse(l, frame, len, &rq))
		return 0;
	if (rq.type == DHCPDISCOVER)
		return reply_build(l, &rq, DHCPOFFER, out);
	if (rq.type != DHCPREQUEST)
		return 0; /* RELEASE, DECLINE, INFORM: the address is the pod's whatever happens */
	if (rq.has_server && memcmp(rq.server, l->server_id, 4))
		return 0; /* the client chose another server's offer */
	const uint8_t *want = rq.has_requested ? rq.requested : rq.bootp + 12; /* or ciaddr */

	return reply_build(l, &rq, memcmp(want, l->ip, 4) ? DHCPNAK : DHCPACK, out);
}
