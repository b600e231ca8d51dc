/* SPDX-License-Identifier: Apache-2.0 */
/* What the platform tables say about CPUs and interrupt routing. */
#ifndef FW_TOPOLOGY_H
#define FW_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>
#include "boot.h"

#define TOPO_MAX_IOAPICS 8

struct topo_ioapic {
	uint64_t addr;
	uint32_t gsi_base;
};

struct topology {
	const char *source;	      /* "acpi", "mptable" or "none" */
	unsigned int nr_cpus;	      /* enabled CPUs, at most FW_MAX_CPUS */
	uint8_t apic_id[FW_MAX_CPUS]; /* CPU index -> APIC ID, table order */
	unsigned int bsp;	      /* index of the CPU running this */
	uint64_t ioapic_addr;	      /* the I/O APIC that has the COM1 line */
	uint32_t ioapic_gsi_base;
	uint32_t com1_gsi;
	uint32_t com1_ioapic_flags; /* IOAPIC_ACTIVE_LOW / IOAPIC_LEVEL */
	unsigned int nr_ioapics;    /* every I/O APIC, for lines other than COM1's */
	struct topo_ioapic ioapics[TOPO_MAX_IOAPICS];
};

extern struct topology topo;

void topology_discover(void);
/* CPU index of @apic_id, or -1. */
int topology_cpu_index(unsigned int apic_id);

/* The I/O APIC and pin that carry @gsi; false if no I/O APIC covers it. */
bool topology_gsi_to_pin(uint32_t gsi, uint64_t *ioapic_addr, unsigned int *pin);

/* Table parsers: true if they found a usable table and filled @t. */
bool acpi_parse(struct topology *t, uint64_t rsdp);
uint64_t acpi_find_rsdp(void);
/* The DSDT's AML (after its header) and its length; NULL without one. */
const uint8_t *acpi_dsdt(uint64_t rsdp, uint32_t *len);
bool mptable_parse(struct topology *t);

/* Shared by both parsers. */
void topology_add_cpu(struct topology *t, unsigned int apic_id);
void topology_add_ioapic(struct topology *t, uint64_t addr, uint32_t gsi_base);
uint8_t checksum8(const void *p, uint64_t len);
/* Physical addresses of the EBDA's first KiB and of base memory's last KiB. */
void legacy_scan_areas(uint64_t *ebda, uint64_t *base_top);

#endif
