// SPDX-License-Identifier: Apache-2.0
/*
 * Descriptor tables. They are ordinary user-accessible memory, so ring 3
 * fills them and ring 0 only loads the registers (head.S).
 *
 * I/O permission: IOPL=3 lets ring 3 use ports on most hosts, but PVM runs
 * guest user mode at the host's IOPL 0 and checks the TSS I/O bitmap
 * instead. Every TSS therefore grants all ports through a bitmap of zeros.
 * A bitmap is 8 KiB, so rather than one per CPU, the TSSs are packed in
 * front of a single bitmap and each one's offset and limit reach it: TSSs
 * may overlap, the CPU only ever reads a TSS's first 104 bytes and its
 * I/O-bitmap bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include "boot.h"
#include "desc.h"
#include "stacks.h"

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iopb;
} __attribute__((packed));

_Static_assert(sizeof(struct tss64) == TSS_SIZE, "TSS layout");

struct tss_area {
	struct tss64 tss[FW_MAX_CPUS];
	uint8_t iobitmap[TSS_IOBITMAP_BYTES];
	uint8_t iobitmap_end; /* the CPU reads two bytes; this one must be all ones */
} __attribute__((packed, aligned(64)));

#define IOBITMAP_OFFSET offsetof(struct tss_area, iobitmap)
#define TSS_LIMIT(slot) (IOBITMAP_OFFSET - TSS_SIZE * (slot) + TSS_IOBITMAP_BYTES)
_Static_assert(TSS_LIMIT(0) < 0x10000, "I/O bitmap offset must fit 16 bits");

/* An available 64-bit TSS; head.S patches the BSP's base bits 0-31 in. */
#define TSS_DESC_LO(limit) \
	((uint64_t)(limit) % 0x10000 | 0x89ULL << 40 | ((uint64_t)(limit) >> 16 & 0xf) << 48)

struct tss_area tss_area;

uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
	[SEL_KCODE32 / 8] = 0x00cf9b000000ffffULL, /* AP trampoline only */
	[SEL_KCODE64 / 8] = 0x00af9b000000ffffULL, /* L=1 */
	[SEL_KDATA / 8] = 0x00cf93000000ffffULL,   /* flat */
	[SEL_UDATA / 8] = 0x00cff3000000ffffULL,   /* DPL 3 */
	[SEL_UCODE64 / 8] = 0x00affb000000ffffULL, /* DPL 3, L=1 */
	[SEL_TSS0 / 8] = TSS_DESC_LO(TSS_LIMIT(0)),
};

struct idt_gate {
	uint16_t off0;
	uint16_t sel;
	uint8_t ist;
	uint8_t attr;
	uint16_t off1;
	uint32_t off2;
	uint32_t reserved;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* Read by lgdt in 32-bit mode too, which only takes limit and base 0-31. */
struct desc_ptr gdt_ptr = { sizeof(gdt) - 1, (uint64_t)gdt };
struct desc_ptr idt_ptr = { sizeof(idt) - 1, (uint64_t)idt };

/* entry.S */
extern const char fault_stubs[];
extern const char isr_lapic_timer[], isr_uart[], isr_virtio[], isr_spurious[], isr_unexpected[];

static void set_gate(unsigned int vec, const void *handler, unsigned int ist)
{
	uint64_t off = (uint64_t)handler;

	idt[vec] = (struct idt_gate){
		.off0 = off & 0xffff,
		.sel = SEL_KCODE64,
		.ist = ist,
		.attr = 0x8e, /* present, DPL 0, interrupt gate: IF off in handlers */
		.off1 = (off >> 16) & 0xffff,
		.off2 = off >> 32,
	};
}

static void set_tss_desc(unsigned int slot)
{
	uint64_t base = (uint64_t)&tss_area.tss[slot];
	uint64_t *d = &gdt[SEL_TSS0 / 8 + 2 * slot];

	d[0] = TSS_DESC_LO(TSS_LIMIT(slot)) | (base & 0xffffff) << 16 | ((base >> 24) & 0xff) << 56;
	d[1] = base >> 32;
}

static void set_tss(unsigned int slot, const uint8_t *kstack_top)
{
	struct tss64 *t = &tss_area.tss[slot];

	t->rsp[0] = (uint64_t)kstack_top;
	t->ist[IST_DOUBLE_FAULT - 1] = (uint64_t)(df_stack + sizeof(df_stack));
	t->iopb = IOBITMAP_OFFSET - slot * TSS_SIZE;
}

void desc_init(void)
{
	unsigned int v;

	for (v = 0; v < 32; v++)
		set_gate(v, fault_stubs + 16 * v, v == VEC_DOUBLE_FAULT ? IST_DOUBLE_FAULT : 0);
	for (; v < 256; v++)
		set_gate(v, isr_unexpected, 0);
	set_gate(VEC_LAPIC_TIMER, isr_lapic_timer, 0);
	set_gate(VEC_UART, isr_uart, 0);
	set_gate(VEC_VIRTIO, isr_virtio, 0);
	set_gate(VEC_SPURIOUS, isr_spurious, 0);

	tss_area.iobitmap_end = 0xff;
	set_tss(0, bsp_kstack + KSTACK_SIZE);
}

void desc_prepare_aps(void)
{
	/*
	 * Every slot, not just as many as there are CPUs: head.S hands them
	 * out to whoever arrives. Slot 0's descriptor is the BSP's, loaded
	 * (so busy) by head.S, and is left alone.
	 */
	for (unsigned int slot = 1; slot < FW_MAX_CPUS; slot++) {
		set_tss(slot, ap_kstacks[slot] + KSTACK_SIZE);
		set_tss_desc(slot);
	}
}

void desc_wreck_idt(void)
{
	for (unsigned int v = 0; v < 256; v++)
		idt[v].attr = 0;
}
