// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <string.h>

#include "devices/legacy/debug_exit.h"

static void debug_exit_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	memset(data, 0, len);
}

static void debug_exit_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	const struct machine_exit *m = opaque;
	uint8_t status = *(const uint8_t *)data;
	char why[64];

	snprintf(why, sizeof(why), "guest exited with status %u (debug-exit)", status);
	m->request(m->ctx, status, why);
}

const struct bus_ops debug_exit_bus_ops = {
	.read = debug_exit_read,
	.write = debug_exit_write,
};
