/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Machine state as bytes: the one serialisation that snapshots and live
 * migration share. A writer appends little-endian fields to a growable
 * buffer; a reader takes them back out of bytes nobody vouches for, so every
 * get is bounds-checked and a short or malformed input makes the reader
 * "bad" (sticky) instead of reading past the end.
 *
 * State is organised in sections: a 16-byte header (id, version, length)
 * then the body. A reader of a section only ever sees that section's bytes,
 * so one device's state cannot spill into the next. The file framing
 * (magic, format version, checksum) is in vmm/snapshot/; this is only the
 * body encoding, documented in docs/snapshot.md.
 */
#ifndef KVMLET_STATE_H
#define KVMLET_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_writer {
	uint8_t *data;
	size_t len, cap;
	bool failed;	    /* an allocation failed; everything after was dropped */
	size_t section_len; /* offset of the open section's length field, or 0 */
};

struct state_reader {
	const uint8_t *data;
	size_t len, off;
	bool bad; /* a get ran past the end or a check failed; sticky */
};

/* Section header: u32 id, u32 version, u64 body length. */
#define STATE_SECTION_HEADER 16

void state_writer_init(struct state_writer *w);
void state_writer_fini(struct state_writer *w);
/* 0, or -ENOMEM if any put failed. */
int state_writer_status(const struct state_writer *w);

void state_put(struct state_writer *w, const void *p, size_t n);
void state_put_u8(struct state_writer *w, uint8_t v);
void state_put_u16(struct state_writer *w, uint16_t v);
void state_put_u32(struct state_writer *w, uint32_t v);
void state_put_u64(struct state_writer *w, uint64_t v);
/* u32 length, then the bytes (no NUL). */
void state_put_str(struct state_writer *w, const char *s);

/*
 * A record inside a section: u32 tag, u32 length, the bytes. Readers skip
 * tags they do not know, so a layout can grow without a new version.
 */
void state_put_record(struct state_writer *w, uint32_t tag, const void *p, size_t n);

/* Sections do not nest: begin, puts, end. */
void state_section_begin(struct state_writer *w, uint32_t id, uint32_t version);
void state_section_end(struct state_writer *w);

void state_reader_init(struct state_reader *r, const void *data, size_t len);
/* Copies n bytes out; on a short input fills p with zeros and goes bad. */
void state_get(struct state_reader *r, void *p, size_t n);
uint8_t state_get_u8(struct state_reader *r);
uint16_t state_get_u16(struct state_reader *r);
uint32_t state_get_u32(struct state_reader *r);
uint64_t state_get_u64(struct state_reader *r);
/*
 * A string shorter than cap bytes into buf, NUL-terminated;
 * an embedded NUL or a longer string makes the reader bad.
 */
void state_get_str(struct state_reader *r, char *buf, size_t cap);
/*
 * A record of a fixed size: reads it into p when its length is exactly
 * size, else goes bad. Returns whether the reader is still good.
 */
bool state_get_fixed(struct state_reader *r, uint32_t len, void *p, size_t size);
/* Marks the reader bad when cond is false; returns cond. */
bool state_check(struct state_reader *r, bool cond);
/* Bytes not yet read. */
size_t state_remaining(const struct state_reader *r);
/* True when nothing was bad and everything was read. */
bool state_done(const struct state_reader *r);

/*
 * Takes the next section: fills id, version and a reader limited to its
 * body. Returns 1, 0 at a clean end of input, or -EBADMSG when the header
 * or length runs past the end (r goes bad).
 */
int state_next_section(struct state_reader *r, uint32_t *id, uint32_t *version,
		       struct state_reader *body);

#endif
