// SPDX-License-Identifier: Apache-2.0
/* Port I/O and MMIO dispatch: claiming ranges and routing accesses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "devices/bus.h"
#include "tests/unit/images.h"

/* A device that records its last access and answers reads with a marker. */
struct dev {
	unsigned int reads, writes;
	uint64_t offset;
	uint32_t len;
	uint8_t written[8];
	uint8_t marker;
};

static void dev_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct dev *d = opaque;

	d->reads++;
	d->offset = offset;
	d->len = len;
	memset(data, d->marker, len);
}

static void dev_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct dev *d = opaque;

	d->writes++;
	d->offset = offset;
	d->len = len;
	memcpy(d->written, data, len < sizeof(d->written) ? len : sizeof(d->written));
}

static const struct bus_ops dev_ops = { .read = dev_read, .write = dev_write };

static void dispatch_with_offset(void **state)
{
	struct bus bus = { 0 };
	struct dev d = { .marker = 0x7e };
	uint8_t buf[4] = { 1, 2, 3, 4 };

	assert_int_equal(bus_register(&bus, 0x100, 0x10, &dev_ops, &d, "d"), 0);
	assert_int_equal(bus.nr, 1);
	assert_string_equal(bus.ranges[0].name, "d");

	assert_true(bus_access(&bus, 0x105, buf, 2, true));
	assert_int_equal(d.writes, 1);
	assert_int_equal(d.reads, 0);
	assert_int_equal(d.offset, 5);
	assert_int_equal(d.len, 2);
	assert_int_equal(d.written[0], 1);
	assert_int_equal(d.written[1], 2);

	assert_true(bus_access(&bus, 0x100, buf, 4, false));
	assert_int_equal(d.reads, 1);
	assert_int_equal(d.offset, 0);
	assert_int_equal(d.len, 4);
	assert_int_equal(buf[3], 0x7e);

	assert_true(bus_access(&bus, 0x10f, buf, 1, false)); /* last byte */
	assert_int_equal(d.offset, 0xf);
	bus_free(&bus);
	assert_int_equal(bus.nr, 0);
	assert_null(bus.ranges);
}

static void overlap_rejected(void **state)
{
	struct bus bus = { 0 };
	struct dev d = { 0 };
	static const struct {
		uint64_t base, len;
	} clash[] = {
		{ 0x100, 0x10 }, /* identical */
		{ 0x108, 0x10 }, /* overlaps the end */
		{ 0xf8, 0x10 },	 /* overlaps the start */
		{ 0x104, 0x4 },	 /* inside */
		{ 0x0, 0x1000 }, /* around */
		{ 0x10f, 1 },	 /* the last byte */
		{ 0xff, 2 },	 /* the first byte */
	};

	assert_int_equal(bus_register(&bus, 0x100, 0x10, &dev_ops, &d, "a"), 0);
	for (size_t i = 0; i < sizeof(clash) / sizeof(clash[0]); i++)
		assert_int_equal(bus_register(&bus, clash[i].base, clash[i].len, &dev_ops, &d, "b"),
				 -EEXIST);
	assert_int_equal(bus.nr, 1);
	/* Also against a range registered later and sitting below. */
	assert_int_equal(bus_register(&bus, 0x40, 0x20, &dev_ops, &d, "c"), 0);
	assert_int_equal(bus_register(&bus, 0x50, 0x60, &dev_ops, &d, "e"), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x5f, 0x1, &dev_ops, &d, "e"), -EEXIST);
	assert_int_equal(bus.nr, 2);
	bus_free(&bus);
}

static void adjacent_ranges(void **state)
{
	struct bus bus = { 0 };
	struct dev lo = { .marker = 1 }, mid = { .marker = 2 }, hi = { .marker = 3 };
	uint8_t v;

	assert_int_equal(bus_register(&bus, 0x100, 0x10, &dev_ops, &mid, "mid"), 0);
	assert_int_equal(bus_register(&bus, 0x110, 0x10, &dev_ops, &hi, "hi"), 0);
	assert_int_equal(bus_register(&bus, 0xf0, 0x10, &dev_ops, &lo, "lo"), 0);
	assert_int_equal(bus.nr, 3);
	/* Kept sorted by base. */
	assert_int_equal(bus.ranges[0].base, 0xf0);
	assert_int_equal(bus.ranges[1].base, 0x100);
	assert_int_equal(bus.ranges[2].base, 0x110);

	assert_true(bus_access(&bus, 0xff, &v, 1, false));
	assert_int_equal(v, 1);
	assert_int_equal(lo.offset, 0xf);
	assert_true(bus_access(&bus, 0x100, &v, 1, false));
	assert_int_equal(v, 2);
	assert_int_equal(mid.offset, 0);
	assert_true(bus_access(&bus, 0x10f, &v, 1, false));
	assert_int_equal(v, 2);
	assert_true(bus_access(&bus, 0x110, &v, 1, false));
	assert_int_equal(v, 3);
	assert_int_equal(hi.offset, 0);
	assert_int_equal(lo.reads + mid.reads + hi.reads, 4);
	bus_free(&bus);
}

static void empty_and_wrapping_ranges(void **state)
{
	struct bus bus = { 0 };
	struct dev d = { 0 };

	assert_int_equal(bus_register(&bus, 0x100, 0, &dev_ops, &d, "empty"), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 2, &dev_ops, &d, "wraps"), -EINVAL);
	assert_int_equal(bus_register(&bus, 2, UINT64_MAX, &dev_ops, &d, "wraps"), -EINVAL);
	assert_int_equal(bus.nr, 0);
	/* The whole address space is one valid range. */
	assert_int_equal(bus_register(&bus, 0, UINT64_MAX, &dev_ops, &d, "all"), 0);
	assert_int_equal(bus_register(&bus, 0x1000, 1, &dev_ops, &d, "x"), -EEXIST);
	bus_free(&bus);
}

/* A range that ends exactly at the top of the address space. */
static void range_at_top(void **state)
{
	struct bus bus = { 0 };
	struct dev d = { .marker = 9 }, e = { 0 };
	uint8_t v;

	assert_int_equal(bus_register(&bus, UINT64_MAX - 0xff, 0x100, &dev_ops, &d, "top"), 0);
	assert_true(bus_access(&bus, UINT64_MAX, &v, 1, false));
	assert_int_equal(d.offset, 0xff);
	assert_false(bus_access(&bus, UINT64_MAX, &v, 2, false));
	assert_int_equal(bus_register(&bus, UINT64_MAX - 0x10, 0x10, &dev_ops, &e, "in"), -EEXIST);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 1, &dev_ops, &e, "last"), -EEXIST);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 0x1ff, 0x101, &dev_ops, &e, "edge"),
			 -EEXIST);
	assert_int_equal(bus_register(&bus, UINT64_MAX - 0x1ff, 0x100, &dev_ops, &e, "below"), 0);
	assert_int_equal(bus.nr, 2);
	bus_free(&bus);
}

static void unclaimed(void **state)
{
	struct bus bus = { 0 };
	struct dev d = { 0 };
	uint8_t v = 0;

	assert_false(bus_access(&bus, 0x100, &v, 1, false)); /* empty bus */
	assert_int_equal(bus_register(&bus, 0x100, 0x10, &dev_ops, &d, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x200, 0x10, &dev_ops, &d, "b"), 0);
	assert_false(bus_access(&bus, 0x0, &v, 1, false));    /* below everything */
	assert_false(bus_access(&bus, 0xff, &v, 1, true));
	assert_false(bus_access(&bus, 0x110, &v, 1, false));  /* in the gap */
	assert_false(bus_access(&bus, 0x1ff, &v, 1, false));
	assert_false(bus_access(&bus, 0x210, &v, 1, false));  /* above everything */
	assert_false(bus_access(&bus, UINT64_MAX, &v, 1, false));
	assert_int_equal(d.reads + d.writes, 0);
	bus_free(&bus);
}

static void access_straddling_end(void **state)
{
	struct bus bus = { 0 };
	struct dev a = { 0 }, b = { 0 };
	uint8_t buf[8] = { 0 };

	assert_int_equal(bus_register(&bus, 0x100, 0x10, &dev_ops, &a, "a"), 0);
	assert_int_equal(bus_register(&bus, 0x110, 0x10, &dev_ops, &b, "b"), 0);
	assert_true(bus_access(&bus, 0x10c, buf, 4, false)); /* ends exactly at the end */
	assert_false(bus_access(&bus, 0x10e, buf, 4, false)); /* into the neighbour */
	assert_false(bus_access(&bus, 0x10f, buf, 2, true));
	assert_false(bus_access(&bus, 0x11f, buf, 2, true)); /* past the last range */
	assert_false(bus_access(&bus, 0x100, buf, 0x11, false)); /* longer than the range */
	assert_int_equal(a.reads, 1);
	assert_int_equal(a.writes + b.reads + b.writes, 0);
	bus_free(&bus);
}

/* More ranges than the initial capacity, registered out of order. */
static void many_ranges(void **state)
{
	struct bus bus = { 0 };
	struct dev devs[40];

	for (unsigned int i = 0; i < 40; i++) {
		unsigned int slot = (i * 17) % 40; /* a permutation of 0..39 */

		devs[slot] = (struct dev){ .marker = (uint8_t)slot };
		assert_int_equal(bus_register(&bus, 0x1000 + slot * 0x10, 8, &dev_ops, &devs[slot],
					      "d"),
				 0);
	}
	assert_int_equal(bus.nr, 40);
	assert_true(bus.cap >= 40);
	for (unsigned int i = 1; i < bus.nr; i++)
		assert_true(bus.ranges[i - 1].base + bus.ranges[i - 1].len <= bus.ranges[i].base);
	for (unsigned int slot = 0; slot < 40; slot++) {
		uint8_t v = 0xee;

		assert_true(bus_access(&bus, 0x1000 + slot * 0x10 + 7, &v, 1, false));
		assert_int_equal(v, slot);
		assert_int_equal(devs[slot].offset, 7);
		assert_false(bus_access(&bus, 0x1000 + slot * 0x10 + 8, &v, 1, false));
	}
	bus_free(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dispatch_with_offset),
		cmocka_unit_test(overlap_rejected),
		cmocka_unit_test(adjacent_ranges),
		cmocka_unit_test(empty_and_wrapping_ranges),
		cmocka_unit_test(range_at_top),
		cmocka_unit_test(unclaimed),
		cmocka_unit_test(access_straddling_end),
		cmocka_unit_test(many_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
