// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the firmware's guest-agent responder (firmware/
 * vsock_agent.c, built for the host) on any request lines, one after the
 * other on one shared agent state (pids, exec slots, guest-shutdown). Each
 * answer stays within AGENT_OUT_MAX and ends in a newline; only a
 * successful guest-shutdown answers nothing, and then asks to power off.
 */
#include "tests/fuzz/fuzzer.h"
#include <string.h>

#include "vsock_agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct agent a;
	static char out[AGENT_OUT_MAX + 64];
	const char *p = (const char *)data, *end = p + size;

	memset(&a, 0, sizeof(a));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p), n;
		enum agent_power before = a.power;

		memset(out + AGENT_OUT_MAX, 0x5a, 64);
		n = len > AGENT_LINE_MAX ? agent_too_long(out) : agent_handle(&a, p, len, 42, out);
		if (n > AGENT_OUT_MAX || (n && out[n - 1] != '\n') || out[AGENT_OUT_MAX] != 0x5a)
			__builtin_trap();
		if (!n && a.power == before && before == AGENT_POWER_NONE)
			__builtin_trap(); /* silence only for a shutdown */
		p += len + (nl != NULL);
	}
	return 0;
}
