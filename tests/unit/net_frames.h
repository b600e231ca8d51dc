/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DHCP client frames for the agent/net tests and the DHCP fuzzer's seeds:
 * an Ethernet/IPv4/UDP BOOTREQUEST as a real client sends it.
 */
#ifndef KVMLET_TESTS_UNIT_NET_FRAMES_H
#define KVMLET_TESTS_UNIT_NET_FRAMES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* type 1 DISCOVER, 3 REQUEST; requested NULL for none; returns the length. */
static inline size_t dhcp_client_frame(uint8_t *f, const uint8_t mac[6], uint8_t type,
				       const uint8_t *requested, const uint8_t *server)
{
	uint8_t *ip = f + 14, *udp = ip + 20, *b = udp + 8, *o;

	memset(f, 0, 600);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	udp[1] = 68;
	udp[3] = 67;
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	b[4] = 0x12; /* xid */
	b[7] = 0x34;
	memcpy(b + 28, mac, 6);
	memcpy(b + 236, (const uint8_t[]){ 99, 130, 83, 99 }, 4);
	o = b + 240;
	*o++ = 53;
	*o++ = 1;
	*o++ = type;
	if (requested) {
		*o++ = 50;
		*o++ = 4;
		memcpy(o, requested, 4);
		o += 4;
	}
	if (server) {
		*o++ = 54;
		*o++ = 4;
		memcpy(o, server, 4);
		o += 4;
	}
	*o++ = 255;
	size_t blen = 300, ulen = 8 + blen, tot = 20 + ulen;

	(void)o;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	return 14 + tot;
}

#endif
