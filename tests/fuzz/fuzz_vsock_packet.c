// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the checks virtio-vsock applies to every header a
 * guest writes, and the parser of the host's "CONNECT <port>\n" line.
 *
 * Layout: the chain's readable length (4 bytes, little-endian; the header
 * is only read when it is at least 44), the guest's CID (8 bytes), then
 * the header bytes (zero-padded to 44). The whole input is also fed to the
 * CONNECT parser as a line.
 */
#include "tests/fuzz/fuzzer.h"
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/vsock/packet.h"

#define check(cond)                       \
	do {                              \
		if (!(cond))              \
			__builtin_trap(); \
	} while (0)

static void check_line(const uint8_t *data, size_t size)
{
	uint32_t port = 0;
	char again[VSOCK_LINE_MAX + 1];
	int n;

	if (!vsock_parse_connect((const char *)data, size, &port))
		return;
	/* Accepted lines are exactly the canonical form, give or take a "\r" and zeros. */
	check(size <= VSOCK_LINE_MAX && data[size - 1] == '\n');
	check(memcmp(data, "CONNECT ", 8) == 0);
	n = snprintf(again, sizeof(again), "CONNECT %u\n", port);
	check(n > 0);
	check(vsock_parse_connect(again, (size_t)n, &port));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[VSOCK_HDR_LEN] = { 0 }, out[VSOCK_HDR_LEN];
	struct vsock_pkt p, q;
	enum vsock_verdict v;
	uint64_t cid, chain_len;
	uint32_t len32;

	check_line(data, size);
	if (size < 12)
		return 0;
	memcpy(&len32, data, 4);
	memcpy(&cid, data + 4, 8);
	chain_len = le32toh(len32);
	cid = le64toh(cid);
	memcpy(hdr, data + 12, size - 12 < sizeof(hdr) ? size - 12 : sizeof(hdr));

	v = vsock_pkt_parse(hdr, chain_len, cid, &p);
	check((unsigned int)v < VSOCK_PKT_NR_VERDICTS);
	check(vsock_verdict_str(v) != NULL);
	if (chain_len < VSOCK_HDR_LEN) {
		check(v == VSOCK_PKT_DROP_SHORT);
		return 0;
	}
	/* What the device acts on is exactly what the guest wrote. */
	vsock_hdr_build(out, &p);
	check(memcmp(out, hdr, sizeof(hdr)) == 0);
	if (p.src_cid != cid)
		check(v == VSOCK_PKT_DROP_SRC_CID);
	/* A reset is never answered with a reset. */
	if (p.op == VIRTIO_VSOCK_OP_RST)
		check(!vsock_verdict_is_rst(v));
	if (v == VSOCK_PKT_OK) {
		check(p.src_cid == cid && p.dst_cid == VSOCK_HOST_CID);
		check(p.type == VIRTIO_VSOCK_TYPE_STREAM);
		check(p.op >= VIRTIO_VSOCK_OP_REQUEST && p.op <= VIRTIO_VSOCK_OP_CREDIT_REQUEST);
		check(p.len <= VSOCK_MAX_PKT);
		check((uint64_t)p.len + VSOCK_HDR_LEN <= chain_len);
	} else if (v != VSOCK_PKT_DROP_SRC_CID) {
		check(p.src_cid == cid);
	}
	/* Deterministic. */
	check(vsock_pkt_parse(hdr, chain_len, cid, &q) == v);
	check(memcmp(&p, &q, sizeof(p)) == 0);
	return 0;
}
