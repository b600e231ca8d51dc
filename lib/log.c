// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

/* Process-wide by nature; LOG_OFF - 1 means "not set": the environment decides. */
static int log_level = LOG_OFF - 1;

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

static int log_current_level(void)
{
	int l = __atomic_load_n(&log_level, __ATOMIC_RELAXED);
	const char *v;

	if (l >= LOG_OFF)
		return l;
	v = getenv("KVMLET_DEBUG");
	return v && *v && strcmp(v, "0") != 0 ? LOG_DEBUG : LOG_INFO;
}

bool log_debug_enabled(void)
{
	return log_current_level() >= LOG_DEBUG;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOG_ERROR] = "error: ",
		[LOG_WARN] = "warning: ",
		[LOG_INFO] = "",
		[LOG_DEBUG] = "debug: ",
	};
	char line[1024];
	va_list ap;
	int n;

	if ((int)level > log_current_level())
		return;
	/* One write per line, so lines from several threads never interleave. */
	n = snprintf(line, sizeof(line), "%s: %s", program_invocation_short_name, prefix[level]);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
