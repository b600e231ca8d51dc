/* SPDX-License-Identifier: Apache-2.0 */
/* Strict parsers for numbers given on command lines and in config. */
#ifndef KVMLET_PARSE_H
#define KVMLET_PARSE_H

#include <stdint.h>

/*
 * Parses a whole decimal (or 0x-prefixed hex) string into [min, max].
 * Rejects empty strings, signs, trailing garbage and overflow: -EINVAL or
 * -ERANGE.
 */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#endif
