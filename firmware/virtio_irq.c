// SPDX-License-Identifier: Apache-2.0
#include "boot.h"
#include "clock.h"
#include "cpu.h"
#include "fmt.h"
#include "ioapic.h"
#include "lapic.h"
#include "pic.h"
#include "topology.h"
#include "virtio_irq.h"

#define IRQ_TIMEOUT_US 1000000

/* Incremented by entry.S. */
uint32_t irq_virtio_count;

static uint32_t count(void)
{
	return __atomic_load_n(&irq_virtio_count, __ATOMIC_ACQUIRE);
}

bool virtio_irq_roundtrip(struct virtq *vq, void (*submit)(void *ctx), void *ctx, char *why,
			  size_t len)
{
	struct virtio_dev *d = vq->dev;
	struct deadline dl;
	uint64_t ioapic;
	unsigned int pin;
	uint32_t before, isr;
	bool fired = true;

	if (!topology_gsi_to_pin(d->slot.irq, &ioapic, &pin)) {
		fmt_snprintf(why, len, "no I/O APIC pin for GSI %u", d->slot.irq);
		return false;
	}
	pic_mask_all();
	lapic_enable();
	/* A stale cause would hold a level-triggered line high: no edge later. */
	virtio_write(d, VIRTIO_MMIO_INTERRUPT_ACK, virtio_read(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	ioapic_route(ioapic, pin, VEC_VIRTIO, lapic_id(), 0); /* edge, active high */
	virtq_set_irq(vq, true);

	before = count();
	submit(ctx);
	dl = deadline_in_us(IRQ_TIMEOUT_US);
	while (count() == before) {
		if (deadline_passed(&dl)) {
			fired = false;
			break;
		}
		cpu_relax();
	}
	isr = virtio_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
	virtio_write(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
	virtq_set_irq(vq, false);
	ioapic_mask(ioapic, pin);

	if (!fired) {
		fmt_snprintf(why, len,
			     "no interrupt on GSI %u within %u ms (InterruptStatus 0x%x, %u used)",
			     d->slot.irq, IRQ_TIMEOUT_US / 1000, isr, virtq_pending_used(vq));
		return false;
	}
	if (!(isr & VIRTIO_MMIO_INT_VRING)) {
		fmt_snprintf(why, len, "interrupt on GSI %u but InterruptStatus 0x%x", d->slot.irq,
			     isr);
		return false;
	}
	return true;
}
