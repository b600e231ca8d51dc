// SPDX-License-Identifier: Apache-2.0
/* err_set keeps the first error; err_prefix adds context to it without losing its code. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"

static void set_keeps_the_first(void **state)
{
	struct err e = { 0 };

	assert_int_equal(err_set(&e, -ENOENT, "inner %d", 1), -ENOENT);
	assert_int_equal(err_set(&e, -EINVAL, "outer"), -EINVAL);
	assert_int_equal(e.code, -ENOENT);
	assert_string_equal(e.msg, "inner 1");
	assert_int_equal(err_set(NULL, -EIO, "nowhere"), -EIO);
}

static void prefix_adds_context(void **state)
{
	struct err e = { 0 };

	err_set(&e, -EBADMSG, "header checksum mismatch");
	assert_int_equal(err_prefix(&e, -EINVAL, "snapshot load '%s': ", "/x/s"), -EINVAL);
	assert_int_equal(e.code, -EBADMSG); /* the inner layer's code stays */
	assert_string_equal(e.msg, "snapshot load '/x/s': header checksum mismatch");
	err_prefix(&e, -EINVAL, "outer: ");
	assert_string_equal(e.msg, "outer: snapshot load '/x/s': header checksum mismatch");
}

static void prefix_without_error_is_a_noop(void **state)
{
	struct err e = { 0 };

	assert_int_equal(err_prefix(&e, -EINVAL, "context: "), -EINVAL);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.msg, "");
	/* The caller's own message still lands afterwards. */
	err_set(&e, -EINVAL, "'%s': malformed", "s");
	assert_string_equal(e.msg, "'s': malformed");
	assert_int_equal(err_prefix(NULL, -EIO, "x"), -EIO);
}

static void prefix_truncates(void **state)
{
	char long_prefix[600], long_inner[400];
	struct err e = { 0 };

	memset(long_inner, 'i', sizeof(long_inner) - 1);
	long_inner[sizeof(long_inner) - 1] = '\0';
	err_set(&e, -EIO, "%s", long_inner);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	err_prefix(&e, -EIO, "ctx: ");
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	assert_memory_equal(e.msg, "ctx: iii", 8);

	/* A prefix longer than the message itself leaves only the prefix, cut. */
	memset(long_prefix, 'p', sizeof(long_prefix) - 1);
	long_prefix[sizeof(long_prefix) - 1] = '\0';
	err_prefix(&e, -EIO, "%s", long_prefix);
	assert_int_equal(e.code, -EIO);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	assert_int_equal(strspn(e.msg, "p"), sizeof(e.msg) - 1);

	/* Exactly full: the prefix fills the buffer and nothing of the old message fits. */
	memset(&e, 0, sizeof(e));
	err_set(&e, -EIO, "tail");
	long_prefix[sizeof(e.msg) - 1] = '\0';
	err_prefix(&e, -EIO, "%s", long_prefix);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	assert_null(strstr(e.msg, "tail"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_keeps_the_first),
		cmocka_unit_test(prefix_adds_context),
		cmocka_unit_test(prefix_without_error_is_a_noop),
		cmocka_unit_test(prefix_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
