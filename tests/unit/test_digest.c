// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/image/digest.h"

#define EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC   "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void known_answers(void **state)
{
	char out[DIGEST_STR_LEN + 1];
	struct digest d;

	assert_int_equal(digest_buffer("", 0, out), 0);
	assert_string_equal(out, EMPTY);
	/* Streamed in pieces, the same as at once. */
	assert_int_equal(digest_init(&d), 0);
	digest_update(&d, "a", 1);
	digest_update(&d, "", 0);
	digest_update(&d, "bc", 2);
	digest_final(&d, out);
	assert_string_equal(out, ABC);
	assert_null(d.md);
	digest_abort(&d); /* after final: harmless */
}

static void validity(void **state)
{
	struct err err = { 0 };

	assert_true(digest_valid(EMPTY));
	assert_string_equal(digest_hex(EMPTY), EMPTY + 7);
	assert_false(digest_valid(""));
	assert_false(digest_valid("sha256:"));
	assert_false(digest_valid(EMPTY "0")); /* too long */
	assert_false(digest_valid(
		"sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
	assert_false(digest_valid(
		"sha256:../../../../etc/passwd00000000000000000000000000000000000000"));
	assert_false(digest_valid(
		"sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	assert_int_equal(digest_check("sha512:00", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "only sha256"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(digest_check("nonsense", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "64 lowercase hex"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_answers),
		cmocka_unit_test(validity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
