// SPDX-License-Identifier: Apache-2.0
/*
 * The MP table, read back the way a guest finds it: scan for the floating
 * pointer, verify checksums, then walk the entries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kvmlet/mptable.h"
#include "kvmlet/platform.h"
#include "tests/unit/images.h"
#include "vmm/mptable.h"

static int setup(void **state)
{
	struct guest_memory *gm = calloc(1, sizeof(*gm));

	assert_non_null(gm);
	test_gm_alloc(gm, 16 * MiB);
	*state = gm;
	return 0;
}

static int teardown(void **state)
{
	gm_free(*state);
	free(*state);
	return 0;
}

/* Scans the BIOS area on 16-byte boundaries, as Linux's smp_scan_config() does. */
static const struct mp_float *find_mpf(struct guest_memory *gm)
{
	const uint8_t *bios = gm_ptr(gm, PLAT_MPTABLE_ADDR, PLAT_HIMEM_START - PLAT_MPTABLE_ADDR);

	assert_non_null(bios);
	for (uint64_t off = 0; off < PLAT_HIMEM_START - PLAT_MPTABLE_ADDR; off += 16) {
		const struct mp_float *mpf = (const struct mp_float *)(bios + off);

		if (memcmp(mpf->signature, MP_FLOAT_SIGNATURE, 4) == 0 && mpf->length == 1 &&
		    mptable_checksum(mpf, 16) == 0)
			return mpf;
	}
	return NULL;
}

static void check_table(struct guest_memory *gm, unsigned int nr_cpus)
{
	const struct mp_float *mpf;
	const struct mp_config *mpc;
	const uint8_t *p, *end;
	unsigned int cpus = 0, buses = 0, ioapics = 0, ioints = 0, lints = 0;
	uint8_t ioapic_id = 0xff;
	bool pins[PLAT_IOAPIC_PINS] = { false };
	struct err err = { 0 };

	assert_int_equal(mptable_write(gm, nr_cpus, &err), 0);
	assert_int_equal(err.code, 0);

	mpf = find_mpf(gm);
	assert_non_null(mpf);
	assert_ptr_equal(mpf, gm_ptr(gm, PLAT_MPTABLE_ADDR, 16));
	assert_int_equal(sizeof(*mpf), 16);
	assert_int_equal(mptable_checksum(mpf, sizeof(*mpf)), 0);
	assert_int_equal(mpf->spec_rev, 4);
	for (int i = 0; i < 5; i++)
		assert_int_equal(mpf->feature[i], 0); /* 0: a configuration table follows */
	assert_true(mpf->physptr >= PLAT_MPTABLE_ADDR && mpf->physptr < PLAT_HIMEM_START);

	mpc = gm_ptr(gm, mpf->physptr, sizeof(*mpc));
	assert_non_null(mpc);
	assert_memory_equal(mpc->signature, "PCMP", 4);
	assert_int_equal(mpc->spec_rev, 4);
	assert_true(mpf->physptr + mpc->length <= PLAT_HIMEM_START);
	assert_int_equal(mptable_checksum(mpc, mpc->length), 0);
	assert_int_equal(mpc->lapic_addr, PLAT_LAPIC_ADDR);
	assert_int_equal(mpc->oem_table, 0);
	assert_int_equal(mpc->ext_length, 0);
	assert_memory_equal(mpc->oem_id, "KVMLET  ", 8);
	assert_int_equal(mpc->entry_count, nr_cpus + 1 + 1 + PLAT_IOAPIC_PINS + 2);

	p = (const uint8_t *)(mpc + 1);
	end = (const uint8_t *)mpc + mpc->length;
	for (unsigned int i = 0; i < mpc->entry_count; i++) {
		assert_true(p < end);
		switch (p[0]) {
		case MP_ENTRY_PROCESSOR: {
			const struct mp_processor *c = (const void *)p;

			assert_int_equal(ioapics + buses + ioints + lints, 0); /* CPUs first */
			assert_int_equal(c->apic_id, cpus);
			assert_int_equal(c->flags & MP_CPU_ENABLED, MP_CPU_ENABLED);
			assert_int_equal(c->flags & MP_CPU_BSP, cpus == 0 ? MP_CPU_BSP : 0);
			assert_int_not_equal(c->apic_ver, 0);
			cpus++;
			p += sizeof(*c);
			break;
		}
		case MP_ENTRY_BUS: {
			const struct mp_bus *b = (const void *)p;

			assert_int_equal(b->bus_id, 0);
			assert_memory_equal(b->bus_type, "ISA   ", 6);
			buses++;
			p += sizeof(*b);
			break;
		}
		case MP_ENTRY_IOAPIC: {
			const struct mp_ioapic *a = (const void *)p;

			ioapic_id = a->apic_id;
			assert_true(a->apic_id >= nr_cpus); /* distinct from every CPU */
			assert_int_equal(a->flags & MP_IOAPIC_ENABLED, MP_IOAPIC_ENABLED);
			assert_int_equal(a->addr, PLAT_IOAPIC_ADDR);
			ioapics++;
			p += sizeof(*a);
			break;
		}
		case MP_ENTRY_IOINT: {
			const struct mp_intsrc *s = (const void *)p;

			assert_int_equal(ioapics, 1); /* refers to an I/O APIC listed earlier */
			assert_int_equal(s->irq_type, MP_INT_TYPE_INT);
			assert_int_equal(s->src_bus, 0);
			assert_int_equal(s->dst_apic, ioapic_id);
			assert_int_equal(s->src_irq, s->dst_pin);
			assert_true(s->dst_pin < PLAT_IOAPIC_PINS);
			assert_false(pins[s->dst_pin]);
			pins[s->dst_pin] = true;
			ioints++;
			p += sizeof(*s);
			break;
		}
		case MP_ENTRY_LOCALINT: {
			const struct mp_intsrc *s = (const void *)p;

			assert_int_equal(s->dst_apic, MP_APIC_ALL);
			assert_int_equal(s->dst_pin, lints);
			assert_int_equal(s->irq_type, lints == 0 ? MP_INT_TYPE_EXTINT : MP_INT_TYPE_NMI);
			lints++;
			p += sizeof(*s);
			break;
		}
		default:
			fail_msg("unknown MP entry type %u", p[0]);
		}
	}
	assert_ptr_equal(p, end); /* length covers exactly the entries */
	assert_int_equal(cpus, nr_cpus);
	assert_int_equal(buses, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(ioints, PLAT_IOAPIC_PINS);
	assert_int_equal(lints, 2);
	for (unsigned int i = 0; i < PLAT_IOAPIC_PINS; i++)
		assert_true(pins[i]);
}

static void cpus_1(void **state)
{
	check_table(*state, 1);
}

static void cpus_2(void **state)
{
	check_table(*state, 2);
}

static void cpus_4(void **state)
{
	check_table(*state, 4);
}

static void cpus_254(void **state)
{
	check_table(*state, MPTABLE_MAX_CPUS);
	assert_int_equal(MPTABLE_MAX_CPUS, 254);
}

/* A smaller table written over a larger one is self-consistent. */
static void rewrite_smaller(void **state)
{
	check_table(*state, 64);
	check_table(*state, 3);
}

static void rejects_bad_counts(void **state)
{
	struct guest_memory *gm = *state;
	struct err err = { 0 };
	const uint8_t *bios = gm_ptr(gm, PLAT_MPTABLE_ADDR, 16);

	assert_int_equal(mptable_write(gm, 0, &err), -EINVAL);
	assert_err(&err, -EINVAL, "1..254 CPUs, not 0");
	memset(&err, 0, sizeof(err));
	assert_int_equal(mptable_write(gm, 255, &err), -EINVAL);
	assert_err(&err, -EINVAL, "not 255");
	memset(&err, 0, sizeof(err));
	assert_int_equal(mptable_write(gm, 100000, &err), -EINVAL);
	assert_err(&err, -EINVAL, "not 100000");
	/* Nothing was written. */
	for (int i = 0; i < 16; i++)
		assert_int_equal(bios[i], 0);
}

static void rejects_small_ram(void **state)
{
	struct guest_memory gm;
	struct err err = { 0 };

	test_gm_alloc(&gm, PLAT_MPTABLE_ADDR + 0x1000); /* BIOS area cut short */
	assert_int_equal(mptable_write(&gm, 1, &err), -ENOSPC);
	assert_err(&err, -ENOSPC, "no room");
	gm_free(&gm);
}

static void checksum(void **state)
{
	static const uint8_t a[] = { 1, 2, 3, 4 };
	static const uint8_t b[] = { 0xff, 0x01 };
	static const uint8_t c[] = { 0x80, 0x80, 0x80 };

	assert_int_equal(mptable_checksum(a, sizeof(a)), 10);
	assert_int_equal(mptable_checksum(b, sizeof(b)), 0);
	assert_int_equal(mptable_checksum(c, sizeof(c)), 0x80);
	assert_int_equal(mptable_checksum(a, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(cpus_1),
		T(cpus_2),
		T(cpus_4),
		T(cpus_254),
		T(rewrite_smaller),
		T(rejects_bad_counts),
		cmocka_unit_test(rejects_small_ram),
		cmocka_unit_test(checksum),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
