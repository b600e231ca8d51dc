/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Direct kernel boot: loads a PVH ELF, an ELF64 vmlinux or a bzImage into
 * guest memory with its initrd and command line, and writes the boot
 * structures the kernel expects. Every image is untrusted input.
 */
#ifndef KVMLET_VMM_BOOT_H
#define KVMLET_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "memory/guest_memory.h"

enum boot_mode {
	BOOT_MODE_PVH,	   /* 32-bit protected mode, %ebx = hvm_start_info */
	BOOT_MODE_LINUX64, /* Linux 64-bit boot protocol, %rsi = boot_params */
};

struct boot_input {
	const uint8_t *kernel;
	size_t kernel_size;
	const uint8_t *initrd; /* NULL if none */
	size_t initrd_size;
	const char *cmdline;
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t entry;	   /* guest-physical entry point */
	uint64_t info_gpa; /* hvm_start_info or boot_params */
};

int boot_load(struct guest_memory *gm, const struct boot_input *in, struct boot_entry *out,
	      struct err *err);

#endif
