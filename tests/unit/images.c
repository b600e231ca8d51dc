// SPDX-License-Identifier: Apache-2.0
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "kvmlet/platform.h"
#include "tests/unit/images.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

void test_gm_alloc(struct guest_memory *gm, uint64_t bytes)
{
	struct err err = { 0 };

	if (gm_alloc(gm, bytes, MEM_BACKEND_ANON, &err))
		fail_msg("gm_alloc(%llu): %s", (unsigned long long)bytes, err.msg);
}

uint8_t img_pattern(unsigned int seg, uint64_t i)
{
	return (uint8_t)(0x11 * (seg + 1) + i * 13 + (i >> 8));
}

void image_free(struct image *img)
{
	free(img->data);
	memset(img, 0, sizeof(*img));
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* Appends one note (header, name, descriptor, padded to 4) at buf + off. */
static size_t put_note(uint8_t *buf, size_t off, const char *name, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	Elf64_Nhdr nh = { .n_namesz = (uint32_t)strlen(name) + 1, .n_descsz = descsz, .n_type = type };

	if (buf) {
		memcpy(buf + off, &nh, sizeof(nh));
		memcpy(buf + off + sizeof(nh), name, nh.n_namesz);
		memcpy(buf + off + sizeof(nh) + align_up(nh.n_namesz, 4), desc, descsz);
	}
	return sizeof(nh) + align_up(nh.n_namesz, 4) + align_up(descsz, 4);
}

/* Writes the note segment's contents (or just sizes it); *xen_off gets the Xen note. */
static size_t put_notes(uint8_t *buf, size_t off, const struct elf_spec *spec, size_t *xen_off)
{
	static const uint8_t build_id[3] = { 0xde, 0xad, 0x01 }; /* odd size: exercises padding */
	size_t start = off;
	uint32_t e32 = (uint32_t)spec->pvh_entry;
	uint64_t e64 = spec->pvh_entry;

	off += put_note(buf, off, "GNU", NT_GNU_BUILD_ID, build_id, sizeof(build_id));
	*xen_off = off;
	if (spec->note == IMG_NOTE_PVH4)
		off += put_note(buf, off, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e32, 4);
	else
		off += put_note(buf, off, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &e64, 8);
	return off - start;
}

struct img_phdr elf_get_phdr(const struct image *img, unsigned int i)
{
	struct img_phdr p;

	if (img->is32) {
		Elf32_Ehdr eh;
		Elf32_Phdr ph;

		memcpy(&eh, img->data, sizeof(eh));
		memcpy(&ph, img->data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		p = (struct img_phdr){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	} else {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;

		memcpy(&eh, img->data, sizeof(eh));
		memcpy(&ph, img->data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		p = (struct img_phdr){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	}
	return p;
}

void elf_put_phdr(struct image *img, unsigned int i, const struct img_phdr *p)
{
	if (img->is32) {
		Elf32_Ehdr eh;
		Elf32_Phdr ph = {
			.p_type = p->type,
			.p_offset = (Elf32_Off)p->offset,
			.p_vaddr = (Elf32_Addr)p->paddr,
			.p_paddr = (Elf32_Addr)p->paddr,
			.p_filesz = (Elf32_Word)p->filesz,
			.p_memsz = (Elf32_Word)p->memsz,
			.p_flags = PF_R | PF_X,
			.p_align = 4,
		};

		memcpy(&eh, img->data, sizeof(eh));
		memcpy(img->data + eh.e_phoff + i * sizeof(ph), &ph, sizeof(ph));
	} else {
		Elf64_Ehdr eh;
		Elf64_Phdr ph = {
			.p_type = p->type,
			.p_offset = p->offset,
			.p_vaddr = p->paddr,
			.p_paddr = p->paddr,
			.p_filesz = p->filesz,
			.p_memsz = p->memsz,
			.p_flags = PF_R | PF_X,
			.p_align = 4,
		};

		memcpy(&eh, img->data, sizeof(eh));
		memcpy(img->data + eh.e_phoff + i * sizeof(ph), &ph, sizeof(ph));
	}
}

struct image elf_build(const struct elf_spec *spec)
{
	size_t ehsize = spec->is32 ? sizeof(Elf32_Ehdr) : sizeof(Elf64_Ehdr);
	size_t phentsize = spec->is32 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr);
	unsigned int phnum = spec->nr_segs + (spec->note != IMG_NOTE_NONE);
	size_t notes_off = align_up(ehsize + phnum * phentsize, 4), notes_size = 0, off, xen_off = 0;
	struct image img = { .is32 = spec->is32, .phnum = phnum };

	assert_true(spec->nr_segs <= IMG_MAX_SEGS);
	if (spec->note != IMG_NOTE_NONE)
		notes_size = put_notes(NULL, notes_off, spec, &xen_off);
	off = align_up(notes_off + notes_size, 16);
	for (unsigned int i = 0; i < spec->nr_segs; i++) {
		img.seg_off[i] = off;
		off = align_up(off + spec->seg[i].filesz, 16);
	}
	img.size = off;
	img.data = calloc(1, img.size);
	assert_non_null(img.data);

	if (spec->is32) {
		Elf32_Ehdr eh = {
			.e_type = ET_EXEC,
			.e_machine = spec->machine ? spec->machine : EM_386,
			.e_version = EV_CURRENT,
			.e_entry = (Elf32_Addr)spec->entry,
			.e_phoff = (Elf32_Off)ehsize,
			.e_ehsize = (Elf32_Half)ehsize,
			.e_phentsize = (Elf32_Half)phentsize,
			.e_phnum = (Elf32_Half)phnum,
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img.data, &eh, sizeof(eh));
	} else {
		Elf64_Ehdr eh = {
			.e_type = ET_EXEC,
			.e_machine = spec->machine ? spec->machine : EM_X86_64,
			.e_version = EV_CURRENT,
			.e_entry = spec->entry,
			.e_phoff = ehsize,
			.e_ehsize = (Elf64_Half)ehsize,
			.e_phentsize = (Elf64_Half)phentsize,
			.e_phnum = (Elf64_Half)phnum,
		};

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img.data, &eh, sizeof(eh));
	}

	for (unsigned int i = 0; i < spec->nr_segs; i++) {
		const struct img_seg *s = &spec->seg[i];
		struct img_phdr p = { s->type ? s->type : PT_LOAD, img.seg_off[i], s->paddr,
				      s->filesz, s->memsz };

		elf_put_phdr(&img, i, &p);
		for (uint64_t b = 0; b < s->filesz; b++)
			img.data[img.seg_off[i] + b] = img_pattern(i, b);
	}
	if (spec->note != IMG_NOTE_NONE) {
		struct img_phdr p = { PT_NOTE, notes_off, 0, notes_size, 0 };

		put_notes(img.data, notes_off, spec, &img.note_off);
		img.note_phdr = spec->nr_segs;
		elf_put_phdr(&img, img.note_phdr, &p);
	}
	return img;
}

struct elf_spec elf_spec_pvh(uint64_t filesz, uint64_t memsz)
{
	return (struct elf_spec){
		.entry = PLAT_HIMEM_START + 0x20, /* ignored for PVH */
		.note = IMG_NOTE_PVH8,
		.pvh_entry = PLAT_HIMEM_START + 0x10,
		.nr_segs = 1,
		.seg = { { PT_LOAD, PLAT_HIMEM_START, filesz, memsz } },
	};
}

struct elf_spec elf_spec_vmlinux(uint64_t filesz, uint64_t memsz)
{
	return (struct elf_spec){
		.entry = PLAT_HIMEM_START,
		.nr_segs = 1,
		.seg = { { PT_LOAD, PLAT_HIMEM_START, filesz, memsz } },
	};
}

struct bz_spec bz_spec_default(void)
{
	return (struct bz_spec){
		.version = 0x020f,
		.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G,
		.setup_sects = 4,
		.payload_size = 8192,
		.pref_address = 16 * MiB,
		.init_size = 4 * MiB,
		.cmdline_size = 2047,
		.initrd_addr_max = 0x7fffffff,
		.kernel_info_offset = 0x1234,
		.jump_len = (uint8_t)(BZ_HDR_OFFSET + sizeof(struct setup_header) - 0x202),
	};
}

size_t bz_setup_size(const struct bz_spec *spec)
{
	return ((size_t)(spec->setup_sects ? spec->setup_sects : 4) + 1) * 512;
}

struct setup_header *bz_hdr(struct image *img)
{
	return (struct setup_header *)(img->data + BZ_HDR_OFFSET);
}

struct image bz_build(const struct bz_spec *spec)
{
	size_t setup = bz_setup_size(spec);
	struct image img = { .size = setup + spec->payload_size };
	struct setup_header h = {
		.setup_sects = spec->setup_sects,
		.syssize = (spec->payload_size + 15) / 16,
		.boot_flag = 0xaa55,
		.jump = (uint16_t)(0xeb | (spec->jump_len << 8)),
		.header = 0x53726448, /* "HdrS" */
		.version = spec->version,
		.loadflags = LOADED_HIGH,
		.code32_start = 0x100000,
		.initrd_addr_max = spec->initrd_addr_max,
		.kernel_alignment = 0x200000,
		.relocatable_kernel = 1,
		.min_alignment = 21,
		.xloadflags = spec->xloadflags,
		.cmdline_size = spec->cmdline_size,
		.pref_address = spec->pref_address,
		.init_size = spec->init_size,
		.kernel_info_offset = spec->kernel_info_offset,
	};

	img.data = malloc(img.size);
	assert_non_null(img.data);
	memset(img.data, 0x5a, setup);
	memcpy(img.data + BZ_HDR_OFFSET, &h, sizeof(h));
	for (size_t i = 0; i < spec->payload_size; i++)
		img.data[setup + i] = img_pattern(0, i);
	return img;
}
