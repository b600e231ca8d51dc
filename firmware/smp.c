// SPDX-License-Identifier: Apache-2.0
/*
 * The smp test: start every AP the platform tables list with INIT-SIPI-SIPI
 * and wait, with a timeout, for each to check in from ring 3.
 *
 * An AP runs trampoline.S (real mode) -> head.S (long mode, its own slot's
 * stacks and TSS) -> ap_main() in ring 3, prints its line, counts itself and
 * parks. Slots come from an atomic counter in arrival order; the CPU index
 * printed is the AP's position in the platform table, found by APIC ID.
 */
#include "boot.h"
#include "bootinfo.h"
#include "clock.h"
#include "console.h"
#include "cpu.h"
#include "desc.h"
#include "fmt.h"
#include "io.h"
#include "lapic.h"
#include "libc.h"
#include "tests.h"
#include "topology.h"

#define AP_TIMEOUT_US 5000000
#define INIT_DELAY_US 10000 /* MP spec, for physical APs */
#define SIPI_DELAY_US 200

/* head.S hands these out with lock xadd; 0 is the BSP's. */
uint32_t ap_next_slot = 1;

static uint32_t ap_checked_in;
static uint32_t ap_strangers; /* APs whose APIC ID is not in the table */

extern const char trampoline_start[], trampoline_end[];

/* head.S passes the AP's slot; nothing here needs it. */
void ap_main(void) __attribute__((noreturn));

void ap_main(void)
{
	unsigned int id = lapic_id();
	int idx = topology_cpu_index(id);

	if (idx >= 0) {
		cons_printf("cpu %d up (apic %u)\n", idx, id);
		__atomic_add_fetch(&ap_checked_in, 1, __ATOMIC_RELEASE);
	} else {
		cons_printf("cpu ? up (apic %u, not in the CPU table)\n", id);
		__atomic_add_fetch(&ap_strangers, 1, __ATOMIC_RELEASE);
	}
	cpu_park();
}

static unsigned int aps_reported(void)
{
	return __atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE) +
	       __atomic_load_n(&ap_strangers, __ATOMIC_ACQUIRE);
}

static void send_to_aps(uint32_t icr_lo)
{
	for (unsigned int i = 0; i < topo.nr_cpus; i++)
		if (i != topo.bsp)
			lapic_send_ipi(topo.apic_id[i], icr_lo);
}

bool test_smp(char *detail, size_t len)
{
	unsigned int expected = topo.nr_cpus - 1, up;
	uint32_t sipi = ICR_STARTUP | (TRAMPOLINE_ADDR >> 12);
	struct deadline d;

	cons_printf("cpu %u up (apic %u)\n", topo.bsp, lapic_id());
	if (!expected) {
		fmt_snprintf(detail, len, "1/1 CPUs up");
		return true;
	}
	if (!bootinfo_is_ram(TRAMPOLINE_ADDR, TRAMPOLINE_ADDR + 0x1000)) {
		fmt_snprintf(detail, len, "trampoline page 0x%x is not RAM", TRAMPOLINE_ADDR);
		return false;
	}
	memcpy(phys_ptr(TRAMPOLINE_ADDR), trampoline_start, trampoline_end - trampoline_start);

	/* Also for a second run: INIT sends parked APs back through head.S. */
	desc_prepare_aps();
	__atomic_store_n(&ap_next_slot, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&ap_checked_in, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ap_strangers, 0, __ATOMIC_RELAXED);

	clock_init();
	send_to_aps(ICR_INIT | ICR_LEVEL | ICR_ASSERT);
	send_to_aps(ICR_INIT | ICR_LEVEL);
	/* Virtual CPUs have no self-test to sit out: KVM queues INIT then SIPI. */
	if (!cpu_has_hypervisor())
		clock_delay_us(INIT_DELAY_US);
	send_to_aps(sipi);
	clock_delay_us(SIPI_DELAY_US);
	send_to_aps(sipi); /* ignored by APs that already started */

	d = deadline_in_us(AP_TIMEOUT_US);
	while (aps_reported() < expected && !deadline_passed(&d))
		cpu_relax();

	up = __atomic_load_n(&ap_checked_in, __ATOMIC_ACQUIRE) + 1;
	if (up == topo.nr_cpus && !__atomic_load_n(&ap_strangers, __ATOMIC_ACQUIRE)) {
		fmt_snprintf(detail, len, "%u/%u CPUs up", up, topo.nr_cpus);
		return true;
	}
	if (up < topo.nr_cpus)
		fmt_snprintf(detail, len, "%u/%u CPUs up after %u ms", up, topo.nr_cpus,
			     AP_TIMEOUT_US / 1000);
	else
		fmt_snprintf(detail, len, "%u/%u CPUs up, plus %u not in the table", up,
			     topo.nr_cpus, ap_strangers);
	return false;
}
