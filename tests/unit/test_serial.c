// SPDX-License-Identifier: Apache-2.0
/*
 * The 16550A model, driven through its bus ops the way a guest driver
 * would, with a pipe standing in for the console and a recorder for the
 * interrupt line.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/bus.h"
#include "devices/legacy/serial.h"
#include "kvmlet/platform.h"
#include "tests/unit/images.h"

/* Register offsets and bits, spelled out independently of serial.c. */
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define IER_RDI	 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI	 0x08

#define IIR_NONE 0x01
#define IIR_MS	 0x00
#define IIR_THR	 0x02
#define IIR_RDA	 0x04
#define IIR_RLS	 0x06

#define LSR_DR	 0x01
#define LSR_OE	 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS	 0x10
#define MSR_DSR	 0x20
#define MSR_RI	 0x40
#define MSR_DCD	 0x80

#define FIFO_SIZE 64

struct fixture {
	struct serial *s;
	int out[2];	/* pipe: serial writes out[1], the test reads out[0] */
	int rx_ready;	/* eventfd */
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
	f->s = serial_create(f->out[1], f->rx_ready,
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

	assert_int_equal(rd(f, IER), 0);
	assert_int_equal(rd(f, IIR), IIR_NONE);
	assert_int_equal(rd(f, LCR), 0x03); /* 8N1 */
	assert_int_equal(rd(f, MCR), MCR_OUT2);
	assert_int_equal(rd(f, LSR), LSR_THRE | LSR_TEMT);
	assert_int_equal(rd(f, MSR), MSR_CTS | MSR_DSR | MSR_DCD);
	assert_int_equal(rd(f, SCR), 0);
	assert_int_equal(f->nr_changes, 0);
}

static void transmit_to_out_fd(void **state)
{
	struct fixture *f = *state;
	char buf[16];

	for (const char *p = "hello\n"; *p; p++) {
		wr(f, THR, (uint8_t)*p);
		/* The byte is gone at once: holding register and shifter are empty. */
		assert_int_equal(rd(f, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	}
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "hello\n", 6);
	assert_int_equal(rd(f, LSR) & LSR_DR, 0); /* nothing echoed back */
	assert_int_equal(f->nr_changes, 0);	  /* THRE interrupts are off */
}

static void transmit_discarded_without_fd(void **state)
{
	struct serial *s = serial_create(-1, -1, (struct irq_line){ 0 });
	uint8_t v = 'x';

	assert_non_null(s);
	serial_bus_ops.write(s, THR, &v, 1);
	v = IER_THRI;
	serial_bus_ops.write(s, IER, &v, 1); /* no irq callback: must not crash */
	serial_bus_ops.read(s, IIR, &v, 1);
	assert_int_equal(v, IIR_THR);
	serial_bus_ops.read(s, LSR, &v, 1);
	assert_int_equal(v, LSR_THRE | LSR_TEMT);
	serial_destroy(s);
	serial_destroy(NULL);
}

static void divisor_latch(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	wr(f, LCR, 0x83); /* DLAB + 8N1 */
	assert_int_equal(rd(f, DLL), 12); /* 9600 baud by default */
	assert_int_equal(rd(f, DLM), 0);
	wr(f, DLL, 0x01);
	wr(f, DLM, 0x02);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x02);
	/* With DLAB set the writes went to the latch, not THR and IER. */
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 0);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, LCR), 0x03);
	assert_int_equal(rd(f, IER), 0);
	wr(f, IER, IER_RDI);
	assert_int_equal(rd(f, IER), IER_RDI);
	wr(f, THR, 'z');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'z');
	/* The latch kept its value. */
	wr(f, LCR, 0x83);
	assert_int_equal(rd(f, DLL), 0x01);
	assert_int_equal(rd(f, DLM), 0x02);
	assert_int_equal(rd(f, IIR) & 0x0f, IIR_NONE); /* IIR is not banked */
}

static void scratch_register(void **state)
{
	struct fixture *f = *state;

	wr(f, SCR, 0x5a);
	assert_int_equal(rd(f, SCR), 0x5a);
	wr(f, SCR, 0xa5);
	assert_int_equal(rd(f, SCR), 0xa5);
	wr(f, LCR, 0x83); /* not affected by DLAB */
	assert_int_equal(rd(f, SCR), 0xa5);
}

static void register_masks(void **state)
{
	struct fixture *f = *state;
	uint8_t wide[4] = { 0 };

	wr(f, IER, 0xff);
	assert_int_equal(rd(f, IER), 0x0f);
	wr(f, IER, 0);
	wr(f, MCR, 0xff);
	assert_int_equal(rd(f, MCR), 0x1f);
	wr(f, MCR, MCR_OUT2);
	/* LSR and MSR are read-only. */
	wr(f, LSR, 0xff);
	wr(f, MSR, 0x00);
	assert_int_equal(rd(f, LSR), LSR_THRE | LSR_TEMT);
	assert_int_equal(rd(f, MSR) & 0xf0, MSR_CTS | MSR_DSR | MSR_DCD);
	/* A wider read returns the register in the low byte, 0xff above. */
	wr(f, SCR, 0x12);
	serial_bus_ops.read(f->s, SCR, wide, sizeof(wide));
	assert_int_equal(wide[0], 0x12);
	assert_int_equal(wide[1], 0xff);
	assert_int_equal(wide[3], 0xff);
}

static void thre_interrupt(void **state)
{
	struct fixture *f = *state;

	/* Enabling ETBEI with an empty THR raises THRE at once. */
	wr(f, IER, IER_THRI);
	assert_int_equal(f->nr_changes, 1);
	assert_true(irq_level(f));
	assert_int_equal(f->last_gsi, PLAT_COM1_IRQ);
	/* Reading IIR reports it and acknowledges it. */
	assert_int_equal(rd(f, IIR), IIR_THR);
	assert_false(irq_level(f));
	assert_int_equal(rd(f, IIR), IIR_NONE);
	/* Each transmitted byte empties THR again. */
	wr(f, THR, 'a');
	assert_true(irq_level(f));
	assert_int_equal(rd(f, IIR), IIR_THR);
	assert_false(irq_level(f));
	/* Disabling ETBEI drops a pending THRE. */
	wr(f, THR, 'b');
	assert_true(irq_level(f));
	wr(f, IER, 0);
	assert_false(irq_level(f));
	assert_int_equal(rd(f, IIR), IIR_NONE);
	/* Re-enabling it with THR still empty raises it again. */
	wr(f, IER, IER_THRI);
	assert_true(irq_level(f));
	assert_int_equal(f->nr_changes, 7);
	/* Rewriting IER with ETBEI still set is not a new edge. */
	assert_int_equal(rd(f, IIR), IIR_THR);
	wr(f, IER, IER_THRI | IER_RDI);
	assert_false(irq_level(f));
}

static void receive_data(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(receive_str(f, "ab"), 2);
	assert_int_equal(rd(f, LSR) & LSR_DR, LSR_DR);
	assert_int_equal(f->nr_changes, 0); /* RDA interrupts are off */
	wr(f, IER, IER_RDI);
	assert_true(irq_level(f));
	assert_int_equal(rd(f, IIR), IIR_RDA);
	assert_true(irq_level(f)); /* IIR does not acknowledge RDA; reading data does */
	assert_int_equal(rd(f, RBR), 'a');
	assert_true(irq_level(f));
	assert_int_equal(rd(f, RBR), 'b');
	assert_false(irq_level(f));
	assert_int_equal(rd(f, LSR) & LSR_DR, 0);
	assert_int_equal(rd(f, IIR), IIR_NONE);
	assert_int_equal(rd(f, RBR), 0); /* empty FIFO */
	/* Input arriving with RDA enabled raises the line directly. */
	assert_int_equal(receive_str(f, "c"), 1);
	assert_true(irq_level(f));
	assert_int_equal(rd(f, RBR), 'c');
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
	assert_int_equal(rd(f, LSR) & (LSR_OE | LSR_DR), LSR_DR);
	assert_int_equal(read_eventfd(f), 0);
	/* The first byte out of a full FIFO tells the host there is room. */
	assert_int_equal(rd(f, RBR), 0);
	assert_int_equal(read_eventfd(f), 1);
	assert_int_equal(rd(f, RBR), 1);
	assert_int_equal(read_eventfd(f), 0); /* only on the full -> not full edge */
	/* Refill exactly what was freed, in order. */
	assert_int_equal(serial_receive(f->s, in + FIFO_SIZE, 5), 2);
	for (unsigned int i = 2; i < FIFO_SIZE + 2; i++)
		assert_int_equal(rd(f, RBR), i);
	assert_int_equal(rd(f, LSR) & LSR_DR, 0);
	assert_int_equal(read_eventfd(f), 1);
}

static void fcr_clears_rx(void **state)
{
	struct fixture *f = *state;
	uint8_t in[FIFO_SIZE];

	memset(in, 'q', sizeof(in));
	wr(f, IER, IER_RDI);
	assert_int_equal(serial_receive(f->s, in, 10), 10);
	assert_true(irq_level(f));
	wr(f, FCR, 0x01); /* enable FIFOs without clearing */
	assert_int_equal(rd(f, IIR), 0xc0 | IIR_RDA);
	assert_int_equal(rd(f, LSR) & LSR_DR, LSR_DR);
	wr(f, FCR, 0x03); /* clear RX */
	assert_false(irq_level(f));
	assert_int_equal(rd(f, LSR) & LSR_DR, 0);
	assert_int_equal(rd(f, IIR), 0xc0 | IIR_NONE);
	assert_int_equal(read_eventfd(f), 0);
	/* Clearing a full FIFO makes room, so the host is told. */
	assert_int_equal(serial_receive(f->s, in, sizeof(in)), FIFO_SIZE);
	wr(f, FCR, 0x03);
	assert_int_equal(read_eventfd(f), 1);
	assert_int_equal(serial_receive(f->s, (const uint8_t *)"xy", 2), 2);
	assert_int_equal(rd(f, RBR), 'x');
	assert_int_equal(rd(f, RBR), 'y');
	wr(f, FCR, 0x00);
	assert_int_equal(rd(f, IIR), IIR_NONE);
}

static void loopback(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	wr(f, MCR, MCR_LOOP | MCR_DTR | MCR_RTS | MCR_OUT1 | MCR_OUT2);
	/* MSR mirrors MCR: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
	assert_int_equal(rd(f, MSR) & 0xf0, MSR_CTS | MSR_DSR | MSR_RI | MSR_DCD);
	wr(f, THR, 'L');
	assert_int_equal(rd(f, LSR) & LSR_DR, LSR_DR);
	assert_int_equal(rd(f, RBR), 'L');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 0); /* nothing left the UART */

	wr(f, MCR, MCR_LOOP | MCR_RTS);
	assert_int_equal(rd(f, MSR), MSR_CTS | MSR_DDSR | MSR_TERI | MSR_DDCD);
	assert_int_equal(rd(f, MSR), MSR_CTS); /* deltas clear on read */
	wr(f, MCR, MCR_LOOP | MCR_OUT2);
	assert_int_equal(rd(f, MSR), MSR_DCD | MSR_DCTS | MSR_DDCD);
	wr(f, MCR, MCR_LOOP | MCR_OUT1);
	assert_int_equal(rd(f, MSR), MSR_RI | MSR_DDCD); /* RI rising is not TERI */
	wr(f, MCR, MCR_LOOP);
	assert_int_equal(rd(f, MSR), MSR_TERI);		 /* RI falling is */

	/* Leaving loopback restores the modem lines and transmits for real. */
	wr(f, MCR, MCR_OUT2);
	assert_int_equal(rd(f, MSR), MSR_CTS | MSR_DSR | MSR_DCD | MSR_DCTS | MSR_DDSR | MSR_DDCD);
	wr(f, THR, 'R');
	assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'R');
	assert_int_equal(rd(f, LSR) & LSR_DR, 0);
}

static void loopback_overrun(void **state)
{
	struct fixture *f = *state;
	uint8_t in[FIFO_SIZE];

	memset(in, 'f', sizeof(in));
	wr(f, MCR, MCR_LOOP);
	assert_int_equal(serial_receive(f->s, in, sizeof(in)), FIFO_SIZE);
	wr(f, THR, 'X'); /* no room: the byte is lost and OE set */
	assert_int_equal(rd(f, LSR), LSR_OE | LSR_DR | LSR_THRE | LSR_TEMT);
	assert_int_equal(rd(f, LSR), LSR_DR | LSR_THRE | LSR_TEMT); /* OE clears on read */
	for (int i = 0; i < FIFO_SIZE; i++)
		assert_int_equal(rd(f, RBR), 'f');
	assert_int_equal(rd(f, LSR) & LSR_DR, 0);
}

/* RLS > RDA > THRE > MSR, each cleared by its own acknowledgement. */
static void interrupt_priorities(void **state)
{
	struct fixture *f = *state;
	uint8_t in[FIFO_SIZE];

	memset(in, 'p', sizeof(in));
	wr(f, MCR, MCR_LOOP);		/* modem lines drop: MSR deltas */
	assert_int_equal(serial_receive(f->s, in, sizeof(in)), FIFO_SIZE);
	wr(f, THR, 'o');		/* overrun, and THR empty again */
	assert_int_equal(f->nr_changes, 0);
	wr(f, IER, IER_RDI | IER_THRI | IER_RLSI | IER_MSI);
	assert_true(irq_level(f));

	assert_int_equal(rd(f, IIR), IIR_RLS);
	assert_int_equal(rd(f, IIR), IIR_RLS); /* IIR does not clear line status */
	rd(f, LSR);
	assert_int_equal(rd(f, IIR), IIR_RDA);
	for (int i = 0; i < FIFO_SIZE; i++)
		rd(f, RBR);
	assert_true(irq_level(f));
	assert_int_equal(rd(f, IIR), IIR_THR); /* and acknowledges it */
	assert_true(irq_level(f));
	assert_int_equal(rd(f, IIR), IIR_MS);
	rd(f, MSR);
	assert_false(irq_level(f));
	assert_int_equal(rd(f, IIR), IIR_NONE);
	/* The line went up once and down once. */
	assert_int_equal(f->nr_changes, 2);
	assert_true(f->levels[0]);
	assert_false(f->levels[1]);
}

/* Sources that are not enabled in IER neither show in IIR nor raise the line. */
static void masked_sources(void **state)
{
	struct fixture *f = *state;

	wr(f, MCR, MCR_LOOP);
	receive_str(f, "m");
	wr(f, THR, 'n');
	assert_int_equal(rd(f, IIR), IIR_NONE);
	assert_int_equal(f->nr_changes, 0);
	wr(f, IER, IER_MSI);
	assert_int_equal(rd(f, IIR), IIR_MS);
	rd(f, MSR);
	assert_int_equal(rd(f, IIR), IIR_NONE);
	assert_int_equal(f->nr_changes, 2);
}

static void irq_level_sequence(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, IER_RDI);
	assert_int_equal(f->nr_changes, 0);
	receive_str(f, "1");
	receive_str(f, "2"); /* already high: no new call */
	assert_int_equal(f->nr_changes, 1);
	rd(f, RBR);
	assert_int_equal(f->nr_changes, 1);
	rd(f, RBR);
	assert_int_equal(f->nr_changes, 2);
	receive_str(f, "3");
	wr(f, IER, 0);
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

	assert_int_equal(bus_register(&bus, PLAT_COM1_PORT, SERIAL_NR_PORTS, &serial_bus_ops, f->s,
				      "com1"),
			 0);
	v = 'B';
	assert_true(bus_access(&bus, PLAT_COM1_PORT + THR, &v, 1, true));
	assert_int_equal(drain_out(f, &c, 1), 1);
	assert_int_equal(c, 'B');
	assert_true(bus_access(&bus, PLAT_COM1_PORT + LSR, &v, 1, false));
	assert_int_equal(v, LSR_THRE | LSR_TEMT);
	assert_true(bus_access(&bus, PLAT_COM1_PORT + SCR, &v, 1, false));
	assert_false(bus_access(&bus, PLAT_COM1_PORT + 8, &v, 1, false));
	bus_free(&bus);
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
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
