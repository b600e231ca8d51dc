/* SPDX-License-Identifier: Apache-2.0 */
/*
 * printf-style formatting: %c %s %d %i %u %x %X %p %%, with the flags
 * '-' and '0', a field width, a precision for %s (also '*'), and the
 * length modifiers l, ll and z.
 */
#ifndef FW_FMT_H
#define FW_FMT_H

#include <stdarg.h>
#include <stddef.h>

typedef void (*fmt_emit_fn)(void *ctx, const char *s, size_t n);

size_t fmt_vformat(fmt_emit_fn emit, void *ctx, const char *fmt, va_list ap);
size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
