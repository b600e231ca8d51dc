// SPDX-License-Identifier: Apache-2.0
/*
 * Every register access is a VM exit (about 27 us each on the nested
 * development hosts), which makes the console the most expensive part of a
 * short boot. With the FIFO on, THRE means the whole FIFO is empty, so one
 * poll covers 16 bytes; a 16450-style model gets one poll per byte.
 * (`rep outsb` would not help: KVM's emulator exits once per byte anyway.)
 */
#include "cpu.h"
#include "io.h"
#include "uart.h"

#define FIFO_DEPTH  16
#define DRAIN_LIMIT 256	   /* more than any model's receive FIFO */
#define POLL_LIMIT  100000 /* a wedged UART costs output, never a hang */

static unsigned int tx_burst = 1;

void uart_init(void)
{
	/* IER is left alone: interrupts stay masked at the PIC and IOAPIC. */
	outb(uart_port(UART_FCR), UART_FCR_ON);
	if ((inb(uart_port(UART_IIR)) & UART_IIR_FIFO) == UART_IIR_FIFO)
		tx_burst = FIFO_DEPTH;
}

static void wait_lsr(uint8_t bits)
{
	for (unsigned int i = 0; i < POLL_LIMIT; i++) {
		if ((inb(uart_port(UART_LSR)) & bits) == bits)
			return;
		cpu_relax();
	}
}

void uart_write(const char *s, size_t n)
{
	while (n) {
		size_t chunk = n < tx_burst ? n : tx_burst;

		wait_lsr(UART_LSR_THRE);
		n -= chunk;
		while (chunk--)
			outb(uart_port(UART_THR), (uint8_t)*s++);
	}
}

void uart_wait_idle(void)
{
	wait_lsr(UART_LSR_THRE | UART_LSR_TEMT);
}

void uart_drain_rx(void)
{
	for (unsigned int i = 0; i < DRAIN_LIMIT; i++) {
		if (!(inb(uart_port(UART_LSR)) & UART_LSR_DR))
			return;
		(void)inb(uart_port(UART_RBR));
	}
}
