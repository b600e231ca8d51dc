// SPDX-License-Identifier: Apache-2.0
/* lib/state.c: the byte encoding under snapshots, fed short and hostile input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/state.h"

static void roundtrip(void **state)
{
	struct state_writer w;
	struct state_reader r;
	char s[16];
	uint8_t raw[3];

	state_writer_init(&w);
	state_put_u8(&w, 0xab);
	state_put_u16(&w, 0xbeef);
	state_put_u32(&w, 0xdeadbeef);
	state_put_u64(&w, 0x0123456789abcdefull);
	state_put_str(&w, "hello");
	state_put_str(&w, NULL);
	state_put(&w, "xyz", 3);
	assert_int_equal(state_writer_status(&w), 0);
	assert_int_equal(w.len, 1 + 2 + 4 + 8 + 4 + 5 + 4 + 3);

	state_reader_init(&r, w.data, w.len);
	assert_int_equal(state_get_u8(&r), 0xab);
	assert_int_equal(state_get_u16(&r), 0xbeef);
	assert_int_equal(state_get_u32(&r), 0xdeadbeef);
	assert_int_equal(state_get_u64(&r), 0x0123456789abcdefull);
	state_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "hello");
	state_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "");
	assert_false(state_done(&r));
	state_get(&r, raw, 3);
	assert_memory_equal(raw, "xyz", 3);
	assert_true(state_done(&r));
	assert_int_equal(state_remaining(&r), 0);
	state_writer_fini(&w);
	assert_null(w.data);
}

static void little_endian_wire(void **state)
{
	struct state_writer w;
	static const uint8_t want[] = { 0x04, 0x03, 0x02, 0x01, 0x02, 0x01, 0x08,
					0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };

	state_writer_init(&w);
	state_put_u32(&w, 0x01020304);
	state_put_u16(&w, 0x0102);
	state_put_u64(&w, 0x0102030405060708ull);
	assert_int_equal(w.len, sizeof(want));
	assert_memory_equal(w.data, want, sizeof(want));
	state_writer_fini(&w);
}

static void grows_past_initial_capacity(void **state)
{
	struct state_writer w;
	struct state_reader r;

	state_writer_init(&w);
	for (uint32_t i = 0; i < 10000; i++)
		state_put_u32(&w, i);
	assert_int_equal(state_writer_status(&w), 0);
	state_reader_init(&r, w.data, w.len);
	for (uint32_t i = 0; i < 10000; i++)
		assert_int_equal(state_get_u32(&r), i);
	assert_true(state_done(&r));
	state_writer_fini(&w);
}

static void short_input_is_sticky(void **state)
{
	static const uint8_t b[] = { 1, 2, 3 };
	struct state_reader r;
	uint8_t out[4] = { 9, 9, 9, 9 };

	state_reader_init(&r, b, sizeof(b));
	assert_int_equal(state_get_u32(&r), 0); /* one byte short */
	assert_true(r.bad);
	/* Everything after fails too, even what would fit. */
	assert_int_equal(state_get_u8(&r), 0);
	assert_int_equal(state_remaining(&r), 0);
	assert_false(state_done(&r));
	state_get(&r, out, 4);
	assert_memory_equal(out, "\0\0\0\0", 4);

	/* An exact fit is fine; one more byte is not. */
	state_reader_init(&r, b, sizeof(b));
	state_get(&r, out, 3);
	assert_true(state_done(&r));
	state_get_u8(&r);
	assert_false(state_done(&r));

	/* An empty reader. */
	state_reader_init(&r, b, 0);
	assert_true(state_done(&r));
	assert_int_equal(state_get_u16(&r), 0);
	assert_true(r.bad);
}

static void check_marks_bad(void **state)
{
	static const uint8_t b[] = { 1 };
	struct state_reader r;

	state_reader_init(&r, b, sizeof(b));
	assert_true(state_check(&r, true));
	assert_false(r.bad);
	assert_false(state_check(&r, false));
	assert_true(r.bad);
	assert_true(state_check(&r, true)); /* returns cond, stays bad */
	assert_true(r.bad);
	assert_int_equal(state_get_u8(&r), 0);
}

/* A u32 length then the bytes, as state_put_str writes them. */
static void str_reader(struct state_reader *r, uint8_t *buf, uint32_t n, const char *s, size_t slen)
{
	memcpy(buf, &n, 4);
	memcpy(buf + 4, s, slen);
	state_reader_init(r, buf, 4 + slen);
}

static void hostile_strings(void **state)
{
	struct state_reader r;
	uint8_t buf[64];
	char s[8];

	/* Exactly cap - 1 characters fit. */
	str_reader(&r, buf, 7, "1234567", 7);
	state_get_str(&r, s, sizeof(s));
	assert_string_equal(s, "1234567");
	assert_true(state_done(&r));
	/* cap characters do not (no room for the NUL). */
	str_reader(&r, buf, 8, "12345678", 8);
	state_get_str(&r, s, sizeof(s));
	assert_true(r.bad);
	assert_string_equal(s, "");
	/* A length beyond the input. */
	str_reader(&r, buf, 5, "abc", 3);
	state_get_str(&r, s, sizeof(s));
	assert_true(r.bad);
	/* A huge length is refused before anything is read. */
	str_reader(&r, buf, 0xffffffffu, "abc", 3);
	state_get_str(&r, s, sizeof(s));
	assert_true(r.bad);
	/* An embedded NUL. */
	str_reader(&r, buf, 3, "a\0c", 3);
	state_get_str(&r, s, sizeof(s));
	assert_true(r.bad);
	/* No length at all. */
	state_reader_init(&r, buf, 2);
	state_get_str(&r, s, sizeof(s));
	assert_true(r.bad);
	assert_string_equal(s, "");
}

static void sections(void **state)
{
	struct state_writer w;
	struct state_reader r, body;
	uint32_t id, version;

	state_writer_init(&w);
	state_section_begin(&w, 7, 2);
	state_put_u32(&w, 0xaabbccdd);
	state_section_end(&w);
	state_section_begin(&w, 8, 1); /* an empty section */
	state_section_end(&w);
	state_section_end(&w); /* without a begin: nothing happens */
	assert_int_equal(w.len, 16 + 4 + 16);

	state_reader_init(&r, w.data, w.len);
	assert_int_equal(state_next_section(&r, &id, &version, &body), 1);
	assert_int_equal(id, 7);
	assert_int_equal(version, 2);
	assert_int_equal(body.len, 4);
	/* A section's reader ends with the section, whatever follows it. */
	assert_int_equal(state_get_u64(&body), 0);
	assert_true(body.bad);
	assert_false(r.bad);
	assert_int_equal(state_next_section(&r, &id, &version, &body), 1);
	assert_int_equal(id, 8);
	assert_int_equal(body.len, 0);
	assert_true(state_done(&body));
	assert_int_equal(state_next_section(&r, &id, &version, &body), 0);
	assert_true(state_done(&r));
	state_writer_fini(&w);
}

static void hostile_sections(void **state)
{
	struct state_writer w;
	struct state_reader r, body;
	uint32_t id, version;
	uint64_t huge = ~0ull;

	state_writer_init(&w);
	state_section_begin(&w, 3, 1);
	state_put_u64(&w, 42);
	state_section_end(&w);

	/* Truncated inside the header, at each field. */
	for (size_t n = 1; n < 16; n += 5) {
		state_reader_init(&r, w.data, n);
		assert_int_equal(state_next_section(&r, &id, &version, &body), -EBADMSG);
		assert_true(r.bad);
		assert_true(body.bad);
		assert_int_equal(state_remaining(&body), 0);
	}
	/* Truncated inside the body. */
	state_reader_init(&r, w.data, w.len - 1);
	assert_int_equal(state_next_section(&r, &id, &version, &body), -EBADMSG);
	assert_true(r.bad);
	/* A length that would wrap around. */
	memcpy(w.data + 8, &huge, 8);
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(state_next_section(&r, &id, &version, &body), -EBADMSG);
	/* Once bad, no more sections, never a clean end. */
	assert_int_equal(state_next_section(&r, &id, &version, &body), -EBADMSG);
	state_writer_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip),
		cmocka_unit_test(little_endian_wire),
		cmocka_unit_test(grows_past_initial_capacity),
		cmocka_unit_test(short_input_is_sticky),
		cmocka_unit_test(check_marks_bad),
		cmocka_unit_test(hostile_strings),
		cmocka_unit_test(sections),
		cmocka_unit_test(hostile_sections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
