// SPDX-License-Identifier: Apache-2.0
/*
 * The live migration stream and policies without a VM: frame headers and
 * their checks (magic, version, type, flags, per-type length limits), the
 * CRC, truncation, each payload's decoder on good and hostile input, the
 * token rules, applying frames to guest RAM (bounds, order, counts), and
 * the convergence and auto-converge throttle decisions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "images.h"
#include "lib/crc32c.h"
#include "memory/dirty.h"
#include "vmm/migration/pending.h"
#include "vmm/migration/policy.h"
#include "vmm/migration/stream.h"
#include "vmm/migration/target.h"

/* A frame in memory, as mig_frame_write() would send it. */
static size_t frame(uint8_t *out, unsigned int type, const void *p, uint32_t n)
{
	struct mig_header h = { MIG_MAGIC, MIG_VERSION, (uint16_t)type, 0, n };
	uint32_t crc = crc32c(0, p, n);

	mig_header_encode(&h, out);
	memcpy(out + MIG_HEADER_SIZE, p, n);
	for (int i = 0; i < 4; i++)
		out[MIG_HEADER_SIZE + n + i] = (uint8_t)(crc >> (8 * i));
	return MIG_HEADER_SIZE + n + 4;
}

static void header_checks(void **state)
{
	struct mig_header h = { MIG_MAGIC, MIG_VERSION, MIG_MSG_PAGES, 0, 100 }, got;
	uint8_t b[MIG_HEADER_SIZE];
	struct err err = { 0 };

	mig_header_encode(&h, b);
	assert_int_equal(mig_header_decode(b, &got, &err), 0);
	assert_int_equal(got.type, MIG_MSG_PAGES);
	assert_int_equal(got.length, 100);

	h.magic ^= 1;
	mig_header_encode(&h, b);
	assert_int_equal(mig_header_decode(b, &got, &(struct err){ 0 }), -EPROTO);
	h.magic = MIG_MAGIC;
	h.version = 2;
	mig_header_encode(&h, b);
	assert_int_equal(mig_header_decode(b, &got, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "version 2"));
	h.version = MIG_VERSION;
	h.type = 99;
	mig_header_encode(&h, b);
	assert_int_equal(mig_header_decode(b, &got, &(struct err){ 0 }), -EPROTO);
	h.type = MIG_MSG_COMPLETE;
	h.flags = 1;
	mig_header_encode(&h, b);
	assert_int_equal(mig_header_decode(b, &got, &(struct err){ 0 }), -EPROTO);
	/* Each type has its own limit: COMPLETE carries nothing, PAGES a MiB and a header. */
	h.flags = 0;
	h.length = 1;
	mig_header_encode(&h, b);
	assert_int_equal(mig_header_decode(b, &got, &(struct err){ 0 }), -EMSGSIZE);
	h.type = MIG_MSG_PAGES;
	h.length = MIG_PAGES_HEADER + MIG_RUN_MAX_PAGES * 4096 + 1;
	mig_header_encode(&h, b);
	assert_int_equal(mig_header_decode(b, &got, &(struct err){ 0 }), -EMSGSIZE);
	h.type = MIG_MSG_STATE;
	h.length = 0xffffffffu;
	mig_header_encode(&h, b);
	assert_int_equal(mig_header_decode(b, &got, &(struct err){ 0 }), -EMSGSIZE);
}

static void frame_crc_and_truncation(void **state)
{
	uint8_t buf[256], payload[40];
	const uint8_t *p;
	struct mig_header h;
	size_t n, used;

	memset(payload, 0xab, sizeof(payload));
	n = frame(buf, MIG_MSG_REFUSE, payload, sizeof(payload));
	assert_int_equal(mig_frame_parse(buf, n, &h, &p, &used, &(struct err){ 0 }), 0);
	assert_int_equal(used, n);
	assert_memory_equal(p, payload, sizeof(payload));
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(mig_frame_parse(buf, cut, &h, &p, &used, &(struct err){ 0 }),
				 -ECONNRESET);
	buf[MIG_HEADER_SIZE + 7] ^= 0x10;
	assert_int_equal(mig_frame_parse(buf, n, &h, &p, &used, &(struct err){ 0 }), -EBADMSG);
}

static void tokens(void **state)
{
	char long_token[MIG_MAX_TOKEN + 2];

	assert_true(mig_token_valid("a"));
	assert_true(mig_token_valid("0123abcd-~!"));
	assert_false(mig_token_valid(""));
	assert_false(mig_token_valid("has space"));
	assert_false(mig_token_valid("tab\t"));
	memset(long_token, 'x', sizeof(long_token) - 1);
	long_token[sizeof(long_token) - 1] = '\0';
	assert_false(mig_token_valid(long_token));
	long_token[MIG_MAX_TOKEN] = '\0';
	assert_true(mig_token_valid(long_token));
	assert_true(mig_token_equal("secret", "secret"));
	assert_false(mig_token_equal("secret", "secreT"));
	assert_false(mig_token_equal("secret", "secret2"));
	assert_false(mig_token_equal("secret", "secre"));
	assert_false(mig_token_equal("secret", ""));
}

static void hello_round_trip(void **state)
{
	struct mig_hello h = { .conn_index = 2, .nr_conns = 4 }, got;
	struct state_writer w;

	strcpy(h.token, "tok");
	state_writer_init(&w);
	mig_hello_encode(&w, &h);
	assert_int_equal(mig_hello_decode(w.data, w.len, &got, &(struct err){ 0 }), 0);
	assert_string_equal(got.token, "tok");
	assert_int_equal(got.conn_index, 2);
	/* Every truncation is refused. */
	for (size_t n = 0; n < w.len; n++)
		assert_int_equal(mig_hello_decode(w.data, n, &got, &(struct err){ 0 }), -EPROTO);
	state_writer_fini(&w);
	h.conn_index = 4; /* not below nr_conns */
	state_writer_init(&w);
	mig_hello_encode(&w, &h);
	assert_int_equal(mig_hello_decode(w.data, w.len, &got, &(struct err){ 0 }), -EPROTO);
	state_writer_fini(&w);
}

static void start_round_trip(void **state)
{
	struct mig_start *s = calloc(1, sizeof(*s)), *got = calloc(1, sizeof(*got));
	struct state_writer w;

	s->nr_vcpus = 2;
	s->mem_size = 128 << 20;
	s->nr_regions = 1;
	s->region[0] = (struct mig_region){ 0, 128 << 20 };
	s->config_json = strdup("{\"machine-config\":{}}");
	s->nr_devices = 2;
	strcpy(s->device[0], "serial");
	strcpy(s->device[1], "virtio-blk d0");
	s->nr_cpuid = 1;
	s->cpuid[0] = (struct mig_cpuid_leaf){ 1, 0, 1, 2, 3, 4 };
	state_writer_init(&w);
	mig_start_encode(&w, s);
	assert_int_equal(mig_start_decode(w.data, w.len, got, &(struct err){ 0 }), 0);
	assert_string_equal(got->config_json, s->config_json);
	assert_string_equal(got->device[1], "virtio-blk d0");
	assert_int_equal(got->cpuid[0].edx, 4);
	mig_start_free(got);
	for (size_t n = 0; n < w.len; n++) {
		assert_int_equal(mig_start_decode(w.data, n, got, &(struct err){ 0 }), -EPROTO);
		mig_start_free(got);
	}
	state_writer_fini(&w);
	/* Three regions is more than a board has: the count after u32 vCPUs and u64 bytes. */
	state_writer_init(&w);
	mig_start_encode(&w, s);
	w.data[12] = 3;
	assert_int_equal(mig_start_decode(w.data, w.len, got, &(struct err){ 0 }), -EPROTO);
	mig_start_free(got);
	state_writer_fini(&w);
	mig_start_free(s);
	free(s);
	free(got);
}

static void pages_decode(void **state)
{
	uint8_t *b = calloc(1, MIG_PAGES_HEADER + 2 * 4096);
	struct mig_pages pg;

	mig_pages_encode_header(b, 0x2000, 2, 0);
	assert_int_equal(mig_pages_decode(b, MIG_PAGES_HEADER + 2 * 4096, &pg, &(struct err){ 0 }),
			 0);
	assert_int_equal(pg.count, 2);
	/* Data must be exactly count pages. */
	assert_int_equal(mig_pages_decode(b, MIG_PAGES_HEADER + 4096, &pg, &(struct err){ 0 }),
			 -EPROTO);
	mig_pages_encode_header(b, 0x2000, 2, MIG_PAGES_ZERO);
	assert_int_equal(mig_pages_decode(b, MIG_PAGES_HEADER, &pg, &(struct err){ 0 }), 0);
	assert_int_equal(mig_pages_decode(b, MIG_PAGES_HEADER + 1, &pg, &(struct err){ 0 }),
			 -EPROTO);
	mig_pages_encode_header(b, 0x2001, 1, MIG_PAGES_ZERO); /* not page-aligned */
	assert_int_equal(mig_pages_decode(b, MIG_PAGES_HEADER, &pg, &(struct err){ 0 }), -EPROTO);
	mig_pages_encode_header(b, 0, 0, MIG_PAGES_ZERO);
	assert_int_equal(mig_pages_decode(b, MIG_PAGES_HEADER, &pg, &(struct err){ 0 }), -EPROTO);
	mig_pages_encode_header(b, 0, MIG_RUN_MAX_PAGES + 1, MIG_PAGES_ZERO);
	assert_int_equal(mig_pages_decode(b, MIG_PAGES_HEADER, &pg, &(struct err){ 0 }), -EPROTO);
	mig_pages_encode_header(b, 0, 1, 2); /* unknown flag */
	assert_int_equal(mig_pages_decode(b, MIG_PAGES_HEADER, &pg, &(struct err){ 0 }), -EPROTO);
	assert_int_equal(mig_pages_decode(b, 3, &pg, &(struct err){ 0 }), -EPROTO);
	free(b);
}

/* ---- applying frames to RAM ---------------------------------------------- */

static int apply(struct mig_apply *a, unsigned int conn, unsigned int type, const void *p,
		 uint32_t n)
{
	struct mig_header h = { MIG_MAGIC, MIG_VERSION, (uint16_t)type, 0, n };

	return mig_apply_frame(a, conn, &h, p, &(struct err){ 0 });
}

static void apply_pages_and_order(void **state)
{
	struct guest_memory gm;
	uint8_t *b = calloc(1, MIG_PAGES_HEADER + 4096);
	uint8_t end[8] = { 1 };
	struct mig_apply *a;

	assert_int_equal(gm_alloc(&gm, 4 << 20, MEM_BACKEND_ANON, &(struct err){ 0 }), 0);
	a = mig_apply_new(&gm, 2);
	mig_pages_encode_header(b, 0x1000, 1, 0);
	memset(b + MIG_PAGES_HEADER, 0x5a, 4096);
	assert_int_equal(apply(a, 0, MIG_MSG_PAGES, b, MIG_PAGES_HEADER + 4096), 0);
	assert_int_equal(gm.base[0x1000], 0x5a);
	assert_int_equal(gm.base[0x1fff], 0x5a);
	assert_int_equal(gm.base[0x2000], 0);
	/* The last page is in RAM; one past it, or a run across the end, is not. */
	mig_pages_encode_header(b, (4 << 20) - 4096, 1, MIG_PAGES_ZERO);
	assert_int_equal(apply(a, 1, MIG_MSG_PAGES, b, MIG_PAGES_HEADER), 0);
	mig_pages_encode_header(b, 4 << 20, 1, MIG_PAGES_ZERO);
	assert_int_equal(apply(a, 1, MIG_MSG_PAGES, b, MIG_PAGES_HEADER), -ERANGE);
	mig_pages_encode_header(b, (4 << 20) - 4096, 2, MIG_PAGES_ZERO);
	assert_int_equal(apply(a, 1, MIG_MSG_PAGES, b, MIG_PAGES_HEADER), -ERANGE);
	mig_pages_encode_header(b, 0xfffffffffffff000ull, 1, MIG_PAGES_ZERO);
	assert_int_equal(apply(a, 1, MIG_MSG_PAGES, b, MIG_PAGES_HEADER), -ERANGE);
	/* A zero run clears what was there. */
	mig_pages_encode_header(b, 0x1000, 1, MIG_PAGES_ZERO);
	assert_int_equal(apply(a, 0, MIG_MSG_PAGES, b, MIG_PAGES_HEADER), 0);
	assert_int_equal(gm.base[0x1000], 0);

	/* Order: no COMPLETE or STATE before every connection's end of memory. */
	assert_int_equal(apply(a, 0, MIG_MSG_COMPLETE, NULL, 0), -EPROTO);
	assert_int_equal(apply(a, 0, MIG_MSG_STATE, "s", 1), -EPROTO);
	end[0] = 5; /* connection 0 carried 2 frames, not 5 */
	assert_int_equal(apply(a, 0, MIG_MSG_MEM_END, end, 8), -EPROTO);
	end[0] = 2;
	assert_int_equal(apply(a, 0, MIG_MSG_MEM_END, end, 8), 0);
	assert_int_equal(apply(a, 0, MIG_MSG_PAGES, b, MIG_PAGES_HEADER), -EPROTO);
	assert_int_equal(apply(a, 0, MIG_MSG_STATE, "s", 1), 0);
	assert_int_equal(apply(a, 0, MIG_MSG_STATE, "s", 1), -EPROTO);
	assert_int_equal(apply(a, 0, MIG_MSG_COMPLETE, NULL, 0), -EPROTO); /* conn 1 not done */
	end[0] = 1;
	assert_int_equal(apply(a, 1, MIG_MSG_MEM_END, end, 8), 0);
	assert_int_equal(apply(a, 1, MIG_MSG_COMPLETE, NULL, 0), -EPROTO); /* not on conn 0 */
	assert_int_equal(apply(a, 2, MIG_MSG_PAGES, b, MIG_PAGES_HEADER), -EPROTO);
	assert_int_equal(apply(a, 0, MIG_MSG_HELLO, NULL, 0), -EPROTO);
	assert_int_equal(apply(a, 0, MIG_MSG_COMPLETE, NULL, 0), 1);
	mig_apply_free(a);
	a = mig_apply_new(&gm, 1);
	assert_int_equal(apply(a, 0, MIG_MSG_ABANDON, "\x02\0\0\0no", 6), -ECANCELED);
	mig_apply_free(a);
	gm_free(&gm);
	free(b);
}

/* ---- policy --------------------------------------------------------------- */

static void convergence(void **state)
{
	struct mig_measure m = { .remaining_bytes = 30 << 20, .bandwidth_bps = 100 << 20 };

	/* 30 MiB at 100 MiB/s is 300 ms. */
	assert_true(mig_expected_downtime_ms(&m) > 299 && mig_expected_downtime_ms(&m) < 301);
	assert_int_equal(mig_decide(&m, 300), MIG_STOP_AND_COPY);
	assert_int_equal(mig_decide(&m, 299), MIG_ITERATE);
	m.remaining_bytes = 0;
	assert_int_equal(mig_decide(&m, 1), MIG_STOP_AND_COPY);
	m = (struct mig_measure){ .remaining_bytes = 4096, .bandwidth_bps = 0 };
	assert_int_equal(mig_decide(&m, 600000), MIG_ITERATE);
}

static void throttle_steps(void **state)
{
	struct mig_measure fast = { .bandwidth_bps = 100, .dirty_bps = 60 };
	struct mig_measure slow = { .bandwidth_bps = 100, .dirty_bps = 40 };
	unsigned int t = 0;

	assert_int_equal(mig_next_throttle(0, false, &fast), 0);
	assert_int_equal(mig_next_throttle(0, true, &slow), 0);
	assert_int_equal(mig_next_throttle(30, true, &slow), 30);
	t = mig_next_throttle(t, true, &fast);
	assert_int_equal(t, 20);
	t = mig_next_throttle(t, true, &fast);
	assert_int_equal(t, 30);
	for (int i = 0; i < 20; i++)
		t = mig_next_throttle(t, true, &fast);
	assert_int_equal(t, 99);
}

/* ---- the pages still to send ---------------------------------------------- */

static bool bm_test(const uint64_t *bm, uint64_t pg)
{
	return bm[pg / 64] & (1ull << (pg % 64));
}

/*
 * An io_uring read completes into page 5 after the pass sent it, so only
 * the VMM's bitmap has it, and the last pre-copy harvest takes it. The
 * guest is then paused and writes nothing more: the last pass must still
 * send page 5 (it lost "the last read's data" when stop-and-copy started
 * from a fresh harvest).
 */
static void device_write_before_the_last_harvest(void **state)
{
	struct guest_memory gm;
	struct err err = { 0 };
	uint64_t *bm;

	test_gm_alloc(&gm, 1 * MiB);
	bm = calloc(gm_bitmap_words(&gm), sizeof(uint64_t));
	assert_non_null(bm);
	assert_int_equal(dirty_log_start(&gm, -1, DIRTY_LOG_DEFAULT, &err), 0);
	gm_mark_dirty(&gm, gm.base + 5 * GM_PAGE_SIZE, GM_PAGE_SIZE);
	assert_int_equal(mig_pending_refill(&gm, -1, bm, &err), 0);
	assert_true(bm_test(bm, 5));
	/* Stop-and-copy: the VM pauses, then the last harvest. */
	gm_mark_dirty(&gm, gm.base + 9 * GM_PAGE_SIZE + 100, 1);
	assert_int_equal(mig_pending_final(&gm, -1, bm, &err), 0);
	assert_true(bm_test(bm, 5));
	assert_true(bm_test(bm, 9));
	/* A pass that sent them starts afresh. */
	assert_int_equal(mig_pending_refill(&gm, -1, bm, &err), 0);
	assert_false(bm_test(bm, 5) || bm_test(bm, 9));
	assert_int_equal(dirty_log_stop(&gm, -1, &err), 0);
	free(bm);
	gm_free(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_checks),
		cmocka_unit_test(frame_crc_and_truncation),
		cmocka_unit_test(tokens),
		cmocka_unit_test(hello_round_trip),
		cmocka_unit_test(start_round_trip),
		cmocka_unit_test(pages_decode),
		cmocka_unit_test(apply_pages_and_order),
		cmocka_unit_test(convergence),
		cmocka_unit_test(throttle_steps),
		cmocka_unit_test(device_write_before_the_last_harvest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
