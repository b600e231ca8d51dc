// SPDX-License-Identifier: Apache-2.0
/* lib/prom.c: escaping, one HELP and TYPE per family, families kept whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/prom.h"

static const struct prom_family req = { "t_requests_total", "Requests \\ by \"kind\"\nand more.",
					PROM_COUNTER };
static const struct prom_family temp = { "t_temperature", "Degrees.", PROM_GAUGE };
static const struct prom_family unused = { "t_unused", "Never sampled.", PROM_GAUGE };

static char *render(struct prom *p)
{
	size_t len = 0;
	char *t = prom_finish(p, &len);

	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	return t;
}

static void escaping(void **state)
{
	struct prom *p = prom_new();
	char *t;

	assert_non_null(p);
	prom_u64(p, &req, PROM_LABELS("path", "a\\b\"c\nd", "code", "200"), 7);
	t = render(p);
	/* HELP escapes \ and newline only; label values also escape the quote. */
	assert_string_equal(t, "# HELP t_requests_total Requests \\\\ by \"kind\"\\nand more.\n"
			       "# TYPE t_requests_total counter\n"
			       "t_requests_total{path=\"a\\\\b\\\"c\\nd\",code=\"200\"} 7\n");
	free(t);
}

/* Samples arriving interleaved still come out one family after another. */
static void families(void **state)
{
	struct prom *p = prom_new();
	char *t;

	assert_non_null(p);
	prom_u64(p, &req, PROM_LABELS("code", "200"), 1);
	prom_seconds(p, &temp, NULL, 1500000000ULL);
	prom_u64(p, &req, PROM_LABELS("code", "500"), UINT64_MAX);
	prom_seconds(p, &temp, PROM_LABELS("room", "b"), 7);
	t = render(p);
	assert_string_equal(t, "# HELP t_requests_total Requests \\\\ by \"kind\"\\nand more.\n"
			       "# TYPE t_requests_total counter\n"
			       "t_requests_total{code=\"200\"} 1\n"
			       "t_requests_total{code=\"500\"} 18446744073709551615\n"
			       "# HELP t_temperature Degrees.\n"
			       "# TYPE t_temperature gauge\n"
			       "t_temperature 1.500000000\n"
			       "t_temperature{room=\"b\"} 0.000000007\n");
	assert_null(strstr(t, unused.name));
	free(t);
}

static void empty(void **state)
{
	struct prom *p = prom_new();
	char *t;

	assert_non_null(p);
	t = render(p);
	assert_string_equal(t, "");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escaping),
		cmocka_unit_test(families),
		cmocka_unit_test(empty),
	};

	return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
