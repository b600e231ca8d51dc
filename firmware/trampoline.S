/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AP start-up code. A SIPI starts an AP in real mode at CS:IP = page:0, so
 * smp.c copies this blob to TRAMPOLINE_ADDR. It only has to reach 32-bit
 * protected mode; head.S's enter_long takes it from there on the BSP's own
 * page tables and GDT. Everything it references inside the blob is
 * CS-relative; everything outside is an absolute address in the image,
 * which is identity-mapped and linked where it runs.
 */
#include "boot.h"

	.section .rodata.trampoline, "a"
	.code16
	.balign 16
	.globl trampoline_start
trampoline_start:
	cli
	mov %cs, %ax
	mov %ax, %ds
	lgdtl trampoline_gdtr - trampoline_start
	mov $X86_CR0_PE, %eax		/* also clears CD/NW left by INIT */
	mov %eax, %cr0
	ljmpl $SEL_KCODE32, $ap_entry32

	.balign 8
trampoline_gdtr:
	.word GDT_SIZE - 1
	.long gdt
	.globl trampoline_end
trampoline_end:
	.code64
