// SPDX-License-Identifier: Apache-2.0
#include "image.h"
#include "stacks.h"

#define STACK_ALIGN __attribute__((aligned(64)))

uint8_t bsp_kstack[KSTACK_SIZE] STACK_ALIGN;
uint8_t bsp_ustack[BSP_USTACK_SIZE] STACK_ALIGN;
uint8_t ap_kstacks[FW_MAX_CPUS][KSTACK_SIZE] STACK_ALIGN __noinit;
uint8_t ap_ustacks[FW_MAX_CPUS][AP_USTACK_SIZE] STACK_ALIGN __noinit;
uint8_t fault_stack[FAULT_STACK_SIZE] STACK_ALIGN;
uint8_t df_stack[KSTACK_SIZE] STACK_ALIGN;
