// SPDX-License-Identifier: Apache-2.0
/*
 * The Internet checksum and the address helpers. The sum is taken over
 * 16-bit big-endian words; adding the bytes as little-endian words gives
 * the byte-swapped sum, which swapped back is the same (RFC 1071, 2(B)),
 * so the data is summed as it lies and the result is stored as is.
 */
#include "net.h"

uint32_t net_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t s = sum;

	for (; len >= 2; len -= 2, p += 2)
		s += (uint16_t)(p[0] | p[1] << 8);
	if (len)
		s += p[0];
	while (s >> 32)
		s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)s;
}

uint16_t net_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t net_pseudo_sum(uint32_t saddr, uint32_t daddr, uint8_t proto, uint16_t len)
{
	struct {
		uint32_t saddr, daddr;
		uint8_t zero, proto;
		uint16_t len;
	} __attribute__((packed)) ph = { saddr, daddr, 0, proto, htons(len) };

	return net_csum_add(0, &ph, sizeof(ph));
}

bool net_parse_ip(const char *s, size_t len, uint32_t *ip)
{
	const char *end = s + len;
	uint8_t b[4];

	for (unsigned int i = 0; i < 4; i++) {
		unsigned int v = 0, digits = 0;

		while (s < end && *s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (*s++ - '0');
			digits++;
		}
		if (!digits || v > 255)
			return false;
		b[i] = (uint8_t)v;
		if (i < 3 && (s == end || *s++ != '.'))
			return false;
	}
	if (s != end)
		return false;
	*ip = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return true;
}

const char *net_ip_str(uint32_t ip, char *buf)
{
	char *p = buf;

	for (unsigned int i = 0; i < 4; i++) {
		unsigned int v = (ip >> (8 * i)) & 0xff;

		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
	return buf;
}
