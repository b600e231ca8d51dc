// SPDX-License-Identifier: Apache-2.0
/*
 * CPUID shaping on a fake KVM_GET_SUPPORTED_CPUID table: per-vCPU APIC IDs
 * and a one-socket, one-thread-per-core topology, for Intel and AMD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tests/unit/images.h"
#include "vmm/cpuid.h"

#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

/* Register values the host reports, some with bits shaping must replace. */
#define L1_EBX	    0xff100812U /* stale APIC ID 0xff, 16 logical, CLFLUSH 8, brand 0x12 */
#define L1_ECX	    0x00000201U /* SSE3, SSSE3 */
#define L1_EDX	    0x178bfbffU /* includes HTT */
#define L4_STALE    0xfc03c000U /* host's core and sharing counts */
#define L4_L1D	    0x121U	/* data, level 1, self-initialising */
#define L4_L1I	    0x122U
#define L4_L2	    0x143U
#define L4_L3	    0x163U
#define L4_EBX	    0x01c0003fU
#define L4_ECX	    0x0000003fU
#define L4_EDX	    0x00000001U

static const struct kvm_cpuid_entry2 host_leaves[] = {
	{ .function = 0x0, .eax = 0x1f },
	{ .function = 0x1, .eax = 0x000906ea, .ebx = L1_EBX, .ecx = L1_ECX, .edx = L1_EDX },
	{ .function = 0x4, .index = 0, .flags = SIG, .eax = L4_STALE | L4_L1D, .ebx = L4_EBX,
	  .ecx = L4_ECX, .edx = L4_EDX },
	{ .function = 0x4, .index = 1, .flags = SIG, .eax = L4_STALE | L4_L1I, .ebx = L4_EBX,
	  .ecx = L4_ECX, .edx = L4_EDX },
	{ .function = 0x4, .index = 2, .flags = SIG, .eax = L4_STALE | L4_L2, .ebx = L4_EBX,
	  .ecx = 0x3ff, .edx = L4_EDX },
	{ .function = 0x4, .index = 3, .flags = SIG, .eax = L4_STALE | L4_L3, .ebx = L4_EBX,
	  .ecx = 0x3fff, .edx = 0x6 },
	{ .function = 0x4, .index = 4, .flags = SIG }, /* type 0: no more caches */
	{ .function = 0x7, .index = 0, .flags = SIG, .eax = 1, .ebx = 0x029c6fbf },
	{ .function = 0x7, .index = 1, .flags = SIG, .eax = 0x10 },
	{ .function = 0xb, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 0xff },
	{ .function = 0xb, .index = 1, .flags = SIG, .eax = 7, .ebx = 32, .ecx = 0x201, .edx = 0xff },
	{ .function = 0xb, .index = 2, .flags = SIG, .eax = 9, .ebx = 9, .ecx = 0x302, .edx = 0xff },
	{ .function = 0x1f, .index = 0, .flags = SIG, .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 0xff },
	{ .function = 0x1f, .index = 1, .flags = SIG, .eax = 7, .ebx = 32, .ecx = 0x201, .edx = 0xff },
	{ .function = 0x1f, .index = 2, .flags = SIG, .eax = 9, .ebx = 9, .ecx = 0x502, .edx = 0xff },
	{ .function = 0x80000000, .eax = 0x8000001f },
	{ .function = 0x80000008, .eax = 0x3030, .ebx = 0x1234, .ecx = 0x0000700f },
	{ .function = 0x8000001e, .eax = 0xabc, .ebx = 0x0105, .ecx = 0x0303 },
};

#define NR_LEAVES (sizeof(host_leaves) / sizeof(host_leaves[0]))

static struct kvm_cpuid2 *fake_cpuid(const char *vendor)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + NR_LEAVES * sizeof(c->entries[0]));

	assert_non_null(c);
	c->nent = NR_LEAVES;
	memcpy(c->entries, host_leaves, sizeof(host_leaves));
	memcpy(&c->entries[0].ebx, vendor, 4);
	memcpy(&c->entries[0].edx, vendor + 4, 4);
	memcpy(&c->entries[0].ecx, vendor + 8, 4);
	return c;
}

static struct kvm_cpuid2 *shaped(const char *vendor, unsigned int index, unsigned int nr,
				 bool tsc_deadline)
{
	struct kvm_cpuid2 *c = fake_cpuid(vendor);
	struct cpuid_topology t = { .cpu_index = index, .nr_cpus = nr, .tsc_deadline = tsc_deadline };

	cpuid_shape(c, &t);
	return c;
}

static struct kvm_cpuid_entry2 *leaf(struct kvm_cpuid2 *c, unsigned int fn, unsigned int idx)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, fn, idx);

	if (!e)
		fail_msg("no CPUID leaf 0x%x.%u", fn, idx);
	return e;
}

static unsigned int bits_for(unsigned int n)
{
	unsigned int b = 0;

	while ((1U << b) < n)
		b++;
	return b;
}

static void leaf1_apic_id_and_count(void **state)
{
	struct kvm_cpuid2 *c = shaped("GenuineIntel", 2, 4, false);
	struct kvm_cpuid_entry2 *e = leaf(c, 1, 0);

	assert_int_equal(e->ebx >> 24, 2);
	assert_int_equal((e->ebx >> 16) & 0xff, 4);
	assert_int_equal(e->ebx & 0xffff, L1_EBX & 0xffff); /* CLFLUSH size and brand kept */
	assert_int_equal(e->eax, 0x000906ea);
	assert_true(e->ecx & (1U << 31));	      /* hypervisor */
	assert_false(e->ecx & (1U << 24));	      /* no TSC deadline unless asked */
	assert_int_equal(e->ecx & ~(1U << 31), L1_ECX); /* nothing else touched */
	assert_true(e->edx & (1U << 28));	      /* HTT: more than one logical CPU */
	assert_int_equal(e->edx, L1_EDX);
	free(c);
}

static void leaf1_single_cpu(void **state)
{
	struct kvm_cpuid2 *c = shaped("GenuineIntel", 0, 1, false);
	struct kvm_cpuid_entry2 *e = leaf(c, 1, 0);

	assert_int_equal(e->ebx >> 24, 0);
	assert_int_equal((e->ebx >> 16) & 0xff, 1);
	assert_false(e->edx & (1U << 28)); /* HTT cleared although the host had it */
	assert_int_equal(e->edx, L1_EDX & ~(1U << 28));
	assert_true(e->ecx & (1U << 31));
	free(c);
}

static void leaf1_many_cpus(void **state)
{
	struct kvm_cpuid2 *c = shaped("GenuineIntel", 253, 254, false);
	struct kvm_cpuid_entry2 *e = leaf(c, 1, 0);

	assert_int_equal(e->ebx >> 24, 253);
	assert_int_equal((e->ebx >> 16) & 0xff, 254);
	free(c);
}

static void leaf1_tsc_deadline(void **state)
{
	struct kvm_cpuid2 *c = shaped("GenuineIntel", 0, 1, true);
	struct kvm_cpuid_entry2 *e = leaf(c, 1, 0);

	assert_true(e->ecx & (1U << 24));
	assert_true(e->ecx & (1U << 31));
	assert_int_equal(e->ecx, L1_ECX | (1U << 24) | (1U << 31));
	free(c);
}

static void check_leaf4(unsigned int nr)
{
	struct kvm_cpuid2 *c = shaped("GenuineIntel", 0, nr, false);
	unsigned int cores_field = nr - 1 > 63 ? 63 : nr - 1;
	static const uint32_t types[] = { L4_L1D, L4_L1I, L4_L2, L4_L3 };

	for (unsigned int i = 0; i < 4; i++) {
		struct kvm_cpuid_entry2 *e = leaf(c, 4, i);
		unsigned int level = (e->eax >> 5) & 7;

		assert_int_equal(e->eax & 0x3ff, types[i]); /* type, level, flags kept */
		assert_int_equal(e->eax >> 26, cores_field);
		/* L1 and L2 are per core, the L3 is shared by the whole package. */
		assert_int_equal((e->eax >> 14) & 0xfff, level >= 3 ? nr - 1 : 0);
		assert_int_equal(e->ebx, L4_EBX);
		assert_int_equal(e->edx, host_leaves[2 + i].edx);
	}
	/* The terminating null subleaf is left alone. */
	assert_int_equal(leaf(c, 4, 4)->eax, 0);
	assert_int_equal(leaf(c, 4, 4)->ebx, 0);
	free(c);
}

static void leaf4_core_counts(void **state)
{
	check_leaf4(1);
	check_leaf4(2);
	check_leaf4(4);
	check_leaf4(64);
	check_leaf4(65); /* EAX[31:26] saturates at 63 */
	check_leaf4(254);
}

static void check_ext_topology(unsigned int fn, unsigned int index, unsigned int nr)
{
	struct kvm_cpuid2 *c = shaped("GenuineIntel", index, nr, false);
	struct kvm_cpuid_entry2 *smt = leaf(c, fn, 0), *core = leaf(c, fn, 1), *end = leaf(c, fn, 2);

	assert_int_equal(smt->eax, 0); /* one thread per core */
	assert_int_equal(smt->ebx, 1);
	assert_int_equal(smt->ecx, (1 << 8) | 0);
	assert_int_equal(smt->edx, index);
	assert_int_equal(core->eax, bits_for(nr));
	assert_int_equal(core->ebx, nr);
	assert_int_equal(core->ecx, (2 << 8) | 1);
	assert_int_equal(core->edx, index);
	assert_int_equal(end->eax, 0); /* invalid level ends the list */
	assert_int_equal(end->ebx, 0);
	assert_int_equal(end->ecx, 2);
	assert_int_equal(end->edx, index);
	/* Every CPU's x2APIC ID shifted by the core width gives package 0. */
	assert_int_equal(index >> core->eax, 0);
	assert_true((nr - 1) >> core->eax == 0);
	free(c);
}

static void leaf_b_topology(void **state)
{
	check_ext_topology(0xb, 0, 1);
	check_ext_topology(0xb, 1, 2);
	check_ext_topology(0xb, 3, 4);
	check_ext_topology(0xb, 4, 5);
	check_ext_topology(0xb, 100, 254);
	/* order_base_2: exact powers of two do not round up. */
	for (unsigned int n = 1; n <= 254; n++) {
		struct kvm_cpuid2 *c = shaped("GenuineIntel", n - 1, n, false);
		unsigned int shift = leaf(c, 0xb, 1)->eax;

		assert_true((1U << shift) >= n);
		assert_true(shift == 0 || (1U << (shift - 1)) < n);
		free(c);
	}
}

static void leaf_1f_topology(void **state)
{
	check_ext_topology(0x1f, 0, 1);
	check_ext_topology(0x1f, 2, 3);
	check_ext_topology(0x1f, 7, 8);
}

static void amd_leaves(void **state)
{
	static const char *const vendors[] = { "AuthenticAMD", "HygonGenuine" };

	for (size_t v = 0; v < 2; v++) {
		struct kvm_cpuid2 *c = shaped(vendors[v], 5, 6, false);
		struct kvm_cpuid_entry2 *e = leaf(c, 0x80000008, 0);

		assert_int_equal(e->ecx & 0xff, 5);		/* NC: cores - 1 */
		assert_int_equal((e->ecx >> 12) & 0xf, 3);	/* ApicIdCoreIdSize */
		assert_int_equal(e->eax, 0x3030);		/* address sizes kept */
		assert_int_equal(e->ebx, 0x1234);
		e = leaf(c, 0x8000001e, 0);
		assert_int_equal(e->eax, 5);			/* extended APIC ID */
		assert_int_equal(e->ebx & 0xff, 5);		/* core ID */
		assert_int_equal((e->ebx >> 8) & 0xff, 0);	/* one thread per core */
		assert_int_equal(e->ecx, 0);			/* node 0 */
		/* The common leaves are shaped the same way. */
		assert_int_equal(leaf(c, 1, 0)->ebx >> 24, 5);
		assert_int_equal(leaf(c, 0xb, 1)->ebx, 6);
		free(c);
	}
	{
		struct kvm_cpuid2 *c = shaped("AuthenticAMD", 0, 1, false);

		assert_int_equal(leaf(c, 0x80000008, 0)->ecx, 0); /* NC 0, size 0 */
		free(c);
	}
}

static void intel_leaves_untouched(void **state)
{
	struct kvm_cpuid2 *c = shaped("GenuineIntel", 5, 6, false);

	assert_int_equal(leaf(c, 0x80000008, 0)->ecx, 0x700f);
	assert_int_equal(leaf(c, 0x8000001e, 0)->eax, 0xabc);
	assert_int_equal(leaf(c, 0x8000001e, 0)->ebx, 0x0105);
	assert_int_equal(leaf(c, 0x7, 0)->ebx, 0x029c6fbf);
	assert_int_equal(leaf(c, 0x80000000, 0)->eax, 0x8000001f);
	free(c);
	/* Without leaf 0 the vendor is unknown, so AMD leaves are not touched either. */
	c = fake_cpuid("AuthenticAMD");
	c->entries[0].function = 0x40000000;
	{
		struct cpuid_topology t = { .cpu_index = 1, .nr_cpus = 2 };

		cpuid_shape(c, &t);
	}
	assert_int_equal(leaf(c, 0x80000008, 0)->ecx, 0x700f);
	free(c);
}

static void distinct_apic_ids(void **state)
{
	for (unsigned int i = 0; i < 8; i++) {
		struct kvm_cpuid2 *c = shaped("GenuineIntel", i, 8, false);

		assert_int_equal(leaf(c, 1, 0)->ebx >> 24, i);
		assert_int_equal(leaf(c, 0xb, 0)->edx, i);
		assert_int_equal(leaf(c, 0xb, 1)->edx, i);
		assert_int_equal(leaf(c, 0x1f, 2)->edx, i);
		free(c);
	}
}

static void find_with_index(void **state)
{
	struct kvm_cpuid2 *c = fake_cpuid("GenuineIntel");
	struct kvm_cpuid_entry2 *e;

	e = cpuid_find(c, 4, 2);
	assert_non_null(e);
	assert_int_equal(e->function, 4);
	assert_int_equal(e->index, 2);
	assert_int_equal(e->eax & 0x3ff, L4_L2);
	e = cpuid_find(c, 0xb, 1);
	assert_non_null(e);
	assert_int_equal(e->ecx, 0x201);
	assert_ptr_equal(cpuid_find(c, 7, 1), &c->entries[8]);
	assert_null(cpuid_find(c, 4, 9)); /* significant index that is absent */
	assert_null(cpuid_find(c, 0xb, 3));
	free(c);
}

static void find_without_index(void **state)
{
	struct kvm_cpuid2 *c = fake_cpuid("GenuineIntel");

	/* Leaves without KVM_CPUID_FLAG_SIGNIFCANT_INDEX match any index. */
	assert_ptr_equal(cpuid_find(c, 1, 0), &c->entries[1]);
	assert_ptr_equal(cpuid_find(c, 1, 7), &c->entries[1]);
	assert_ptr_equal(cpuid_find(c, 0x80000008, 0xffffffff), &c->entries[16]);
	assert_null(cpuid_find(c, 0x12345, 0));
	assert_null(cpuid_find(c, 0x80000001, 0));
	c->nent = 0;
	assert_null(cpuid_find(c, 1, 0));
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(leaf1_apic_id_and_count),
		cmocka_unit_test(leaf1_single_cpu),
		cmocka_unit_test(leaf1_many_cpus),
		cmocka_unit_test(leaf1_tsc_deadline),
		cmocka_unit_test(leaf4_core_counts),
		cmocka_unit_test(leaf_b_topology),
		cmocka_unit_test(leaf_1f_topology),
		cmocka_unit_test(amd_leaves),
		cmocka_unit_test(intel_leaves_untouched),
		cmocka_unit_test(distinct_apic_ids),
		cmocka_unit_test(find_with_index),
		cmocka_unit_test(find_without_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
