// SPDX-License-Identifier: Apache-2.0
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crc32c.h"
#include "lib/replace_file.h"
#include "vmm/snapshot/file.h"

/* Header layout, all little-endian. */
#define HDR_MAGIC    0
#define HDR_VERSION  8
#define HDR_ARCH     12
#define HDR_BODY_LEN 16
#define HDR_BODY_CRC 24
#define HDR_CRC	     28

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

void snapshot_frame_header(uint8_t out[SNAPSHOT_HEADER_SIZE], const void *body, size_t len)
{
	memcpy(out + HDR_MAGIC, SNAPSHOT_MAGIC, 8);
	put_le32(out + HDR_VERSION, SNAPSHOT_FORMAT_VERSION);
	put_le32(out + HDR_ARCH, SNAPSHOT_ARCH_X86_64);
	put_le64(out + HDR_BODY_LEN, len);
	put_le32(out + HDR_BODY_CRC, crc32c(0, body, len));
	put_le32(out + HDR_CRC, crc32c(0, out, HDR_CRC));
}

/*
 * The checks go from the most to the least telling: a file that is not a
 * snapshot at all, or one from another kvmlet, says so rather than
 * "checksum mismatch".
 */
static int header_parse(const uint8_t *h, size_t len, const char *what, uint64_t *body_len,
			struct err *err)
{
	uint32_t version, arch;

	if (len == 0)
		return err_set(err, -EBADMSG, "%s is empty", what);
	if (len < SNAPSHOT_HEADER_SIZE)
		return err_set(err, -EBADMSG,
			       "%s is truncated: %zu bytes, shorter than the %d-byte header", what,
			       len, SNAPSHOT_HEADER_SIZE);
	if (memcmp(h + HDR_MAGIC, SNAPSHOT_MAGIC, 8))
		return err_set(err, -EBADMSG, "%s is not a kvmlet snapshot (bad magic)", what);
	version = get_le32(h + HDR_VERSION);
	if (version != SNAPSHOT_FORMAT_VERSION)
		return err_set(err, -EPROTONOSUPPORT,
			       "%s has snapshot format version %u; this kvmlet reads version %u",
			       what, version, SNAPSHOT_FORMAT_VERSION);
	arch = get_le32(h + HDR_ARCH);
	if (arch != SNAPSHOT_ARCH_X86_64)
		return err_set(err, -ENOEXEC,
			       "%s is for architecture %u; this kvmlet restores %u (x86-64)", what,
			       arch, SNAPSHOT_ARCH_X86_64);
	if (get_le32(h + HDR_CRC) != crc32c(0, h, HDR_CRC))
		return err_set(err, -EBADMSG, "%s: header checksum mismatch (corrupt header)",
			       what);
	*body_len = get_le64(h + HDR_BODY_LEN);
	if (*body_len > SNAPSHOT_MAX_BODY)
		return err_set(err, -EFBIG, "%s is too large: a %llu-byte body, the limit is %u",
			       what, (unsigned long long)*body_len, SNAPSHOT_MAX_BODY);
	return 0;
}

int snapshot_header_parse(const void *hdr, size_t len, uint64_t *body_len, struct err *err)
{
	return header_parse(hdr, len, "snapshot header", body_len, err);
}

static int frame_parse(const uint8_t *buf, size_t len, const char *what, const void **body,
		       size_t *body_len, struct err *err)
{
	uint64_t blen = 0;
	uint32_t want, got;
	int r = header_parse(buf, len, what, &blen, err);

	if (r)
		return r;
	if (blen > len - SNAPSHOT_HEADER_SIZE)
		return err_set(err, -EBADMSG,
			       "%s is truncated: the header announces a %llu-byte body, %zu bytes "
			       "follow it",
			       what, (unsigned long long)blen, len - SNAPSHOT_HEADER_SIZE);
	if (blen < len - SNAPSHOT_HEADER_SIZE)
		return err_set(err, -EBADMSG, "%s has %llu stray bytes after its body", what,
			       (unsigned long long)(len - SNAPSHOT_HEADER_SIZE - blen));
	want = get_le32(buf + HDR_BODY_CRC);
	got = crc32c(0, buf + SNAPSHOT_HEADER_SIZE, (size_t)blen);
	if (want != got)
		return err_set(err, -EBADMSG,
			       "%s: checksum mismatch (stored 0x%08x, computed 0x%08x): the state "
			       "is corrupt",
			       what, want, got);
	*body = buf + SNAPSHOT_HEADER_SIZE;
	*body_len = (size_t)blen;
	return 0;
}

int snapshot_frame_parse(const void *buf, size_t len, const void **body, size_t *body_len,
			 struct err *err)
{
	return frame_parse(buf, len, "snapshot frame", body, body_len, err);
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int snapshot_file_write(const char *path, const void *body, size_t len, struct err *err)
{
	uint8_t hdr[SNAPSHOT_HEADER_SIZE];
	struct replace_file f;
	int r;

	if (len > SNAPSHOT_MAX_BODY)
		return err_set(err, -EFBIG, "snapshot state for %s is %zu bytes, the limit is %u",
			       path, len, SNAPSHOT_MAX_BODY);
	r = replace_file_open(&f, path, "snapshot file", err);
	if (r)
		return r;
	snapshot_frame_header(hdr, body, len);
	r = write_all(f.fd, hdr, sizeof(hdr));
	if (!r)
		r = write_all(f.fd, body, len);
	if (r) {
		err_set(err, r, "writing %s: %s", f.tmp, strerror(-r));
		replace_file_abort(&f);
		return r;
	}
	return replace_file_commit(&f, err);
}

int snapshot_file_read(const char *path, struct snapshot_blob *out, struct err *err)
{
	struct stat st;
	const void *body = NULL;
	size_t size, got = 0;
	uint8_t *data;
	int fd, r;

	memset(out, 0, sizeof(*out));
	/* O_NONBLOCK: a FIFO under the name must not hang us before the type check. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return err_set(err, -ENOENT, "snapshot file %s does not exist", path);
		return err_set(err, -errno, "opening snapshot file %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		r = err_set(err, -errno, "stat of %s: %s", path, strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = err_set(err, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
			    "snapshot file %s is not a regular file", path);
		goto out_close;
	}
	if ((uint64_t)st.st_size > SNAPSHOT_HEADER_SIZE + (uint64_t)SNAPSHOT_MAX_BODY) {
		r = err_set(err, -EFBIG,
			    "snapshot file %s is too large: %llu bytes, the limit is %u", path,
			    (unsigned long long)st.st_size,
			    SNAPSHOT_HEADER_SIZE + SNAPSHOT_MAX_BODY);
		goto out_close;
	}
	size = (size_t)st.st_size;
	/* One spare byte tells a file that grew after fstat from one that did not. */
	data = malloc(size + 1);
	if (!data) {
		r = err_set(err, -ENOMEM, "out of memory reading %s", path);
		goto out_close;
	}
	while (got <= size) {
		ssize_t n = read(fd, data + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_set(err, -errno, "reading %s: %s", path, strerror(errno));
			free(data);
			goto out_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > size) {
		r = err_set(err, -EBUSY, "snapshot file %s changed while it was read", path);
		free(data);
		goto out_close;
	}
	r = frame_parse(data, got, path, &body, &out->body_len, err);
	if (r) {
		free(data);
		goto out_close;
	}
	out->data = data;
	out->size = got;
	out->body = body;
out_close:
	close(fd);
	return r;
}

void snapshot_blob_free(struct snapshot_blob *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
