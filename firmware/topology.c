// SPDX-License-Identifier: Apache-2.0
/*
 * Where the CPU list comes from, in order: the ACPI MADT if the loader
 * passed an RSDP (QEMU microvm may offer only ACPI), the MP table (kvmlet's
 * board has one at PLAT_MPTABLE_ADDR), an RSDP found by scanning, and
 * finally just the running CPU.
 */
#include <kvmlet/platform.h>
#include "bootinfo.h"
#include "io.h"
#include "ioapic.h"
#include "lapic.h"
#include "libc.h"
#include "topology.h"

struct topology topo;

uint8_t checksum8(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

void legacy_scan_areas(uint64_t *ebda, uint64_t *base_top)
{
	/* BIOS data area: EBDA segment at 0x40e, base memory KiB at 0x413. */
	uint16_t seg = *(volatile uint16_t *)phys_ptr(0x40e);
	uint16_t kib = *(volatile uint16_t *)phys_ptr(0x413);

	*ebda = (uint64_t)seg << 4;
	*base_top = kib ? (uint64_t)kib * 1024 - 1024 : PLAT_EBDA_START;
}

void topology_add_cpu(struct topology *t, unsigned int apic_id)
{
	if (t->nr_cpus < FW_MAX_CPUS && apic_id < 0xff)
		t->apic_id[t->nr_cpus++] = apic_id;
}

void topology_add_ioapic(struct topology *t, uint64_t addr, uint32_t gsi_base)
{
	if (t->nr_ioapics < TOPO_MAX_IOAPICS)
		t->ioapics[t->nr_ioapics++] = (struct topo_ioapic){ addr, gsi_base };
}

bool topology_gsi_to_pin(uint32_t gsi, uint64_t *ioapic_addr, unsigned int *pin)
{
	const struct topo_ioapic *best = NULL;

	for (unsigned int i = 0; i < topo.nr_ioapics; i++) {
		const struct topo_ioapic *io = &topo.ioapics[i];

		if (io->gsi_base <= gsi && (!best || io->gsi_base > best->gsi_base))
			best = io;
	}
	if (!best || gsi - best->gsi_base >= ioapic_pins(best->addr))
		return false;
	*ioapic_addr = best->addr;
	*pin = gsi - best->gsi_base;
	return true;
}

int topology_cpu_index(unsigned int apic_id)
{
	for (unsigned int i = 0; i < topo.nr_cpus; i++)
		if (topo.apic_id[i] == apic_id)
			return i;
	return -1;
}

static void topology_reset(struct topology *t)
{
	*t = (struct topology){
		.source = "none",
		.ioapic_addr = PLAT_IOAPIC_ADDR,
		.com1_gsi = PLAT_COM1_IRQ,
	};
}

void topology_discover(void)
{
	unsigned int self = lapic_id();
	uint64_t rsdp;
	int idx;

	topology_reset(&topo);
	if (!(bootinfo.rsdp && acpi_parse(&topo, bootinfo.rsdp))) {
		topology_reset(&topo);
		if (!mptable_parse(&topo)) {
			topology_reset(&topo);
			rsdp = acpi_find_rsdp();
			if (!(rsdp && acpi_parse(&topo, rsdp)))
				topology_reset(&topo);
		}
	}

	/* No table named an I/O APIC: the board's own is at the usual place. */
	if (!topo.nr_ioapics)
		topology_add_ioapic(&topo, topo.ioapic_addr, topo.ioapic_gsi_base);

	idx = topology_cpu_index(self);
	if (idx < 0) {
		/* No table, or one that forgot us: we exist all the same. */
		topology_add_cpu(&topo, self);
		/* No table named an I/O APIC: the board's own is at the usual place. */
	if (!topo.nr_ioapics)
		topology_add_ioapic(&topo, topo.ioapic_addr, topo.ioapic_gsi_base);

	idx = topology_cpu_index(self);
		if (idx < 0)
			idx = 0;
	}
	topo.bsp = idx;
}
