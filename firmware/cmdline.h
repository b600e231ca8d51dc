/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel-style command line: space-separated words, key=value or bare key. */
#ifndef FW_CMDLINE_H
#define FW_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Value of the last "@key=" word, not NUL-terminated: its length goes to
 * *len. NULL if @key does not appear (a bare "@key" has an empty value).
 */
const char *cmdline_get(const char *cmdline, const char *key, size_t *len);

/*
 * For keys that may repeat (virtio_mmio.device=): the value of the first
 * "@key=" word at or after *cursor, which is advanced past it. Start with
 * *cursor = the command line; NULL when there are no more.
 */
const char *cmdline_next(const char **cursor, const char *key, size_t *len);

/*
 * Parses an unsigned number, decimal or 0x-prefixed hex, from the front of
 * [*s, end) and advances *s past it. False if there are no digits or the
 * value does not fit 64 bits.
 */
bool cmdline_parse_u64(const char **s, const char *end, uint64_t *v);

/* The whole value of @key as a number; @def if absent or malformed. */
uint64_t cmdline_get_u64(const char *cmdline, const char *key, uint64_t def);

#endif
