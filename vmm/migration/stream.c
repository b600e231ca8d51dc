// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "memory/guest_memory.h"
#include "vmm/migration/stream.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Each message's name and the largest payload it may carry. */
static const struct {
	const char *name;
	uint32_t max;
} messages[] = {
	[MIG_MSG_HELLO] = { "HELLO", 4 + MIG_MAX_TOKEN + 8 },
	[MIG_MSG_START] = { "START", MIG_MAX_PAYLOAD },
	[MIG_MSG_PAGES] = { "PAGES", MIG_PAGES_HEADER + MIG_RUN_MAX_PAGES *GM_PAGE_SIZE },
	[MIG_MSG_MEM_END] = { "MEM_END", 8 },
	[MIG_MSG_STATE] = { "STATE", MIG_MAX_PAYLOAD },
	[MIG_MSG_COMPLETE] = { "COMPLETE", 0 },
	[MIG_MSG_ABANDON] = { "ABANDON", 4 + 512 },
	[MIG_MSG_ACCEPT] = { "ACCEPT", 0 },
	[MIG_MSG_REFUSE] = { "REFUSE", 4 + 512 },
	[MIG_MSG_RUNNING] = { "RUNNING", 0 },
};

const char *mig_msg_name(unsigned int type)
{
	return type < ARRAY_SIZE(messages) && messages[type].name ? messages[type].name : "?";
}

uint32_t mig_payload_limit(unsigned int type)
{
	return type < ARRAY_SIZE(messages) && messages[type].name ? messages[type].max : 0;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

void mig_header_encode(const struct mig_header *h, uint8_t out[MIG_HEADER_SIZE])
{
	put_le32(out, h->magic);
	put_le16(out + 4, h->version);
	put_le16(out + 6, h->type);
	put_le32(out + 8, h->flags);
	put_le32(out + 12, h->length);
}

int mig_header_decode(const uint8_t in[MIG_HEADER_SIZE], struct mig_header *h, struct err *err)
{
	h->magic = get_le32(in);
	h->version = get_le16(in + 4);
	h->type = get_le16(in + 6);
	h->flags = get_le32(in + 8);
	h->length = get_le32(in + 12);
	if (h->magic != MIG_MAGIC)
		return err_set(err, -EPROTO, "not a kvmlet migration stream (magic 0x%08x)",
			       h->magic);
	if (h->version != MIG_VERSION)
		return err_set(err, -EPROTO,
			       "migration protocol version %u is not supported "
			       "(this VMM speaks %u)",
			       h->version, MIG_VERSION);
	if (h->type >= ARRAY_SIZE(messages) || !messages[h->type].name)
		return err_set(err, -EPROTO, "unknown message type %u", h->type);
	if (h->flags)
		return err_set(err, -EPROTO, "%s: unknown flags 0x%x", mig_msg_name(h->type),
			       h->flags);
	if (h->length > mig_payload_limit(h->type))
		return err_set(err, -EMSGSIZE, "%s: payload of %u bytes exceeds its limit of %u",
			       mig_msg_name(h->type), h->length, mig_payload_limit(h->type));
	return 0;
}

static int write_all(int fd, struct iovec *iov, int n, struct err *err)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return err_set(err, -errno, "sending: %s", strerror(errno));
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int mig_frame_write(int fd, unsigned int type, const void *p1, size_t n1, const void *p2, size_t n2,
		    struct err *err)
{
	struct mig_header h = { MIG_MAGIC, MIG_VERSION, (uint16_t)type, 0, (uint32_t)(n1 + n2) };
	uint8_t head[MIG_HEADER_SIZE], tail[MIG_TRAILER_SIZE];
	struct iovec iov[4];
	int n = 0;

	if (n1 + n2 > mig_payload_limit(type))
		return err_set(err, -EMSGSIZE, "%s: %zu bytes is too large to send",
			       mig_msg_name(type), n1 + n2);
	mig_header_encode(&h, head);
	put_le32(tail, crc32c(crc32c(0, p1, n1), p2, n2));
	iov[n++] = (struct iovec){ head, sizeof(head) };
	if (n1)
		iov[n++] = (struct iovec){ (void *)p1, n1 };
	if (n2)
		iov[n++] = (struct iovec){ (void *)p2, n2 };
	iov[n++] = (struct iovec){ tail, sizeof(tail) };
	return write_all(fd, iov, n, err);
}

/* 0, or -ECONNRESET at an early end. */
static int read_all(int fd, void *buf, size_t n, struct err *err)
{
	uint8_t *p = buf;

	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return err_set(err, -errno, "receiving: %s", strerror(errno));
		if (r == 0)
			return err_set(err, -ECONNRESET, "the stream ended early");
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int mig_frame_read(int fd, struct mig_frame *f, struct err *err)
{
	uint8_t head[MIG_HEADER_SIZE], tail[MIG_TRAILER_SIZE];
	int r = read_all(fd, head, sizeof(head), err);

	if (!r)
		r = mig_header_decode(head, &f->h, err);
	if (r)
		return r;
	if (f->h.length > f->cap) {
		uint8_t *nb = realloc(f->buf, f->h.length);

		if (!nb)
			return err_set(err, -ENOMEM, "out of memory");
		f->buf = nb;
		f->cap = f->h.length;
	}
	r = read_all(fd, f->buf, f->h.length, err);
	if (!r)
		r = read_all(fd, tail, sizeof(tail), err);
	if (r)
		return r;
	if (get_le32(tail) != crc32c(0, f->buf, f->h.length))
		return err_set(err, -EBADMSG, "%s: bad CRC-32C", mig_msg_name(f->h.type));
	return 0;
}

void mig_frame_free(struct mig_frame *f)
{
	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
}

int mig_frame_parse(const uint8_t *data, size_t len, struct mig_header *h, const uint8_t **payload,
		    size_t *used, struct err *err)
{
	int r;

	if (len < MIG_HEADER_SIZE)
		return err_set(err, -ECONNRESET, "the stream ended early");
	r = mig_header_decode(data, h, err);
	if (r)
		return r;
	if (len - MIG_HEADER_SIZE < (size_t)h->length + MIG_TRAILER_SIZE)
		return err_set(err, -ECONNRESET, "the stream ended early");
	*payload = data + MIG_HEADER_SIZE;
	if (get_le32(*payload + h->length) != crc32c(0, *payload, h->length))
		return err_set(err, -EBADMSG, "%s: bad CRC-32C", mig_msg_name(h->type));
	*used = MIG_HEADER_SIZE + h->length + MIG_TRAILER_SIZE;
	return 0;
}

/* ---- payloads ---------------------------------------------------------- */

bool mig_token_valid(const char *token)
{
	size_t n = token ? strlen(token) : 0;

	if (n < 1 || n > MIG_MAX_TOKEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (token[i] < 0x21 || token[i] > 0x7e)
			return false;
	return true;
}

bool mig_token_equal(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	unsigned int diff = na != nb;

	/* Walks the whole expected token whatever the other holds. */
	for (size_t i = 0; i < na; i++)
		diff |= (unsigned int)(uint8_t)a[i] ^ (uint8_t)(i < nb ? b[i] : 0);
	return diff == 0;
}

void mig_hello_encode(struct state_writer *w, const struct mig_hello *h)
{
	state_put_str(w, h->token);
	state_put_u32(w, h->conn_index);
	state_put_u32(w, h->nr_conns);
}

int mig_hello_decode(const uint8_t *p, size_t n, struct mig_hello *h, struct err *err)
{
	struct state_reader r;

	state_reader_init(&r, p, n);
	state_get_str(&r, h->token, sizeof(h->token));
	h->conn_index = state_get_u32(&r);
	h->nr_conns = state_get_u32(&r);
	if (r.bad || !state_done(&r) || !mig_token_valid(h->token))
		return err_set(err, -EPROTO, "HELLO is malformed");
	if (h->nr_conns < 1 || h->nr_conns > MIG_MAX_CONNECTIONS || h->conn_index >= h->nr_conns)
		return err_set(err, -EPROTO, "HELLO: connection %u of %u is out of range",
			       h->conn_index, h->nr_conns);
	return 0;
}

void mig_start_encode(struct state_writer *w, const struct mig_start *s)
{
	state_put_u32(w, s->nr_vcpus);
	state_put_u64(w, s->mem_size);
	state_put_u32(w, s->nr_regions);
	for (uint32_t i = 0; i < s->nr_regions; i++) {
		state_put_u64(w, s->region[i].gpa);
		state_put_u64(w, s->region[i].size);
	}
	state_put_str(w, s->config_json);
	state_put_u32(w, s->nr_devices);
	for (uint32_t i = 0; i < s->nr_devices; i++)
		state_put_str(w, s->device[i]);
	state_put_u32(w, s->nr_cpuid);
	for (uint32_t i = 0; i < s->nr_cpuid; i++) {
		const struct mig_cpuid_leaf *c = &s->cpuid[i];

		state_put_u32(w, c->function);
		state_put_u32(w, c->index);
		state_put_u32(w, c->eax);
		state_put_u32(w, c->ebx);
		state_put_u32(w, c->ecx);
		state_put_u32(w, c->edx);
	}
}

int mig_start_decode(const uint8_t *p, size_t n, struct mig_start *s, struct err *err)
{
	struct state_reader r;

	memset(s, 0, sizeof(*s));
	state_reader_init(&r, p, n);
	s->nr_vcpus = state_get_u32(&r);
	s->mem_size = state_get_u64(&r);
	s->nr_regions = state_get_u32(&r);
	if (r.bad || s->nr_regions < 1 || s->nr_regions > MIG_MAX_REGIONS)
		return err_set(err, -EPROTO, "START: %u memory regions", s->nr_regions);
	for (uint32_t i = 0; i < s->nr_regions; i++) {
		s->region[i].gpa = state_get_u64(&r);
		s->region[i].size = state_get_u64(&r);
	}
	s->config_len = state_get_u32(&r);
	if (r.bad || s->config_len > state_remaining(&r))
		return err_set(err, -EPROTO, "START: the configuration runs past the message");
	s->config_json = malloc((size_t)s->config_len + 1);
	if (!s->config_json)
		return err_set(err, -ENOMEM, "out of memory");
	state_get(&r, s->config_json, s->config_len);
	s->config_json[s->config_len] = '\0';
	s->nr_devices = state_get_u32(&r);
	if (r.bad || s->nr_devices > MIG_MAX_DEVICES)
		return err_set(err, -EPROTO, "START: %u devices", s->nr_devices);
	for (uint32_t i = 0; i < s->nr_devices; i++)
		state_get_str(&r, s->device[i], sizeof(s->device[i]));
	s->nr_cpuid = state_get_u32(&r);
	if (r.bad || s->nr_cpuid > MIG_MAX_CPUID)
		return err_set(err, -EPROTO, "START: %u CPUID leaves", s->nr_cpuid);
	for (uint32_t i = 0; i < s->nr_cpuid; i++) {
		struct mig_cpuid_leaf *c = &s->cpuid[i];

		c->function = state_get_u32(&r);
		c->index = state_get_u32(&r);
		c->eax = state_get_u32(&r);
		c->ebx = state_get_u32(&r);
		c->ecx = state_get_u32(&r);
		c->edx = state_get_u32(&r);
	}
	if (r.bad || !state_done(&r))
		return err_set(err, -EPROTO, "START is malformed");
	return 0;
}

void mig_start_free(struct mig_start *s)
{
	free(s->config_json);
	s->config_json = NULL;
}

void mig_pages_encode_header(uint8_t out[MIG_PAGES_HEADER], uint64_t gpa, uint32_t count,
			     uint32_t flags)
{
	put_le64(out, gpa);
	put_le32(out + 8, count);
	put_le32(out + 12, flags);
}

int mig_pages_decode(const uint8_t *p, size_t n, struct mig_pages *pg, struct err *err)
{
	size_t data;

	if (n < MIG_PAGES_HEADER)
		return err_set(err, -EPROTO, "PAGES: %zu bytes is too short", n);
	pg->gpa = get_le64(p);
	pg->count = get_le32(p + 8);
	pg->flags = get_le32(p + 12);
	pg->data = p + MIG_PAGES_HEADER;
	if (pg->count < 1 || pg->count > MIG_RUN_MAX_PAGES || (pg->flags & ~MIG_PAGES_ZERO) ||
	    pg->gpa % GM_PAGE_SIZE)
		return err_set(err, -EPROTO, "PAGES: bad run (gpa 0x%llx, %u pages, flags 0x%x)",
			       (unsigned long long)pg->gpa, pg->count, pg->flags);
	data = pg->flags & MIG_PAGES_ZERO ? 0 : (size_t)pg->count * GM_PAGE_SIZE;
	if (n - MIG_PAGES_HEADER != data)
		return err_set(err, -EPROTO, "PAGES: %zu data bytes for %u %spages",
			       n - MIG_PAGES_HEADER, pg->count,
			       pg->flags & MIG_PAGES_ZERO ? "zero " : "");
	return 0;
}

void mig_reason_encode(struct state_writer *w, const char *reason)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", reason);
	state_put_str(w, buf);
}

void mig_reason_decode(const uint8_t *p, size_t n, char *out, size_t cap)
{
	struct state_reader r;

	state_reader_init(&r, p, n);
	state_get_str(&r, out, cap);
	if (r.bad)
		snprintf(out, cap, "(no reason given)");
	/* Shown in logs and the API: nothing but printable text. */
	for (char *c = out; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
}
