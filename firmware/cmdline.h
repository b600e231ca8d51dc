/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel-style command line: space-separated words, key=value or bare key. */
#ifndef FW_CMDLINE_H
#define FW_CMDLINE_H

#include <stddef.h>

/*
 * Value of the last "@key=" word, not NUL-terminated: its length goes to
 * *len. NULL if @key does not appear (a bare "@key" has an empty value).
 */
const char *cmdline_get(const char *cmdline, const char *key, size_t *len);

#endif
