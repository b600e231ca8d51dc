/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intel MultiProcessor Specification 1.4 tables: how the guest learns its
 * CPUs, I/O APIC and interrupt routing. Written by the VMM, read by Linux
 * and by the firmware.
 */
#ifndef KVMLET_MPTABLE_H
#define KVMLET_MPTABLE_H

#include <stdint.h>

#define MP_FLOAT_SIGNATURE  "_MP_"
#define MP_CONFIG_SIGNATURE "PCMP"
#define MP_SPEC_REV	    4

enum mp_entry_type {
	MP_ENTRY_PROCESSOR = 0,
	MP_ENTRY_BUS = 1,
	MP_ENTRY_IOAPIC = 2,
	MP_ENTRY_IOINT = 3,
	MP_ENTRY_LOCALINT = 4,
};

#define MP_CPU_ENABLED	   0x01
#define MP_CPU_BSP	   0x02
#define MP_IOAPIC_ENABLED  0x01
#define MP_INT_TYPE_INT	   0
#define MP_INT_TYPE_NMI	   1
#define MP_INT_TYPE_EXTINT 3
#define MP_APIC_ALL	   0xff

struct mp_float {
	char signature[4];
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mp_config {
	char signature[4];
	uint16_t length; /* base table, header included */
	uint8_t spec_rev;
	uint8_t checksum;
	char oem_id[8];
	char product_id[12];
	uint32_t oem_table;
	uint16_t oem_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags;
	uint32_t addr;
} __attribute__((packed));

/* I/O and local interrupt assignment entries share one layout. */
struct mp_intsrc {
	uint8_t type;
	uint8_t irq_type;
	uint16_t irq_flags;
	uint8_t src_bus;
	uint8_t src_irq;
	uint8_t dst_apic;
	uint8_t dst_pin;
} __attribute__((packed));

#endif
