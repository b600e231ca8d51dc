// SPDX-License-Identifier: Apache-2.0
/* Intel MultiProcessor Specification 1.4 tables. */
#include <kvmlet/mptable.h>
#include "io.h"
#include "ioapic.h"
#include "libc.h"
#include "topology.h"

static const struct mp_float *mpf_scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + sizeof(struct mp_float) <= start + len; a += 16) {
		const struct mp_float *f = phys_ptr(a);

		if (!memcmp(f->signature, MP_FLOAT_SIGNATURE, 4) && f->length == 1 &&
		    !checksum8(f, sizeof(*f)))
			return f;
	}
	return NULL;
}

static const struct mp_float *mpf_find(void)
{
	uint64_t ebda, base_top;
	const struct mp_float *f = NULL;

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
	const struct mp_float *f = mpf_find();
	const struct mp_config *h;
	const uint8_t *p, *end;
	bool have_ioapic = false;
	uint32_t gsi_base = 0;

	if (!f || f->feature[0] || !f->physptr)
		return false;
	h = phys_ptr(f->physptr);
	if (memcmp(h->signature, MP_CONFIG_SIGNATURE, 4) || h->length < sizeof(*h) ||
	    checksum8(h, h->length))
		return false;

	t->source = "mptable";
	p = (const uint8_t *)(h + 1);
	end = (const uint8_t *)h + h->length;
	for (unsigned int i = 0; i < h->entry_count && p < end; i++) {
		if (*p == MP_ENTRY_PROCESSOR) {
			const struct mp_processor *c = (const void *)p;

			if (c->flags & MP_CPU_ENABLED)
				topology_add_cpu(t, c->apic_id);
			p += sizeof(*c);
		} else if (*p == MP_ENTRY_IOAPIC) {
			const struct mp_ioapic *io = (const void *)p;

			/*
			 * ISA lines go to the first I/O APIC, one pin per IRQ.
			 * MPS has no GSI numbers: like ACPI-less Linux, number
			 * the pins of each I/O APIC after the previous one's.
			 */
			if (io->flags & MP_IOAPIC_ENABLED) {
				if (!have_ioapic)
					t->ioapic_addr = io->addr;
				have_ioapic = true;
				topology_add_ioapic(t, io->addr, gsi_base);
				gsi_base += ioapic_pins(io->addr);
			}
			p += sizeof(*io);
		} else if (*p <= MP_ENTRY_LOCALINT) {
			p += 8;
		} else {
			break; /* unknown entry type: its size is unknown too */
		}
	}
	return t->nr_cpus > 0;
}
