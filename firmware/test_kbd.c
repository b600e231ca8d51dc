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
#include "io.h"
#include "tests.h"
#include "uart.h"

#define KBD_DATA_PORT	0x60
#define KBD_STATUS_PORT 0x64
#define KBD_STATUS_OBF	0x01 /* a byte waits in the output buffer */
#define KBD_WAIT_US	30000000

/* Scan code set 1, as the controller translates by default. */
#define SC_CTRL	    0x1d
#define SC_ALT	    0x38
#define SC_EXTENDED 0xe0
#define SC_DEL	    0x53 /* after SC_EXTENDED */
#define SC_BREAK    0x80

bool test_kbd(char *detail, size_t len)
{
	bool ctrl = false, alt = false, extended = false;
	unsigned int bytes = 0;
	struct deadline d;

	clock_init();
	/* Whatever the controller held before the test is not an answer. */
	while (inb(KBD_STATUS_PORT) & KBD_STATUS_OBF)
		(void)inb(KBD_DATA_PORT);
	cons_printf("kbd: waiting\n");
	uart_wait_idle();
	d = deadline_in_us(KBD_WAIT_US);
	for (;;) {
		uint8_t sc;

		if (!(inb(KBD_STATUS_PORT) & KBD_STATUS_OBF)) {
			if (deadline_passed(&d)) {
				fmt_snprintf(detail, len, "no Ctrl+Alt+Del (%u bytes)", bytes);
				return false;
			}
			cpu_relax();
			continue;
		}
		sc = inb(KBD_DATA_PORT);
		bytes++;
		if (sc == SC_EXTENDED) {
			extended = true;
			continue;
		}
		if (!extended && (sc & ~SC_BREAK) == SC_CTRL)
			ctrl = !(sc & SC_BREAK);
		else if (!extended && (sc & ~SC_BREAK) == SC_ALT)
			alt = !(sc & SC_BREAK);
		else if (extended && sc == SC_DEL && ctrl && alt)
			break;
		extended = false;
	}
	cons_printf("kbd: ctrl-alt-del\n");
	fmt_snprintf(detail, len, "Ctrl+Alt+Del after %u bytes", bytes);
	return true;
}
