/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal DHCP server for one client (RFC 2131, options of RFC 2132 and
 * RFC 3442): the VM's address from the CNI result, handed to the one MAC
 * that is the guest's. DISCOVER gets an OFFER, a REQUEST for that address
 * an ACK (for another address, or with another server chosen, a NAK or
 * nothing); every other message and every frame that is not a well-formed
 * BOOTREQUEST from that MAC is ignored. Works on whole Ethernet frames as
 * an AF_PACKET socket reads them, so it needs no address of its own in the
 * namespace: the answers go back out of the TAP, and nothing passes the
 * namespace's IP stack.
 *
 * Threads: pure functions; a struct dhcp_lease is read-only during a call.
 */
#ifndef KVMLET_AGENT_NET_DHCP_H
#define KVMLET_AGENT_NET_DHCP_H

#include <stddef.h>
#include <stdint.h>

#define DHCP_MAX_DNS	4
#define DHCP_MAX_ROUTES 8
#define DHCP_FRAME_MAX	1514

struct dhcp_route {
	uint8_t dst[4];
	unsigned int prefix;
	uint8_t gw[4];
};

struct dhcp_lease {
	uint8_t client_mac[6]; /* the guest's: only this client is answered */
	uint8_t server_mac[6]; /* the answers' source */
	uint8_t ip[4];
	unsigned int prefix;
	uint8_t router[4];    /* 0.0.0.0: none */
	uint8_t server_id[4]; /* option 54: the router, or a link-local address */
	uint8_t dns[DHCP_MAX_DNS][4];
	size_t nr_dns;
	struct dhcp_route routes[DHCP_MAX_ROUTES]; /* besides the default route via router */
	size_t nr_routes;
	char domain[64];
	char hostname[64];
	uint16_t mtu;	  /* 0: none */
	uint32_t lease_s; /* 0xffffffff: infinite */
};

/*
 * The answer to frame[0..len): its length written to out (at least
 * DHCP_FRAME_MAX bytes), or 0 when the frame is to be ignored.
 */
size_t dhcp_answer(const struct dhcp_lease *l, const uint8_t *frame, size_t len, uint8_t *out);

#endif
