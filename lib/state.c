// SPDX-License-Identifier: Apache-2.0
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/state.h"

#define STATE_MIN_CAP 4096

void state_writer_init(struct state_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void state_writer_fini(struct state_writer *w)
{
	free(w->data);
	memset(w, 0, sizeof(*w));
}

int state_writer_status(const struct state_writer *w)
{
	return w->failed ? -ENOMEM : 0;
}

static bool state_reserve(struct state_writer *w, size_t n)
{
	size_t cap = w->cap ? w->cap : STATE_MIN_CAP;
	uint8_t *p;

	if (w->failed)
		return false;
	if (n <= w->cap - w->len)
		return true;
	while (cap - w->len < n) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	p = realloc(w->data, cap);
	if (!p)
		goto fail;
	w->data = p;
	w->cap = cap;
	return true;
fail:
	w->failed = true;
	return false;
}

void state_put(struct state_writer *w, const void *p, size_t n)
{
	if (!n || !state_reserve(w, n))
		return;
	memcpy(w->data + w->len, p, n);
	w->len += n;
}

/* The wire is little-endian, as is every host kvmlet runs on (x86-64). */
void state_put_u8(struct state_writer *w, uint8_t v)
{
	state_put(w, &v, 1);
}

void state_put_u16(struct state_writer *w, uint16_t v)
{
	v = htole16(v);
	state_put(w, &v, 2);
}

void state_put_u32(struct state_writer *w, uint32_t v)
{
	v = htole32(v);
	state_put(w, &v, 4);
}

void state_put_u64(struct state_writer *w, uint64_t v)
{
	v = htole64(v);
	state_put(w, &v, 8);
}

void state_put_str(struct state_writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	state_put_u32(w, (uint32_t)n);
	state_put(w, s, n);
}

void state_put_record(struct state_writer *w, uint32_t tag, const void *p, size_t n)
{
	state_put_u32(w, tag);
	state_put_u32(w, (uint32_t)n);
	state_put(w, p, n);
}

void state_section_begin(struct state_writer *w, uint32_t id, uint32_t version)
{
	state_put_u32(w, id);
	state_put_u32(w, version);
	w->section_len = w->len;
	state_put_u64(w, 0);
}

void state_section_end(struct state_writer *w)
{
	uint64_t body;

	if (w->failed || !w->section_len)
		return;
	body = htole64(w->len - w->section_len - 8);
	memcpy(w->data + w->section_len, &body, 8);
	w->section_len = 0;
}

void state_reader_init(struct state_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

void state_get(struct state_reader *r, void *p, size_t n)
{
	if (!n)
		return;
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, r->data + r->off, n);
	r->off += n;
}

uint8_t state_get_u8(struct state_reader *r)
{
	uint8_t v;

	state_get(r, &v, 1);
	return v;
}

uint16_t state_get_u16(struct state_reader *r)
{
	uint16_t v;

	state_get(r, &v, 2);
	return le16toh(v);
}

uint32_t state_get_u32(struct state_reader *r)
{
	uint32_t v;

	state_get(r, &v, 4);
	return le32toh(v);
}

uint64_t state_get_u64(struct state_reader *r)
{
	uint64_t v;

	state_get(r, &v, 8);
	return le64toh(v);
}

void state_get_str(struct state_reader *r, char *buf, size_t cap)
{
	uint32_t n = state_get_u32(r);

	if (cap)
		buf[0] = '\0';
	if (!state_check(r, cap && n < cap && n <= state_remaining(r)))
		return;
	state_get(r, buf, n);
	buf[n] = '\0';
	state_check(r, strlen(buf) == n);
}

bool state_get_fixed(struct state_reader *r, uint32_t len, void *p, size_t size)
{
	if (!state_check(r, len == size))
		return false;
	state_get(r, p, size);
	return !r->bad;
}

bool state_check(struct state_reader *r, bool cond)
{
	if (!cond)
		r->bad = true;
	return cond;
}

size_t state_remaining(const struct state_reader *r)
{
	return r->bad ? 0 : r->len - r->off;
}

bool state_done(const struct state_reader *r)
{
	return !r->bad && r->off == r->len;
}

int state_next_section(struct state_reader *r, uint32_t *id, uint32_t *version,
		       struct state_reader *body)
{
	uint64_t len;

	state_reader_init(body, NULL, 0);
	if (!r->bad && r->off == r->len)
		return 0;
	*id = state_get_u32(r);
	*version = state_get_u32(r);
	len = state_get_u64(r);
	if (r->bad || len > r->len - r->off) {
		r->bad = true;
		body->bad = true;
		return -EBADMSG;
	}
	state_reader_init(body, r->data + r->off, (size_t)len);
	r->off += (size_t)len;
	return 1;
}
