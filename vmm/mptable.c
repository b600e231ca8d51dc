// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>

#include "kvmlet/mptable.h"
#include "kvmlet/platform.h"
#include "vmm/mptable.h"

#define MP_LAPIC_VERSION  0x14 /* what KVM's local APIC reports */
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_SIGNATURE  0x600 /* family 6 */
#define MP_CPU_FEATURES	  0x201 /* FPU, APIC */
#define MP_TABLE_SPACE	  (PLAT_HIMEM_START - PLAT_MPTABLE_ADDR)

uint8_t mptable_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

/* Appends one entry at *pos and counts it. */
static void mp_add(uint8_t **pos, uint16_t *count, const void *entry, size_t len)
{
	memcpy(*pos, entry, len);
	*pos += len;
	(*count)++;
}

int mptable_write(struct guest_memory *gm, unsigned int nr_cpus, struct err *err)
{
	size_t size = sizeof(struct mp_float) + sizeof(struct mp_config) +
		      nr_cpus * sizeof(struct mp_processor) + sizeof(struct mp_bus) +
		      sizeof(struct mp_ioapic) + (PLAT_IOAPIC_PINS + 2) * sizeof(struct mp_intsrc);
	uint8_t *base = gm_ptr(gm, PLAT_MPTABLE_ADDR, MP_TABLE_SPACE);
	struct mp_float *mpf = (struct mp_float *)base;
	struct mp_config *mpc = (struct mp_config *)(mpf + 1);
	uint8_t *pos = (uint8_t *)(mpc + 1);
	uint8_t ioapic_id = nr_cpus;
	uint16_t count = 0;

	if (nr_cpus == 0 || nr_cpus > MPTABLE_MAX_CPUS)
		return err_set(err, -EINVAL, "an MP table describes 1..%u CPUs, not %u",
			       MPTABLE_MAX_CPUS, nr_cpus);
	if (!base || size > MP_TABLE_SPACE)
		return err_set(err, -ENOSPC, "no room for the MP table");
	memset(base, 0, size);

	for (unsigned int i = 0; i < nr_cpus; i++) {
		struct mp_processor cpu = {
			.type = MP_ENTRY_PROCESSOR,
			.apic_id = i,
			.apic_ver = MP_LAPIC_VERSION,
			.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0),
			.signature = MP_CPU_SIGNATURE,
			.features = MP_CPU_FEATURES,
		};
		mp_add(&pos, &count, &cpu, sizeof(cpu));
	}
	struct mp_bus isa = { .type = MP_ENTRY_BUS, .bus_id = 0, .bus_type = "ISA   " };
	mp_add(&pos, &count, &isa, sizeof(isa));
	struct mp_ioapic ioapic = {
		.type = MP_ENTRY_IOAPIC,
		.apic_id = ioapic_id,
		.apic_ver = MP_IOAPIC_VERSION,
		.flags = MP_IOAPIC_ENABLED,
		.addr = PLAT_IOAPIC_ADDR,
	};
	mp_add(&pos, &count, &ioapic, sizeof(ioapic));
	/* KVM's default GSI routing sends ISA IRQ n to I/O APIC pin n. */
	for (unsigned int pin = 0; pin < PLAT_IOAPIC_PINS; pin++) {
		struct mp_intsrc src = {
			.type = MP_ENTRY_IOINT,
			.irq_type = MP_INT_TYPE_INT,
			.src_bus = 0,
			.src_irq = pin,
			.dst_apic = ioapic_id,
			.dst_pin = pin,
		};
		mp_add(&pos, &count, &src, sizeof(src));
	}
	/* The 8259 feeds LINT0 and NMIs arrive on LINT1, as on real boards. */
	struct mp_intsrc lint0 = { .type = MP_ENTRY_LOCALINT,
				   .irq_type = MP_INT_TYPE_EXTINT,
				   .dst_apic = MP_APIC_ALL,
				   .dst_pin = 0 };
	struct mp_intsrc lint1 = { .type = MP_ENTRY_LOCALINT,
				   .irq_type = MP_INT_TYPE_NMI,
				   .dst_apic = MP_APIC_ALL,
				   .dst_pin = 1 };
	mp_add(&pos, &count, &lint0, sizeof(lint0));
	mp_add(&pos, &count, &lint1, sizeof(lint1));

	memcpy(mpc->signature, MP_CONFIG_SIGNATURE, 4);
	mpc->length = (uint16_t)(pos - (uint8_t *)mpc);
	mpc->spec_rev = MP_SPEC_REV;
	memcpy(mpc->oem_id, "KVMLET  ", 8);
	memcpy(mpc->product_id, "KVMLET-VM   ", 12);
	mpc->entry_count = count;
	mpc->lapic_addr = PLAT_LAPIC_ADDR;
	mpc->checksum = -mptable_checksum(mpc, mpc->length);

	memcpy(mpf->signature, MP_FLOAT_SIGNATURE, 4);
	mpf->physptr = (uint32_t)(PLAT_MPTABLE_ADDR + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec_rev = MP_SPEC_REV;
	mpf->checksum = -mptable_checksum(mpf, sizeof(*mpf));
	return 0;
}
