/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Constants shared by the firmware's assembly and C: descriptor selectors,
 * per-CPU stack geometry, interrupt vectors and control-register bits.
 * Included from .S files, so plain #defines only outside __ASSEMBLER__.
 */
#ifndef FW_BOOT_H
#define FW_BOOT_H

/* xAPIC IDs 0..254 (255 is broadcast), so that is the CPU limit. */
#define FW_MAX_CPUS 254

/*
 * GDT layout. The 32-bit code segment is only used by the AP trampoline on
 * its way from real mode to long mode; the BSP arrives in 32-bit mode.
 */
#define SEL_KCODE32 0x08
#define SEL_KCODE64 0x10
#define SEL_KDATA   0x18
#define SEL_UDATA   0x20
#define SEL_UCODE64 0x28
#define SEL_TSS0    0x30 /* CPU slot n uses SEL_TSS0 + 16 * n */
#define GDT_ENTRIES (SEL_TSS0 / 8 + 2 * FW_MAX_CPUS)
#define GDT_SIZE    (GDT_ENTRIES * 8)

/* struct tss64 is 104 bytes; see desc.c for why they overlap one I/O bitmap. */
#define TSS_SIZE	   104
#define TSS_IOBITMAP_BYTES 8192

/*
 * Stacks. Ring 3 runs on the "user" stack; the TSS points ring-0 entries
 * (interrupts, exceptions) at the small kernel stack, which only ever holds
 * an interrupt frame and a few saved registers.
 */
#define KSTACK_SHIFT	 10
#define KSTACK_SIZE	 (1 << KSTACK_SHIFT)
#define AP_USTACK_SHIFT	 12
#define AP_USTACK_SIZE	 (1 << AP_USTACK_SHIFT)
#define BSP_USTACK_SIZE	 0x8000
#define FAULT_STACK_SIZE 0x2000

/* Interrupt vectors. */
#define VEC_DOUBLE_FAULT 8
#define VEC_GP		 13
#define VEC_LAPIC_TIMER	 0x40
#define VEC_UART	 0x41
#define VEC_VIRTIO	 0x42
#define VEC_SPURIOUS	 0xff
#define IST_DOUBLE_FAULT 1

/* Ring-3 RFLAGS: IOPL=3, IF=1 (see head.S for why IF is on), bit 1 reserved. */
#define RFLAGS_USER 0x3202

/* Where the AP real-mode trampoline is copied; one page below 1 MiB. */
#define TRAMPOLINE_ADDR 0x3000

#define X86_CR0_PE  0x00000001
#define X86_CR0_MP  0x00000002
#define X86_CR0_ET  0x00000010
#define X86_CR0_NE  0x00000020
#define X86_CR0_WP  0x00010000
#define X86_CR0_PG  0x80000000
#define CR0_LONG    (X86_CR0_PG | X86_CR0_WP | X86_CR0_NE | X86_CR0_ET | X86_CR0_MP | X86_CR0_PE)
#define X86_CR4_PAE 0x00000020
#define MSR_EFER    0xc0000080
#define EFER_LME    0x00000100

/* Page-table entry bits. */
#define PTE_P	0x001
#define PTE_W	0x002
#define PTE_U	0x004
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS	0x080

#endif
