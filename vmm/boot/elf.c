// SPDX-License-Identifier: Apache-2.0
/*
 * ELF kernels: a PVH image (any ELF with a XEN_ELFNOTE_PHYS32_ENTRY note) or
 * a Linux vmlinux entered through the 64-bit boot protocol.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vmm/boot/internal.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define ELF_MAX_PHDRS		 128

/* A program header, whichever class the file is. */
struct phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};

struct elf_file {
	const uint8_t *img;
	size_t size;
	bool is64;
	uint64_t entry;
	uint64_t phoff;
	uint16_t phnum;
};

bool elf_probe(const uint8_t *img, size_t size)
{
	return size >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0;
}

static int elf_parse_header(struct elf_file *f, struct err *err)
{
	const uint8_t *id = f->img;
	uint16_t machine, type, phentsize;

	if (f->size < EI_NIDENT)
		return err_set(err, -EINVAL, "ELF kernel is truncated (%zu bytes)", f->size);
	if (id[EI_DATA] != ELFDATA2LSB)
		return err_set(err, -EINVAL, "ELF kernel is not little-endian");
/* Both classes name their header fields alike; this copies out what we use. */
#define ELF_READ_HEADER(ehdr_type, phdr_type)                                                 \
	do {                                                                                  \
		ehdr_type eh;                                                                 \
                                                                                              \
		if (f->size < sizeof(eh))                                                     \
			return err_set(err, -EINVAL, "ELF kernel is truncated (%zu bytes)",   \
				       f->size);                                              \
		memcpy(&eh, f->img, sizeof(eh));                                              \
		machine = eh.e_machine;                                                       \
		type = eh.e_type;                                                             \
		phentsize = eh.e_phentsize;                                                   \
		f->entry = eh.e_entry;                                                        \
		f->phoff = eh.e_phoff;                                                        \
		f->phnum = eh.e_phnum;                                                        \
		if (phentsize != sizeof(phdr_type))                                           \
			return err_set(err, -EINVAL,                                          \
				       "ELF kernel has bad program header size %u", phentsize); \
	} while (0)

	f->is64 = id[EI_CLASS] == ELFCLASS64;
	if (f->is64)
		ELF_READ_HEADER(Elf64_Ehdr, Elf64_Phdr);
	else if (id[EI_CLASS] == ELFCLASS32)
		ELF_READ_HEADER(Elf32_Ehdr, Elf32_Phdr);
	else
		return err_set(err, -EINVAL, "ELF kernel has unknown class %u", id[EI_CLASS]);
#undef ELF_READ_HEADER
	if (machine != (f->is64 ? EM_X86_64 : EM_386))
		return err_set(err, -EINVAL, "ELF kernel is not for x86 (e_machine %u)", machine);
	if (type != ET_EXEC)
		return err_set(err, -EINVAL, "ELF kernel is not an executable (e_type %u)", type);
	if (f->phnum == 0 || f->phnum > ELF_MAX_PHDRS)
		return err_set(err, -EINVAL, "ELF kernel has %u program headers (1..%u allowed)",
			       f->phnum, ELF_MAX_PHDRS);
	if (f->phoff > f->size || (uint64_t)f->phnum * phentsize > f->size - f->phoff)
		return err_set(err, -EINVAL,
			       "ELF kernel is truncated: program headers past the end");
	return 0;
}

static struct phdr elf_phdr(const struct elf_file *f, unsigned int i)
{
	struct phdr p;

	if (f->is64) {
		Elf64_Phdr ph;

		memcpy(&ph, f->img + f->phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		p = (struct phdr){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	} else {
		Elf32_Phdr ph;

		memcpy(&ph, f->img + f->phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
		p = (struct phdr){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
	}
	return p;
}

static uint64_t align4(uint64_t v)
{
	return (v + 3) & ~3ULL;
}

/* Looks for the PVH entry note in one PT_NOTE segment; notes are untrusted. */
static int elf_find_pvh(const struct elf_file *f, const struct phdr *p, uint64_t *entry,
			struct err *err)
{
	uint64_t off = 0;

	if (p->offset > f->size || p->filesz > f->size - p->offset)
		return err_set(err, -EINVAL, "ELF kernel is truncated: note segment past the end");
	while (p->filesz - off >= sizeof(Elf64_Nhdr)) {
		const uint8_t *n = f->img + p->offset + off;
		Elf64_Nhdr nh; /* Elf32_Nhdr has the same layout */
		uint64_t name_sz, desc_sz, total;

		memcpy(&nh, n, sizeof(nh));
		name_sz = align4(nh.n_namesz);
		desc_sz = align4(nh.n_descsz);
		total = sizeof(nh) + name_sz + desc_sz;
		if (total > p->filesz - off)
			return err_set(err, -EINVAL, "ELF kernel has a malformed note");
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(n + sizeof(nh), "Xen", 4) == 0) {
			uint32_t e32;
			uint64_t e64;

			if (nh.n_descsz == 4) {
				memcpy(&e32, n + sizeof(nh) + name_sz, 4);
				*entry = e32;
			} else if (nh.n_descsz == 8) {
				memcpy(&e64, n + sizeof(nh) + name_sz, 8);
				*entry = e64;
			} else {
				return err_set(err, -EINVAL,
					       "ELF kernel's PVH entry note has size %u",
					       nh.n_descsz);
			}
			return 1;
		}
		off += total;
	}
	return 0;
}

int elf_load(struct guest_memory *gm, const uint8_t *img, size_t size, struct kernel_image *ki,
	     struct err *err)
{
	struct elf_file f = { .img = img, .size = size };
	uint64_t pvh_entry = 0, lo = UINT64_MAX, hi = 0;
	bool pvh = false;
	int r;

	r = elf_parse_header(&f, err);
	if (r)
		return r;
	/* Validate everything before the first byte is copied. */
	for (unsigned int i = 0; i < f.phnum; i++) {
		struct phdr p = elf_phdr(&f, i);

		if (p.type == PT_NOTE && !pvh) {
			r = elf_find_pvh(&f, &p, &pvh_entry, err);
			if (r < 0)
				return r;
			pvh = r;
		}
		if (p.type != PT_LOAD || p.memsz == 0)
			continue;
		if (p.filesz > p.memsz)
			return err_set(err, -EINVAL,
				       "ELF segment %u: file size exceeds memory size", i);
		if (p.offset > size || p.filesz > size - p.offset)
			return err_set(err, -EINVAL,
				       "ELF kernel is truncated: segment %u needs bytes up to "
				       "%llu, file has %zu",
				       i, (unsigned long long)(p.offset + p.filesz), size);
		r = boot_check_segment(gm, p.paddr, p.memsz, err);
		if (r)
			return r;
		if (p.paddr < lo)
			lo = p.paddr;
		if (p.paddr + p.memsz > hi)
			hi = p.paddr + p.memsz;
	}
	if (hi == 0)
		return err_set(err, -EINVAL, "ELF kernel has no loadable segment");
	if (!pvh && !f.is64)
		return err_set(err, -EINVAL, "32-bit ELF kernel has no PVH entry note");

	memset(ki, 0, sizeof(*ki));
	ki->load_start = lo;
	ki->load_end = hi;
	ki->initrd_max = UINT32_MAX;
	if (pvh) {
		ki->mode = BOOT_MODE_PVH;
		ki->entry = pvh_entry;
		ki->cmdline_max = PLAT_CMDLINE_MAX - 1;
	} else {
		ki->mode = BOOT_MODE_LINUX64;
		ki->entry = f.entry;
		ki->cmdline_max = LINUX_CMDLINE_SIZE - 1;
	}
	if (ki->entry < lo || ki->entry >= hi)
		return err_set(err, -EINVAL, "ELF entry point 0x%llx is outside the loaded kernel",
			       (unsigned long long)ki->entry);

	for (unsigned int i = 0; i < f.phnum; i++) {
		struct phdr p = elf_phdr(&f, i);
		uint8_t *dst;

		if (p.type != PT_LOAD || p.memsz == 0)
			continue;
		dst = gm_ptr(gm, p.paddr, p.memsz);
		memcpy(dst, img + p.offset, p.filesz);
		memset(dst + p.filesz, 0, p.memsz - p.filesz);
	}
	return 0;
}
