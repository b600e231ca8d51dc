/* SPDX-License-Identifier: Apache-2.0 */
/* Unprivileged CPU instructions and the ring-3 view of the CPU. */
#ifndef FW_CPU_H
#define FW_CPU_H

#include <stdbool.h>
#include <stdint.h>

static inline void cpu_relax(void)
{
	asm volatile("pause" : : : "memory");
}

static inline void barrier(void)
{
	asm volatile("" : : : "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	asm volatile("cpuid"
		     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
		     : "a"(leaf), "c"(sub));
}

static inline bool cpu_has_hypervisor(void)
{
	uint32_t r[4];

	cpuid(1, 0, r);
	return r[2] & (1u << 31);
}

/* entry.S: halt this CPU for good (ring 3 cannot HLT; #GP does it for us). */
void cpu_park(void) __attribute__((noreturn));
/* Sleeps until the next interrupt (entry.S); keep one armed, or this is cpu_park(). */
void cpu_wait(void);

/*
 * entry.S: WRMSR from ring 3, done by the #GP handler (a few emulated
 * ring-0 instructions). For the rare set-up write, never a hot path.
 */
void cpu_wrmsr(uint32_t msr, uint64_t value);

#endif
