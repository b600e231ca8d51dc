// SPDX-License-Identifier: Apache-2.0
/*
 * The irq test: a one-shot LAPIC timer interrupt, then COM1 through the
 * IOAPIC twice — a transmit-empty interrupt and, in loopback mode, a
 * received-data interrupt whose byte must read back.
 *
 * Ring 3 runs with IF=1 (head.S), so sources are armed and disarmed at the
 * LVT, the IOAPIC entry and the UART's IER. The handlers (entry.S) only
 * count; isr_uart also clears IER, which lowers the line whatever fired.
 */
#include "boot.h"
#include "clock.h"
#include "console.h"
#include "cpu.h"
#include "fmt.h"
#include "io.h"
#include "ioapic.h"
#include "lapic.h"
#include "pic.h"
#include "tests.h"
#include "topology.h"
#include "uart.h"

#define IRQ_TIMEOUT_US 1000000
#define TIMER_TICKS    (LAPIC_TIMER_HZ / 10000) /* 100 us */
#define LOOPBACK_BYTE  0xa5

/* Incremented by entry.S. */
uint32_t irq_lapic_timer_count;
uint32_t irq_uart_count;
uint32_t irq_unexpected_count;

static bool wait_count(const uint32_t *counter, uint32_t above)
{
	struct deadline d = deadline_in_us(IRQ_TIMEOUT_US);

	while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) <= above) {
		if (deadline_passed(&d))
			return false;
		cpu_relax();
	}
	return true;
}

static bool lapic_timer_check(char *detail, size_t len)
{
	uint32_t before = __atomic_load_n(&irq_lapic_timer_count, __ATOMIC_ACQUIRE);
	bool ok;

	lapic_write(LAPIC_TIMER_DCR, LAPIC_DCR_DIV1);
	lapic_write(LAPIC_LVT_TIMER, VEC_LAPIC_TIMER); /* one-shot, unmasked */
	lapic_write(LAPIC_TIMER_ICR, TIMER_TICKS);
	ok = wait_count(&irq_lapic_timer_count, before);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | VEC_LAPIC_TIMER);
	lapic_write(LAPIC_TIMER_ICR, 0);
	if (!ok)
		fmt_snprintf(detail, len, "lapic timer interrupt not delivered within %u ms",
			     IRQ_TIMEOUT_US / 1000);
	return ok;
}

/* Called with the console lock held and the UART idle. */
static bool uart_irq_check(char *detail, size_t len)
{
	unsigned int pin = topo.com1_gsi - topo.ioapic_gsi_base;
	uint8_t mcr = inb(uart_port(UART_MCR));
	uint8_t lsr, data;
	uint32_t before;
	bool ok = false;

	outb(uart_port(UART_IER), 0);
	outb(uart_port(UART_MCR), mcr | UART_MCR_OUT2);
	uart_drain_rx();
	(void)inb(uart_port(UART_IIR));
	ioapic_route(topo.ioapic_addr, pin, VEC_UART, lapic_id(), topo.com1_ioapic_flags);

	/* THRE: enabling the interrupt with the transmitter empty raises it. */
	before = __atomic_load_n(&irq_uart_count, __ATOMIC_ACQUIRE);
	outb(uart_port(UART_IER), UART_IER_THRI);
	if (!wait_count(&irq_uart_count, before)) {
		fmt_snprintf(detail, len, "uart transmit-empty interrupt not delivered (gsi %u)",
			     topo.com1_gsi);
		goto out;
	}

	/* Received data: loopback turns our own byte into input. */
	outb(uart_port(UART_IER), 0);
	outb(uart_port(UART_MCR), UART_MCR_LOOP | UART_MCR_OUT2 | UART_MCR_DTR | UART_MCR_RTS);
	uart_drain_rx();
	before = __atomic_load_n(&irq_uart_count, __ATOMIC_ACQUIRE);
	outb(uart_port(UART_IER), UART_IER_RDI);
	outb(uart_port(UART_THR), LOOPBACK_BYTE);
	if (!wait_count(&irq_uart_count, before)) {
		fmt_snprintf(detail, len, "uart receive interrupt not delivered (gsi %u)",
			     topo.com1_gsi);
		goto out;
	}
	lsr = inb(uart_port(UART_LSR));
	data = inb(uart_port(UART_RBR));
	if (!(lsr & UART_LSR_DR) || data != LOOPBACK_BYTE) {
		fmt_snprintf(detail, len, "uart loopback read 0x%02x (lsr 0x%02x), expected 0x%02x",
			     data, lsr, LOOPBACK_BYTE);
		goto out;
	}
	ok = true;
out:
	outb(uart_port(UART_IER), 0);
	ioapic_mask(topo.ioapic_addr, pin);
	outb(uart_port(UART_MCR), mcr);
	uart_drain_rx();
	(void)inb(uart_port(UART_IIR));
	return ok;
}

bool test_irq(char *detail, size_t len)
{
	uint32_t unexpected = __atomic_load_n(&irq_unexpected_count, __ATOMIC_ACQUIRE);
	bool ok;

	pic_mask_all();
	clock_init();
	lapic_enable();
	if (!lapic_timer_check(detail, len))
		return false;

	cons_lock(); /* nobody else may print while the UART is borrowed */
	uart_wait_idle();
	ok = uart_irq_check(detail, len);
	cons_unlock();
	if (!ok)
		return false;

	unexpected = __atomic_load_n(&irq_unexpected_count, __ATOMIC_ACQUIRE) - unexpected;
	if (unexpected) {
		fmt_snprintf(detail, len, "%u unexpected interrupt(s)", unexpected);
		return false;
	}
	fmt_snprintf(detail, len, "lapic timer, uart thre, uart rx");
	return true;
}
