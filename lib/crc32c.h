/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC-32C (Castagnoli), the checksum of snapshot files and migration
 * frames: better error detection than CRC-32 for the same cost, and the
 * x86 crc32 instruction computes it directly.
 */
#ifndef KVMLET_CRC32C_H
#define KVMLET_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Continues a CRC: start with crc = 0; crc32c(crc32c(0, a), b) equals the
 * CRC of a followed by b. crc32c(0, "123456789", 9) == 0xe3069283.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* The same, never using the crc32 instruction (for tests and old CPUs). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
