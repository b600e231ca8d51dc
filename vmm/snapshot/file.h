/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot state file: a fixed 32-byte header (magic, format version,
 * architecture, body length, body and header CRC-32C) and a body of
 * lib/state.h sections. The same frame carries state over a migration
 * stream, so parsing works on a buffer as well as on a file.
 */
#ifndef KVMLET_VMM_SNAPSHOT_FILE_H
#define KVMLET_VMM_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define SNAPSHOT_MAGIC		"KVMLETSN" /* 8 bytes, no NUL in the file */
#define SNAPSHOT_FORMAT_VERSION 1
#define SNAPSHOT_ARCH_X86_64	1
#define SNAPSHOT_HEADER_SIZE	32
/* State is registers and device models, never RAM: anything bigger is hostile. */
#define SNAPSHOT_MAX_BODY	(64u << 20)

struct snapshot_blob {
	uint8_t *data; /* the whole file */
	size_t size;
	const uint8_t *body; /* inside data, checksum verified */
	size_t body_len;
};

/* Fills the header that frames body[0, len). */
void snapshot_frame_header(uint8_t out[SNAPSHOT_HEADER_SIZE], const void *body, size_t len);

/*
 * Checks a header alone (magic, version, architecture, header CRC, body
 * length cap) and returns the body length it announces, so that a stream
 * reader knows how much to read next.
 */
int snapshot_header_parse(const void *hdr, size_t len, uint64_t *body_len, struct err *err);

/*
 * Checks a whole frame in buf[0, len): header, exact length and body CRC.
 * On success *body points into buf.
 */
int snapshot_frame_parse(const void *buf, size_t len, const void **body, size_t *body_len,
			 struct err *err);

/*
 * Writes header + body to a temporary file next to path, fsyncs it and
 * renames it over path, so path is always either the old or the new file.
 */
int snapshot_file_write(const char *path, const void *body, size_t len, struct err *err);

/* Reads and checks a state file; free with snapshot_blob_free(). */
int snapshot_file_read(const char *path, struct snapshot_blob *out, struct err *err);
void snapshot_blob_free(struct snapshot_blob *b);

#endif
