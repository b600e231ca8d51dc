/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a VM is made of. The command line fills it in today; the control API
 * and --config-file will fill in the same structure.
 */
#ifndef KVMLET_VMM_CONFIG_H
#define KVMLET_VMM_CONFIG_H

#include <stdint.h>

#include "lib/err.h"
#include "vmm/memory.h"

#define CONFIG_MAX_VCPUS       254 /* xAPIC IDs, one left for the I/O APIC */
#define CONFIG_MIN_MEMORY_MIB  4
#define CONFIG_DEFAULT_VCPUS   1
#define CONFIG_DEFAULT_MEMORY  128
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1"

enum serial_mode { SERIAL_STDIO, SERIAL_FILE, SERIAL_NONE };

struct vm_config {
	const char *kernel_path;
	const char *initrd_path;
	const char *cmdline;
	unsigned int nr_vcpus;
	uint64_t memory_mib;
	enum mem_backend mem_backend;
	enum serial_mode serial;
	const char *serial_path;
};

enum config_result { CONFIG_OK, CONFIG_EXIT_OK /* --help, --version */, CONFIG_ERROR };

/* Parses argv; on CONFIG_ERROR err says which option is wrong and why. */
enum config_result config_parse_args(struct vm_config *cfg, int argc, char **argv,
				     struct err *err);

/* Checks limits that depend on the host (memory size). */
int config_check_host(const struct vm_config *cfg, struct err *err);

#endif
