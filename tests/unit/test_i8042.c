// SPDX-License-Identifier: Apache-2.0
/*
 * The i8042 and its keyboard, driven through the bus ops as Linux's i8042
 * and atkbd drivers drive them, with recorders for IRQ 1 and the machine's
 * exit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/legacy/i8042.h"
#include "kvmlet/exit_codes.h"

#define DATA   0
#define STATUS 4
#define CMD    4

#define STS_OBF	    0x01
#define STS_AUXDATA 0x20

struct fixture {
	struct i8042 *k;
	struct machine_exit exit;
	int exit_code;
	unsigned int exits;
	bool level;
	unsigned int rises, changes;
};

static void record_exit(void *ctx, int code, const char *reason)
{
	struct fixture *f = ctx;

	f->exit_code = code;
	f->exits++;
}

static void record_irq(void *ctx, unsigned int gsi, bool level)
{
	struct fixture *f = ctx;

	assert_int_equal(gsi, 1);
	if (level && !f->level)
		f->rises++;
	f->level = level;
	f->changes++;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->exit = (struct machine_exit){ record_exit, f };
	f->exit_code = -1;
	f->k = i8042_create(&f->exit, (struct irq_line){ .set = record_irq, .ctx = f, .gsi = 1 });
	assert_non_null(f->k);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	i8042_destroy(f->k);
	free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, uint64_t port)
{
	uint8_t v = 0xa5;

	i8042_bus_ops.read(f->k, port, &v, 1);
	return v;
}

static void wr(struct fixture *f, uint64_t port, uint8_t v)
{
	i8042_bus_ops.write(f->k, port, &v, 1);
}

/* Reads every byte the guest would, checking each against `want`. */
static void expect_bytes(struct fixture *f, const uint8_t *want, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t st = rd(f, STATUS);

		if (!(st & STS_OBF))
			fail_msg("byte %zu: output buffer empty", i);
		assert_false(st & STS_AUXDATA);
		assert_int_equal(rd(f, DATA), want[i]);
	}
	assert_false(rd(f, STATUS) & STS_OBF);
}

#define EXPECT(f, ...)                                \
	do {                                          \
		const uint8_t w_[] = { __VA_ARGS__ }; \
		expect_bytes((f), w_, sizeof(w_));    \
	} while (0)

static void write_ctr(struct fixture *f, uint8_t ctr)
{
	wr(f, CMD, 0x60);
	wr(f, DATA, ctr);
}

/* What Linux's i8042 probe asks of the controller. */
static void controller_probe(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, STATUS) & STS_OBF, 0);
	wr(f, CMD, 0x20);
	EXPECT(f, 0x65); /* KBDINT | SYS | AUXDIS | XLATE */
	wr(f, CMD, 0xaa);
	EXPECT(f, 0x55);
	wr(f, CMD, 0xab);
	EXPECT(f, 0x00);
	/* The command port flag and SYS follow the writes and the command byte. */
	assert_true(rd(f, STATUS) & 0x08);
	write_ctr(f, 0x44);
	assert_false(rd(f, STATUS) & 0x08);
	wr(f, CMD, 0x20);
	EXPECT(f, 0x44);
	assert_true(rd(f, STATUS) & 0x04);
	write_ctr(f, 0x40);
	assert_false(rd(f, STATUS) & 0x04);
	/* No mouse: the loopback byte comes back unflagged, so the probe fails at once. */
	wr(f, CMD, 0xd3);
	wr(f, DATA, 0x5a);
	EXPECT(f, 0x5a);
	wr(f, CMD, 0xd4);
	wr(f, DATA, 0xf2);
	assert_false(rd(f, STATUS) & STS_OBF);
	/* AUX enable/disable reach the command byte. */
	wr(f, CMD, 0xa8);
	wr(f, CMD, 0x20);
	EXPECT(f, 0x40);
	wr(f, CMD, 0xa7);
	wr(f, CMD, 0x20);
	EXPECT(f, 0x60);
	/* Output port: reset inactive, A20 on. */
	wr(f, CMD, 0xd0);
	EXPECT(f, 0x03);
	assert_int_equal(f->exits, 0);
}

/* What atkbd's probe and set-up ask of the keyboard. */
static void keyboard_commands(void **state)
{
	struct fixture *f = *state;

	wr(f, DATA, 0xff);
	EXPECT(f, 0xfa, 0xaa);
	wr(f, DATA, 0xf2);
	EXPECT(f, 0xfa, 0xab, 0x41); /* translated */
	wr(f, DATA, 0xed);
	EXPECT(f, 0xfa);
	wr(f, DATA, 0x07);
	EXPECT(f, 0xfa);
	wr(f, DATA, 0xf3);
	wr(f, DATA, 0x20);
	EXPECT(f, 0xfa, 0xfa);
	wr(f, DATA, 0xf0);
	wr(f, DATA, 0x00);
	EXPECT(f, 0xfa, 0xfa, 0x02);
	wr(f, DATA, 0xee);
	EXPECT(f, 0xee);
	wr(f, DATA, 0xf5);
	wr(f, DATA, 0xf4);
	wr(f, DATA, 0xf6);
	EXPECT(f, 0xfa, 0xfa, 0xfa);
	wr(f, DATA, 0x01);
	EXPECT(f, 0xfe);
	/* Untranslated, the keyboard's own ID. */
	write_ctr(f, 0x05);
	wr(f, DATA, 0xf2);
	EXPECT(f, 0xfa, 0xab, 0x83);
	/* A byte the guest writes to be read back as keyboard input. */
	wr(f, CMD, 0xd2);
	wr(f, DATA, 0x42);
	EXPECT(f, 0x42);
}

static void ctrl_alt_del_translated(void **state)
{
	struct fixture *f = *state;
	const uint8_t want[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };

	assert_int_equal(i8042_send_ctrl_alt_del(f->k), 0);
	assert_true(f->level);
	/* IRQ 1 is an edge: one for each byte, so the guest takes them all. */
	for (size_t i = 0; i < sizeof(want); i++) {
		assert_int_equal(f->rises, i + 1);
		assert_int_equal(rd(f, DATA), want[i]);
	}
	assert_false(f->level);
	assert_false(rd(f, STATUS) & STS_OBF);
	assert_int_equal(f->exits, 0);
}

static void ctrl_alt_del_set2(void **state)
{
	struct fixture *f = *state;

	write_ctr(f, 0x05); /* what Linux's i8042.direct leaves */
	assert_int_equal(i8042_send_ctrl_alt_del(f->k), 0);
	EXPECT(f, 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14);
	assert_int_equal(f->rises, 11);
}

static void ctrl_alt_del_refused(void **state)
{
	struct fixture *f = *state;

	/* Interrupts off: the bytes wait, nobody is interrupted. */
	write_ctr(f, 0x64);
	assert_int_equal(i8042_send_ctrl_alt_del(f->k), 0);
	assert_int_equal(f->rises, 0);
	/* Another fits, a third does not: the guest is not reading. */
	assert_int_equal(i8042_send_ctrl_alt_del(f->k), 0);
	assert_int_equal(i8042_send_ctrl_alt_del(f->k), -ENOSPC);
	/* Turning interrupts on raises the line for what is waiting. */
	write_ctr(f, 0x65);
	assert_int_equal(f->rises, 1);
	for (int i = 0; i < 16; i++)
		rd(f, DATA);
	assert_false(f->level);
	/* A keyboard the guest disabled, either way, gets nothing. */
	wr(f, DATA, 0xf5);
	EXPECT(f, 0xfa);
	assert_int_equal(i8042_send_ctrl_alt_del(f->k), -EBUSY);
	wr(f, DATA, 0xf4);
	EXPECT(f, 0xfa);
	wr(f, CMD, 0xad);
	assert_int_equal(i8042_send_ctrl_alt_del(f->k), -EBUSY);
	wr(f, CMD, 0xae);
	assert_int_equal(i8042_send_ctrl_alt_del(f->k), 0);
}

static void reset_line(void **state)
{
	struct fixture *f = *state;

	wr(f, CMD, 0xff); /* pulses nothing */
	wr(f, CMD, 0xd1);
	wr(f, DATA, 0x03); /* reset line kept high */
	assert_int_equal(f->exits, 0);
	wr(f, CMD, 0xfe);
	assert_int_equal(f->exits, 1);
	assert_int_equal(f->exit_code, KVMLET_EXIT_GUEST_RESET);
	wr(f, CMD, 0xd1);
	wr(f, DATA, 0x02);
	assert_int_equal(f->exits, 2);
}

static void snapshot_round_trip(void **state)
{
	struct fixture *f = *state, g = { 0 };
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };
	uint8_t bad[64];
	struct i8042 *k, *orig = f->k;

	write_ctr(f, 0x45);
	assert_int_equal(i8042_send_ctrl_alt_del(f->k), 0);
	assert_int_equal(rd(f, DATA), 0x1d);
	wr(f, DATA, 0xed); /* LED command waiting for its parameter */
	state_writer_init(&w);
	i8042_save(f->k, &w);
	assert_int_equal(state_writer_status(&w), 0);

	g.exit = (struct machine_exit){ record_exit, &g };
	k = i8042_create(&g.exit, (struct irq_line){ .set = record_irq, .ctx = &g, .gsi = 1 });
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(i8042_restore(k, &r, &err), 0);
	assert_true(g.level); /* driven at once */
	f->k = k;
	EXPECT(f, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d, 0xfa);
	wr(f, DATA, 0x00); /* the LED parameter */
	EXPECT(f, 0xfa);
	wr(f, CMD, 0x20);
	EXPECT(f, 0x45);
	f->k = orig;
	i8042_destroy(k);

	/* Truncated, too many bytes, a bad pending command: refused. */
	assert_true(w.len < sizeof(bad));
	for (size_t n = 0; n < w.len; n++) {
		k = i8042_create(&g.exit, (struct irq_line){ 0 });
		state_reader_init(&r, w.data, n);
		assert_true(i8042_restore(k, &r, &err) < 0);
		i8042_destroy(k);
	}
	memcpy(bad, w.data, w.len);
	bad[6] = 17;
	k = i8042_create(&g.exit, (struct irq_line){ 0 });
	state_reader_init(&r, bad, w.len);
	assert_true(i8042_restore(k, &r, &err) < 0);
	memcpy(bad, w.data, w.len);
	bad[2] = 0x99;
	memset(&err, 0, sizeof(err));
	state_reader_init(&r, bad, w.len);
	assert_int_equal(i8042_restore(k, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "i8042"));
	i8042_destroy(k);
	state_writer_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(controller_probe),	T(keyboard_commands),	 T(ctrl_alt_del_translated),
		T(ctrl_alt_del_set2),	T(ctrl_alt_del_refused), T(reset_line),
		T(snapshot_round_trip),
#undef T
	};

	return cmocka_run_group_tests_name("i8042", tests, NULL, NULL);
}
