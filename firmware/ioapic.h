/* SPDX-License-Identifier: Apache-2.0 */
/* I/O APIC redirection entries. */
#ifndef FW_IOAPIC_H
#define FW_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define IOAPIC_ACTIVE_LOW 0x2000
#define IOAPIC_LEVEL	  0x8000
#define IOAPIC_MASKED	  0x10000

/* Fixed delivery, physical destination @apic_id; @flags: the bits above. */
void ioapic_route(uint64_t base, unsigned int pin, uint8_t vector, unsigned int apic_id,
		  uint32_t flags);
void ioapic_mask(uint64_t base, unsigned int pin);
/* Redirection entries of the I/O APIC at @base (its version register). */
unsigned int ioapic_pins(uint64_t base);

#endif
