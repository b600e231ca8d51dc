// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the DHCP responder (agent/net/dhcp.c) on any frame a
 * guest can write to its TAP. It either ignores the frame or answers with
 * one well-formed reply: within DHCP_FRAME_MAX, a BOOTREPLY to the lease's
 * client (or broadcast) from port 67 to 68, a valid IP header checksum, and
 * never another client's address.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdlib.h>
#include <string.h>

#include "agent/net/dhcp.h"

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t bcast[6] = { 255, 255, 255, 255, 255, 255 };
	struct dhcp_lease l = {
		.client_mac = { 2, 0x42, 10, 0xd6, 0, 5 },
		.server_mac = { 2, 0, 0, 0, 0, 1 },
		.ip = { 10, 214, 0, 5 },
		.prefix = 24,
		.router = { 10, 214, 0, 1 },
		.server_id = { 10, 214, 0, 1 },
		.dns = { { 10, 214, 0, 53 }, { 10, 214, 0, 54 }, { 1, 1, 1, 1 }, { 8, 8, 8, 8 } },
		.nr_dns = 4,
		.routes = { { { 10, 96, 0, 0 }, 12, { 10, 214, 0, 254 } },
			    { { 192, 168, 0, 0 }, 16, { 10, 214, 0, 254 } } },
		.nr_routes = 2,
		.domain = "a-domain-name-that-is-rather-long.cluster.local.example",
		.hostname = "a-host-name-that-is-rather-long-as-well-0123456789",
		.mtu = 1400,
		.lease_s = 3600,
	};
	uint8_t *in = malloc(size ? size : 1), out[DHCP_FRAME_MAX];

	if (!in)
		return 0;
	memcpy(in, data, size);
	size_t n = dhcp_answer(&l, in, size, out);

	free(in);
	if (!n)
		return 0;
	if (n > DHCP_FRAME_MAX || n < 14 + 20 + 8 + 240)
		__builtin_trap();
	if (memcmp(out, l.client_mac, 6) && memcmp(out, bcast, 6))
		__builtin_trap();
	if (csum(out + 14, 20) != 0xffff || out[14 + 20 + 1] != 67 || out[14 + 20 + 3] != 68 ||
	    out[14 + 28] != 2 || memcmp(out + 14 + 28 + 28, l.client_mac, 6))
		__builtin_trap();
	return 0;
}
