/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-CPU stacks; head.S and entry.S use the same symbols. The BSP's are
 * ordinary bss, needed before anything is known about RAM; the AP rows
 * (indexed by slot, row 0 unused) are in the noinit area.
 */
#ifndef FW_STACKS_H
#define FW_STACKS_H

#include <stdint.h>
#include "boot.h"

extern uint8_t bsp_kstack[KSTACK_SIZE];
extern uint8_t bsp_ustack[BSP_USTACK_SIZE];
extern uint8_t ap_kstacks[FW_MAX_CPUS][KSTACK_SIZE];
extern uint8_t ap_ustacks[FW_MAX_CPUS][AP_USTACK_SIZE];
extern uint8_t fault_stack[FAULT_STACK_SIZE];
extern uint8_t df_stack[KSTACK_SIZE];

#endif
