// SPDX-License-Identifier: Apache-2.0
/*
 * The 16550A model, driven through its bus ops the way a guest driver
 * would, with a pipe standing in for the console and a recorder for the
 * interrupt line.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/serial_reg.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/bus.h"
#include "devices/legacy/serial.h"
#include "kvmlet/platform.h"
#include "tests/unit/images.h"

/* Register offsets and bits, spelled out independently of serial.c. */
/* Register names are Linux's, as in the device model. */

#define FIFO_SIZE 64

struct fixture {
	struct serial *s;
	int out[2];   /* pipe: serial writes out[1], the test reads out[0] */
	int rx_ready; /* eventfd */
	unsigned int nr_changes;
	bool levels[64];
	unsigned int last_gsi;
};

static void record_irq(void *ctx, unsigned int gsi, bool level)
{
	struct fixture *f = ctx;

	if (f->nr_changes < 64)
		f->levels[f->nr_changes] = level;
	f->nr_changes++;
	f->last_gsi = gsi;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(pipe2(f->out, O_NONBLOCK | O_CLOEXEC), 0);
	f->rx_ready = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(f->rx_ready >= 0);
	f->s = serial_create(
		f->out[1], f->rx_ready,
		(struct irq_line){ .set = record_irq, .ctx = f, .gsi = PLAT_COM1_IRQ });
	assert_non_null(f->s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	serial_destroy(f->s);
	close(f->out[0]);
	close(f->out[1]);
	close(f->rx_ready);
	free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, uint64_t reg)
{
	uint8_t v = 0xa5;

	serial_bus_ops.read(f->s, reg, &v, 1);
	return v;
}

static void wr(struct fixture *f, uint64_t reg, uint8_t v)
{
	serial_bus_ops.write(f->s, reg, &v, 1);
}

static bool irq_level(const struct fixture *f)
{
	return f->nr_changes && f->levels[f->nr_changes - 1];
}

static size_t drain_out(struct fixture *f, char *buf, size_t cap)
{
	ssize_t n = read(f->out[0], buf, cap);

	return n < 0 ? 0 : (size_t)n;
}

static uint64_t read_eventfd(struct fixture *f)
{
	uint64_t v = 0;

	if (read(f->rx_ready, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static size_t receive_str(struct fixture *f, const char *s)
{
	return serial_receive(f->s, (const uint8_t *)s, strlen(s));
}

static void reset_state(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(rd(f, UART_IER), 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(f, UART_LCR), 0x03); /* 8N1 */
	assert_int_equal(rd(f, UART_MCR), UART_MCR_OUT2);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	assert_int_equal(rd(f, UART_SCR), 0);
	assert_int_equal(f->nr_changes, 0);
}

static void transmit_to_out_fd(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	for (const char *p = "hello\n"; *p; p++) {
		wr(f, UART_TX, (uint8_t)*p);
		/* The byte is gone at once: holding register and shifter are empty. */
		assert_int_equal(rd(f, UART_LSR) & (UART_LSR_THRE | UART_LSR_TEMT),
				 UART_LSR_THRE | UART_LSR_TEMT);
	}
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "hello\n", 6);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0); /* nothing echoed back */
	assert_int_equal(f->nr_changes, 0);		    /* THRE interrupts are off */
}

static void transmit_discarded_without_fd(void **state)
{
	struct serial *s = serial_create(-1, -1, (struct irq_line){ 0 });
	uint8_t v = 'x';

	assert_non_null(s);
	serial_bus_ops.write(s, UART_TX, &v, 1);
	v = UART_IER_THRI;
	serial_bus_ops.write(s, UART_IER, &v, 1); /* no irq callback: must not crash */
	serial_bus_ops.read(s, UART_IIR, &v, 1);
	assert_int_equal(v, UART_IIR_THRI);
	serial_bus_ops.read(s, UART_LSR, &v, 1);
	assert_int_equal(v, UART_LSR_THRE | UART_LSR_TEMT);
	serial_destroy(s);
	serial_destroy(NULL);
}

static void divisor_latch(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	wr(f, UART_LCR, 0x83);		       /* DLAB + 8N1 */
	assert_int_equal(rd(f, UART_DLL), 12); /* 9600 baud by default */
	assert_int_equal(rd(f, UART_DLM), 0);
	wr(f, UART_DLL, 0x01);
	wr(f, UART_DLM, 0x02);
	assert_int_equal(rd(f, UART_DLL), 0x01);
	assert_int_equal(rd(f, UART_DLM), 0x02);
	/* With DLAB set the writes went to the latch, not UART_TX and UART_IER. */
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 0);
	wr(f, UART_LCR, 0x03);
	assert_int_equal(rd(f, UART_LCR), 0x03);
	assert_int_equal(rd(f, UART_IER), 0);
	wr(f, UART_IER, UART_IER_RDI);
	assert_int_equal(rd(f, UART_IER), UART_IER_RDI);
	wr(f, UART_TX, 'z');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'z');
	/* The latch kept its value. */
	wr(f, UART_LCR, 0x83);
	assert_int_equal(rd(f, UART_DLL), 0x01);
	assert_int_equal(rd(f, UART_DLM), 0x02);
	assert_int_equal(rd(f, UART_IIR) & 0x0f, UART_IIR_NO_INT); /* UART_IIR is not banked */
}

static void scratch_register(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_SCR, 0x5a);
	assert_int_equal(rd(f, UART_SCR), 0x5a);
	wr(f, UART_SCR, 0xa5);
	assert_int_equal(rd(f, UART_SCR), 0xa5);
	wr(f, UART_LCR, 0x83); /* not affected by DLAB */
	assert_int_equal(rd(f, UART_SCR), 0xa5);
}

static void register_masks(void **state)
{
	struct fixture *f = *state;
	uint8_t wide[4] = { 0 };

	wr(f, UART_IER, 0xff);
	assert_int_equal(rd(f, UART_IER), 0x0f);
	wr(f, UART_IER, 0);
	wr(f, UART_MCR, 0xff);
	assert_int_equal(rd(f, UART_MCR), 0x1f);
	wr(f, UART_MCR, UART_MCR_OUT2);
	/* UART_LSR and UART_MSR are read-only. */
	wr(f, UART_LSR, 0xff);
	wr(f, UART_MSR, 0x00);
	assert_int_equal(rd(f, UART_LSR), UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(rd(f, UART_MSR) & 0xf0, UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD);
	/* A wider read returns the register in the low byte, 0xff above. */
	wr(f, UART_SCR, 0x12);
	serial_bus_ops.read(f->s, UART_SCR, wide, sizeof(wide));
	assert_int_equal(wide[0], 0x12);
	assert_int_equal(wide[1], 0xff);
	assert_int_equal(wide[3], 0xff);
}

static void thre_interrupt(void **state)
{
	struct fixture *f = *state;

	/* Enabling ETBEI with an empty UART_TX raises THRE at once. */
	wr(f, UART_IER, UART_IER_THRI);
	assert_int_equal(f->nr_changes, 1);
	assert_true(irq_level(f));
	assert_int_equal(f->last_gsi, PLAT_COM1_IRQ);
	/* Reading UART_IIR reports it and acknowledges it. */
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	assert_false(irq_level(f));
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	/* Each transmitted byte empties UART_TX again. */
	wr(f, UART_TX, 'a');
	assert_true(irq_level(f));
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	assert_false(irq_level(f));
	/* Disabling ETBEI drops a pending THRE. */
	wr(f, UART_TX, 'b');
	assert_true(irq_level(f));
	wr(f, UART_IER, 0);
	assert_false(irq_level(f));
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	/* Re-enabling it with UART_TX still empty raises it again. */
	wr(f, UART_IER, UART_IER_THRI);
	assert_true(irq_level(f));
	assert_int_equal(f->nr_changes, 7);
	/* Rewriting UART_IER with ETBEI still set is not a new edge. */
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI);
	wr(f, UART_IER, UART_IER_THRI | UART_IER_RDI);
	assert_false(irq_level(f));
}

static void receive_data(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(receive_str(f, "ab"), 2);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(f->nr_changes, 0); /* RDA interrupts are off */
	wr(f, UART_IER, UART_IER_RDI);
	assert_true(irq_level(f));
	assert_int_equal(rd(f, UART_IIR), UART_IIR_RDI);
	assert_true(irq_level(f)); /* UART_IIR does not acknowledge RDA; reading data does */
	assert_int_equal(rd(f, UART_RX), 'a');
	assert_true(irq_level(f));
	assert_int_equal(rd(f, UART_RX), 'b');
	assert_false(irq_level(f));
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(rd(f, UART_RX), 0); /* empty FIFO */
	/* Input arriving with RDA enabled raises the line directly. */
	assert_int_equal(receive_str(f, "c"), 1);
	assert_true(irq_level(f));
	assert_int_equal(rd(f, UART_RX), 'c');
	assert_false(irq_level(f));
	assert_int_equal(f->nr_changes, 4);
	assert_int_equal(serial_receive(f->s, (const uint8_t *)"", 0), 0);
	assert_int_equal(f->nr_changes, 4);
}

static void fifo_capacity_and_rx_ready(void **state)
{
	struct fixture *f = *state;
	uint8_t in[100];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	assert_int_equal(serial_receive(f->s, in, sizeof(in)), FIFO_SIZE);
	assert_int_equal(serial_receive(f->s, in, 1), 0); /* full */
	/* Host input never overruns: no OE. */
	assert_int_equal(rd(f, UART_LSR) & (UART_LSR_OE | UART_LSR_DR), UART_LSR_DR);
	assert_int_equal(read_eventfd(f), 0);
	/* The first byte out of a full FIFO tells the host there is room. */
	assert_int_equal(rd(f, UART_RX), 0);
	assert_int_equal(read_eventfd(f), 1);
	assert_int_equal(rd(f, UART_RX), 1);
	assert_int_equal(read_eventfd(f), 0); /* only on the full -> not full edge */
	/* Refill exactly what was freed, in order. */
	assert_int_equal(serial_receive(f->s, in + FIFO_SIZE, 5), 2);
	for (unsigned int i = 2; i < FIFO_SIZE + 2; i++)
		assert_int_equal(rd(f, UART_RX), i);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(read_eventfd(f), 1);
}

static void fcr_clears_rx(void **state)
{
	struct fixture *f = *state;
	uint8_t in[FIFO_SIZE];

	memset(in, 'q', sizeof(in));
	wr(f, UART_IER, UART_IER_RDI);
	assert_int_equal(serial_receive(f->s, in, 10), 10);
	assert_true(irq_level(f));
	wr(f, UART_FCR, 0x01); /* enable FIFOs without clearing */
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_RDI);
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	wr(f, UART_FCR, 0x03); /* clear RX */
	assert_false(irq_level(f));
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
	assert_int_equal(rd(f, UART_IIR), 0xc0 | UART_IIR_NO_INT);
	assert_int_equal(read_eventfd(f), 0);
	/* Clearing a full FIFO makes room, so the host is told. */
	assert_int_equal(serial_receive(f->s, in, sizeof(in)), FIFO_SIZE);
	wr(f, UART_FCR, 0x03);
	assert_int_equal(read_eventfd(f), 1);
	assert_int_equal(serial_receive(f->s, (const uint8_t *)"xy", 2), 2);
	assert_int_equal(rd(f, UART_RX), 'x');
	assert_int_equal(rd(f, UART_RX), 'y');
	wr(f, UART_FCR, 0x00);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
}

static void loopback(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	wr(f, UART_MCR,
	   UART_MCR_LOOP | UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT1 | UART_MCR_OUT2);
	/* UART_MSR mirrors UART_MCR: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
	assert_int_equal(rd(f, UART_MSR) & 0xf0,
			 UART_MSR_CTS | UART_MSR_DSR | UART_MSR_RI | UART_MSR_DCD);
	wr(f, UART_TX, 'L');
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, UART_LSR_DR);
	assert_int_equal(rd(f, UART_RX), 'L');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 0); /* nothing left the UART */

	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_RTS);
	assert_int_equal(rd(f, UART_MSR),
			 UART_MSR_CTS | UART_MSR_DDSR | UART_MSR_TERI | UART_MSR_DDCD);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_CTS); /* deltas clear on read */
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT2);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_DCD | UART_MSR_DCTS | UART_MSR_DDCD);
	wr(f, UART_MCR, UART_MCR_LOOP | UART_MCR_OUT1);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_RI | UART_MSR_DDCD); /* RI rising is not TERI */
	wr(f, UART_MCR, UART_MCR_LOOP);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_TERI); /* RI falling is */

	/* Leaving loopback restores the modem lines and transmits for real. */
	wr(f, UART_MCR, UART_MCR_OUT2);
	assert_int_equal(rd(f, UART_MSR), UART_MSR_CTS | UART_MSR_DSR | UART_MSR_DCD |
						  UART_MSR_DCTS | UART_MSR_DDSR | UART_MSR_DDCD);
	wr(f, UART_TX, 'R');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'R');
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
}

static void loopback_overrun(void **state)
{
	struct fixture *f = *state;
	uint8_t in[FIFO_SIZE];

	memset(in, 'f', sizeof(in));
	wr(f, UART_MCR, UART_MCR_LOOP);
	assert_int_equal(serial_receive(f->s, in, sizeof(in)), FIFO_SIZE);
	wr(f, UART_TX, 'X'); /* no room: the byte is lost and OE set */
	assert_int_equal(rd(f, UART_LSR),
			 UART_LSR_OE | UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT);
	assert_int_equal(rd(f, UART_LSR),
			 UART_LSR_DR | UART_LSR_THRE | UART_LSR_TEMT); /* OE clears on read */
	for (int i = 0; i < FIFO_SIZE; i++)
		assert_int_equal(rd(f, UART_RX), 'f');
	assert_int_equal(rd(f, UART_LSR) & UART_LSR_DR, 0);
}

/* RLS > RDA > THRE > UART_MSR, each cleared by its own acknowledgement. */
static void interrupt_priorities(void **state)
{
	struct fixture *f = *state;
	uint8_t in[FIFO_SIZE];

	memset(in, 'p', sizeof(in));
	wr(f, UART_MCR, UART_MCR_LOOP); /* modem lines drop: UART_MSR deltas */
	assert_int_equal(serial_receive(f->s, in, sizeof(in)), FIFO_SIZE);
	wr(f, UART_TX, 'o'); /* overrun, and UART_TX empty again */
	assert_int_equal(f->nr_changes, 0);
	wr(f, UART_IER, UART_IER_RDI | UART_IER_THRI | UART_IER_RLSI | UART_IER_MSI);
	assert_true(irq_level(f));

	assert_int_equal(rd(f, UART_IIR), UART_IIR_RLSI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_RLSI); /* UART_IIR does not clear line status */
	rd(f, UART_LSR);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_RDI);
	for (int i = 0; i < FIFO_SIZE; i++)
		rd(f, UART_RX);
	assert_true(irq_level(f));
	assert_int_equal(rd(f, UART_IIR), UART_IIR_THRI); /* and acknowledges it */
	assert_true(irq_level(f));
	assert_int_equal(rd(f, UART_IIR), UART_IIR_MSI);
	rd(f, UART_MSR);
	assert_false(irq_level(f));
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	/* The line went up once and down once. */
	assert_int_equal(f->nr_changes, 2);
	assert_true(f->levels[0]);
	assert_false(f->levels[1]);
}

/* Sources that are not enabled in UART_IER neither show in UART_IIR nor raise the line. */
static void masked_sources(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_MCR, UART_MCR_LOOP);
	receive_str(f, "m");
	wr(f, UART_TX, 'n');
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(f->nr_changes, 0);
	wr(f, UART_IER, UART_IER_MSI);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_MSI);
	rd(f, UART_MSR);
	assert_int_equal(rd(f, UART_IIR), UART_IIR_NO_INT);
	assert_int_equal(f->nr_changes, 2);
}

static void irq_level_sequence(void **state)
{
	struct fixture *f = *state;

	wr(f, UART_IER, UART_IER_RDI);
	assert_int_equal(f->nr_changes, 0);
	receive_str(f, "1");
	receive_str(f, "2"); /* already high: no new call */
	assert_int_equal(f->nr_changes, 1);
	rd(f, UART_RX);
	assert_int_equal(f->nr_changes, 1);
	rd(f, UART_RX);
	assert_int_equal(f->nr_changes, 2);
	receive_str(f, "3");
	wr(f, UART_IER, 0);
	assert_int_equal(f->nr_changes, 4);
	assert_true(f->levels[0]);
	assert_false(f->levels[1]);
	assert_true(f->levels[2]);
	assert_false(f->levels[3]);
	assert_int_equal(f->last_gsi, PLAT_COM1_IRQ);
}

/* The UART on a bus at COM1, as the VMM wires it. */
static void on_the_bus(void **state)
{
	struct fixture *f = *state;
	struct bus bus = { 0 };
	uint8_t v;
	char c;

	assert_int_equal(
		bus_register(&bus, PLAT_COM1_PORT, SERIAL_NR_PORTS, &serial_bus_ops, f->s, "com1"),
		0);
	v = 'B';
	assert_true(bus_access(&bus, PLAT_COM1_PORT + UART_TX, &v, 1, true));
	assert_int_equal(drain_out(f, &c, 1), 1);
	assert_int_equal(c, 'B');
	assert_true(bus_access(&bus, PLAT_COM1_PORT + UART_LSR, &v, 1, false));
	assert_int_equal(v, UART_LSR_THRE | UART_LSR_TEMT);
	assert_true(bus_access(&bus, PLAT_COM1_PORT + UART_SCR, &v, 1, false));
	assert_false(bus_access(&bus, PLAT_COM1_PORT + 8, &v, 1, false));
	bus_free(&bus);
}

/* ---- snapshots and counters ---- */

static void count_hook(void *ctx)
{
	(*(unsigned int *)ctx)++;
}

/* A UART mid-conversation: divisor, modes, unread input, an interrupt pending. */
static void snapshot_source(struct fixture *f, struct state_writer *w)
{
	wr(f, UART_LCR, UART_LCR_DLAB);
	wr(f, UART_DLL, 0x03);
	wr(f, UART_DLM, 0x01);
	wr(f, UART_LCR, UART_LCR_WLEN8 | UART_LCR_PARITY);
	wr(f, UART_FCR, UART_FCR_ENABLE_FIFO);
	wr(f, UART_MCR, UART_MCR_OUT2 | UART_MCR_RTS);
	wr(f, UART_SCR, 0x5a);
	wr(f, UART_IER, UART_IER_RDI | UART_IER_THRI);
	assert_int_equal(receive_str(f, "hello"), 5);
	assert_true(irq_level(f));
	state_writer_init(w);
	serial_save(f->s, w);
	assert_int_equal(state_writer_status(w), 0);
}

static void snapshot_round_trip(void **state)
{
	struct fixture *f = *state, g = { 0 };
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };
	unsigned int hooks = 0;
	struct serial *t, *orig;
	char buf[8];

	snapshot_source(f, &w);
	t = serial_create(-1, -1,
			  (struct irq_line){ .set = record_irq, .ctx = &g, .gsi = PLAT_COM1_IRQ });
	assert_non_null(t);
	serial_set_tx_hook(t, count_hook, &hooks);
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(serial_restore(t, &r, &err), 0);
	/* The line is driven at once, and the VMM learns THR writes must not be batched. */
	assert_true(g.nr_changes == 1 && g.levels[0]);
	assert_int_equal(hooks, 1);
	/* Same registers, same input, same interrupt. */
	orig = f->s;
	f->s = t;
	assert_int_equal(rd(f, UART_IIR) & 0x0f, UART_IIR_RDI);
	assert_int_equal(rd(f, UART_LCR), UART_LCR_WLEN8 | UART_LCR_PARITY);
	assert_int_equal(rd(f, UART_MCR), UART_MCR_OUT2 | UART_MCR_RTS);
	assert_int_equal(rd(f, UART_SCR), 0x5a);
	assert_int_equal(rd(f, UART_IER), UART_IER_RDI | UART_IER_THRI);
	for (unsigned int i = 0; i < 5; i++) {
		assert_true(rd(f, UART_LSR) & UART_LSR_DR);
		buf[i] = (char)rd(f, UART_RX);
	}
	assert_memory_equal(buf, "hello", 5);
	assert_false(rd(f, UART_LSR) & UART_LSR_DR);
	wr(f, UART_LCR, UART_LCR_DLAB);
	assert_int_equal(rd(f, UART_DLL), 0x03);
	assert_int_equal(rd(f, UART_DLM), 0x01);
	f->s = orig;
	serial_destroy(t);
	state_writer_fini(&w);
}

static int restore_fresh(const void *data, size_t len)
{
	struct serial *t = serial_create(-1, -1, (struct irq_line){ 0 });
	struct state_reader r;
	struct err err = { 0 };
	int ret;

	assert_non_null(t);
	state_reader_init(&r, data, len);
	ret = serial_restore(t, &r, &err);
	if (ret)
		assert_non_null(strstr(err.msg, "serial"));
	serial_destroy(t);
	return ret;
}

static void snapshot_refuses_hostile_input(void **state)
{
	struct fixture *f = *state;
	struct state_writer w;
	uint8_t bad[128];

	snapshot_source(f, &w);
	assert_true(w.len < sizeof(bad));
	for (size_t n = 0; n < w.len; n++)
		assert_true(restore_fresh(w.data, n) < 0);
	memcpy(bad, w.data, w.len);
	bad[w.len] = 0;
	assert_int_equal(restore_fresh(bad, w.len + 1), -EBADMSG);
	/* Layout: IER LCR MCR LSR MSR SCR FCR DLL DLM THR-pending count bytes. */
	memcpy(bad, w.data, w.len);
	bad[10] = FIFO_SIZE + 1;
	assert_true(restore_fresh(bad, w.len) < 0);
	memcpy(bad, w.data, w.len);
	bad[0] = 0xf1; /* IER bits the register does not have */
	assert_int_equal(restore_fresh(bad, w.len), -EINVAL);
	memcpy(bad, w.data, w.len);
	bad[3] = 0; /* data in the FIFO, yet no DR */
	assert_int_equal(restore_fresh(bad, w.len), -EINVAL);
	memcpy(bad, w.data, w.len);
	bad[2] = 0xff; /* MCR */
	assert_int_equal(restore_fresh(bad, w.len), -EINVAL);
	state_writer_fini(&w);
}

static void stats_count_bytes(void **state)
{
	struct fixture *f = *state;
	uint64_t tx, rx;
	char buf[8];

	serial_stats(f->s, &tx, &rx);
	assert_true(tx == 0 && rx == 0);
	wr(f, UART_TX, 'a');
	wr(f, UART_TX, 'b');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 2);
	assert_int_equal(receive_str(f, "xyz"), 3);
	serial_stats(f->s, &tx, &rx);
	assert_int_equal(tx, 2);
	assert_int_equal(rx, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(reset_state),
		T(transmit_to_out_fd),
		cmocka_unit_test(transmit_discarded_without_fd),
		T(divisor_latch),
		T(scratch_register),
		T(register_masks),
		T(thre_interrupt),
		T(receive_data),
		T(fifo_capacity_and_rx_ready),
		T(fcr_clears_rx),
		T(loopback),
		T(loopback_overrun),
		T(interrupt_priorities),
		T(masked_sources),
		T(irq_level_sequence),
		T(on_the_bus),
		T(snapshot_round_trip),
		T(snapshot_refuses_hostile_input),
		T(stats_count_bytes),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
