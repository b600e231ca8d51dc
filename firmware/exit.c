// SPDX-License-Identifier: Apache-2.0
#include <kvmlet/platform.h>
#include "cpu.h"
#include "desc.h"
#include "exit.h"
#include "io.h"

static enum fw_power power_requested;

void fw_power_request(enum fw_power p)
{
	power_requested = p;
}

enum fw_power fw_power_requested(void)
{
	return power_requested;
}

void fw_exit(uint8_t status)
{
	outb(PLAT_DEBUG_EXIT_PORT, status);
	/* Without a debug-exit device the write does nothing: sleep, don't spin. */
	cpu_park();
}

void fw_reset(void)
{
	outb(PLAT_I8042_CMD_PORT, PLAT_I8042_CMD_RESET);
	cpu_park();
}

void fw_triple_fault(void)
{
	/* #UD finds no gate, nor does the #NP that raises, nor the #DF after it. */
	desc_wreck_idt();
	asm volatile("ud2");
	cpu_park();
}
