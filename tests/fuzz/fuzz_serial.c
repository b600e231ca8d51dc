// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the guest drives the UART's registers at will, and the
 * host pushes input at any moment. Each 3-byte record is one operation.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdint.h>
#include <string.h>

#include "devices/legacy/serial.h"

static void irq_set(void *ctx, unsigned int gsi, bool level)
{
	*(int *)ctx += level ? 1 : -1;
	if (*(int *)ctx < 0 || *(int *)ctx > 1)
		__builtin_trap(); /* edges must alternate */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int level = 0;
	struct irq_line irq = { .set = irq_set, .ctx = &level, .gsi = 4 };
	struct serial *s = serial_create(-1, -1, irq);
	uint8_t buf[4];

	for (size_t i = 0; i + 3 <= size; i += 3) {
		uint8_t op = data[i], off = data[i + 1] % SERIAL_NR_PORTS, val = data[i + 2];

		switch (op % 3) {
		case 0:
			serial_bus_ops.read(s, off, buf, 1 + op % 4);
			break;
		case 1:
			serial_bus_ops.write(s, off, &val, 1);
			break;
		default:
			serial_receive(s, &data[i + 2],
				       1 + val % 3 <= size - i - 2 ? 1 + val % 3 : 1);
			break;
		}
	}
	serial_destroy(s);
	return 0;
}
