// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "devices/legacy/i8042.h"
#include "kvmlet/exit_codes.h"
#include "kvmlet/platform.h"

#define I8042_CMD_OFFSET (PLAT_I8042_CMD_PORT - PLAT_I8042_DATA_PORT)

static void i8042_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	/* Empty buffers, no keyboard: Linux's probe then leaves us alone. */
	memset(data, 0, len);
}

static void i8042_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	const struct machine_exit *m = opaque;

	if (offset == I8042_CMD_OFFSET && *(const uint8_t *)data == PLAT_I8042_CMD_RESET)
		m->request(m->ctx, KVMLET_EXIT_OK, "guest reset the machine (i8042)");
}

const struct bus_ops i8042_bus_ops = {
	.read = i8042_read,
	.write = i8042_write,
};
