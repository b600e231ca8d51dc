// SPDX-License-Identifier: Apache-2.0
/* Just enough ACPI to read the MADT: RSDP, RSDT/XSDT, APIC table. */
#include <kvmlet/platform.h>
#include "io.h"
#include "ioapic.h"
#include "libc.h"
#include "topology.h"

struct rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum;  /* over the first 20 bytes */
	char oem[6];
	uint8_t revision; /* 2+: the fields below are valid */
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

struct sdt_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem[6];
	char oem_table[8];
	uint32_t oem_revision;
	uint32_t creator;
	uint32_t creator_revision;
} __attribute__((packed));

struct madt {
	struct sdt_header h;
	uint32_t lapic;
	uint32_t flags;
} __attribute__((packed));

enum { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_OVERRIDE = 2 };

struct madt_lapic {
	uint8_t type, length, acpi_id, apic_id;
	uint32_t flags; /* bit 0 enabled */
} __attribute__((packed));

struct madt_ioapic {
	uint8_t type, length, id, reserved;
	uint32_t addr;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_override {
	uint8_t type, length, bus, irq;
	uint32_t gsi;
	uint16_t flags; /* MPS INTI flags */
} __attribute__((packed));

#define ACPI_MAX_TABLE (1u << 20) /* sanity bound on a table's length */

static bool rsdp_valid(const struct rsdp *r)
{
	if (memcmp(r->signature, "RSD PTR ", 8) || checksum8(r, 20))
		return false;
	return r->revision < 2 || !checksum8(r, sizeof(*r));
}

static uint64_t rsdp_scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + sizeof(struct rsdp) <= start + len; a += 16)
		if (rsdp_valid(phys_ptr(a)))
			return a;
	return 0;
}

uint64_t acpi_find_rsdp(void)
{
	uint64_t ebda, base_top, r = 0;

	legacy_scan_areas(&ebda, &base_top);
	if (ebda)
		r = rsdp_scan(ebda, 1024);
	if (!r)
		r = rsdp_scan(0xe0000, 0x20000);
	return r;
}

/* The identity map only covers 4 GiB, where every firmware puts its tables. */
static const struct sdt_header *sdt_map(uint64_t addr, const char *sig)
{
	const struct sdt_header *h;

	if (!addr || addr >= (1ULL << 32))
		return NULL;
	h = phys_ptr(addr);
	if (memcmp(h->signature, sig, 4) || h->length < sizeof(*h) || h->length > ACPI_MAX_TABLE ||
	    checksum8(h, h->length))
		return NULL;
	return h;
}

/* The table with signature @sig that the RSDP's root table lists. */
static const struct sdt_header *table_find(uint64_t rsdp_addr, const char *sig)
{
	const struct rsdp *r = phys_ptr(rsdp_addr);
	const struct sdt_header *root;
	unsigned int entry_size, n;

	if (!rsdp_addr || rsdp_addr >= (1ULL << 32) || !rsdp_valid(r))
		return NULL;
	if (r->revision >= 2 && (root = sdt_map(r->xsdt, "XSDT")))
		entry_size = 8;
	else if ((root = sdt_map(r->rsdt, "RSDT")))
		entry_size = 4;
	else
		return NULL;

	n = (root->length - sizeof(*root)) / entry_size;
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(root + 1) + i * entry_size;
		uint64_t addr = 0;
		const struct sdt_header *h;

		memcpy(&addr, e, entry_size);
		h = sdt_map(addr, sig);
		if (h)
			return h;
	}
	return NULL;
}

static const struct madt *madt_find(uint64_t rsdp_addr)
{
	const struct sdt_header *h = table_find(rsdp_addr, "APIC");

	return h && h->length >= sizeof(struct madt) ? (const struct madt *)h : NULL;
}

/* FADT fields: DSDT (32-bit) at 40, X_DSDT (64-bit, ACPI 2.0+) at 140. */
#define FADT_DSDT   40
#define FADT_X_DSDT 140

const uint8_t *acpi_dsdt(uint64_t rsdp, uint32_t *len)
{
	const struct sdt_header *fadt = table_find(rsdp, "FACP"), *dsdt = NULL;
	const uint8_t *f = (const uint8_t *)fadt;
	uint64_t addr = 0;
	uint32_t addr32 = 0;

	if (!fadt)
		return NULL;
	if (fadt->length >= FADT_X_DSDT + 8)
		memcpy(&addr, f + FADT_X_DSDT, 8);
	if (!addr && fadt->length >= FADT_DSDT + 4) {
		memcpy(&addr32, f + FADT_DSDT, 4);
		addr = addr32;
	}
	dsdt = sdt_map(addr, "DSDT");
	if (!dsdt)
		return NULL;
	*len = dsdt->length - sizeof(*dsdt);
	return (const uint8_t *)(dsdt + 1);
}

static uint32_t inti_to_ioapic_flags(uint16_t inti)
{
	uint32_t f = 0;

	if ((inti & 3) == 3)
		f |= IOAPIC_ACTIVE_LOW;
	if (((inti >> 2) & 3) == 3)
		f |= IOAPIC_LEVEL;
	return f; /* "conforms to bus" is edge/high for ISA */
}

bool acpi_parse(struct topology *t, uint64_t rsdp)
{
	const struct madt *m = madt_find(rsdp);
	const uint8_t *p, *end;
	uint64_t ioapic_addr = 0;

	if (!m)
		return false;
	t->source = "acpi";

	/* Pass 1: CPUs and the ISA override for COM1's IRQ. */
	end = (const uint8_t *)m + m->h.length;
	for (p = (const uint8_t *)(m + 1); p + 2 <= end && p[1] >= 2; p += p[1]) {
		if (p[0] == MADT_LAPIC && p[1] >= sizeof(struct madt_lapic)) {
			const struct madt_lapic *l = (const void *)p;

			if (l->flags & 1)
				topology_add_cpu(t, l->apic_id);
		} else if (p[0] == MADT_OVERRIDE && p[1] >= sizeof(struct madt_override)) {
			const struct madt_override *o = (const void *)p;

			if (o->bus == 0 && o->irq == PLAT_COM1_IRQ) {
				t->com1_gsi = o->gsi;
				t->com1_ioapic_flags = inti_to_ioapic_flags(o->flags);
			}
		}
	}
	/* Pass 2: the I/O APIC whose GSI range holds that line. */
	for (p = (const uint8_t *)(m + 1); p + 2 <= end && p[1] >= 2; p += p[1]) {
		const struct madt_ioapic *io = (const void *)p;

		if (p[0] != MADT_IOAPIC || p[1] < sizeof(*io))
			continue;
		topology_add_ioapic(t, io->addr, io->gsi_base);
		if (io->gsi_base <= t->com1_gsi &&
		    (!ioapic_addr || io->gsi_base > t->ioapic_gsi_base)) {
			ioapic_addr = io->addr;
			t->ioapic_gsi_base = io->gsi_base;
		}
	}
	if (ioapic_addr)
		t->ioapic_addr = ioapic_addr;
	return t->nr_cpus > 0;
}
