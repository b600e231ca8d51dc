// SPDX-License-Identifier: Apache-2.0
/* One agent's state, created by the server once and by the fuzz target per input. */
#include <stdlib.h>

#include "ga_internal.h"

struct ga *ga_create(const struct ga_config *cfg)
{
	struct ga *ga = calloc(1, sizeof(*ga));

	if (!ga)
		return NULL;
	ga->cfg = *cfg;
	ga->files = ga_files_create();
	ga->execs = ga_execs_create();
	if (!ga->files || !ga->execs) {
		ga_destroy(ga);
		return NULL;
	}
	return ga;
}

void ga_destroy(struct ga *ga)
{
	if (!ga)
		return;
	if (ga->files)
		ga_files_destroy(ga->files);
	if (ga->execs)
		ga_execs_destroy(ga->execs);
	free(ga);
}
