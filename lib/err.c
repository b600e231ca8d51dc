// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->code)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int err_prefix(struct err *e, int code, const char *fmt, ...)
{
	char msg[sizeof(e->msg)];
	size_t n, keep;
	va_list ap;
	int r;

	if (!e || !e->code)
		return code;
	va_start(ap, fmt);
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r < 0)
		return code;
	n = strlen(msg);
	keep = strnlen(e->msg, sizeof(e->msg) - 1);
	if (keep > sizeof(msg) - 1 - n)
		keep = sizeof(msg) - 1 - n;
	memcpy(msg + n, e->msg, keep);
	msg[n + keep] = '\0';
	memcpy(e->msg, msg, sizeof(msg));
	return code;
}
