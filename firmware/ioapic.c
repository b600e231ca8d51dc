// SPDX-License-Identifier: Apache-2.0
#include "io.h"
#include "ioapic.h"

#define IOAPIC_REGSEL	   0x00
#define IOAPIC_WIN	   0x10
#define IOAPIC_VER	   0x01
#define IOAPIC_REDTBL(pin) (0x10 + 2 * (pin))

static void ioapic_write(uint64_t base, uint32_t reg, uint32_t val)
{
	mmio_write32(base + IOAPIC_REGSEL, reg);
	mmio_write32(base + IOAPIC_WIN, val);
}

static uint32_t ioapic_read(uint64_t base, uint32_t reg)
{
	mmio_write32(base + IOAPIC_REGSEL, reg);
	return mmio_read32(base + IOAPIC_WIN);
}

unsigned int ioapic_pins(uint64_t base)
{
	return ((ioapic_read(base, IOAPIC_VER) >> 16) & 0xff) + 1;
}

void ioapic_route(uint64_t base, unsigned int pin, uint8_t vector, unsigned int apic_id,
		  uint32_t flags)
{
	/* Destination first, so the entry is never live with a stale one. */
	ioapic_write(base, IOAPIC_REDTBL(pin), IOAPIC_MASKED);
	ioapic_write(base, IOAPIC_REDTBL(pin) + 1, apic_id << 24);
	ioapic_write(base, IOAPIC_REDTBL(pin), vector | flags);
}

void ioapic_mask(uint64_t base, unsigned int pin)
{
	ioapic_write(base, IOAPIC_REDTBL(pin), IOAPIC_MASKED);
}
