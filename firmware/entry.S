/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ring-0 interrupt and exception entry points. They run emulated on some
 * hosts, so each is a handful of instructions: count, silence, EOI, iretq.
 * Exceptions are not handled here at all: fault_common records the frame
 * and irets into fault_report() in ring 3, which prints and exits.
 */
#include <kvmlet/exit_codes.h>
#include <kvmlet/platform.h>
#include "boot.h"

#define LAPIC_EOI	(PLAT_LAPIC_ADDR + 0xb0)
#define COM1_IER	(PLAT_COM1_PORT + 1)

	.text
	.code64

/*
 * Exception stubs, 16 bytes apart so that desc.c can compute their
 * addresses. Vectors without a CPU-pushed error code push a zero so that
 * fault_common sees one frame layout.
 */
	.balign 16
	.globl fault_stubs
fault_stubs:
	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
1:
	.if \vec == VEC_GP
	jmp gp_entry
	.else
	.if !(\vec == 8 || \vec == 10 || \vec == 11 || \vec == 12 || \vec == 14 || \vec == 17 || \vec == 21 || \vec == 29 || \vec == 30)
	push $0
	.endif
	push $\vec
	jmp fault_common
	.endif
	.org 1b + 16, 0xcc		/* fails to assemble if a stub outgrew 16 bytes */
	.endr

/*
 * #GP. HLT is privileged, so a ring-3 CPU that executes the HLT in
 * cpu_park() lands here, and is halted for real. That is how ring 3 parks a
 * CPU: `int $n` from CPL3 is not usable on every host (PVM shuts the VM
 * down), an exception is.
 */
gp_entry:
	cmpq $cpu_park, 8(%rsp)		/* %rsp: error code, then RIP */
	je cpu_halt
	cmpq $cpu_wait, 8(%rsp)
	je cpu_wait_gp
	cmpq $cpu_wrmsr_insn, 8(%rsp)
	je gp_wrmsr
	push $VEC_GP
	jmp fault_common

/*
 * The one WRMSR ring 3 may ask for (cpu_wrmsr, below): done here with the
 * caller's ECX, EAX and EDX, then back past the 2-byte instruction.
 */
gp_wrmsr:
	wrmsr
	addq $2, 8(%rsp)
	add $8, %rsp			/* the error code */
	iretq

/* Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS (struct fault_info). */
fault_common:
	lock btsl $0, fault_busy	/* a fault while reporting one: give up */
	jc 1f
	mov %rax, fault_info + 64
	popq fault_info + 0
	popq fault_info + 8
	popq fault_info + 16
	popq fault_info + 24
	popq fault_info + 32
	popq fault_info + 40
	popq fault_info + 48
	mov %cr2, %rax
	mov %rax, fault_info + 56
	push $(SEL_UDATA | 3)
	push $(fault_stack + FAULT_STACK_SIZE - 8)
	push $RFLAGS_USER
	push $(SEL_UCODE64 | 3)
	push $fault_report
	iretq
1:	mov $KVMLET_EXIT_GUEST_CRASH, %al
	out %al, $PLAT_DEBUG_EXIT_PORT
	jmp cpu_halt

	.globl isr_lapic_timer
isr_lapic_timer:
	push %rax
	lock incl irq_lapic_timer_count
	mov $LAPIC_EOI, %eax
	movl $0, (%rax)
	pop %rax
	iretq

/*
 * COM1. Clearing IER drops the UART's interrupt line, so the handler needs
 * no knowledge of which condition fired: test_irq.c inspects the UART
 * afterwards, from ring 3.
 */
	.globl isr_uart
isr_uart:
	push %rax
	push %rdx
	lock incl irq_uart_count
	xor %eax, %eax
	mov $COM1_IER, %edx
	out %al, %dx
	mov $LAPIC_EOI, %eax
	movl $0, (%rax)
	pop %rdx
	pop %rax
	iretq

/*
 * A virtio device's line, routed edge-triggered: a level-triggered line
 * (QEMU's) stays up until ring 3 acknowledges InterruptStatus, which the
 * handler cannot do without knowing the device, and would fire again at
 * every EOI. With edge, it fires once per rising edge.
 */
	.globl isr_virtio
isr_virtio:
	push %rax
	lock incl irq_virtio_count
	mov $LAPIC_EOI, %eax
	movl $0, (%rax)
	pop %rax
	iretq

	/* The LAPIC does not set an ISR bit for its spurious vector: no EOI. */
	.globl isr_spurious
isr_spurious:
	iretq

	.globl isr_unexpected
isr_unexpected:
	push %rax
	lock incl irq_unexpected_count
	mov $LAPIC_EOI, %eax
	movl $0, (%rax)
	pop %rax
	iretq

/* Ring 3: see gp_entry. */
	.globl cpu_park
cpu_park:
	hlt
	jmp cpu_park

/*
 * Ring 3: sleep until the next interrupt. The HLT faults into
 * cpu_wait_gp, which halts with interrupts on (STI's one-instruction
 * shadow keeps an interrupt from slipping in before the HLT) and returns
 * to ring 3 past the HLT once one came and its handler ran. An interrupt
 * that arrived before the fault is not waited for again: callers keep a
 * periodic source (the LAPIC timer) armed so the wait is bounded anyway.
 */
	.globl cpu_wait
cpu_wait:
	hlt
	ret

cpu_wait_gp:
	add $8, %rsp			/* the error code */
	incq (%rsp)			/* RIP: past the one-byte HLT */
	sti
	hlt
	iretq

/*
 * Ring 3: void cpu_wrmsr(uint32_t msr, uint64_t value). WRMSR is privileged;
 * its #GP at exactly this address is turned into the write (gp_wrmsr).
 */
	.globl cpu_wrmsr
cpu_wrmsr:
	mov %edi, %ecx
	mov %esi, %eax
	mov %rsi, %rdx
	shr $32, %rdx
cpu_wrmsr_insn:
	wrmsr
	ret
