// SPDX-License-Identifier: Apache-2.0
#include "agent/image/unpack_stream.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

int unpack_stream_init(struct unpack_stream *s, int fd, bool gzip, uint64_t cap, unpack_tee_fn *tee,
		       void *ctx, struct err *err)
{
	s->fd = fd;
	s->gzip = gzip;
	s->in_member = false;
	s->eof = false;
	s->any_member = false;
	s->total = 0;
	s->cap = cap;
	s->tee = tee;
	s->ctx = ctx;
	s->err = err;
	memset(&s->z, 0, sizeof(s->z));
	/* 16 + windowBits: gzip framing only, trailer CRC and length checked. */
	if (gzip && inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
		return err_set(err, -ENOMEM, "cannot start inflating the layer");
	return 0;
}

void unpack_stream_fini(struct unpack_stream *s)
{
	if (s->gzip)
		inflateEnd(&s->z);
}

static ssize_t fill(struct unpack_stream *s, unsigned char *buf, size_t len)
{
	ssize_t n;

	do
		n = read(s->fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(s->err, -errno, "reading the layer: %s", strerror(errno));
	if (n == 0)
		s->eof = true;
	return n;
}

/* Inflates until some output, the end of the input, or an error. */
static ssize_t inflate_some(struct unpack_stream *s)
{
	s->z.next_out = s->out;
	s->z.avail_out = sizeof(s->out);
	while (s->z.avail_out == sizeof(s->out)) {
		int rc;

		if (!s->z.avail_in) {
			ssize_t n = fill(s, s->in, sizeof(s->in));

			if (n < 0)
				return n;
			if (!n) {
				if (s->in_member || !s->any_member)
					return err_set(s->err, -EINVAL, "truncated gzip stream");
				break;
			}
			s->z.next_in = s->in;
			s->z.avail_in = (uInt)n;
		}
		if (!s->in_member) {
			/* A further member (gzip allows several, one after the other). */
			if (inflateReset(&s->z) != Z_OK)
				return err_set(s->err, -EINVAL, "corrupt gzip stream");
			s->in_member = true;
			s->any_member = true;
		}
		rc = inflate(&s->z, Z_NO_FLUSH);
		if (rc == Z_STREAM_END)
			s->in_member = false;
		else if (rc != Z_OK && rc != Z_BUF_ERROR)
			return err_set(s->err, -EINVAL, "corrupt gzip stream: %s",
				       s->z.msg ? s->z.msg : "inflate failed");
	}
	return (ssize_t)(sizeof(s->out) - s->z.avail_out);
}

ssize_t unpack_stream_read(struct unpack_stream *s, const void **buf)
{
	ssize_t n;

	if (s->gzip) {
		n = inflate_some(s);
	} else {
		n = s->eof ? 0 : fill(s, s->out, sizeof(s->out));
	}
	if (n <= 0)
		return n;
	s->total += (uint64_t)n;
	if (s->total > s->cap)
		return err_set(s->err, -EFBIG, "layer is over the cap of %llu uncompressed bytes",
			       (unsigned long long)s->cap);
	if (s->tee)
		s->tee(s->ctx, s->out, (size_t)n);
	*buf = s->out;
	return n;
}

int unpack_stream_drain(struct unpack_stream *s)
{
	const void *buf;
	ssize_t n;

	while ((n = unpack_stream_read(s, &buf)) > 0)
		;
	return (int)n;
}
