// SPDX-License-Identifier: Apache-2.0
/* Intel MultiProcessor Specification 1.4 tables. */
#include "io.h"
#include "ioapic.h"
#include "libc.h"
#include "topology.h"

struct mpf {
	char signature[4]; /* "_MP_" */
	uint32_t config;
	uint8_t length; /* in 16-byte units */
	uint8_t revision;
	uint8_t checksum;
	uint8_t feature[5]; /* feature[0] != 0: a default config, no table */
} __attribute__((packed));

struct mpc_header {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_table;
	uint16_t oem_size;
	uint16_t count;
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

enum { MPC_CPU = 0, MPC_BUS = 1, MPC_IOAPIC = 2, MPC_IOINT = 3, MPC_LINT = 4 };

struct mpc_cpu {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_ver;
	uint8_t flags; /* bit 0 enabled, bit 1 boot processor */
	uint32_t signature;
	uint32_t features;
	uint64_t reserved;
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;
	uint8_t id;
	uint8_t ver;
	uint8_t flags; /* bit 0 usable */
	uint32_t addr;
} __attribute__((packed));

static const struct mpf *mpf_scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + sizeof(struct mpf) <= start + len; a += 16) {
		const struct mpf *f = phys_ptr(a);

		if (!memcmp(f->signature, "_MP_", 4) && f->length == 1 && !checksum8(f, sizeof(*f)))
			return f;
	}
	return NULL;
}

static const struct mpf *mpf_find(void)
{
	uint64_t ebda, base_top;
	const struct mpf *f = NULL;

	legacy_scan_areas(&ebda, &base_top);
	if (ebda)
		f = mpf_scan(ebda, 1024);
	if (!f)
		f = mpf_scan(base_top, 1024);
	if (!f)
		f = mpf_scan(0xf0000, 0x10000);
	return f;
}

bool mptable_parse(struct topology *t)
{
	const struct mpf *f = mpf_find();
	const struct mpc_header *h;
	const uint8_t *p, *end;
	bool have_ioapic = false;

	if (!f || f->feature[0] || !f->config)
		return false;
	h = phys_ptr(f->config);
	if (memcmp(h->signature, "PCMP", 4) || h->length < sizeof(*h) || checksum8(h, h->length))
		return false;

	t->source = "mptable";
	p = (const uint8_t *)(h + 1);
	end = (const uint8_t *)h + h->length;
	for (unsigned int i = 0; i < h->count && p < end; i++) {
		if (*p == MPC_CPU) {
			const struct mpc_cpu *c = (const void *)p;

			if (c->flags & 1)
				topology_add_cpu(t, c->apic_id);
			p += sizeof(*c);
		} else if (*p == MPC_IOAPIC) {
			const struct mpc_ioapic *io = (const void *)p;

			/* ISA lines go to the first I/O APIC, one pin per IRQ. */
			if ((io->flags & 1) && !have_ioapic) {
				t->ioapic_addr = io->addr;
				have_ioapic = true;
			}
			p += sizeof(*io);
		} else if (*p <= MPC_LINT) {
			p += 8;
		} else {
			break; /* unknown entry type: its size is unknown too */
		}
	}
	return t->nr_cpus > 0;
}
