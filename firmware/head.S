/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PVH entry and the way to ring 3, for the BSP and for every AP.
 *
 * Ring 0 is the expensive place to be (on some hosts each instruction is
 * emulated), so this file is the whole boot path: it reaches long mode on
 * page tables and a GDT that already sit in the image, loads TR and IDTR,
 * and irets to C code in ring 3. Everything else — filling the IDT and the
 * AP TSS descriptors, parsing boot data — happens in ring 3.
 *
 * PVH entry state: 32-bit protected mode, paging off, flat CS/DS/ES/SS,
 * %ebx = struct hvm_start_info, %esp and the GDT undefined, IF=0.
 */
#include <kvmlet/platform.h>
#include "boot.h"

/* XEN_ELFNOTE_PHYS32_ENTRY: the loader finds the 32-bit entry here. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 2f - 1f			/* namesz */
	.long 4f - 3f			/* descsz */
	.long 18			/* XEN_ELFNOTE_PHYS32_ENTRY */
1:	.asciz "Xen"
2:	.balign 4
3:	.long pvh_entry32
4:	.balign 4

	.section .text.boot, "ax"
	.code32
	.globl pvh_entry32
pvh_entry32:
	mov %ebx, %esi			/* start_info; non-zero marks the BSP */
	lgdt gdt_ptr
	/*
	 * The assembler cannot split a relocated address across the three
	 * base fields of a descriptor, so the BSP's TSS base is patched in
	 * here; ring 3 fills the AP descriptors before starting them.
	 */
	mov $tss_area, %eax
	mov %ax, gdt + SEL_TSS0 + 2
	shr $16, %eax
	mov %al, gdt + SEL_TSS0 + 4
	mov %ah, gdt + SEL_TSS0 + 7

	/* Shared with the APs, which arrive from trampoline.S with %esi = 0. */
enter_long:
	mov $X86_CR4_PAE, %eax
	mov %eax, %cr4
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	mov $EFER_LME, %eax
	xor %edx, %edx
	wrmsr
	mov $CR0_LONG, %eax
	mov %eax, %cr0
	ljmp $SEL_KCODE64, $entry64

	.globl ap_entry32
ap_entry32:
	xor %esi, %esi
	jmp enter_long

	.code64
entry64:
	/* Real-mode (AP) or loader (BSP) segment caches must not linger. */
	mov $SEL_KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	lidt idt_ptr
	test %esi, %esi
	jz ap_entry64

	/* Milestone 1 for the VMM's boot timer: the BSP is in long mode. */
	mov $PLAT_BOOT_TIMER_ADDR, %eax
	movb $1, (%rax)

	mov $(bsp_kstack + KSTACK_SIZE), %esp
	mov $SEL_TSS0, %eax
	ltr %ax
	/*
	 * Ring 3 runs with IF=1 always: some hosts (PVM) force it anyway and
	 * trap CLI/STI at CPL3 despite IOPL=3, so interrupt sources are
	 * masked at the devices instead. IOPL=3 still grants port I/O on
	 * hosts that honour it; desc.c adds an I/O bitmap for those that don't.
	 */
	push $(SEL_UDATA | 3)
	push $(bsp_ustack + BSP_USTACK_SIZE - 8)	/* as if called: %rsp+8 aligned */
	push $RFLAGS_USER
	push $(SEL_UCODE64 | 3)
	push $fw_main
	mov %esi, %edi
	iretq

ap_entry64:
	/* Slots are handed out in arrival order; slot 0 is the BSP's. */
	mov $1, %eax
	lock xadd %eax, ap_next_slot
	cmp $FW_MAX_CPUS, %eax
	jae cpu_halt
	mov %eax, %edi
	shl $KSTACK_SHIFT, %eax
	lea (ap_kstacks + KSTACK_SIZE)(%rax), %rsp
	mov %edi, %eax
	shl $4, %eax
	add $SEL_TSS0, %eax
	ltr %ax
	mov %edi, %eax
	shl $AP_USTACK_SHIFT, %eax
	lea (ap_ustacks + AP_USTACK_SIZE - 8)(%rax), %rax
	push $(SEL_UDATA | 3)
	push %rax
	push $RFLAGS_USER
	push $(SEL_UCODE64 | 3)
	push $ap_main
	iretq

	/* Parked CPUs sleep here for good; only INIT gets them out. */
	.globl cpu_halt
cpu_halt:
	cli
1:	hlt
	jmp 1b
