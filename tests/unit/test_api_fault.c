// SPDX-License-Identifier: Apache-2.0
/*
 * Firecracker's fault body (vmm/api/fault.c): escaping, UTF-8, sizes, and a
 * whole error response with it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/api/fault.h"

static void fault(const char *msg, const char *want)
{
	char buf[512];
	ssize_t n = api_fault_body(buf, sizeof(buf), msg);

	if (n < 0 || strcmp(buf, want))
		fail_msg("fault(\"%s\") = %zd \"%s\", expected \"%s\"", msg, n, n < 0 ? "" : buf,
			 want);
	assert_int_equal(n, strlen(want));
	assert_int_equal(api_fault_body(NULL, 0, msg), n);
}

static void fault_body(void **state)
{
	char buf[64];

	fault("", "{\"fault_message\": \"\"}");
	fault(NULL, "{\"fault_message\": \"\"}");
	fault("Invalid request method", "{\"fault_message\": \"Invalid request method\"}");
	fault("a\"b\\c/d", "{\"fault_message\": \"a\\\"b\\\\c/d\"}");
	fault("l1\nl2\r\t\x01\x1f\x7f",
	      "{\"fault_message\": \"l1\\u000al2\\u000d\\u0009\\u0001\\u001f\\u007f\"}");
	/* Valid UTF-8 up to 4 bytes passes through. */
	fault("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf",
	      "{\"fault_message\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"}");
	/* Invalid: lone continuation, truncated, overlong, surrogate, past U+10FFFF, 0xff. */
	fault("\x80", "{\"fault_message\": \"\\ufffd\"}");
	fault("\xc3", "{\"fault_message\": \"\\ufffd\"}");
	fault("\xe2\x82", "{\"fault_message\": \"\\ufffd\\ufffd\"}");
	fault("\xc0\xaf", "{\"fault_message\": \"\\ufffd\\ufffd\"}");
	fault("\xe0\x80\xaf", "{\"fault_message\": \"\\ufffd\\ufffd\\ufffd\"}");
	fault("\xed\xa0\x80", "{\"fault_message\": \"\\ufffd\\ufffd\\ufffd\"}");
	fault("\xf4\x90\x80\x80", "{\"fault_message\": \"\\ufffd\\ufffd\\ufffd\\ufffd\"}");
	fault("\xffx", "{\"fault_message\": \"\\ufffdx\"}");

	/* Exactly fitting (with its NUL), then one short. */
	assert_int_equal(api_fault_body(buf, 24, "ab"), 23);
	assert_string_equal(buf, "{\"fault_message\": \"ab\"}");
	assert_int_equal(api_fault_body(buf, 23, "ab"), -ENOSPC);
	assert_int_equal(api_fault_body(buf, 1, "ab"), -ENOSPC);
}

static void fault_response(void **state)
{
	static const char want[] =
		"HTTP/1.1 400 Bad Request\r\nServer: kvmlet\r\nContent-Length: 30\r\n"
		"Content-Type: application/json\r\nConnection: close\r\n\r\n"
		"{\"fault_message\": \"bad \\\"x\\\"\"}";
	char buf[256];
	ssize_t n = api_fault_response(buf, sizeof(buf), 400, "bad \"x\"", false);

	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(buf, want, sizeof(want) - 1);
	assert_int_equal(api_fault_response(buf, (size_t)n, 400, "bad \"x\"", false), n);
	assert_int_equal(api_fault_response(buf, (size_t)n - 1, 400, "bad \"x\"", false), -ENOSPC);
	assert_int_equal(api_fault_response(buf, sizeof(buf), 204, "x", false), -EINVAL);
	assert_int_equal(api_fault_response(buf, sizeof(buf), 777, "x", false), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fault_body),
		cmocka_unit_test(fault_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
