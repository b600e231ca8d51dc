// SPDX-License-Identifier: Apache-2.0
#include "boot.h"
#include "cpu.h"
#include "lapic.h"

void lapic_enable(void)
{
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(LAPIC_TPR, 0);
}

bool lapic_send_ipi(unsigned int apic_id, uint32_t icr_lo)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
	/* Virtual APICs deliver at once; real ones clear BUSY within microseconds. */
	for (unsigned int i = 0; i < 100000; i++) {
		if (!(lapic_read(LAPIC_ICR_LO) & ICR_BUSY))
			return true;
		cpu_relax();
	}
	return false;
}
