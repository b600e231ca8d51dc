/* SPDX-License-Identifier: Apache-2.0 */
/* Local APIC in xAPIC (MMIO) mode, driven from ring 3. */
#ifndef FW_LAPIC_H
#define FW_LAPIC_H

#include <stdbool.h>
#include <stdint.h>
#include <kvmlet/platform.h>
#include "io.h"

#define LAPIC_ID	0x020
#define LAPIC_TPR	0x080
#define LAPIC_EOI	0x0b0
#define LAPIC_SVR	0x0f0
#define LAPIC_ICR_LO	0x300
#define LAPIC_ICR_HI	0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3e0

#define LAPIC_SVR_ENABLE   0x100
#define LAPIC_LVT_MASKED   0x10000
#define LAPIC_LVT_PERIODIC 0x20000
#define LAPIC_DCR_DIV1	   0xb

#define ICR_INIT    0x00000500
#define ICR_STARTUP 0x00000600
#define ICR_BUSY    0x00001000
#define ICR_ASSERT  0x00004000
#define ICR_LEVEL   0x00008000

/*
 * KVM's LAPIC timer counts at a 1 GHz bus clock (APIC_BUS_CYCLE_NS = 1)
 * unless the VMM changes it with KVM_CAP_X86_APIC_BUS_CYCLES_NS; kvmlet
 * and QEMU leave it alone.
 */
#define LAPIC_TIMER_HZ 1000000000ULL

static inline uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(PLAT_LAPIC_ADDR + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t val)
{
	mmio_write32(PLAT_LAPIC_ADDR + reg, val);
}

static inline unsigned int lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_enable(void);
/* Sends an IPI; false if the APIC still reports it busy afterwards. */
bool lapic_send_ipi(unsigned int apic_id, uint32_t icr_lo);

#endif
