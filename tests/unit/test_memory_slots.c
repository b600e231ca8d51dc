// SPDX-License-Identifier: Apache-2.0
/* The KVM memory-slot table: ids, exhaustion, reuse, lookups, refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "memory/slots.h"

#define MiB (1024ULL * 1024)

static struct mem_slot ram_at(uint64_t gpa, uint64_t size)
{
	return (struct mem_slot){
		.kind = MEM_SLOT_RAM,
		.gpa = gpa,
		.size = size,
		.host = (uint8_t *)(uintptr_t)(0x7f0000000000ULL + gpa),
	};
}

static void ids_rise_then_run_out(void **state)
{
	struct mem_slots s;
	struct mem_slot d;

	mem_slots_init(&s, 4);
	for (int i = 0; i < 4; i++) {
		d = ram_at((uint64_t)i * MiB, MiB);
		assert_int_equal(mem_slots_alloc(&s, &d), i);
	}
	d = ram_at(8 * MiB, MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), -ENOSPC);
	assert_int_equal(s.nr, 4);
	mem_slots_fini(&s);
	assert_null(s.slot);
	assert_int_equal(s.nr, 0);
}

static void freed_ids_come_back_lowest_first(void **state)
{
	struct mem_slots s;
	struct mem_slot d;

	mem_slots_init(&s, 8);
	for (int i = 0; i < 5; i++) {
		d = ram_at((uint64_t)i * MiB, MiB);
		assert_int_equal(mem_slots_alloc(&s, &d), i);
	}
	assert_int_equal(mem_slots_free(&s, 3), 0);
	assert_int_equal(mem_slots_free(&s, 1), 0);
	assert_int_equal(mem_slots_free(&s, 1), -ENOENT);
	assert_null(mem_slots_get(&s, 1));
	/* The range slot 1 had is free again, and so is its id. */
	d = ram_at(1 * MiB, MiB);
	d.kind = MEM_SLOT_DEVICE;
	assert_int_equal(mem_slots_alloc(&s, &d), 1);
	d = ram_at(3 * MiB, MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), 3);
	d = ram_at(10 * MiB, MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), 5);
	assert_int_equal(mem_slots_get(&s, 1)->kind, MEM_SLOT_DEVICE);
	assert_int_equal(mem_slots_get(&s, 5)->gpa, 10 * MiB);
	mem_slots_fini(&s);
}

static void lookups(void **state)
{
	struct mem_slots s;
	struct mem_slot d = ram_at(16 * MiB, 2 * MiB);
	const struct mem_slot *sl;
	unsigned int n = 0;

	mem_slots_init(&s, 0);
	assert_int_equal(s.limit, MEM_SLOTS_DEFAULT_LIMIT);
	assert_null(mem_slots_find_gpa(&s, 0));
	assert_int_equal(mem_slots_alloc(&s, &d), 0);
	d = ram_at(0, MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), 1);
	assert_int_equal(mem_slots_find_gpa(&s, 16 * MiB)->id, 0);
	assert_int_equal(mem_slots_find_gpa(&s, 18 * MiB - 1)->id, 0);
	assert_null(mem_slots_find_gpa(&s, 18 * MiB));
	assert_null(mem_slots_find_gpa(&s, 16 * MiB - 1));
	assert_int_equal(mem_slots_find_gpa(&s, 0)->id, 1);
	assert_ptr_equal(mem_slots_get(&s, 1)->host, d.host);
	assert_null(mem_slots_get(&s, 2));
	/* Walked by id, whatever the gpa order. */
	mem_slots_for_each(&s, sl)
		assert_int_equal(sl->id, n++);
	assert_int_equal(n, 2);
	mem_slots_fini(&s);
}

static void refusals(void **state)
{
	struct mem_slots s;
	struct mem_slot d = ram_at(4 * MiB, 4 * MiB);

	mem_slots_init(&s, 4);
	assert_int_equal(mem_slots_alloc(&s, &d), 0);
	/* Overlap at either end, or all around. */
	d = ram_at(7 * MiB, 2 * MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), -EEXIST);
	d = ram_at(3 * MiB, 2 * MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), -EEXIST);
	d = ram_at(0, 16 * MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), -EEXIST);
	/* Touching is fine. */
	d = ram_at(8 * MiB, MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), 1);
	d = ram_at(32 * MiB, 0);
	assert_int_equal(mem_slots_alloc(&s, &d), -EINVAL);
	d = ram_at(32 * MiB, 100);
	assert_int_equal(mem_slots_alloc(&s, &d), -EINVAL);
	d = ram_at(32 * MiB + 1, MiB);
	assert_int_equal(mem_slots_alloc(&s, &d), -EINVAL);
	d = ram_at(0 - MiB, 2 * MiB); /* wraps past 2^64 */
	assert_int_equal(mem_slots_alloc(&s, &d), -EINVAL);
	assert_int_equal(s.nr, 2);
	mem_slots_fini(&s);
}

static void kvm_limit_falls_back(void **state)
{
	assert_int_equal(mem_slots_kvm_limit(-1), MEM_SLOTS_DEFAULT_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_rise_then_run_out),
		cmocka_unit_test(freed_ids_come_back_lowest_first),
		cmocka_unit_test(lookups),
		cmocka_unit_test(refusals),
		cmocka_unit_test(kvm_limit_falls_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
