// SPDX-License-Identifier: Apache-2.0
/*
 * Puts a kernel, its initrd and its command line into guest memory and
 * writes what its boot protocol hands it: hvm_start_info for PVH, or
 * boot_params and identity page tables for the Linux 64-bit protocol.
 */
#include <errno.h>
#include <string.h>

#include "kvmlet/pvh.h"
#include "vmm/boot/gdt.h"
#include "vmm/boot/internal.h"
#include "vmm/boot/memmap.h"

#define PAGE_SIZE 4096ULL
#define MiB(x)	  ((unsigned long long)(x) >> 20)

/* Boot page tables: a PML4, a PDPT and four page directories of 2 MiB pages. */
#define PT_PDPT_ADDR (PLAT_PML4_ADDR + PAGE_SIZE)
#define PT_PD_ADDR   (PLAT_PML4_ADDR + 2 * PAGE_SIZE)
#define PT_NR_PD     4 /* identity-map the first 4 GiB */
#define PTE_P	     0x1ULL
#define PTE_RW	     0x2ULL
#define PTE_PS	     0x80ULL

/* PVH structures, in the page at PLAT_PVH_INFO_ADDR. */
#define PVH_MODLIST_ADDR (PLAT_PVH_INFO_ADDR + 0x40)
#define PVH_MEMMAP_ADDR	 (PLAT_PVH_INFO_ADDR + 0x80)

#define LINUX_TYPE_OF_LOADER 0xff /* "undefined" in the boot protocol */
#define LINUX_KERNEL_ALIGN   0x1000000
#define LINUX_HEAP_END	     0xfe00

int boot_check_segment(const struct guest_memory *gm, uint64_t gpa, uint64_t len, struct err *err)
{
	if (gpa < PLAT_HIMEM_START)
		return err_set(err, -EINVAL,
			       "kernel segment at 0x%llx overlaps the boot structures below 1 MiB",
			       (unsigned long long)gpa);
	if (!gm_ptr(gm, gpa, len))
		return err_set(
			err, -EINVAL,
			"kernel segment at 0x%llx (%llu bytes) is outside guest RAM (%llu MiB)",
			(unsigned long long)gpa, (unsigned long long)len, MiB(gm->size));
	/* PVH enters in 32-bit mode and the boot page tables map 4 GiB: stay below the hole. */
	if (gpa + len > gm_low_end(gm))
		return err_set(err, -EINVAL,
			       "kernel segment at 0x%llx is not below the MMIO hole at 0x%llx",
			       (unsigned long long)gpa, (unsigned long long)gm_low_end(gm));
	return 0;
}

static int place_initrd(struct guest_memory *gm, const struct kernel_image *ki, uint64_t size,
			uint64_t *gpa, struct err *err)
{
	uint64_t top = gm_low_end(gm), addr;

	if (size > gm->size)
		return err_set(err, -EINVAL, "initrd is %llu MiB, larger than guest RAM (%llu MiB)",
			       MiB(size), MiB(gm->size));
	if (ki->initrd_max < top - 1)
		top = ki->initrd_max + 1;
	addr = size <= top ? (top - size) & ~(PAGE_SIZE - 1) : 0;
	if (addr < ki->load_end)
		return err_set(err, -EINVAL,
			       "initrd (%llu MiB) overlaps the kernel: only %llu MiB free between "
			       "the kernel's end and 0x%llx",
			       MiB(size), MiB(top > ki->load_end ? top - ki->load_end : 0),
			       (unsigned long long)top);
	*gpa = addr;
	return 0;
}

static void write_page_tables(struct guest_memory *gm)
{
	uint64_t *pml4 = gm_ptr(gm, PLAT_PML4_ADDR, PAGE_SIZE);
	uint64_t *pdpt = gm_ptr(gm, PT_PDPT_ADDR, PAGE_SIZE);
	uint64_t *pd = gm_ptr(gm, PT_PD_ADDR, PT_NR_PD * PAGE_SIZE);

	memset(pml4, 0, PAGE_SIZE);
	memset(pdpt, 0, PAGE_SIZE);
	pml4[0] = PT_PDPT_ADDR | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < PT_NR_PD; i++)
		pdpt[i] = (PT_PD_ADDR + i * PAGE_SIZE) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < PT_NR_PD * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
}

static void write_pvh_info(struct guest_memory *gm, uint64_t initrd, uint64_t initrd_size)
{
	struct hvm_start_info *si = gm_ptr(gm, PLAT_PVH_INFO_ADDR, sizeof(*si));
	struct hvm_memmap_table_entry *mm;
	struct memmap_entry map[MEMMAP_MAX];
	unsigned int n = memmap_build(gm, map);

	mm = gm_ptr(gm, PVH_MEMMAP_ADDR, n * sizeof(*mm));
	for (unsigned int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_table_entry){ map[i].addr, map[i].size, map[i].type, 0 };
	memset(si, 0, sizeof(*si));
	si->magic = PVH_START_MAGIC;
	si->version = PVH_START_VERSION;
	si->cmdline_paddr = PLAT_CMDLINE_ADDR;
	si->memmap_paddr = PVH_MEMMAP_ADDR;
	si->memmap_entries = n;
	if (initrd_size) {
		struct hvm_modlist_entry *mod = gm_ptr(gm, PVH_MODLIST_ADDR, sizeof(*mod));

		*mod = (struct hvm_modlist_entry){ .paddr = initrd, .size = initrd_size };
		si->nr_modules = 1;
		si->modlist_paddr = PVH_MODLIST_ADDR;
	}
}

static void write_zero_page(struct guest_memory *gm, const struct kernel_image *ki, uint64_t initrd,
			    uint64_t initrd_size)
{
	struct boot_params *bp = gm_ptr(gm, PLAT_ZERO_PAGE_ADDR, sizeof(*bp));
	struct memmap_entry map[MEMMAP_MAX];
	unsigned int n = memmap_build(gm, map);

	memset(bp, 0, sizeof(*bp));
	if (ki->has_setup_header) {
		bp->hdr = ki->hdr;
	} else {
		/* A vmlinux has no header of its own; give it the fields it checks. */
		bp->hdr.boot_flag = 0xaa55;
		bp->hdr.header = 0x53726448;
		bp->hdr.kernel_alignment = LINUX_KERNEL_ALIGN;
	}
	bp->hdr.type_of_loader = LINUX_TYPE_OF_LOADER;
	bp->hdr.loadflags |= CAN_USE_HEAP | LOADED_HIGH;
	bp->hdr.heap_end_ptr = LINUX_HEAP_END;
	bp->hdr.cmd_line_ptr = PLAT_CMDLINE_ADDR;
	bp->hdr.cmdline_size = ki->cmdline_max; /* like the header's: without the NUL */
	bp->hdr.ramdisk_image = (uint32_t)initrd;
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->e820_entries = n;
	for (unsigned int i = 0; i < n; i++)
		bp->e820_table[i] =
			(struct boot_e820_entry){ map[i].addr, map[i].size, map[i].type };
}

int boot_load(struct guest_memory *gm, const struct boot_input *in, struct boot_entry *out,
	      struct err *err)
{
	struct kernel_image ki;
	uint64_t initrd = 0, cmdline_len = strlen(in->cmdline);
	int r;

	if (in->kernel_size == 0)
		return err_set(err, -EINVAL, "kernel image is empty");
	if (gm_low_end(gm) < PLAT_HIMEM_START)
		return err_set(err, -EINVAL, "guest RAM is too small to boot from");
	if (elf_probe(in->kernel, in->kernel_size))
		r = elf_load(gm, in->kernel, in->kernel_size, &ki, err);
	else if (bzimage_probe(in->kernel, in->kernel_size))
		r = bzimage_load(gm, in->kernel, in->kernel_size, &ki, err);
	else
		r = err_set(err, -EINVAL, "kernel image is neither ELF nor bzImage");
	if (r)
		return r;

	if (ki.cmdline_max > PLAT_CMDLINE_MAX - 1)
		ki.cmdline_max = PLAT_CMDLINE_MAX - 1;
	if (cmdline_len > ki.cmdline_max)
		return err_set(
			err, -E2BIG,
			"command line is %llu bytes; this kernel's boot protocol allows %llu",
			(unsigned long long)cmdline_len, (unsigned long long)ki.cmdline_max);
	if (in->initrd) {
		r = place_initrd(gm, &ki, in->initrd_size, &initrd, err);
		if (r)
			return r;
		memcpy(gm_ptr(gm, initrd, in->initrd_size), in->initrd, in->initrd_size);
	}
	memcpy(gm_ptr(gm, PLAT_CMDLINE_ADDR, cmdline_len + 1), in->cmdline, cmdline_len + 1);
	gdt_write(gm);

	out->mode = ki.mode;
	out->entry = ki.entry;
	if (ki.mode == BOOT_MODE_PVH) {
		write_pvh_info(gm, initrd, in->initrd_size);
		out->info_gpa = PLAT_PVH_INFO_ADDR;
	} else {
		write_page_tables(gm);
		write_zero_page(gm, &ki, initrd, in->initrd_size);
		out->info_gpa = PLAT_ZERO_PAGE_ADDR;
	}
	return 0;
}
