/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kvmlet virtual board: every guest-visible fixed address, port and
 * interrupt line. The VMM builds the machine from these and the bundled
 * firmware relies on them, so they are defined here and nowhere else.
 * docs/platform.md explains each one.
 *
 * Plain #defines only: this header is included by freestanding guest code.
 */
#ifndef KVMLET_PLATFORM_H
#define KVMLET_PLATFORM_H

/* Guest physical memory layout. */
#define PLAT_GDT_ADDR	    0x500ULL  /* boot GDT (see PLAT_SEL_*) */
#define PLAT_PVH_INFO_ADDR  0x6000ULL /* hvm_start_info, modlist, memmap */
#define PLAT_ZERO_PAGE_ADDR 0x7000ULL /* Linux boot_params */
#define PLAT_BOOT_STACK	    0x8ff0ULL /* initial %rsp for 64-bit entry */
#define PLAT_PML4_ADDR	    0x9000ULL /* boot page tables: PML4, PDPT, 4 PDs */
#define PLAT_CMDLINE_ADDR   0x20000ULL
#define PLAT_CMDLINE_MAX    0x10000ULL	/* size of the command line buffer */
#define PLAT_BOOT_DATA_END  0x30000ULL	/* [0, this) holds boot structures */
#define PLAT_EBDA_START	    0x9fc00ULL	/* [EBDA, 1 MiB) is reserved */
#define PLAT_MPTABLE_ADDR   0xf0000ULL	/* MP floating pointer + config table */
#define PLAT_HIMEM_START    0x100000ULL /* kernels load at or above 1 MiB */

/* The 32-bit MMIO hole: RAM stops here and resumes at 4 GiB. */
#define PLAT_MMIO_HOLE_START 0xc0000000ULL
#define PLAT_MMIO_HOLE_END   0x100000000ULL

/* Firecracker's boot-timer: the guest writes PLAT_BOOT_TIMER_DONE here. */
#define PLAT_BOOT_TIMER_ADDR 0xc0000000ULL
#define PLAT_BOOT_TIMER_SIZE 0x1000ULL
#define PLAT_BOOT_TIMER_DONE 123

/* virtio-mmio device windows follow the boot timer, one page each. */
#define PLAT_VIRTIO_MMIO_BASE	0xc0001000ULL
#define PLAT_VIRTIO_MMIO_SIZE	0x1000ULL
#define PLAT_VIRTIO_IRQ_BASE	5 /* first GSI handed to virtio */
#define PLAT_VIRTIO_MAX_DEVICES (PLAT_IOAPIC_PINS - PLAT_VIRTIO_IRQ_BASE)

/* KVM needs three pages for its real-mode TSS and identity map (Intel). */
#define PLAT_KVM_IDENTITY_MAP 0xfeffc000ULL
#define PLAT_KVM_TSS_ADDR     0xfeffd000ULL

#define PLAT_IOAPIC_ADDR 0xfec00000ULL
#define PLAT_LAPIC_ADDR	 0xfee00000ULL
#define PLAT_IOAPIC_PINS 24

/* Legacy I/O ports. */
#define PLAT_COM1_PORT	     0x3f8
#define PLAT_COM1_IRQ	     4
#define PLAT_I8042_DATA_PORT 0x60
#define PLAT_I8042_CMD_PORT  0x64
#define PLAT_I8042_CMD_RESET 0xfe
#define PLAT_I8042_KBD_IRQ   1 /* ISA IRQ 1: the keyboard */

/*
 * Debug exit: a write of status S (one byte) to this port ends the VM and
 * the VMM exits with code S. It sits where QEMU's isa-debug-exit is usually
 * placed, so one guest image runs under both (QEMU exits with 2*S+1).
 */
#define PLAT_DEBUG_EXIT_PORT 0xf4

/* Boot GDT selectors, valid for PVH (32-bit) and Linux (64-bit) entry. */
#define PLAT_SEL_CODE32 0x08
#define PLAT_SEL_CODE64 0x10
#define PLAT_SEL_DATA	0x18
#define PLAT_SEL_TSS	0x20

#endif
