// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: kernel images are untrusted. boot_load() must reject or
 * load any byte string without touching memory outside guest RAM.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdint.h>
#include <string.h>

#include "vmm/boot/boot.h"

#define FUZZ_RAM (64ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guest_memory gm;
	static const uint8_t initrd[8192];
	struct boot_input in = {
		.kernel = data,
		.kernel_size = size,
		.cmdline = "console=ttyS0",
	};
	struct boot_entry entry;
	struct err err = { 0 };

	if (!gm.base && gm_alloc(&gm, FUZZ_RAM, MEM_BACKEND_ANON, &err))
		__builtin_trap();
	/* The first byte decides whether an initrd comes along. */
	if (size && (data[0] & 1)) {
		in.initrd = initrd;
		in.initrd_size = sizeof(initrd);
	}
	if (boot_load(&gm, &in, &entry, &err) == 0 && err.code)
		__builtin_trap();
	if (boot_load(&gm, &in, &entry, &err) != 0 && !err.msg[0])
		__builtin_trap();
	return 0;
}
