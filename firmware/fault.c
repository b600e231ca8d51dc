// SPDX-License-Identifier: Apache-2.0
/*
 * Ring-3 half of exception handling. entry.S's fault_common saves the
 * frame here and irets to fault_report() on a stack of its own, so that
 * the message is formatted at native speed instead of in ring 0.
 */
#include <stddef.h>
#include <stdint.h>
#include <kvmlet/exit_codes.h>
#include "console.h"
#include "cpu.h"
#include "exit.h"
#include "lapic.h"

struct fault_info {
	uint64_t vector;
	uint64_t error;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
	uint64_t cr2;
	uint64_t rax;
};

/* entry.S stores by these offsets. */
_Static_assert(offsetof(struct fault_info, rip) == 16, "fault_info layout");
_Static_assert(offsetof(struct fault_info, cr2) == 56, "fault_info layout");
_Static_assert(offsetof(struct fault_info, rax) == 64, "fault_info layout");

struct fault_info fault_info;
uint32_t fault_busy;

static const char *const names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF",	"#BR", "#UD", "#NM", "#DF", "#MF(old)", "#TS",
	"#NP", "#SS", "#GP", "#PF", "reserved", "#MF", "#AC", "#MC", "#XM", "#VE",	"#CP",
};

void fault_report(void) __attribute__((noreturn));

void fault_report(void)
{
	const struct fault_info *f = &fault_info;
	const char *name = f->vector < 32 && names[f->vector] ? names[f->vector] : "?";

	cons_break_lock();
	cons_printf("kvmlet-testguest: exception %lu (%s) on apic %u at rip 0x%lx in ring %lu: "
		    "error 0x%lx, cr2 0x%lx, rsp 0x%lx, rflags 0x%lx, rax 0x%lx\n",
		    f->vector, name, lapic_id(), f->rip, f->cs & 3, f->error, f->cr2, f->rsp,
		    f->rflags, f->rax);
	cons_printf("kvmlet-testguest: FAIL (exception %lu)\n", f->vector);
	fw_exit(KVMLET_EXIT_GUEST_CRASH);
}
