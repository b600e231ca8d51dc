// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <linux/serial_reg.h>
#include <unistd.h>

#include "devices/legacy/serial.h"
#include "devices/stats.h"

/* Register and bit names are Linux's (<linux/serial_reg.h>); these it lacks. */
#define IER_MASK 0x0f
#define IIR_FIFO 0xc0 /* FIFOs enabled */
#define MCR_MASK 0x1f

#define RX_FIFO_SIZE	64
#define DEFAULT_DIVISOR 12 /* 9600 baud, what firmware leaves behind */

static const struct device_ops serial_device_ops;

struct serial {
	struct device dev;
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

	uint64_t tx_bytes, rx_bytes;
	uint64_t tx_lost; /* output out_fd refused (a full non-blocking pipe) */
};

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & UART_FCR_ENABLE_FIFO) ? IIR_FIFO : 0;

	/* Priorities from the 16550 datasheet: line status, data, THRE, modem. */
	if ((s->ier & UART_IER_RLSI) && (s->lsr & UART_LSR_OE))
		return fifo | UART_IIR_RLSI;
	if ((s->ier & UART_IER_RDI) && s->rx_count)
		return fifo | UART_IIR_RDI;
	if ((s->ier & UART_IER_THRI) && s->thr_pending)
		return fifo | UART_IIR_THRI;
	if ((s->ier & UART_IER_MSI) && (s->msr & UART_MSR_ANY_DELTA))
		return fifo | UART_IIR_MSI;
	return fifo | UART_IIR_NO_INT;
}

static void serial_set_irq(struct serial *s, bool level)
{
	s->irq_level = level;
	if (s->irq.set)
		s->irq.set(s->irq.ctx, s->irq.gsi, level);
}

static void serial_update_irq(struct serial *s)
{
	bool level = !(serial_iir(s) & UART_IIR_NO_INT);

	if (level != s->irq_level)
		serial_set_irq(s, level);
}

static bool rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count == RX_FIFO_SIZE) {
		s->lsr |= UART_LSR_OE;
		return false;
	}
	s->rx[(s->rx_head + s->rx_count) % RX_FIFO_SIZE] = b;
	s->rx_count++;
	s->lsr |= UART_LSR_DR;
	return true;
}

/* The host stops reading input while the FIFO is full; tell it there is room. */
static void rx_notify_room(struct serial *s)
{
	uint64_t one = 1;

	if (s->rx_ready_fd >= 0 && write(s->rx_ready_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
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
		s->lsr &= ~UART_LSR_DR;
	return b;
}

static void serial_transmit(struct serial *s, uint8_t b)
{
	if (s->mcr & UART_MCR_LOOP) {
		rx_push(s, b);
	} else {
		/* Counted whether or not anyone reads them (out_fd -1 discards). */
		s->tx_bytes++;
		while (s->out_fd >= 0 && write(s->out_fd, &b, 1) < 0) {
			if (errno != EINTR) {
				s->tx_lost++;
				break;
			}
		}
	}
	/* The byte leaves at once, so the holding register is empty again. */
	s->thr_pending = true;
}

/* In loopback the modem inputs mirror the modem outputs. */
static uint8_t loopback_msr(uint8_t mcr)
{
	return ((mcr & UART_MCR_RTS) ? UART_MSR_CTS : 0) |
	       ((mcr & UART_MCR_DTR) ? UART_MSR_DSR : 0) |
	       ((mcr & UART_MCR_OUT1) ? UART_MSR_RI : 0) |
	       ((mcr & UART_MCR_OUT2) ? UART_MSR_DCD : 0);
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
	uint8_t old = s->msr & ~UART_MSR_ANY_DELTA, now;

	s->mcr = mcr & MCR_MASK;
	if (s->mcr & UART_MCR_LOOP)
		serial_tx_hook(s);
	now = (s->mcr & UART_MCR_LOOP) ? loopback_msr(s->mcr)
				       : (UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	if ((old ^ now) & UART_MSR_CTS)
		s->msr |= UART_MSR_DCTS;
	if ((old ^ now) & UART_MSR_DSR)
		s->msr |= UART_MSR_DDSR;
	if ((old & UART_MSR_RI) && !(now & UART_MSR_RI))
		s->msr |= UART_MSR_TERI;
	if ((old ^ now) & UART_MSR_DCD)
		s->msr |= UART_MSR_DDCD;
	s->msr = (s->msr & UART_MSR_ANY_DELTA) | now;
}

static uint8_t serial_read_reg(struct serial *s, uint64_t reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RX:
		if (s->lcr & UART_LCR_DLAB)
			return s->divisor & 0xff;
		return rx_pop(s);
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB)
			return s->divisor >> 8;
		return s->ier;
	case UART_IIR:
		v = serial_iir(s);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if ((v & 0x0f) == UART_IIR_THRI)
			s->thr_pending = false;
		return v;
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		v = s->lsr | UART_LSR_THRE | UART_LSR_TEMT;
		s->lsr &= ~UART_LSR_OE;
		return v;
	case UART_MSR:
		v = s->msr;
		s->msr &= ~UART_MSR_ANY_DELTA;
		return v;
	case UART_SCR:
		return s->scr;
	}
	return 0xff;
}

static void serial_write_reg(struct serial *s, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case UART_TX:
		if (s->lcr & UART_LCR_DLAB)
			s->divisor = (s->divisor & 0xff00) | v;
		else
			serial_transmit(s, v);
		break;
	case UART_IER:
		if (s->lcr & UART_LCR_DLAB) {
			s->divisor = (s->divisor & 0x00ff) | (uint16_t)(v << 8);
			break;
		}
		/* Enabling THRE interrupts with an empty THR raises one at once. */
		if (!(s->ier & UART_IER_THRI) && (v & UART_IER_THRI)) {
			s->thr_pending = true;
			serial_tx_hook(s);
		}
		s->ier = v & IER_MASK;
		break;
	case UART_FCR:
		s->fcr = v & UART_FCR_ENABLE_FIFO;
		if (v & UART_FCR_CLEAR_RCVR) {
			if (s->rx_count == RX_FIFO_SIZE)
				rx_notify_room(s);
			s->rx_count = 0;
			s->lsr &= ~UART_LSR_DR;
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
	s->mcr = UART_MCR_OUT2;
	s->msr = UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD;
	s->dev = (struct device){ &serial_device_ops, "serial", NULL, "serial" };
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
	s->rx_bytes += n;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_stats(struct serial *s, uint64_t *tx_bytes, uint64_t *rx_bytes)
{
	pthread_mutex_lock(&s->lock);
	*tx_bytes = s->tx_bytes;
	*rx_bytes = s->rx_bytes;
	pthread_mutex_unlock(&s->lock);
}

uint64_t serial_tx_lost(struct serial *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->tx_lost;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_save(struct serial *s, struct state_writer *w)
{
	pthread_mutex_lock(&s->lock);
	state_put_u8(w, s->ier);
	state_put_u8(w, s->lcr);
	state_put_u8(w, s->mcr);
	state_put_u8(w, s->lsr);
	state_put_u8(w, s->msr);
	state_put_u8(w, s->scr);
	state_put_u8(w, s->fcr);
	state_put_u16(w, s->divisor);
	state_put_u8(w, s->thr_pending);
	/* Transmitted bytes leave at once: the receive FIFO is the only one with contents. */
	state_put_u8(w, (uint8_t)s->rx_count);
	for (unsigned int i = 0; i < s->rx_count; i++)
		state_put_u8(w, s->rx[(s->rx_head + i) % RX_FIFO_SIZE]);
	pthread_mutex_unlock(&s->lock);
}

int serial_restore(struct serial *s, struct state_reader *r, struct err *err)
{
	struct serial t = { 0 };

	t.ier = state_get_u8(r);
	t.lcr = state_get_u8(r);
	t.mcr = state_get_u8(r);
	t.lsr = state_get_u8(r);
	t.msr = state_get_u8(r);
	t.scr = state_get_u8(r);
	t.fcr = state_get_u8(r);
	t.divisor = state_get_u16(r);
	t.thr_pending = state_get_u8(r);
	t.rx_count = state_get_u8(r);
	if (!r->bad && t.rx_count > RX_FIFO_SIZE)
		return err_set(err, -EINVAL, "serial: %u bytes in a %u-byte receive FIFO",
			       t.rx_count, RX_FIFO_SIZE);
	state_get(r, t.rx, t.rx_count);
	if (!state_done(r))
		return err_set(err, -EBADMSG, "serial: device state is %s",
			       r->bad ? "truncated" : "followed by unexpected bytes");
	/* Only bits the registers can hold, and DR exactly when there is data. */
	if ((t.ier & ~IER_MASK) || (t.mcr & ~MCR_MASK) || (t.fcr & ~UART_FCR_ENABLE_FIFO) ||
	    (t.lsr & ~(UART_LSR_DR | UART_LSR_OE)) || !(t.lsr & UART_LSR_DR) != !t.rx_count)
		return err_set(err, -EINVAL, "serial: invalid register state");

	pthread_mutex_lock(&s->lock);
	s->ier = t.ier;
	s->lcr = t.lcr;
	s->mcr = t.mcr;
	s->lsr = t.lsr;
	s->msr = t.msr;
	s->scr = t.scr;
	s->fcr = t.fcr;
	s->divisor = t.divisor;
	s->thr_pending = t.thr_pending;
	memcpy(s->rx, t.rx, sizeof(s->rx));
	s->rx_head = 0;
	s->rx_count = t.rx_count;
	/* The guest relied on immediate THR effects before: the VMM must not batch them now. */
	if ((s->ier & UART_IER_THRI) || (s->mcr & UART_MCR_LOOP))
		serial_tx_hook(s);
	/* Driven either way: the line's level in the new irqchip is not known. */
	serial_set_irq(s, !(serial_iir(s) & UART_IIR_NO_INT));
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* ---- the device lifecycle ---- */

static struct serial *serial_of_dev(struct device *dev)
{
	return container_of(dev, struct serial, dev);
}

static void serial_dev_save(struct device *dev, struct state_writer *w)
{
	serial_save(serial_of_dev(dev), w);
}

static int serial_dev_restore(struct device *dev, struct state_reader *r, struct err *err)
{
	return serial_restore(serial_of_dev(dev), r, err);
}

static const struct prom_family serial_bytes_family = {
	"kvmlet_serial_bytes_total", "Serial port bytes; rx is to the guest, tx from it.",
	PROM_COUNTER
};

/* Firecracker's UART counts a write or read per byte. */
static void serial_dev_stats(struct device *dev, const struct device_stats_out *out)
{
	uint64_t tx, rx;

	serial_stats(serial_of_dev(dev), &tx, &rx);
	device_emit(out, dev,
		    &(struct device_metric){ &serial_bytes_family, PROM_LABELS("direction", "rx"),
					     "uart", "read_count", false },
		    rx);
	device_emit(out, dev,
		    &(struct device_metric){ &serial_bytes_family, PROM_LABELS("direction", "tx"),
					     "uart", "write_count", false },
		    tx);
}

static void serial_dev_destroy(struct device *dev)
{
	serial_destroy(serial_of_dev(dev));
}

static const struct device_ops serial_device_ops = {
	.section = DEVICE_SECTION_SERIAL,
	.save = serial_dev_save,
	.restore = serial_dev_restore,
	.stats = serial_dev_stats,
	.destroy = serial_dev_destroy,
};

struct device *serial_device(struct serial *s)
{
	return &s->dev;
}

struct serial *serial_from_device(struct device *dev)
{
	return dev && dev->ops == &serial_device_ops ? serial_of_dev(dev) : NULL;
}
