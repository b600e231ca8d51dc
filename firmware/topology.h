/* SPDX-License-Identifier: Apache-2.0 */
/* What the platform tables say about CPUs and interrupt routing. */
#ifndef FW_TOPOLOGY_H
#define FW_TOPOLOGY_H

#include <stdbool.h>
#include <stdint.h>
#include "boot.h"

struct topology {
	const char *source;	      /* "acpi", "mptable" or "none" */
	unsigned int nr_cpus;	      /* enabled CPUs, at most FW_MAX_CPUS */
	uint8_t apic_id[FW_MAX_CPUS]; /* CPU index -> APIC ID, table order */
	unsigned int bsp;	      /* index of the CPU running this */
	uint64_t ioapic_addr;	      /* the I/O APIC that has the COM1 line */
	uint32_t ioapic_gsi_base;
	uint32_t com1_gsi;
	uint32_t com1_ioapic_flags; /* IOAPIC_ACTIVE_LOW / IOAPIC_LEVEL */
};

extern struct topology topo;

void topology_discover(void);
/* CPU index of @apic_id, or -1. */
int topology_cpu_index(unsigned int apic_id);

/* Table parsers: true if they found a usable table and filled @t. */
bool acpi_parse(struct topology *t, uint64_t rsdp);
uint64_t acpi_find_rsdp(void);
bool mptable_parse(struct topology *t);

/* Shared by both parsers. */
void topology_add_cpu(struct topology *t, unsigned int apic_id);
uint8_t checksum8(const void *p, uint64_t len);
/* Physical addresses of the EBDA's first KiB and of base memory's last KiB. */
void legacy_scan_areas(uint64_t *ebda, uint64_t *base_top);

#endif
