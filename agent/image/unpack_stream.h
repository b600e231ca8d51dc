/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A layer's bytes as the tar reader sees them: read from the blob's fd,
 * inflated with zlib when the media type says gzip, counted against the
 * uncompressed cap and shown to the tee. The cap is checked on every block,
 * so a gzip bomb is stopped within one block of crossing it. Private to the
 * unpacker.
 *
 * Threads: a stream belongs to one thread.
 */
#ifndef KVMLET_AGENT_IMAGE_UNPACK_STREAM_H
#define KVMLET_AGENT_IMAGE_UNPACK_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

#include "agent/image/unpack.h"
#include "lib/err.h"

#define UNPACK_STREAM_BLOCK (64 * 1024)

struct unpack_stream {
	int fd;
	bool gzip;
	bool in_member;	 /* inside a gzip member: its end is still due */
	bool eof;	 /* the fd has no more bytes */
	bool any_member; /* a gzip member began: an empty blob is not gzip */
	z_stream z;
	uint64_t total, cap;
	unpack_tee_fn *tee;
	void *ctx;
	struct err *err;
	unsigned char in[UNPACK_STREAM_BLOCK];
	unsigned char out[UNPACK_STREAM_BLOCK];
};

/* 0, or -ENOMEM with err set. */
int unpack_stream_init(struct unpack_stream *s, int fd, bool gzip, uint64_t cap, unpack_tee_fn *tee,
		       void *ctx, struct err *err);
/* The next uncompressed block in *buf: its length, 0 at the end, or -errno with err set. */
ssize_t unpack_stream_read(struct unpack_stream *s, const void **buf);
/* Reads (and tees) what the tar reader left, checking the gzip trailer. 0 or -errno. */
int unpack_stream_drain(struct unpack_stream *s);
void unpack_stream_fini(struct unpack_stream *s);

#endif
