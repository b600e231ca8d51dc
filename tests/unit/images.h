/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared unit-test helpers: synthetic kernel images (ELF32/ELF64 with or
 * without a PVH note, bzImage) built in memory, guest memory for tests, and
 * an assertion on struct err. Include after <cmocka.h>'s prerequisites.
 */
#ifndef KVMLET_TESTS_UNIT_IMAGES_H
#define KVMLET_TESTS_UNIT_IMAGES_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/err.h"
#include "memory/guest_memory.h"

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

/* Fails the test unless err carries `code` and its message contains `substr`. */
#define assert_err(e, expect_code, substr)                                             \
	do {                                                                            \
		assert_int_equal((e)->code, (expect_code));                             \
		if (!strstr((e)->msg, (substr)))                                        \
			fail_msg("err.msg \"%s\" does not mention \"%s\"", (e)->msg, (substr)); \
	} while (0)

/* Guest memory for a test; fails the test if it cannot be mapped. */
void test_gm_alloc(struct guest_memory *gm, uint64_t bytes);

/* The byte at offset i of segment `seg`'s file contents in every built image. */
uint8_t img_pattern(unsigned int seg, uint64_t i);

#define IMG_MAX_SEGS 4

struct image {
	uint8_t *data;
	size_t size;
	bool is32;
	unsigned int phnum;
	unsigned int note_phdr;	      /* index of the PT_NOTE header, if any */
	size_t note_off;	      /* file offset of the Xen note's header, 0 if none */
	size_t seg_off[IMG_MAX_SEGS]; /* file offset of each segment's bytes */
};

void image_free(struct image *img);

/* ---- ELF ---- */

enum img_note {
	IMG_NOTE_NONE,
	IMG_NOTE_PVH4, /* XEN_ELFNOTE_PHYS32_ENTRY with a 4-byte descriptor */
	IMG_NOTE_PVH8, /* ... with an 8-byte descriptor */
};

struct img_seg {
	uint32_t type; /* 0 means PT_LOAD */
	uint64_t paddr;
	uint64_t filesz; /* bytes present in the file, filled with img_pattern() */
	uint64_t memsz;
};

struct elf_spec {
	bool is32;
	uint16_t machine; /* 0: EM_X86_64, or EM_386 for is32 */
	uint64_t entry;	  /* e_entry */
	enum img_note note;
	uint64_t pvh_entry;
	unsigned int nr_segs;
	struct img_seg seg[IMG_MAX_SEGS];
};

/*
 * Layout: ELF header, program headers (the spec's segments, then a PT_NOTE
 * if a note is asked for), the notes (a GNU build-id note, then the Xen
 * one), then each segment's bytes.
 */
struct image elf_build(const struct elf_spec *spec);

/* Program header i in 64-bit form, whichever the class. */
struct img_phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz;
};
struct img_phdr elf_get_phdr(const struct image *img, unsigned int i);
void elf_put_phdr(struct image *img, unsigned int i, const struct img_phdr *p);

/* A PVH ELF64: one PT_LOAD of `filesz`/`memsz` bytes at 1 MiB, PVH entry 1 MiB + 0x10. */
struct elf_spec elf_spec_pvh(uint64_t filesz, uint64_t memsz);
/* A vmlinux-like ELF64 without the note, same segment, e_entry 1 MiB. */
struct elf_spec elf_spec_vmlinux(uint64_t filesz, uint64_t memsz);

/* ---- bzImage ---- */

#define BZ_HDR_OFFSET 0x1f1

struct bz_spec {
	uint16_t version;
	uint16_t xloadflags;
	uint8_t setup_sects; /* 0 means 4, as in the boot protocol */
	uint32_t payload_size;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint32_t kernel_info_offset; /* a field at the header's very end */
	uint8_t jump_len;	     /* byte 0x201: header ends at 0x202 + jump_len */
};

/* Protocol 2.15, XLF_KERNEL_64, 8 KiB payload at 16 MiB, init_size 4 MiB. */
struct bz_spec bz_spec_default(void);
/* A setup area of (setup_sects + 1) sectors, then payload bytes from img_pattern(0, i). */
struct image bz_build(const struct bz_spec *spec);
struct setup_header *bz_hdr(struct image *img);
size_t bz_setup_size(const struct bz_spec *spec);

#endif
