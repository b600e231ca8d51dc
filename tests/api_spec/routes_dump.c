// SPDX-License-Identifier: Apache-2.0
/*
 * Prints the control API's route table, one "METHOD PATH" line per route,
 * in the table's own path form (routes_for_each()), for check_api_spec.py.
 */
#include <stdio.h>
#include <stdlib.h>

#include "vmm/api/routes.h"

static void print_route(enum http_method method, const char *path, void *ctx)
{
	static const char *const names[] = {
		[HTTP_METHOD_GET] = "GET",
		[HTTP_METHOD_PUT] = "PUT",
		[HTTP_METHOD_PATCH] = "PATCH",
	};
	int *bad = ctx;

	if ((unsigned int)method >= sizeof(names) / sizeof(names[0]) || !names[method]) {
		fprintf(stderr, "route %s: a method this program cannot name (%d)\n", path, method);
		*bad = 1;
		return;
	}
	printf("%s %s\n", names[method], path);
}

int main(void)
{
	int bad = 0;

	routes_for_each(print_route, &bad);
	return bad || fflush(stdout) ? EXIT_FAILURE : EXIT_SUCCESS;
}
