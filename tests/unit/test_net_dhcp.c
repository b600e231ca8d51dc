// SPDX-License-Identifier: Apache-2.0
/*
 * agent/net/dhcp: DISCOVER → OFFER and REQUEST → ACK with the lease's
 * options, NAK for another address, silence for other clients, other
 * servers, other messages and every malformed or truncated frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/net/dhcp.h"
#include "net_frames.h"

static const uint8_t mac[6] = { 2, 0x42, 10, 0xd6, 0, 5 };
static const uint8_t ip[4] = { 10, 214, 0, 5 }, gw[4] = { 10, 214, 0, 1 };

static void lease(struct dhcp_lease *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->client_mac, mac, 6);
	memcpy(l->ip, ip, 4);
	l->prefix = 24;
	memcpy(l->router, gw, 4);
	memcpy(l->server_id, gw, 4);
	memcpy(l->dns[0], (uint8_t[]){ 10, 214, 0, 53 }, 4);
	l->nr_dns = 1;
	l->mtu = 1400;
	l->lease_s = 0xffffffffu;
	strcpy(l->domain, "pods.example");
}

/* The value of option code in a reply, or NULL. */
static const uint8_t *option(const uint8_t *f, size_t len, uint8_t code, size_t *olen)
{
	size_t i = 14 + 20 + 8 + 240;

	while (i + 1 < len && f[i] != 255) {
		if (f[i] == 0) {
			i++;
			continue;
		}
		if (f[i] == code) {
			*olen = f[i + 1];
			return f + i + 2;
		}
		i += 2 + f[i + 1];
	}
	return NULL;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static void check_reply(const uint8_t *out, size_t n, uint8_t type)
{
	size_t l;
	const uint8_t *t = option(out, n, 53, &l);

	assert_true(n > 300 && n <= DHCP_FRAME_MAX);
	assert_non_null(t);
	assert_int_equal(*t, type);
	assert_int_equal(csum(out + 14, 20), 0xffff); /* the IP header checksum holds */
	assert_int_equal(out[14 + 20 + 3], 68);
	assert_int_equal(out[14 + 28], 2);	  /* BOOTREPLY */
	assert_int_equal(out[14 + 28 + 7], 0x34); /* xid kept */
}

static void test_discover_offer_request_ack(void **state)
{
	struct dhcp_lease l;
	uint8_t f[600], out[DHCP_FRAME_MAX];
	size_t l1;

	(void)state;
	lease(&l);
	size_t n = dhcp_answer(&l, f, dhcp_client_frame(f, mac, 1, NULL, NULL), out);

	check_reply(out, n, 2);
	assert_memory_equal(out + 14 + 28 + 16, ip, 4); /* yiaddr */
	assert_memory_equal(option(out, n, 1, &l1), ((uint8_t[]){ 255, 255, 255, 0 }), 4);
	assert_memory_equal(option(out, n, 3, &l1), gw, 4);
	assert_memory_equal(option(out, n, 54, &l1), gw, 4);
	assert_memory_equal(option(out, n, 51, &l1), ((uint8_t[]){ 255, 255, 255, 255 }), 4);
	assert_memory_equal(option(out, n, 26, &l1), ((uint8_t[]){ 0x05, 0x78 }), 2);
	assert_memory_equal(option(out, n, 15, &l1), "pods.example", 12);
	assert_int_equal(l1, 12);
	assert_memory_equal(out, mac, 6); /* unicast to the client, no broadcast flag */

	n = dhcp_answer(&l, f, dhcp_client_frame(f, mac, 3, ip, gw), out);
	check_reply(out, n, 5);
	n = dhcp_answer(&l, f, dhcp_client_frame(f, mac, 3, (uint8_t[]){ 10, 214, 0, 9 }, gw), out);
	check_reply(out, n, 6);
	assert_memory_equal(out, ((uint8_t[]){ 255, 255, 255, 255, 255, 255 }), 6);
}

static void test_ignored(void **state)
{
	struct dhcp_lease l;
	uint8_t f[600], out[DHCP_FRAME_MAX];
	const uint8_t other[6] = { 2, 0, 0, 0, 0, 9 };
	size_t n;

	(void)state;
	lease(&l);
	assert_int_equal(dhcp_answer(&l, f, dhcp_client_frame(f, other, 1, NULL, NULL), out), 0);
	/* Another server chosen. */
	assert_int_equal(dhcp_answer(&l, f,
				     dhcp_client_frame(f, mac, 3, ip, (uint8_t[]){ 1, 2, 3, 4 }),
				     out),
			 0);
	/* RELEASE, DECLINE, INFORM. */
	for (uint8_t t = 4; t <= 8; t++)
		if (t != 5 && t != 6)
			assert_int_equal(
				dhcp_answer(&l, f, dhcp_client_frame(f, mac, t, NULL, NULL), out),
				0);
	/* A fragment, not UDP, a BOOTREPLY, an option running past the end. */
	n = dhcp_client_frame(f, mac, 1, NULL, NULL);
	f[14 + 6] = 0x20;
	assert_int_equal(dhcp_answer(&l, f, n, out), 0);
	n = dhcp_client_frame(f, mac, 1, NULL, NULL);
	f[14 + 9] = 6;
	assert_int_equal(dhcp_answer(&l, f, n, out), 0);
	n = dhcp_client_frame(f, mac, 1, NULL, NULL);
	f[14 + 28] = 2;
	assert_int_equal(dhcp_answer(&l, f, n, out), 0);
	n = dhcp_client_frame(f, mac, 1, NULL, NULL);
	f[14 + 28 + 240 + 1] = 250;
	assert_int_equal(dhcp_answer(&l, f, n, out), 0);
}

static void test_truncated(void **state)
{
	struct dhcp_lease l;
	uint8_t f[600], out[DHCP_FRAME_MAX];

	(void)state;
	lease(&l);
	size_t n = dhcp_client_frame(f, mac, 1, NULL, NULL);

	/* Cut anywhere before the end of the BOOTP fixed part and cookie: nothing. */
	for (size_t cut = 0; cut < 14 + 20 + 8 + 240; cut++)
		assert_int_equal(dhcp_answer(&l, f, cut, out), 0);
	/* IP and UDP lengths beyond the frame. */
	f[14 + 2] = 0xff;
	assert_int_equal(dhcp_answer(&l, f, n, out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discover_offer_request_ack),
		cmocka_unit_test(test_ignored),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
