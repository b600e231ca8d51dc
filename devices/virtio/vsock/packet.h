/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-vsock packet header (virtio 1.2, 5.10.6) and the host's
 * "CONNECT <port>\n" line, as pure functions: every field of a header the
 * guest wrote is checked here before the device acts on it. No I/O, so the
 * fuzzer can drive them.
 */
#ifndef KVMLET_DEVICES_VIRTIO_VSOCK_PACKET_H
#define KVMLET_DEVICES_VIRTIO_VSOCK_PACKET_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VSOCK_HOST_CID 2
#define VSOCK_HDR_LEN  sizeof(struct virtio_vsock_hdr) /* 44 */
/* Largest payload of one packet, either way: Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE. */
#define VSOCK_MAX_PKT  (64 * 1024)
/* Longest "CONNECT <port>\n" line we accept: the port has at most 10 digits. */
#define VSOCK_LINE_MAX 32

/* A header in host byte order. */
struct vsock_pkt {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

/* What to do with a packet from the guest's transmit queue. */
enum vsock_verdict {
	VSOCK_PKT_OK = 0,
	/* Dropped without an answer: there is nobody sensible to answer. */
	VSOCK_PKT_DROP_SHORT,	/* the chain is shorter than the header */
	VSOCK_PKT_DROP_SRC_CID, /* not from the guest's own CID */
	VSOCK_PKT_DROP_RST,	/* a malformed RST: a reset is never answered with one */
	/* Answered with RST (and the connection, if any, closed). */
	VSOCK_PKT_RST_DST_CID,	 /* not for the host (CID 2) */
	VSOCK_PKT_RST_TYPE,	 /* not SOCK_STREAM */
	VSOCK_PKT_RST_OP,	 /* unknown operation */
	VSOCK_PKT_RST_LEN_MAX,	 /* payload larger than 64 KiB */
	VSOCK_PKT_RST_LEN_CHAIN, /* payload longer than the chain holds */
	VSOCK_PKT_NR_VERDICTS,
};

/*
 * Checks a header. `hdr` holds VSOCK_HDR_LEN bytes when chain_len (the
 * readable bytes of the chain, header included) is at least that, and is
 * not read otherwise. `p` is filled whenever the header could be read, so
 * that an RST can be addressed.
 */
enum vsock_verdict vsock_pkt_parse(const void *hdr, uint64_t chain_len, uint64_t guest_cid,
				   struct vsock_pkt *p);
const char *vsock_verdict_str(enum vsock_verdict v);
static inline bool vsock_verdict_is_rst(enum vsock_verdict v)
{
	return v >= VSOCK_PKT_RST_DST_CID && v < VSOCK_PKT_NR_VERDICTS;
}

/* Writes p as a little-endian header into out (VSOCK_HDR_LEN bytes). */
void vsock_hdr_build(void *out, const struct vsock_pkt *p);

/*
 * Parses "CONNECT <port>\n" (a "\r" before the "\n" is tolerated), the
 * first line a host client writes. `line` is the bytes up to and including
 * the first "\n". Returns true and the port, or false if malformed.
 */
bool vsock_parse_connect(const char *line, size_t len, uint32_t *port);

#endif
