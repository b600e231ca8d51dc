/* SPDX-License-Identifier: Apache-2.0 */
/* 16550 UART at COM1: polled output, plus the registers the irq test pokes. */
#ifndef FW_UART_H
#define FW_UART_H

#include <stddef.h>
#include <stdint.h>
#include <kvmlet/platform.h>

#define UART_RBR 0 /* read */
#define UART_THR 0 /* write */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

#define UART_IER_RDI  0x01 /* received data available */
#define UART_IER_THRI 0x02 /* transmit holding register empty */
#define UART_IIR_FIFO 0xc0
#define UART_FCR_ON   0x05 /* enable, clear TX; RX may already hold input */
#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT2 0x08 /* gates the IRQ line on PC hardware */
#define UART_MCR_LOOP 0x10
#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40

static inline uint16_t uart_port(unsigned int reg)
{
	return PLAT_COM1_PORT + reg;
}

void uart_init(void);
void uart_write(const char *s, size_t n);
void uart_wait_idle(void);
void uart_drain_rx(void);

#endif
