/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The live migration stream (docs/migration.md): framed messages, each a
 * 16-byte header (magic, version, type, flags, payload length), the
 * payload, then the payload's CRC-32C. This module encodes and decodes
 * frames and their payloads; it does no I/O of its own beyond reading and
 * writing whole frames on a blocking socket, and trusts nothing it reads:
 * every length is checked against the frame and the limits below.
 *
 * Threading: none of its own; a frame buffer belongs to its caller.
 */
#ifndef KVMLET_VMM_MIGRATION_STREAM_H
#define KVMLET_VMM_MIGRATION_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/state.h"

#define MIG_MAGIC	    0x4d4c564bu /* "KVLM" little-endian */
#define MIG_VERSION	    1
#define MIG_HEADER_SIZE	    16
#define MIG_TRAILER_SIZE    4
#define MIG_MAX_TOKEN	    128
#define MIG_MAX_CONNECTIONS 8
#define MIG_RUN_MAX_PAGES   256 /* one PAGES frame carries at most 1 MiB */
#define MIG_PAGES_HEADER    16	/* gpa, count, flags */
/* The largest payload: the machine state (its config alone may be 1 MiB). */
#define MIG_MAX_PAYLOAD	    (16u << 20)

enum mig_msg {
	/* source to target */
	MIG_MSG_HELLO = 1,    /* first on every connection: the token */
	MIG_MSG_START = 2,    /* connection 0: configuration and layout */
	MIG_MSG_PAGES = 3,    /* a run of guest pages, or of zero pages */
	MIG_MSG_MEM_END = 4,  /* no more pages on this connection */
	MIG_MSG_STATE = 5,    /* connection 0: the machine state sections */
	MIG_MSG_COMPLETE = 6, /* connection 0: run it */
	MIG_MSG_ABANDON = 7,  /* the source gave up: discard everything */
	/* target to source, on connection 0 */
	MIG_MSG_ACCEPT = 16,  /* the configuration fits: send memory */
	MIG_MSG_REFUSE = 17,  /* a reason; the target exits */
	MIG_MSG_RUNNING = 18, /* the guest runs on the target */
};

#define MIG_PAGES_ZERO 1u /* the run's pages are all zero: no data follows */

struct mig_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t flags;
	uint32_t length;
};

const char *mig_msg_name(unsigned int type);

/* Encodes h into 16 bytes. */
void mig_header_encode(const struct mig_header *h, uint8_t out[MIG_HEADER_SIZE]);
/*
 * Decodes and checks 16 bytes: magic, version, a known type and a length
 * within that type's limit. -EPROTO or -EMSGSIZE with err set.
 */
int mig_header_decode(const uint8_t in[MIG_HEADER_SIZE], struct mig_header *h, struct err *err);
/* The most a payload of this type may hold. */
uint32_t mig_payload_limit(unsigned int type);

/*
 * Writes one frame to fd: header, payload (parts, concatenated), CRC.
 * Blocking; returns 0 or -errno with err set.
 */
int mig_frame_write(int fd, unsigned int type, const void *p1, size_t n1, const void *p2, size_t n2,
		    struct err *err);

/* A frame read back: its header and its payload in buf (grown as needed). */
struct mig_frame {
	struct mig_header h;
	uint8_t *buf;
	size_t cap;
};

/*
 * Reads one whole frame from fd into f and checks its CRC. 0 on success;
 * -ECONNRESET with err "the stream ended early" at EOF; -EBADMSG for a bad
 * CRC; the header errors above.
 */
int mig_frame_read(int fd, struct mig_frame *f, struct err *err);
void mig_frame_free(struct mig_frame *f);
/* The same checks on bytes in memory (tests, fuzzing); *used = frame size. */
int mig_frame_parse(const uint8_t *data, size_t len, struct mig_header *h, const uint8_t **payload,
		    size_t *used, struct err *err);

/* ---- payloads ---------------------------------------------------------- */

struct mig_hello {
	char token[MIG_MAX_TOKEN + 1];
	uint32_t conn_index, nr_conns;
};

void mig_hello_encode(struct state_writer *w, const struct mig_hello *h);
int mig_hello_decode(const uint8_t *p, size_t n, struct mig_hello *h, struct err *err);
/* 1-128 printable ASCII characters. */
bool mig_token_valid(const char *token);
/* Compares in time independent of where they differ. */
bool mig_token_equal(const char *a, const char *b);

#define MIG_MAX_REGIONS 2
#define MIG_MAX_DEVICES 64
#define MIG_MAX_CPUID	256

struct mig_region {
	uint64_t gpa, size;
};

struct mig_cpuid_leaf {
	uint32_t function, index, eax, ebx, ecx, edx;
};

struct mig_start {
	uint32_t nr_vcpus;
	uint64_t mem_size;
	uint32_t nr_regions;
	struct mig_region region[MIG_MAX_REGIONS];
	char *config_json; /* owned; NUL-terminated */
	uint32_t config_len;
	uint32_t nr_devices;
	char device[MIG_MAX_DEVICES][64]; /* "kind/id" */
	uint32_t nr_cpuid;
	struct mig_cpuid_leaf cpuid[MIG_MAX_CPUID];
};

void mig_start_encode(struct state_writer *w, const struct mig_start *s);
/* Fills s (config_json allocated); mig_start_free() in every case. */
int mig_start_decode(const uint8_t *p, size_t n, struct mig_start *s, struct err *err);
void mig_start_free(struct mig_start *s);

struct mig_pages {
	uint64_t gpa;
	uint32_t count;	     /* pages, 1..MIG_RUN_MAX_PAGES */
	uint32_t flags;	     /* MIG_PAGES_ZERO */
	const uint8_t *data; /* count pages, unless zero */
};

void mig_pages_encode_header(uint8_t out[MIG_PAGES_HEADER], uint64_t gpa, uint32_t count,
			     uint32_t flags);
/* Checks the count, the flags and that the data is exactly count pages (none if zero). */
int mig_pages_decode(const uint8_t *p, size_t n, struct mig_pages *pg, struct err *err);

/* REFUSE and ABANDON carry a reason: u32 length, then text. */
void mig_reason_encode(struct state_writer *w, const char *reason);
void mig_reason_decode(const uint8_t *p, size_t n, char *out, size_t cap);

#endif
