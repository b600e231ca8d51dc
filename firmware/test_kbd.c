// SPDX-License-Identifier: Apache-2.0
/*
 * The keyboard test: wait for Ctrl+Alt+Del from the i8042 keyboard, which
 * is how Firecracker's SendCtrlAltDel reaches a guest, and react as Linux
 * does (with kvmlet.end=reset, a reboot). It prints "kbd: waiting" once it
 * polls, so the host knows when to press the keys. Polls the controller's
 * status port rather than taking IRQ 1: the codes and their order are what
 * is tested. Interactive, so "all" leaves it out.
 */
#include <stdint.h>
#include "clock.h"
#include "console.h"
#include "cpu.h"
#include "fmt.h"
#include "kbd.h"
#include "tests.h"
#include "uart.h"

#define KBD_WAIT_US 30000000

bool test_kbd(char *detail, size_t len)
{
	struct kbd_cad k = { 0 };
	struct deadline d;
	uint8_t sc;

	clock_init();
	kbd_drain();
	cons_printf("kbd: waiting\n");
	uart_wait_idle();
	d = deadline_in_us(KBD_WAIT_US);
	for (;;) {
		if (!kbd_read(&sc)) {
			if (deadline_passed(&d)) {
				fmt_snprintf(detail, len, "no Ctrl+Alt+Del (%u bytes)", k.bytes);
				return false;
			}
			cpu_relax();
			continue;
		}
		if (kbd_cad_feed(&k, sc))
			break;
	}
	cons_printf("kbd: ctrl-alt-del\n");
	fmt_snprintf(detail, len, "Ctrl+Alt+Del after %u bytes", k.bytes);
	return true;
}
