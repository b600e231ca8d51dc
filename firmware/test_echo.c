// SPDX-License-Identifier: Apache-2.0
/*
 * The echo test: read one line from COM1 by polling and print it back as
 * "echo: <line>". It exercises the VMM's serial input path (host input
 * arriving faster than the guest drains the FIFO must wait, not be lost).
 * Interactive, so "all" leaves it out.
 */
#include "clock.h"
#include "console.h"
#include "cpu.h"
#include "fmt.h"
#include "io.h"
#include "tests.h"
#include "uart.h"

#define ECHO_MAX     4096
#define ECHO_IDLE_US 10000000 /* give up after this long without a byte */

bool test_echo(char *detail, size_t len)
{
	static char line[ECHO_MAX + 1];
	size_t n = 0, dropped = 0;
	struct deadline d;

	clock_init();
	d = deadline_in_us(ECHO_IDLE_US);
	for (;;) {
		char c;

		if (!(inb(uart_port(UART_LSR)) & UART_LSR_DR)) {
			if (deadline_passed(&d)) {
				fmt_snprintf(detail, len, "no end of line after %zu bytes",
					     n + dropped);
				return false;
			}
			cpu_relax();
			continue;
		}
		c = (char)inb(uart_port(UART_RBR));
		if (c == '\n' || c == '\r')
			break;
		if (n < ECHO_MAX)
			line[n++] = c;
		else
			dropped++;
		d = deadline_in_us(ECHO_IDLE_US);
	}
	line[n] = '\0';
	cons_printf("echo: %s\n", line);
	if (dropped) {
		fmt_snprintf(detail, len, "line longer than %u bytes", ECHO_MAX);
		return false;
	}
	fmt_snprintf(detail, len, "%zu bytes", n);
	return true;
}
