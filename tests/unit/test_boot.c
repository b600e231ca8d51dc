// SPDX-License-Identifier: Apache-2.0
/*
 * Direct kernel boot: boot_load() on synthetic PVH ELFs, vmlinux ELFs and
 * bzImages, the structures it writes for each protocol, and every kind of
 * malformed image it must refuse with a message naming the problem.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kvmlet/platform.h"
#include "kvmlet/pvh.h"
#include "tests/unit/images.h"
#include "vmm/boot/gdt.h"
#include "vmm/boot/internal.h"
#include "vmm/boot/memmap.h"

#define RAM_SIZE (64 * MiB)

struct fixture {
	struct guest_memory gm;
	struct err err;
	struct boot_entry out;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	test_gm_alloc(&f->gm, RAM_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gm_free(&f->gm);
	free(f);
	return 0;
}

static int load_sized(struct fixture *f, const uint8_t *kernel, size_t size, const void *initrd,
		      size_t initrd_size, const char *cmdline)
{
	struct boot_input in = { kernel, size, initrd, initrd_size, cmdline };

	memset(&f->err, 0, sizeof(f->err));
	memset(&f->out, 0, sizeof(f->out));
	return boot_load(&f->gm, &in, &f->out, &f->err);
}

static int load(struct fixture *f, const struct image *img, const void *initrd, size_t initrd_size,
		const char *cmdline)
{
	return load_sized(f, img->data, img->size, initrd, initrd_size, cmdline);
}

#define assert_loaded(f, r)                                                       \
	do {                                                                      \
		if ((r) != 0)                                                     \
			fail_msg("boot_load failed (%d): %s", (r), (f)->err.msg); \
	} while (0)

static uint8_t *make_blob(size_t size, unsigned int seed)
{
	uint8_t *b = malloc(size ? size : 1);

	assert_non_null(b);
	for (size_t i = 0; i < size; i++)
		b[i] = img_pattern(seed, i);
	return b;
}

static char *make_cmdline(size_t len)
{
	char *s = malloc(len + 1);

	assert_non_null(s);
	for (size_t i = 0; i < len; i++)
		s[i] = 'a' + i % 26;
	s[len] = '\0';
	return s;
}

static void *gpa(struct fixture *f, uint64_t addr, uint64_t len)
{
	void *p = gm_ptr(&f->gm, addr, len);

	assert_non_null(p);
	return p;
}

static void assert_segment_loaded(struct fixture *f, unsigned int seg, uint64_t paddr,
				  uint64_t filesz, uint64_t memsz)
{
	const uint8_t *p = gpa(f, paddr, memsz);

	for (uint64_t i = 0; i < filesz; i++)
		if (p[i] != img_pattern(seg, i))
			fail_msg("segment %u byte %llu: 0x%02x, expected 0x%02x", seg,
				 (unsigned long long)i, p[i], img_pattern(seg, i));
	for (uint64_t i = filesz; i < memsz; i++)
		if (p[i] != 0)
			fail_msg("segment %u bss byte %llu is 0x%02x", seg, (unsigned long long)i,
				 p[i]);
}

static void assert_cmdline(struct fixture *f, const char *cmdline)
{
	size_t len = strlen(cmdline);
	const char *p = gpa(f, PLAT_CMDLINE_ADDR, len + 1);

	assert_memory_equal(p, cmdline, len + 1);
}

static void assert_pvh_memmap(struct fixture *f, const struct hvm_start_info *si)
{
	struct memmap_entry map[MEMMAP_MAX];
	unsigned int n = memmap_build(&f->gm, map);
	const struct hvm_memmap_table_entry *mm;

	assert_int_equal(si->memmap_entries, n);
	assert_true(si->memmap_paddr >= PLAT_PVH_INFO_ADDR + sizeof(*si));
	mm = gpa(f, si->memmap_paddr, n * sizeof(*mm));
	for (unsigned int i = 0; i < n; i++) {
		assert_int_equal(mm[i].addr, map[i].addr);
		assert_int_equal(mm[i].size, map[i].size);
		assert_int_equal(mm[i].type, map[i].type);
		assert_int_equal(mm[i].reserved, 0);
	}
}

static void assert_e820(struct fixture *f, const struct boot_params *bp)
{
	struct memmap_entry map[MEMMAP_MAX];
	unsigned int n = memmap_build(&f->gm, map);

	assert_int_equal(bp->e820_entries, n);
	for (unsigned int i = 0; i < n; i++) {
		assert_int_equal(bp->e820_table[i].addr, map[i].addr);
		assert_int_equal(bp->e820_table[i].size, map[i].size);
		assert_int_equal(bp->e820_table[i].type, map[i].type);
	}
}

/* Translates va through the boot page tables; returns UINT64_MAX if unmapped. */
static uint64_t pt_walk(struct fixture *f, uint64_t va)
{
	const uint64_t addr_mask = 0x000ffffffffff000ULL;
	const uint64_t *pml4 = gpa(f, PLAT_PML4_ADDR, 4096), *pdpt, *pd;
	uint64_t e;

	e = pml4[(va >> 39) & 511];
	if (!(e & 1))
		return UINT64_MAX;
	assert_true(e & 2); /* writable */
	pdpt = gpa(f, e & addr_mask, 4096);
	e = pdpt[(va >> 30) & 511];
	if (!(e & 1))
		return UINT64_MAX;
	assert_false(e & 0x80); /* no 1 GiB pages: points to a PD */
	pd = gpa(f, e & addr_mask, 4096);
	e = pd[(va >> 21) & 511];
	if (!(e & 1))
		return UINT64_MAX;
	assert_true(e & 0x80); /* 2 MiB page */
	assert_true(e & 2);
	return (e & 0x000fffffffe00000ULL) | (va & 0x1fffff);
}

static void assert_identity_4g(struct fixture *f)
{
	static const uint64_t probes[] = {
		0,
		PLAT_ZERO_PAGE_ADDR,
		PLAT_HIMEM_START + 5,
		16 * MiB + 0x200,
		0x3fffffff,
		0x40000000,
		0xbfffffff,
		PLAT_MMIO_HOLE_START,
		PLAT_IOAPIC_ADDR,
		PLAT_LAPIC_ADDR,
		0xffffffff,
	};
	const uint64_t *pml4 = gpa(f, PLAT_PML4_ADDR, 4096);
	const uint64_t *pdpt = gpa(f, pml4[0] & ~0xfffULL, 4096);

	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		assert_int_equal(pt_walk(f, probes[i]), probes[i]);
	/* Exactly 4 GiB: nothing above, and only the first PML4 slot. */
	assert_int_equal(pt_walk(f, 4 * GiB), UINT64_MAX);
	assert_int_equal(pt_walk(f, 1ULL << 39), UINT64_MAX);
	for (unsigned int i = 4; i < 512; i++)
		assert_int_equal(pdpt[i], 0);
	for (unsigned int i = 1; i < 512; i++)
		assert_int_equal(pml4[i], 0);
	/* Every 2 MiB page of the 4 GiB, and the tables stay clear of the cmdline. */
	for (uint64_t va = 0; va < 4 * GiB; va += 2 * MiB)
		if (pt_walk(f, va) != va)
			fail_msg("0x%llx is not identity-mapped", (unsigned long long)va);
	for (unsigned int i = 0; i < 4; i++)
		assert_true((pdpt[i] & ~0xfffULL) + 4096 <= PLAT_CMDLINE_ADDR);
	assert_true((pml4[0] & ~0xfffULL) >= PLAT_ZERO_PAGE_ADDR + 4096);
}

/* ---- PVH ---- */

static void pvh_elf64_desc4(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_pvh(0x3000, 0x5000);
	struct image img;
	const struct hvm_start_info *si;
	int r;

	spec.note = IMG_NOTE_PVH4;
	spec.pvh_entry = PLAT_HIMEM_START + 0x100;
	img = elf_build(&spec);
	memset(gpa(f, PLAT_HIMEM_START, 0x5000), 0xaa, 0x5000); /* bss must be cleared */
	r = load(f, &img, NULL, 0, "console=ttyS0 quiet");
	assert_loaded(f, r);

	assert_int_equal(f->out.mode, BOOT_MODE_PVH);
	assert_int_equal(f->out.entry, PLAT_HIMEM_START + 0x100);
	assert_int_equal(f->out.info_gpa, PLAT_PVH_INFO_ADDR);
	assert_segment_loaded(f, 0, PLAT_HIMEM_START, 0x3000, 0x5000);

	si = gpa(f, PLAT_PVH_INFO_ADDR, sizeof(*si));
	assert_int_equal(si->magic, PVH_START_MAGIC);
	assert_int_equal(si->magic, 0x336ec578);
	assert_int_equal(si->version, 1);
	assert_int_equal(si->flags, 0);
	assert_int_equal(si->nr_modules, 0);
	assert_int_equal(si->modlist_paddr, 0);
	assert_int_equal(si->rsdp_paddr, 0);
	assert_int_equal(si->cmdline_paddr, PLAT_CMDLINE_ADDR);
	assert_cmdline(f, "console=ttyS0 quiet");
	assert_pvh_memmap(f, si);
	image_free(&img);
}

static void pvh_elf64_desc8_with_initrd(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_pvh(0x2345, 0x10000);
	struct image img;
	size_t initrd_size = MiB + 123;
	uint8_t *initrd = make_blob(initrd_size, 7);
	const struct hvm_start_info *si;
	const struct hvm_modlist_entry *mod;
	int r;

	spec.note = IMG_NOTE_PVH8;
	spec.pvh_entry = PLAT_HIMEM_START + 0xfff0;
	img = elf_build(&spec);
	r = load(f, &img, initrd, initrd_size, "");
	assert_loaded(f, r);

	assert_int_equal(f->out.mode, BOOT_MODE_PVH);
	assert_int_equal(f->out.entry, PLAT_HIMEM_START + 0xfff0);
	assert_segment_loaded(f, 0, PLAT_HIMEM_START, 0x2345, 0x10000);
	si = gpa(f, PLAT_PVH_INFO_ADDR, sizeof(*si));
	assert_int_equal(si->magic, PVH_START_MAGIC);
	assert_int_equal(si->nr_modules, 1);
	/* The module list neither overlaps start_info nor the memory map. */
	assert_true(si->modlist_paddr >= PLAT_PVH_INFO_ADDR + sizeof(*si));
	assert_true(si->modlist_paddr + sizeof(*mod) <= si->memmap_paddr ||
		    si->memmap_paddr + si->memmap_entries * sizeof(struct hvm_memmap_table_entry) <=
			    si->modlist_paddr);
	mod = gpa(f, si->modlist_paddr, sizeof(*mod));
	assert_int_equal(mod->size, initrd_size);
	assert_int_equal(mod->paddr % 4096, 0);
	assert_true(mod->paddr >= PLAT_HIMEM_START + 0x10000);
	assert_true(mod->paddr + mod->size <= RAM_SIZE);
	assert_int_equal(mod->cmdline_paddr, 0);
	assert_int_equal(mod->reserved, 0);
	assert_memory_equal(gpa(f, mod->paddr, initrd_size), initrd, initrd_size);
	assert_cmdline(f, "");
	assert_pvh_memmap(f, si);
	free(initrd);
	image_free(&img);
}

static void pvh_elf32(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_pvh(0x1000, 0x1000);
	struct image img;
	const struct hvm_start_info *si;
	int r;

	spec.is32 = true;
	spec.note = IMG_NOTE_PVH4;
	spec.pvh_entry = PLAT_HIMEM_START + 0x40;
	img = elf_build(&spec);
	r = load(f, &img, NULL, 0, "x");
	assert_loaded(f, r);
	assert_int_equal(f->out.mode, BOOT_MODE_PVH);
	assert_int_equal(f->out.entry, PLAT_HIMEM_START + 0x40);
	assert_int_equal(f->out.info_gpa, PLAT_PVH_INFO_ADDR);
	assert_segment_loaded(f, 0, PLAT_HIMEM_START, 0x1000, 0x1000);
	si = gpa(f, PLAT_PVH_INFO_ADDR, sizeof(*si));
	assert_int_equal(si->magic, PVH_START_MAGIC);
	assert_pvh_memmap(f, si);
	image_free(&img);
}

/* Two PT_LOADs: both copied, and the initrd goes above the higher one. */
static void pvh_two_segments(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_pvh(0x1000, 0x2000);
	struct image img;
	uint8_t initrd[100];
	const struct hvm_start_info *si;
	const struct hvm_modlist_entry *mod;
	int r;

	spec.nr_segs = 2;
	spec.seg[1] = (struct img_seg){ PT_LOAD, 8 * MiB, 0x800, 0x1000 };
	img = elf_build(&spec);
	memset(initrd, 0x3c, sizeof(initrd));
	r = load(f, &img, initrd, sizeof(initrd), "two");
	assert_loaded(f, r);
	assert_segment_loaded(f, 0, PLAT_HIMEM_START, 0x1000, 0x2000);
	assert_segment_loaded(f, 1, 8 * MiB, 0x800, 0x1000);
	si = gpa(f, PLAT_PVH_INFO_ADDR, sizeof(*si));
	assert_int_equal(si->nr_modules, 1);
	mod = gpa(f, si->modlist_paddr, sizeof(*mod));
	assert_true(mod->paddr >= 8 * MiB + 0x1000);
	assert_int_equal(mod->size, sizeof(initrd));
	image_free(&img);
}

/* A "Xen" note of another type is not the PVH entry: the ELF64 boots as vmlinux. */
static void elf64_other_xen_note_is_vmlinux(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_pvh(0x1000, 0x1000);
	struct image img;
	Elf64_Nhdr nh;
	int r;

	spec.entry = PLAT_HIMEM_START + 0x10;
	img = elf_build(&spec);
	memcpy(&nh, img.data + img.note_off, sizeof(nh));
	nh.n_type = 17;
	memcpy(img.data + img.note_off, &nh, sizeof(nh));
	r = load(f, &img, NULL, 0, "");
	assert_loaded(f, r);
	assert_int_equal(f->out.mode, BOOT_MODE_LINUX64);
	assert_int_equal(f->out.entry, PLAT_HIMEM_START + 0x10);
	image_free(&img);
}

/* ---- Linux 64-bit boot protocol ---- */

static void vmlinux_elf64(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x3000, 0x8000);
	struct image img;
	size_t initrd_size = 2 * MiB + 5;
	uint8_t *initrd = make_blob(initrd_size, 3);
	const struct boot_params *bp;
	int r;

	img = elf_build(&spec);
	r = load(f, &img, initrd, initrd_size, "root=/dev/vda console=ttyS0");
	assert_loaded(f, r);

	assert_int_equal(f->out.mode, BOOT_MODE_LINUX64);
	assert_int_equal(f->out.entry, PLAT_HIMEM_START);
	assert_int_equal(f->out.info_gpa, PLAT_ZERO_PAGE_ADDR);
	assert_segment_loaded(f, 0, PLAT_HIMEM_START, 0x3000, 0x8000);

	bp = gpa(f, PLAT_ZERO_PAGE_ADDR, sizeof(*bp));
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_memory_equal(&bp->hdr.header, "HdrS", 4);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.loadflags & (LOADED_HIGH | CAN_USE_HEAP),
			 LOADED_HIGH | CAN_USE_HEAP);
	assert_int_not_equal(bp->hdr.heap_end_ptr, 0);
	assert_int_equal(bp->hdr.cmd_line_ptr, PLAT_CMDLINE_ADDR);
	assert_int_equal(bp->ext_cmd_line_ptr, 0);
	/* cmdline_size excludes the NUL: x86 Linux's 2048-byte buffer holds 2047. */
	assert_int_equal(bp->hdr.cmdline_size, 2047);
	assert_cmdline(f, "root=/dev/vda console=ttyS0");

	assert_int_equal(bp->hdr.ramdisk_size, initrd_size);
	assert_int_equal(bp->ext_ramdisk_size, 0);
	assert_int_equal(bp->hdr.ramdisk_image % 4096, 0);
	assert_true(bp->hdr.ramdisk_image >= PLAT_HIMEM_START + 0x8000);
	assert_true((uint64_t)bp->hdr.ramdisk_image + initrd_size <= RAM_SIZE);
	assert_memory_equal(gpa(f, bp->hdr.ramdisk_image, initrd_size), initrd, initrd_size);

	assert_e820(f, bp);
	assert_identity_4g(f);
	free(initrd);
	image_free(&img);
}

static void vmlinux_without_initrd(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x100);
	struct image img = elf_build(&spec);
	const struct boot_params *bp;
	int r;

	r = load(f, &img, NULL, 0, "quiet");
	assert_loaded(f, r);
	bp = gpa(f, PLAT_ZERO_PAGE_ADDR, sizeof(*bp));
	assert_int_equal(bp->hdr.ramdisk_image, 0);
	assert_int_equal(bp->hdr.ramdisk_size, 0);
	image_free(&img);
}

/* The GDT in guest memory decodes to what gdt_segment() hands KVM. */
static void gdt_matches_segments(void **state)
{
	static const uint16_t sels[] = { PLAT_SEL_CODE32, PLAT_SEL_CODE64, PLAT_SEL_DATA,
					 PLAT_SEL_TSS };
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x100);
	struct image img = elf_build(&spec);
	const uint64_t *gdt;
	struct kvm_segment s;
	int r;

	r = load(f, &img, NULL, 0, "");
	assert_loaded(f, r);
	gdt = gpa(f, PLAT_GDT_ADDR, PLAT_SEL_TSS + 16);
	assert_int_equal(gdt[0], 0);
	for (size_t i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		uint64_t d = gdt[sels[i] / 8];
		uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));

		s = gdt_segment(sels[i]);
		assert_int_equal(s.selector, sels[i]);
		assert_int_equal(s.base, ((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000));
		assert_int_equal(s.type, (d >> 40) & 0xf);
		assert_int_equal(s.present, 1);
		assert_int_equal(s.l, (d >> 53) & 1);
		assert_int_equal(s.db, (d >> 54) & 1);
		assert_int_equal(s.g, (d >> 55) & 1);
		assert_int_equal(s.limit, s.g ? (limit << 12) | 0xfff : limit);
	}
	s = gdt_segment(PLAT_SEL_CODE32);
	assert_int_equal(s.limit, 0xffffffff);
	assert_true(s.db && !s.l && s.s);
	s = gdt_segment(PLAT_SEL_CODE64);
	assert_true(s.l && !s.db);
	s = gdt_segment(PLAT_SEL_DATA);
	assert_int_equal(s.type, 3);
	assert_int_equal(s.limit, 0xffffffff);
	s = gdt_segment(PLAT_SEL_TSS);
	assert_int_equal(s.type, 0xb);
	assert_int_equal(s.s, 0);
	assert_int_equal(gdt[PLAT_SEL_TSS / 8 + 1], 0);
	image_free(&img);
}

/* ---- bzImage ---- */

static void bzimage_valid(void **state)
{
	struct fixture *f = *state;
	struct bz_spec spec = bz_spec_default();
	struct image img = bz_build(&spec);
	const struct setup_header *ih = bz_hdr(&img);
	size_t initrd_size = MiB;
	uint8_t *initrd = make_blob(initrd_size, 9);
	const struct boot_params *bp;
	const uint8_t *payload;
	int r;

	r = load(f, &img, initrd, initrd_size, "console=ttyS0");
	assert_loaded(f, r);
	assert_int_equal(f->out.mode, BOOT_MODE_LINUX64);
	assert_int_equal(f->out.entry, spec.pref_address + 0x200);
	assert_int_equal(f->out.info_gpa, PLAT_ZERO_PAGE_ADDR);
	payload = gpa(f, spec.pref_address, spec.payload_size);
	for (size_t i = 0; i < spec.payload_size; i++)
		if (payload[i] != img_pattern(0, i))
			fail_msg("payload byte %zu differs", i);

	bp = gpa(f, PLAT_ZERO_PAGE_ADDR, sizeof(*bp));
	/* The image's header, with the loader's fields filled in. */
	assert_int_equal(bp->hdr.setup_sects, 4);
	assert_int_equal(bp->hdr.syssize, spec.payload_size / 16);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.jump, ih->jump);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_int_equal(bp->hdr.code32_start, ih->code32_start);
	assert_int_equal(bp->hdr.kernel_alignment, 0x200000);
	assert_int_equal(bp->hdr.relocatable_kernel, 1);
	assert_int_equal(bp->hdr.min_alignment, 21);
	assert_int_equal(bp->hdr.xloadflags, spec.xloadflags);
	assert_int_equal(bp->hdr.initrd_addr_max, spec.initrd_addr_max);
	assert_int_equal(bp->hdr.pref_address, spec.pref_address);
	assert_int_equal(bp->hdr.init_size, spec.init_size);
	assert_int_equal(bp->hdr.kernel_info_offset, spec.kernel_info_offset);
	assert_int_equal(bp->hdr.cmdline_size, spec.cmdline_size);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.loadflags & (LOADED_HIGH | CAN_USE_HEAP),
			 LOADED_HIGH | CAN_USE_HEAP);
	assert_int_equal(bp->hdr.cmd_line_ptr, PLAT_CMDLINE_ADDR);
	assert_cmdline(f, "console=ttyS0");
	/* The initrd stays clear of the decompression area (pref_address + init_size). */
	assert_int_equal(bp->hdr.ramdisk_size, initrd_size);
	assert_true(bp->hdr.ramdisk_image >= spec.pref_address + spec.init_size);
	assert_true((uint64_t)bp->hdr.ramdisk_image + initrd_size <= RAM_SIZE);
	assert_memory_equal(gpa(f, bp->hdr.ramdisk_image, initrd_size), initrd, initrd_size);
	assert_e820(f, bp);
	assert_identity_4g(f);
	free(initrd);
	image_free(&img);
}

/* Loads a bzImage with setup_sects sectors of setup and checks the first n payload bytes. */
static void check_payload_after_setup(struct fixture *f, uint8_t setup_sects, size_t n)
{
	struct bz_spec spec = bz_spec_default();
	struct image img;
	const uint8_t *payload;
	int r;

	spec.setup_sects = setup_sects;
	if (!n)
		n = spec.payload_size;
	img = bz_build(&spec);
	r = load(f, &img, NULL, 0, "");
	assert_loaded(f, r);
	payload = gpa(f, spec.pref_address, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(payload[i], img_pattern(0, i));
	image_free(&img);
}

/* setup_sects 0 means 4: the payload starts at 5 * 512. */
static void bzimage_setup_sects_zero(void **state)
{
	check_payload_after_setup(*state, 0, 16);
}

static void bzimage_more_setup_sects(void **state)
{
	check_payload_after_setup(*state, 30, 0);
}

/* Only the header bytes the image's jump covers are copied into boot_params. */
static void bzimage_header_length_from_jump(void **state)
{
	struct fixture *f = *state;
	struct bz_spec spec = bz_spec_default();
	struct image img;
	const struct boot_params *bp;
	int r;

	spec.jump_len = 0x264 - 0x202; /* header ends before handover_offset */
	img = bz_build(&spec);
	r = load(f, &img, NULL, 0, "");
	assert_loaded(f, r);
	bp = gpa(f, PLAT_ZERO_PAGE_ADDR, sizeof(*bp));
	assert_int_equal(bp->hdr.init_size, spec.init_size);
	assert_int_equal(bp->hdr.kernel_info_offset, 0);
	image_free(&img);
}

static void bzimage_initrd_below_initrd_addr_max(void **state)
{
	struct fixture *f = *state;
	struct bz_spec spec = bz_spec_default();
	struct image img;
	uint8_t initrd[5000];
	const struct boot_params *bp;
	int r;

	spec.initrd_addr_max = 32 * MiB - 1;
	img = bz_build(&spec);
	memset(initrd, 0x77, sizeof(initrd));
	r = load(f, &img, initrd, sizeof(initrd), "");
	assert_loaded(f, r);
	bp = gpa(f, PLAT_ZERO_PAGE_ADDR, sizeof(*bp));
	assert_int_equal(bp->hdr.ramdisk_image, 32 * MiB - 2 * 4096);
	assert_true(bp->hdr.ramdisk_image + sizeof(initrd) - 1 <= spec.initrd_addr_max);
	image_free(&img);
}

/* ---- command line limits ---- */

static void check_cmdline_limit(struct fixture *f, const struct image *img, size_t max)
{
	char *ok = make_cmdline(max), *too_long = make_cmdline(max + 1);
	char want[96];
	int r;

	r = load(f, img, NULL, 0, ok);
	assert_loaded(f, r);
	assert_cmdline(f, ok);

	r = load(f, img, NULL, 0, too_long);
	assert_int_equal(r, -E2BIG);
	snprintf(want, sizeof(want), "command line is %zu bytes", max + 1);
	assert_err(&f->err, -E2BIG, want);
	snprintf(want, sizeof(want), "allows %zu", max);
	assert_err(&f->err, -E2BIG, want);
	free(ok);
	free(too_long);
}

static void cmdline_limit_vmlinux(void **state)
{
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x100);
	struct image img = elf_build(&spec);

	check_cmdline_limit(*state, &img, 2047);
	image_free(&img);
}

static void cmdline_limit_bzimage(void **state)
{
	struct bz_spec spec = bz_spec_default();
	struct image img;

	spec.cmdline_size = 100;
	img = bz_build(&spec);
	check_cmdline_limit(*state, &img, 100);
	image_free(&img);
}

static void cmdline_limit_bzimage_clamped(void **state)
{
	struct bz_spec spec = bz_spec_default();
	struct image img;

	spec.cmdline_size = 0x100000; /* bigger than the VMM's buffer */
	img = bz_build(&spec);
	check_cmdline_limit(*state, &img, PLAT_CMDLINE_MAX - 1);
	image_free(&img);
}

static void cmdline_limit_pvh(void **state)
{
	struct elf_spec spec = elf_spec_pvh(0x100, 0x100);
	struct image img = elf_build(&spec);

	check_cmdline_limit(*state, &img, PLAT_CMDLINE_MAX - 1);
	image_free(&img);
}

/* ---- bad input ---- */

static void expect_fail(struct fixture *f, const struct image *img, size_t size, int code,
			const char *substr)
{
	int r = load_sized(f, img->data, size, NULL, 0, "");

	assert_int_equal(r, code);
	assert_err(&f->err, code, substr);
}

static void bad_empty(void **state)
{
	struct fixture *f = *state;
	static const uint8_t nothing[1];

	assert_int_equal(load_sized(f, nothing, 0, NULL, 0, ""), -EINVAL);
	assert_err(&f->err, -EINVAL, "empty");
}

static void bad_ram_too_small(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x100);
	struct image img = elf_build(&spec);
	struct guest_memory small;

	test_gm_alloc(&small, 512 * 1024);
	memset(&f->err, 0, sizeof(f->err));
	{
		struct boot_input in = { img.data, img.size, NULL, 0, "" };

		assert_int_equal(boot_load(&small, &in, &f->out, &f->err), -EINVAL);
	}
	assert_err(&f->err, -EINVAL, "too small");
	gm_free(&small);
	image_free(&img);
}

static void bad_neither_elf_nor_bzimage(void **state)
{
	struct fixture *f = *state;
	uint8_t junk[4096];
	struct image img = { .data = junk, .size = sizeof(junk) };

	memset(junk, 0x90, sizeof(junk));
	expect_fail(f, &img, sizeof(junk), -EINVAL, "neither ELF nor bzImage");
	/* Three bytes of the ELF magic are not an ELF file. */
	memcpy(junk, ELFMAG, 3);
	expect_fail(f, &img, 3, -EINVAL, "neither ELF nor bzImage");
	/* A bzImage signature in a file too short for the whole header. */
	memset(junk, 0, sizeof(junk));
	junk[0x1fe] = 0x55;
	junk[0x1ff] = 0xaa;
	memcpy(junk + 0x202, "HdrS", 4);
	expect_fail(f, &img, 0x210, -EINVAL, "neither ELF nor bzImage");
}

static void bad_elf_truncated_header(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x100);
	struct image img = elf_build(&spec), img32;

	expect_fail(f, &img, 10, -EINVAL, "truncated (10 bytes)");
	expect_fail(f, &img, sizeof(Elf64_Ehdr) - 1, -EINVAL, "truncated (63 bytes)");
	spec = elf_spec_pvh(0x100, 0x100);
	spec.is32 = true;
	img32 = elf_build(&spec);
	expect_fail(f, &img32, sizeof(Elf32_Ehdr) - 1, -EINVAL, "truncated (51 bytes)");
	image_free(&img);
	image_free(&img32);
}

static void bad_elf_truncated_phdrs(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_pvh(0x100, 0x100);
	struct image img = elf_build(&spec);
	Elf64_Ehdr eh;

	/* Cut in the middle of the second program header. */
	expect_fail(f, &img, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 20, -EINVAL,
		    "program headers past the end");
	/* Or e_phoff points past the end of the file. */
	memcpy(&eh, img.data, sizeof(eh));
	eh.e_phoff = img.size + 8;
	memcpy(img.data, &eh, sizeof(eh));
	expect_fail(f, &img, img.size, -EINVAL, "program headers past the end");
	eh.e_phoff = UINT64_MAX - 8; /* and no wrap-around */
	memcpy(img.data, &eh, sizeof(eh));
	expect_fail(f, &img, img.size, -EINVAL, "program headers past the end");
	image_free(&img);
}

static void bad_elf_segment_past_eof(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x1000, 0x1000);
	struct image img = elf_build(&spec);
	struct img_phdr p;

	expect_fail(f, &img, img.seg_off[0] + 0x1000 - 1, -EINVAL, "truncated: segment 0");
	/* An offset far past the end, and one that would wrap around. */
	p = elf_get_phdr(&img, 0);
	p.offset = img.size + 1;
	elf_put_phdr(&img, 0, &p);
	expect_fail(f, &img, img.size, -EINVAL, "truncated: segment 0");
	p.offset = UINT64_MAX - 0x10;
	elf_put_phdr(&img, 0, &p);
	expect_fail(f, &img, img.size, -EINVAL, "truncated: segment 0");
	image_free(&img);
}

static void bad_elf_filesz_above_memsz(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x1000, 0x1000);
	struct image img = elf_build(&spec);
	struct img_phdr p = elf_get_phdr(&img, 0);

	p.memsz = p.filesz - 1;
	elf_put_phdr(&img, 0, &p);
	expect_fail(f, &img, img.size, -EINVAL, "file size exceeds memory size");
	image_free(&img);
}

static void bad_elf_segment_outside_ram(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 2 * MiB);
	struct image img;

	spec.seg[0].paddr = RAM_SIZE - MiB; /* ends 1 MiB past the end of RAM */
	spec.entry = spec.seg[0].paddr;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "outside guest RAM");
	image_free(&img);

	spec.seg[0].paddr = 2 * GiB;
	spec.entry = spec.seg[0].paddr;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "outside guest RAM");
	image_free(&img);

	/* memsz so large that paddr + memsz wraps. */
	spec.seg[0].paddr = 2 * MiB;
	spec.seg[0].memsz = UINT64_MAX - MiB;
	spec.entry = spec.seg[0].paddr;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "outside guest RAM");
	image_free(&img);
}

static void bad_elf_segment_below_1m(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x1000);
	struct image img;

	spec.seg[0].paddr = 0x80000;
	spec.entry = 0x80000;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "below 1 MiB");
	image_free(&img);

	/* Starting just below 1 MiB and running into it. */
	spec.seg[0].paddr = PLAT_HIMEM_START - 0x100;
	spec.entry = PLAT_HIMEM_START;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "below 1 MiB");
	image_free(&img);
}

/* Segments against the MMIO hole, with RAM on both sides of it. */
static void bad_elf_segment_mmio_hole(void **state)
{
	struct fixture *f = *state;
	struct guest_memory big;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x2000);
	struct image img;
	struct boot_input in;
	static const uint64_t bad[] = {
		PLAT_MMIO_HOLE_START - 0x1000, /* straddles the start of the hole */
		PLAT_MMIO_HOLE_START + 0x1000, /* inside it */
		PLAT_MMIO_HOLE_END - 0x1000,   /* straddles its end */
		PLAT_MMIO_HOLE_END, /* RAM above 4 GiB: out of the boot page tables' reach */
	};

	test_gm_alloc(&big, PLAT_MMIO_HOLE_START + 16 * MiB);
	assert_int_equal(big.nr_regions, 2);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec.seg[0].paddr = bad[i];
		spec.entry = bad[i];
		img = elf_build(&spec);
		in = (struct boot_input){ img.data, img.size, NULL, 0, "" };
		memset(&f->err, 0, sizeof(f->err));
		assert_int_equal(boot_load(&big, &in, &f->out, &f->err), -EINVAL);
		if (i < 3)
			assert_err(&f->err, -EINVAL, "outside guest RAM");
		else
			assert_err(&f->err, -EINVAL, "below the MMIO hole");
		image_free(&img);
	}
	/* Right up to the hole is fine. */
	spec.seg[0].paddr = PLAT_MMIO_HOLE_START - 0x2000;
	spec.entry = spec.seg[0].paddr;
	img = elf_build(&spec);
	in = (struct boot_input){ img.data, img.size, NULL, 0, "" };
	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(boot_load(&big, &in, &f->out, &f->err), 0);
	assert_int_equal(f->out.entry, PLAT_MMIO_HOLE_START - 0x2000);
	image_free(&img);
	gm_free(&big);
}

static void bad_elf_no_load_segment(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_pvh(0, 0);
	struct image img;

	spec.nr_segs = 0; /* only the PT_NOTE */
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "no loadable segment");
	image_free(&img);

	/* PT_LOADs with nothing in memory do not count. */
	spec = elf_spec_vmlinux(0, 0);
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "no loadable segment");
	image_free(&img);

	/* Neither do other segment types. */
	spec = elf_spec_vmlinux(0x100, 0x100);
	spec.seg[0].type = PT_DYNAMIC;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "no loadable segment");
	image_free(&img);
}

static void bad_elf_header_fields(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x100);
	struct image img;
	Elf64_Ehdr eh;

	spec.machine = EM_AARCH64;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "not for x86 (e_machine 183)");
	image_free(&img);

	spec.machine = EM_386; /* a 32-bit machine in a 64-bit file */
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "e_machine 3");
	image_free(&img);

	spec = elf_spec_pvh(0x100, 0x100);
	spec.is32 = true;
	spec.note = IMG_NOTE_PVH4;
	spec.machine = EM_X86_64; /* and the reverse */
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "e_machine 62");
	image_free(&img);

	spec = elf_spec_vmlinux(0x100, 0x100);
	img = elf_build(&spec);
	img.data[EI_DATA] = ELFDATA2MSB;
	expect_fail(f, &img, img.size, -EINVAL, "not little-endian");
	img.data[EI_DATA] = ELFDATA2LSB;
	img.data[EI_CLASS] = ELFCLASSNONE;
	expect_fail(f, &img, img.size, -EINVAL, "unknown class 0");
	img.data[EI_CLASS] = ELFCLASS64;

	memcpy(&eh, img.data, sizeof(eh));
	eh.e_type = ET_DYN;
	memcpy(img.data, &eh, sizeof(eh));
	expect_fail(f, &img, img.size, -EINVAL, "not an executable");
	eh.e_type = ET_EXEC;
	eh.e_phentsize = sizeof(Elf32_Phdr);
	memcpy(img.data, &eh, sizeof(eh));
	expect_fail(f, &img, img.size, -EINVAL, "bad program header size 32");
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 0;
	memcpy(img.data, &eh, sizeof(eh));
	expect_fail(f, &img, img.size, -EINVAL, "has 0 program headers");
	eh.e_phnum = 1000;
	memcpy(img.data, &eh, sizeof(eh));
	expect_fail(f, &img, img.size, -EINVAL, "has 1000 program headers");
	image_free(&img);
}

static void bad_elf32_without_pvh_note(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x100);
	struct image img;

	spec.is32 = true;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "32-bit ELF kernel has no PVH entry note");
	image_free(&img);
}

static void bad_elf_malformed_note(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_pvh(0x100, 0x100);
	struct image img = elf_build(&spec);
	struct img_phdr p;
	Elf64_Nhdr nh, saved;

	/* A name that runs past the note segment. */
	memcpy(&saved, img.data + img.note_off, sizeof(saved));
	nh = saved;
	nh.n_namesz = 0x1000;
	memcpy(img.data + img.note_off, &nh, sizeof(nh));
	expect_fail(f, &img, img.size, -EINVAL, "malformed note");
	/* A descriptor that does, with sizes that would overflow 32 bits. */
	nh = saved;
	nh.n_descsz = 0xfffffffe;
	memcpy(img.data + img.note_off, &nh, sizeof(nh));
	expect_fail(f, &img, img.size, -EINVAL, "malformed note");
	/* A PVH note whose entry is neither 4 nor 8 bytes. */
	nh = saved;
	nh.n_descsz = 6;
	memcpy(img.data + img.note_off, &nh, sizeof(nh));
	expect_fail(f, &img, img.size, -EINVAL, "PVH entry note has size 6");
	memcpy(img.data + img.note_off, &saved, sizeof(saved));

	/* A note segment that runs past the end of the file. */
	p = elf_get_phdr(&img, img.note_phdr);
	p.filesz = img.size;
	elf_put_phdr(&img, img.note_phdr, &p);
	expect_fail(f, &img, img.size, -EINVAL, "note segment past the end");
	p.offset = UINT64_MAX;
	elf_put_phdr(&img, img.note_phdr, &p);
	expect_fail(f, &img, img.size, -EINVAL, "note segment past the end");
	image_free(&img);
}

static void bad_elf_entry_outside_segments(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x1000);
	struct image img;

	spec.entry = 32 * MiB;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "entry point 0x2000000 is outside");
	image_free(&img);

	spec.entry = PLAT_HIMEM_START + 0x1000; /* one past the end */
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "entry point 0x101000 is outside");
	image_free(&img);

	spec.entry = PLAT_HIMEM_START - 1;
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "is outside the loaded kernel");
	image_free(&img);

	spec = elf_spec_pvh(0x100, 0x1000);
	spec.pvh_entry = 0x2000; /* e_entry is fine, the PVH entry is not */
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "entry point 0x2000 is outside");
	image_free(&img);
}

/* Every segment is checked before any is copied. */
static void bad_elf_nothing_copied(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x1000, 0x1000);
	struct image img;
	const uint8_t *p = gpa(f, PLAT_HIMEM_START, 0x1000);

	spec.nr_segs = 2;
	spec.seg[1] = (struct img_seg){ PT_LOAD, RAM_SIZE, 0x10, 0x10 };
	img = elf_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "outside guest RAM");
	for (size_t i = 0; i < 0x1000; i++)
		assert_int_equal(p[i], 0);
	image_free(&img);
}

static void bad_bzimage(void **state)
{
	struct fixture *f = *state;
	struct bz_spec spec = bz_spec_default();
	struct image img;

	spec.version = 0x020b;
	img = bz_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "boot protocol 2.11 is too old");
	image_free(&img);

	spec = bz_spec_default();
	spec.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
	img = bz_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "XLF_KERNEL_64");
	image_free(&img);

	/* A jump too short to reach the version field: an ancient header. */
	spec = bz_spec_default();
	spec.jump_len = 0;
	img = bz_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "too old");
	image_free(&img);

	spec = bz_spec_default();
	spec.pref_address = 0x10000;
	img = bz_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "below 1 MiB");
	image_free(&img);

	/* init_size, not just the payload, has to fit in RAM. */
	spec = bz_spec_default();
	spec.pref_address = RAM_SIZE - 2 * MiB;
	img = bz_build(&spec);
	expect_fail(f, &img, img.size, -EINVAL, "outside guest RAM");
	image_free(&img);
}

static void bad_bzimage_truncated(void **state)
{
	struct fixture *f = *state;
	struct bz_spec spec = bz_spec_default();
	struct image img = bz_build(&spec);
	size_t setup = bz_setup_size(&spec);

	/* Nothing after the setup sectors. */
	expect_fail(f, &img, setup, -EINVAL, "setup alone needs 2560");
	/* Less payload than syssize says. */
	expect_fail(f, &img, img.size - 16, -EINVAL, "kernel needs 8192 bytes after setup");
	bz_hdr(&img)->syssize = spec.payload_size / 16 + 1;
	expect_fail(f, &img, img.size, -EINVAL, "kernel needs 8208 bytes");
	/* setup_sects larger than the file. */
	bz_hdr(&img)->syssize = spec.payload_size / 16;
	bz_hdr(&img)->setup_sects = 200;
	expect_fail(f, &img, img.size, -EINVAL, "setup alone needs 102912");
	image_free(&img);
}

static void bad_initrd_larger_than_ram(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 0x100);
	struct image img = elf_build(&spec);
	uint8_t *initrd = calloc(1, RAM_SIZE + 1);
	int r;

	assert_non_null(initrd);
	r = load(f, &img, initrd, RAM_SIZE + 1, "");
	assert_int_equal(r, -EINVAL);
	assert_err(&f->err, -EINVAL, "larger than guest RAM");
	free(initrd);
	image_free(&img);
}

static void bad_initrd_overlaps_kernel(void **state)
{
	struct fixture *f = *state;
	struct elf_spec spec = elf_spec_vmlinux(0x100, 60 * MiB); /* kernel ends at 61 MiB */
	struct image img = elf_build(&spec);
	uint8_t *initrd = calloc(1, 4 * MiB);
	const struct boot_params *bp;
	int r;

	assert_non_null(initrd);
	r = load(f, &img, initrd, 3 * MiB + 1, "");
	assert_int_equal(r, -EINVAL);
	assert_err(&f->err, -EINVAL, "overlaps the kernel");
	/* Exactly the room that is left fits. */
	r = load(f, &img, initrd, 3 * MiB, "");
	assert_loaded(f, r);
	bp = gpa(f, PLAT_ZERO_PAGE_ADDR, sizeof(*bp));
	assert_int_equal(bp->hdr.ramdisk_image, 61 * MiB);
	free(initrd);
	image_free(&img);

	/* A bzImage whose initrd_addr_max leaves nothing above the kernel. */
	{
		struct bz_spec bz = bz_spec_default();
		struct image bzi;
		uint8_t small[4096] = { 0 };

		bz.initrd_addr_max = 16 * MiB;
		bzi = bz_build(&bz);
		r = load(f, &bzi, small, sizeof(small), "");
		assert_int_equal(r, -EINVAL);
		assert_err(&f->err, -EINVAL, "overlaps the kernel");
		image_free(&bzi);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(pvh_elf64_desc4),
		T(pvh_elf64_desc8_with_initrd),
		T(pvh_elf32),
		T(pvh_two_segments),
		T(elf64_other_xen_note_is_vmlinux),
		T(vmlinux_elf64),
		T(vmlinux_without_initrd),
		T(gdt_matches_segments),
		T(bzimage_valid),
		T(bzimage_setup_sects_zero),
		T(bzimage_more_setup_sects),
		T(bzimage_header_length_from_jump),
		T(bzimage_initrd_below_initrd_addr_max),
		T(cmdline_limit_vmlinux),
		T(cmdline_limit_bzimage),
		T(cmdline_limit_bzimage_clamped),
		T(cmdline_limit_pvh),
		T(bad_empty),
		T(bad_ram_too_small),
		T(bad_neither_elf_nor_bzimage),
		T(bad_elf_truncated_header),
		T(bad_elf_truncated_phdrs),
		T(bad_elf_segment_past_eof),
		T(bad_elf_filesz_above_memsz),
		T(bad_elf_segment_outside_ram),
		T(bad_elf_segment_below_1m),
		T(bad_elf_segment_mmio_hole),
		T(bad_elf_no_load_segment),
		T(bad_elf_header_fields),
		T(bad_elf32_without_pvh_note),
		T(bad_elf_malformed_note),
		T(bad_elf_entry_outside_segments),
		T(bad_elf_nothing_copied),
		T(bad_bzimage),
		T(bad_bzimage_truncated),
		T(bad_initrd_larger_than_ram),
		T(bad_initrd_overlaps_kernel),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
