// SPDX-License-Identifier: Apache-2.0
#include <endian.h>
#include <string.h>

#include "devices/virtio/vsock/packet.h"

static const char *const verdict_str[VSOCK_PKT_NR_VERDICTS] = {
	[VSOCK_PKT_OK] = "ok",
	[VSOCK_PKT_DROP_SHORT] = "chain shorter than the header",
	[VSOCK_PKT_DROP_SRC_CID] = "source CID is not the guest's",
	[VSOCK_PKT_DROP_RST] = "malformed RST",
	[VSOCK_PKT_RST_DST_CID] = "destination CID is not the host",
	[VSOCK_PKT_RST_TYPE] = "socket type is not stream",
	[VSOCK_PKT_RST_OP] = "unknown operation",
	[VSOCK_PKT_RST_LEN_MAX] = "payload larger than 64 KiB",
	[VSOCK_PKT_RST_LEN_CHAIN] = "payload longer than the chain",
};

const char *vsock_verdict_str(enum vsock_verdict v)
{
	return (unsigned int)v < VSOCK_PKT_NR_VERDICTS ? verdict_str[v] : "?";
}

enum vsock_verdict vsock_pkt_parse(const void *hdr, uint64_t chain_len, uint64_t guest_cid,
				   struct vsock_pkt *p)
{
	struct virtio_vsock_hdr h;
	enum vsock_verdict v = VSOCK_PKT_OK;

	memset(p, 0, sizeof(*p));
	if (chain_len < VSOCK_HDR_LEN)
		return VSOCK_PKT_DROP_SHORT;
	memcpy(&h, hdr, sizeof(h));
	p->src_cid = le64toh(h.src_cid);
	p->dst_cid = le64toh(h.dst_cid);
	p->src_port = le32toh(h.src_port);
	p->dst_port = le32toh(h.dst_port);
	p->len = le32toh(h.len);
	p->type = le16toh(h.type);
	p->op = le16toh(h.op);
	p->flags = le32toh(h.flags);
	p->buf_alloc = le32toh(h.buf_alloc);
	p->fwd_cnt = le32toh(h.fwd_cnt);

	/* Answering a forged source would send the RST to someone else's address. */
	if (p->src_cid != guest_cid)
		return VSOCK_PKT_DROP_SRC_CID;
	if (p->dst_cid != VSOCK_HOST_CID)
		v = VSOCK_PKT_RST_DST_CID;
	else if (p->type != VIRTIO_VSOCK_TYPE_STREAM)
		v = VSOCK_PKT_RST_TYPE;
	else if (p->op < VIRTIO_VSOCK_OP_REQUEST || p->op > VIRTIO_VSOCK_OP_CREDIT_REQUEST)
		v = VSOCK_PKT_RST_OP;
	else if (p->len > VSOCK_MAX_PKT)
		v = VSOCK_PKT_RST_LEN_MAX;
	else if (p->len > chain_len - VSOCK_HDR_LEN)
		v = VSOCK_PKT_RST_LEN_CHAIN;
	/* Two devices answering each other's resets would never stop. */
	if (v != VSOCK_PKT_OK && p->op == VIRTIO_VSOCK_OP_RST)
		v = VSOCK_PKT_DROP_RST;
	return v;
}

void vsock_hdr_build(void *out, const struct vsock_pkt *p)
{
	struct virtio_vsock_hdr h = {
		.src_cid = htole64(p->src_cid),
		.dst_cid = htole64(p->dst_cid),
		.src_port = htole32(p->src_port),
		.dst_port = htole32(p->dst_port),
		.len = htole32(p->len),
		.type = htole16(p->type),
		.op = htole16(p->op),
		.flags = htole32(p->flags),
		.buf_alloc = htole32(p->buf_alloc),
		.fwd_cnt = htole32(p->fwd_cnt),
	};

	memcpy(out, &h, sizeof(h));
}

bool vsock_parse_connect(const char *line, size_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	uint64_t v = 0;
	size_t i = sizeof(verb) - 1, digits = 0;

	if (len > VSOCK_LINE_MAX || len < sizeof(verb) || memcmp(line, verb, sizeof(verb) - 1))
		return false;
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++, digits++) {
		v = v * 10 + (uint64_t)(line[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (!digits || digits > 10)
		return false;
	if (i < len && line[i] == '\r')
		i++;
	if (i + 1 != len || line[i] != '\n')
		return false;
	*port = (uint32_t)v;
	return true;
}
