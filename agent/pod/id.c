// SPDX-License-Identifier: Apache-2.0
/* Sandbox and container ids (id.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "agent/pod/id.h"

int pod_id_new(char out[POD_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[POD_ID_LEN / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[POD_ID_LEN] = '\0';
	return 0;
}

bool pod_id_valid(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (n >= POD_ID_LEN ||
		    !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == POD_ID_LEN;
}
