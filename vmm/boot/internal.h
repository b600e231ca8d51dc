/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the image loaders in vmm/boot/; not a public API. */
#ifndef KVMLET_VMM_BOOT_INTERNAL_H
#define KVMLET_VMM_BOOT_INTERNAL_H

#include <asm/bootparam.h>
#include <stdbool.h>

#include "kvmlet/platform.h"
#include "vmm/boot/boot.h"

/* x86 Linux's COMMAND_LINE_SIZE, the limit when no header says otherwise. */
#define LINUX_CMDLINE_SIZE 2048

struct kernel_image {
	enum boot_mode mode;
	uint64_t entry;
	uint64_t load_start;  /* lowest byte the kernel occupies */
	uint64_t load_end;    /* first byte past the kernel */
	uint64_t cmdline_max; /* longest command line, without the NUL */
	uint64_t initrd_max;  /* last address an initrd may occupy */
	bool has_setup_header;
	struct setup_header hdr; /* bzImage only */
};

/* Checks that [gpa, gpa + len) is RAM a kernel may occupy. */
int boot_check_segment(const struct guest_memory *gm, uint64_t gpa, uint64_t len, struct err *err);

bool elf_probe(const uint8_t *img, size_t size);
int elf_load(struct guest_memory *gm, const uint8_t *img, size_t size, struct kernel_image *ki,
	     struct err *err);

bool bzimage_probe(const uint8_t *img, size_t size);
int bzimage_load(struct guest_memory *gm, const uint8_t *img, size_t size, struct kernel_image *ki,
		 struct err *err);

#endif
