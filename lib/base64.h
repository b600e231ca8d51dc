/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict base64 (RFC 4648, standard alphabet, padded, no whitespace, zero
 * padding bits), for the guest agent protocol's data fields: one spelling per
 * byte string, so bad input is an error rather than garbage.
 */
#ifndef KVMLET_BASE64_H
#define KVMLET_BASE64_H

#include <stddef.h>

/* A NUL-terminated string, or NULL without memory. Free with free(). */
char *base64_encode(const void *data, size_t len);
/* A buffer with a NUL after its *len bytes, or NULL on bad input. Free with free(). */
unsigned char *base64_decode(const char *s, size_t slen, size_t *len);

#endif
