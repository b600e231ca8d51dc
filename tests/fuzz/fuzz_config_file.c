// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: a config file is user input (and the control API will
 * feed the same parser from a socket). Any bytes must give either a
 * configuration that meets every limit or one error, and leak nothing.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	struct err err = { 0 };
	/* An exact-size copy, so reading past the length is caught by ASan. */
	char *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	config_init(&cfg);
	if (config_from_json(&cfg, buf, size, &err) == 0) {
		if (err.code || !cfg.kernel_path || !cfg.cmdline || cfg.nr_vcpus < 1 ||
		    cfg.nr_vcpus > CONFIG_MAX_VCPUS || cfg.memory_mib < CONFIG_MIN_MEMORY_MIB ||
		    cfg.nr_drives > CONFIG_MAX_DRIVES || cfg.nr_nets > CONFIG_MAX_NETS ||
		    (cfg.has_vsock && cfg.vsock.guest_cid < 3))
			__builtin_trap();
	} else if (!err.code || !err.msg[0] || strchr(err.msg, '\n')) {
		__builtin_trap(); /* a failure must say why, on one line */
	}
	config_free(&cfg);
	free(buf);
	return 0;
}
