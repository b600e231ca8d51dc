// SPDX-License-Identifier: Apache-2.0
/* parse_u64: whole-string decimal or 0x-hex numbers within a range, nothing else. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/parse.h"
#include "tests/unit/images.h"

#define SENTINEL 0xdeadbeefULL

static void ok(const char *s, uint64_t min, uint64_t max, uint64_t want)
{
	uint64_t v = SENTINEL;
	int r = parse_u64(s, min, max, &v);

	if (r != 0)
		fail_msg("parse_u64(\"%s\") = %d, expected success", s, r);
	assert_int_equal(v, want);
}

static void bad(const char *s, uint64_t min, uint64_t max, int code)
{
	uint64_t v = SENTINEL;
	int r = parse_u64(s, min, max, &v);

	if (r != code)
		fail_msg("parse_u64(\"%s\") = %d, expected %d", s ? s : "(null)", r, code);
	assert_int_equal(v, SENTINEL); /* untouched on failure */
}

static void decimal(void **state)
{
	ok("0", 0, UINT64_MAX, 0);
	ok("1", 0, UINT64_MAX, 1);
	ok("42", 0, UINT64_MAX, 42);
	ok("007", 0, UINT64_MAX, 7); /* leading zeros are decimal, not octal */
	ok("010", 0, UINT64_MAX, 10);
	ok("18446744073709551615", 0, UINT64_MAX, UINT64_MAX);
}

static void hex(void **state)
{
	ok("0x0", 0, UINT64_MAX, 0);
	ok("0x10", 0, UINT64_MAX, 16);
	ok("0XfF", 0, UINT64_MAX, 255);
	ok("0xdeadBEEF", 0, UINT64_MAX, 0xdeadbeef);
	ok("0x00000001", 0, UINT64_MAX, 1);
	ok("0xffffffffffffffff", 0, UINT64_MAX, UINT64_MAX);
}

static void empty_and_null(void **state)
{
	bad("", 0, UINT64_MAX, -EINVAL);
	bad("0x", 0, UINT64_MAX, -EINVAL);
	bad("0X", 0, UINT64_MAX, -EINVAL);
	bad(NULL, 0, UINT64_MAX, -EINVAL);
}

static void signs_and_spaces(void **state)
{
	bad("-1", 0, UINT64_MAX, -EINVAL);
	bad("+1", 0, UINT64_MAX, -EINVAL);
	bad("-0", 0, UINT64_MAX, -EINVAL);
	bad("0x-1", 0, UINT64_MAX, -EINVAL);
	bad("0x+1", 0, UINT64_MAX, -EINVAL);
	bad(" 1", 0, UINT64_MAX, -EINVAL);
	bad("\t1", 0, UINT64_MAX, -EINVAL);
	bad("1 ", 0, UINT64_MAX, -EINVAL);
	bad("0x 1", 0, UINT64_MAX, -EINVAL);
	bad(" ", 0, UINT64_MAX, -EINVAL);
}

static void trailing_junk(void **state)
{
	bad("12abc", 0, UINT64_MAX, -EINVAL);
	bad("1x", 0, UINT64_MAX, -EINVAL);
	bad("10M", 0, UINT64_MAX, -EINVAL);
	bad("1.5", 0, UINT64_MAX, -EINVAL);
	bad("1\n", 0, UINT64_MAX, -EINVAL);
	bad("0x1g", 0, UINT64_MAX, -EINVAL);
	bad("0xabcz", 0, UINT64_MAX, -EINVAL);
	bad("00x1", 0, UINT64_MAX, -EINVAL);
	bad("abc", 0, UINT64_MAX, -EINVAL); /* hex digits without the prefix */
	bad("x10", 0, UINT64_MAX, -EINVAL);
	/* Only one 0x prefix: strtoull would take a second one. */
	bad("0x0x10", 0, UINT64_MAX, -EINVAL);
	bad("0x0X1", 0, UINT64_MAX, -EINVAL);
}

static void overflow(void **state)
{
	bad("18446744073709551616", 0, UINT64_MAX, -ERANGE);
	bad("99999999999999999999999", 0, UINT64_MAX, -ERANGE);
	bad("0x10000000000000000", 0, UINT64_MAX, -ERANGE);
}

static void range(void **state)
{
	ok("1", 1, 254, 1);
	ok("254", 1, 254, 254);
	ok("0xfe", 1, 254, 254);
	bad("0", 1, 254, -ERANGE);
	bad("255", 1, 254, -ERANGE);
	bad("0xff", 1, 254, -ERANGE);
	ok("5", 5, 5, 5);
	bad("4", 5, 5, -ERANGE);
	bad("6", 5, 5, -ERANGE);
	/* Syntax errors win over range errors. */
	bad("255x", 1, 254, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decimal),
		cmocka_unit_test(hex),
		cmocka_unit_test(empty_and_null),
		cmocka_unit_test(signs_and_spaces),
		cmocka_unit_test(trailing_junk),
		cmocka_unit_test(overflow),
		cmocka_unit_test(range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
