/* SPDX-License-Identifier: Apache-2.0 */
/* Test-and-test-and-set lock for ring 3; CPUs here never sleep. */
#ifndef FW_SPINLOCK_H
#define FW_SPINLOCK_H

#include <stdint.h>
#include "cpu.h"

struct spinlock {
	uint32_t locked;
};

static inline void spin_lock(struct spinlock *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			cpu_relax();
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

#endif
