// SPDX-License-Identifier: Apache-2.0
/* The snapshot state file: framing, atomic writes, and every refusal. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/crc32c.h"
#include "tests/unit/images.h"
#include "vmm/snapshot/file.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/kvmlet-snapfile-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
		if (unlink(p) < 0)
			rmdir(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void write_raw(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	if (n)
		assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* A framed body of n bytes with a recognisable pattern; caller frees. */
static uint8_t *make_frame(size_t n)
{
	uint8_t *buf = malloc(SNAPSHOT_HEADER_SIZE + n);

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		buf[SNAPSHOT_HEADER_SIZE + i] = (uint8_t)(i * 7 + 3);
	snapshot_frame_header(buf, buf + SNAPSHOT_HEADER_SIZE, n);
	return buf;
}

static void reseal_header(uint8_t *h)
{
	uint32_t c = crc32c(0, h, 28);

	memcpy(h + 28, &c, 4);
}

/* Writes the bytes to the fixture's path and expects the read to fail so. */
static void expect_refused(struct fixture *f, const void *p, size_t n, int code, const char *substr)
{
	struct snapshot_blob b;
	struct err err = { 0 };

	write_raw(f->path, p, n);
	assert_int_equal(snapshot_file_read(f->path, &b, &err), code);
	assert_err(&err, code, substr);
	assert_null(b.data);
}

static void crc_vectors(void **state)
{
	uint8_t buf[1000];

	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c(0, "", 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + (i >> 3));
	for (size_t n = 0; n < sizeof(buf); n += 37) {
		assert_int_equal(crc32c(0, buf, n), crc32c_sw(0, buf, n));
		/* Chaining equals one pass. */
		assert_int_equal(crc32c(crc32c(0, buf, n / 3), buf + n / 3, n - n / 3),
				 crc32c(0, buf, n));
	}
}

static void roundtrip(void **state)
{
	struct fixture *f = *state;
	struct snapshot_blob b;
	struct err err = { 0 };
	uint8_t body[3000];
	DIR *d;
	struct dirent *e;
	int entries = 0;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i ^ 0x5c);
	assert_int_equal(snapshot_file_write(f->path, "old", 3, &err), 0);
	assert_int_equal(snapshot_file_write(f->path, body, sizeof(body), &err), 0);
	assert_int_equal(snapshot_file_read(f->path, &b, &err), 0);
	assert_int_equal(b.body_len, sizeof(body));
	assert_int_equal(b.size, SNAPSHOT_HEADER_SIZE + sizeof(body));
	assert_memory_equal(b.body, body, sizeof(body));
	assert_memory_equal(b.data, "KVMLETSN", 8);
	snapshot_blob_free(&b);
	assert_null(b.data);

	/* No temporary file is left behind. */
	d = opendir(f->dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			entries++;
	closedir(d);
	assert_int_equal(entries, 1);

	/* An empty body is a valid frame. */
	assert_int_equal(snapshot_file_write(f->path, NULL, 0, &err), 0);
	assert_int_equal(snapshot_file_read(f->path, &b, &err), 0);
	assert_int_equal(b.body_len, 0);
	snapshot_blob_free(&b);
}

static void write_errors(void **state)
{
	struct fixture *f = *state;
	struct err err = { 0 };
	char path[200];

	snprintf(path, sizeof(path), "%s/no/such/dir/state", f->dir);
	assert_int_equal(snapshot_file_write(path, "x", 1, &err), -ENOENT);
	assert_err(&err, -ENOENT, "creating a temporary file");
	memset(&err, 0, sizeof(err));
	assert_int_equal(snapshot_file_write(f->path, "x", SNAPSHOT_MAX_BODY + 1ull, &err), -EFBIG);
	assert_err(&err, -EFBIG, "the limit is");
	assert_int_equal(access(f->path, F_OK), -1);
}

static void refuse_missing_and_special(void **state)
{
	struct fixture *f = *state;
	struct snapshot_blob b;
	struct err err = { 0 };
	char fifo[200];

	assert_int_equal(snapshot_file_read(f->path, &b, &err), -ENOENT);
	assert_err(&err, -ENOENT, "does not exist");
	memset(&err, 0, sizeof(err));
	assert_int_equal(snapshot_file_read(f->dir, &b, &err), -EISDIR);
	assert_err(&err, -EISDIR, "not a regular file");
	/* A FIFO is refused, not waited on. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(snapshot_file_read(fifo, &b, &err), -EINVAL);
	assert_err(&err, -EINVAL, "not a regular file");
}

static void refuse_empty_and_truncated(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = make_frame(100);
	static const size_t short_header[] = { 1, 8, 16, 31 };

	expect_refused(f, buf, 0, -EBADMSG, "is empty");
	for (size_t i = 0; i < sizeof(short_header) / sizeof(short_header[0]); i++)
		expect_refused(f, buf, short_header[i], -EBADMSG,
			       "shorter than the 32-byte header");
	expect_refused(f, buf, SNAPSHOT_HEADER_SIZE, -EBADMSG, "announces a 100-byte body");
	expect_refused(f, buf, SNAPSHOT_HEADER_SIZE + 50, -EBADMSG, "50 bytes follow");
	expect_refused(f, buf, SNAPSHOT_HEADER_SIZE + 99, -EBADMSG, "is truncated");
	free(buf);
}

static void refuse_trailing(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = make_frame(100);

	/* The frame of the first 60 bytes, followed by 40 more. */
	snapshot_frame_header(buf, buf + SNAPSHOT_HEADER_SIZE, 60);
	expect_refused(f, buf, SNAPSHOT_HEADER_SIZE + 100, -EBADMSG, "40 stray bytes");
	free(buf);
}

static void refuse_corruption(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = make_frame(500);
	static const size_t flips[] = { 0, 1, 250, 499 };

	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		buf[SNAPSHOT_HEADER_SIZE + flips[i]] ^= 0x10;
		expect_refused(f, buf, SNAPSHOT_HEADER_SIZE + 500, -EBADMSG, "checksum mismatch");
		buf[SNAPSHOT_HEADER_SIZE + flips[i]] ^= 0x10;
	}
	/* The body length and the stored CRCs are covered by the header CRC. */
	buf[16] ^= 1;
	expect_refused(f, buf, SNAPSHOT_HEADER_SIZE + 500, -EBADMSG, "header checksum");
	buf[16] ^= 1;
	buf[24] ^= 1;
	expect_refused(f, buf, SNAPSHOT_HEADER_SIZE + 500, -EBADMSG, "header checksum");
	buf[24] ^= 1;
	buf[30] ^= 1;
	expect_refused(f, buf, SNAPSHOT_HEADER_SIZE + 500, -EBADMSG, "header checksum");
	free(buf);
}

static void refuse_foreign(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = make_frame(20);
	size_t n = SNAPSHOT_HEADER_SIZE + 20;

	memcpy(buf, "QEMU\0\0\0\0", 8);
	expect_refused(f, buf, n, -EBADMSG, "bad magic");
	memcpy(buf, "KVMLETSN", 8);
	buf[8] = 2;
	reseal_header(buf);
	expect_refused(f, buf, n, -EPROTONOSUPPORT,
		       "format version 2; this kvmlet reads version 1");
	buf[8] = 1;
	buf[12] = 7;
	reseal_header(buf);
	expect_refused(f, buf, n, -ENOEXEC, "architecture 7");
	buf[12] = 1;
	reseal_header(buf);
	expect_refused(f, buf, n - 1, -EBADMSG, "truncated");
	free(buf);
}

static void refuse_oversized(void **state)
{
	struct fixture *f = *state;
	struct snapshot_blob b;
	struct err err = { 0 };
	uint8_t hdr[SNAPSHOT_HEADER_SIZE];
	uint64_t big = SNAPSHOT_MAX_BODY + 1ull, body_len;
	int fd;

	/* A sparse file just over the cap: refused from its size, unread. */
	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	snapshot_frame_header(hdr, "", 0);
	assert_int_equal(write(fd, hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(ftruncate(fd, SNAPSHOT_HEADER_SIZE + big), 0);
	close(fd);
	assert_int_equal(snapshot_file_read(f->path, &b, &err), -EFBIG);
	assert_err(&err, -EFBIG, "too large");

	/* A header announcing more than the cap, as a stream reader would see it. */
	memcpy(hdr + 16, &big, 8);
	reseal_header(hdr);
	memset(&err, 0, sizeof(err));
	assert_int_equal(snapshot_header_parse(hdr, sizeof(hdr), &body_len, &err), -EFBIG);
	assert_err(&err, -EFBIG, "too large");
}

static void frame_from_buffer(void **state)
{
	uint8_t *buf = make_frame(64);
	const void *body;
	size_t body_len;
	uint64_t announced;
	struct err err = { 0 };

	assert_int_equal(snapshot_header_parse(buf, SNAPSHOT_HEADER_SIZE, &announced, &err), 0);
	assert_int_equal(announced, 64);
	assert_int_equal(
		snapshot_frame_parse(buf, SNAPSHOT_HEADER_SIZE + 64, &body, &body_len, &err), 0);
	assert_ptr_equal(body, buf + SNAPSHOT_HEADER_SIZE);
	assert_int_equal(body_len, 64);
	assert_int_equal(snapshot_frame_parse(buf, 0, &body, &body_len, &err), -EBADMSG);
	assert_err(&err, -EBADMSG, "snapshot frame is empty");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc_vectors),
		cmocka_unit_test(frame_from_buffer),
		cmocka_unit_test_setup_teardown(roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(write_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(refuse_missing_and_special, setup, teardown),
		cmocka_unit_test_setup_teardown(refuse_empty_and_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(refuse_trailing, setup, teardown),
		cmocka_unit_test_setup_teardown(refuse_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(refuse_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(refuse_oversized, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
