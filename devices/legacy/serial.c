// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/legacy/serial.h"

/* Register offsets; DLL/DLM replace RBR/THR and IER while LCR.DLAB is set. */
enum {
	UART_RBR = 0, /* read */
	UART_THR = 0, /* write */
	UART_DLL = 0,
	UART_IER = 1,
	UART_DLM = 1,
	UART_IIR = 2, /* read */
	UART_FCR = 2, /* write */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_RDI	   0x01 /* received data available */
#define IER_THRI   0x02 /* transmitter holding register empty */
#define IER_RLSI   0x04 /* receiver line status */
#define IER_MSI	   0x08 /* modem status */
#define IER_MASK   0x0f

#define IIR_NO_INT 0x01
#define IIR_MSI	   0x00
#define IIR_THRI   0x02
#define IIR_RDI	   0x04
#define IIR_RLSI   0x06
#define IIR_FIFO   0xc0 /* FIFOs enabled */

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR	 0x01
#define LSR_OE	 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_CTS	  0x10
#define MSR_DSR	  0x20
#define MSR_RI	  0x40
#define MSR_DCD	  0x80
#define MSR_DELTA 0x0f

#define RX_FIFO_SIZE 64
#define DEFAULT_DIVISOR 12 /* 9600 baud, what firmware leaves behind */

struct serial {
	pthread_mutex_t lock;
	int out_fd;
	int rx_ready_fd;
	struct irq_line irq;
	bool irq_level;
	void (*tx_hook)(void *ctx);
	void *tx_hook_ctx;

	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
	uint16_t divisor;
	bool thr_pending; /* THRE interrupt raised and not yet acknowledged */

	uint8_t rx[RX_FIFO_SIZE];
	unsigned int rx_head, rx_count;
};

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	/* Priorities from the 16550 datasheet: line status, data, THRE, modem. */
	if ((s->ier & IER_RLSI) && (s->lsr & LSR_OE))
		return fifo | IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thr_pending)
		return fifo | IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & MSR_DELTA))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	bool level = !(serial_iir(s) & IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		if (s->irq.set)
			s->irq.set(s->irq.ctx, s->irq.gsi, level);
	}
}

static bool rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count == RX_FIFO_SIZE) {
		s->lsr |= LSR_OE;
		return false;
	}
	s->rx[(s->rx_head + s->rx_count) % RX_FIFO_SIZE] = b;
	s->rx_count++;
	s->lsr |= LSR_DR;
	return true;
}

/* The host stops reading input while the FIFO is full; tell it there is room. */
static void rx_notify_room(struct serial *s)
{
	uint64_t one = 1;

	if (s->rx_ready_fd >= 0 && write(s->rx_ready_fd, &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		s->rx_ready_fd = -1;
}

static uint8_t rx_pop(struct serial *s)
{
	uint8_t b;

	if (!s->rx_count)
		return 0;
	b = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_FIFO_SIZE;
	if (s->rx_count-- == RX_FIFO_SIZE)
		rx_notify_room(s);
	if (!s->rx_count)
		s->lsr &= ~LSR_DR;
	return b;
}

static void serial_transmit(struct serial *s, uint8_t b)
{
	if (s->mcr & MCR_LOOP) {
		rx_push(s, b);
	} else if (s->out_fd >= 0) {
		ssize_t n;

		do {
			n = write(s->out_fd, &b, 1);
		} while (n < 0 && errno == EINTR);
	}
	/* The byte leaves at once, so the holding register is empty again. */
	s->thr_pending = true;
}

/* In loopback the modem inputs mirror the modem outputs. */
static uint8_t loopback_msr(uint8_t mcr)
{
	return ((mcr & MCR_RTS) ? MSR_CTS : 0) | ((mcr & MCR_DTR) ? MSR_DSR : 0) |
	       ((mcr & MCR_OUT1) ? MSR_RI : 0) | ((mcr & MCR_OUT2) ? MSR_DCD : 0);
}

/* Tells the VMM, once, that THR writes now have immediate guest-visible effects. */
static void serial_tx_hook(struct serial *s)
{
	void (*fn)(void *ctx) = s->tx_hook;

	s->tx_hook = NULL;
	if (fn)
		fn(s->tx_hook_ctx);
}

static void serial_set_mcr(struct serial *s, uint8_t mcr)
{
	uint8_t old = s->msr & ~MSR_DELTA, now;

	s->mcr = mcr & MCR_MASK;
	if (s->mcr & MCR_LOOP)
		serial_tx_hook(s);
	now = (s->mcr & MCR_LOOP) ? loopback_msr(s->mcr) : (MSR_CTS | MSR_DSR | MSR_DCD);
	if ((old ^ now) & MSR_CTS)
		s->msr |= MSR_DCTS;
	if ((old ^ now) & MSR_DSR)
		s->msr |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI))
		s->msr |= MSR_TERI;
	if ((old ^ now) & MSR_DCD)
		s->msr |= MSR_DDCD;
	s->msr = (s->msr & MSR_DELTA) | now;
}

static uint8_t serial_read_reg(struct serial *s, uint64_t reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB)
			return s->divisor & 0xff;
		return rx_pop(s);
	case UART_IER:
		if (s->lcr & LCR_DLAB)
			return s->divisor >> 8;
		return s->ier;
	case UART_IIR:
		v = serial_iir(s);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if ((v & 0x0f) == IIR_THRI)
			s->thr_pending = false;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = s->lsr | LSR_THRE | LSR_TEMT;
		s->lsr &= ~LSR_OE;
		return v;
	case UART_MSR:
		v = s->msr;
		s->msr &= ~MSR_DELTA;
		return v;
	case UART_SCR:
		return s->scr;
	}
	return 0xff;
}

static void serial_write_reg(struct serial *s, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case UART_THR:
		if (s->lcr & LCR_DLAB)
			s->divisor = (s->divisor & 0xff00) | v;
		else
			serial_transmit(s, v);
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->divisor = (s->divisor & 0x00ff) | (uint16_t)(v << 8);
			break;
		}
		/* Enabling THRE interrupts with an empty THR raises one at once. */
		if (!(s->ier & IER_THRI) && (v & IER_THRI)) {
			s->thr_pending = true;
			serial_tx_hook(s);
		}
		s->ier = v & IER_MASK;
		break;
	case UART_FCR:
		s->fcr = v & FCR_ENABLE;
		if (v & FCR_CLEAR_RX) {
			if (s->rx_count == RX_FIFO_SIZE)
				rx_notify_room(s);
			s->rx_count = 0;
			s->lsr &= ~LSR_DR;
		}
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		serial_set_mcr(s, v);
		break;
	case UART_SCR:
		s->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static void serial_bus_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	memset(data, 0xff, len);
	*(uint8_t *)data = serial_read_reg(s, offset);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	serial_write_reg(s, offset, *(const uint8_t *)data);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

const struct bus_ops serial_bus_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

struct serial *serial_create(int out_fd, int rx_ready_fd, struct irq_line irq)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	s->rx_ready_fd = rx_ready_fd;
	s->irq = irq;
	s->divisor = DEFAULT_DIVISOR;
	s->lcr = 0x03; /* 8N1 */
	s->mcr = MCR_OUT2;
	s->msr = MSR_CTS | MSR_DSR | MSR_DCD;
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void serial_set_tx_hook(struct serial *s, void (*fn)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&s->lock);
	s->tx_hook = fn;
	s->tx_hook_ctx = ctx;
	pthread_mutex_unlock(&s->lock);
}

size_t serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	/* Host input waits for room instead of overrunning the FIFO. */
	while (n < len && s->rx_count < RX_FIFO_SIZE)
		rx_push(s, buf[n++]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}
