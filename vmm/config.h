/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a VM is made of. The command line fills it in today; the control API
 * and --config-file will fill in the same structure.
 */
#ifndef KVMLET_VMM_CONFIG_H
#define KVMLET_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/blk/blk.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/vsock/vsock.h"
#include "lib/err.h"
#include "vmm/memory.h"

#define CONFIG_MAX_VCPUS       254 /* xAPIC IDs, one left for the I/O APIC */
#define CONFIG_MIN_MEMORY_MIB  4
#define CONFIG_DEFAULT_VCPUS   1
#define CONFIG_DEFAULT_MEMORY  128
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1"
#define CONFIG_MAX_DRIVES      8
#define CONFIG_MAX_NETS	       8

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
	bool rng; /* virtio-rng */
	bool has_vsock;
	struct vsock_params vsock;
	struct blk_params drives[CONFIG_MAX_DRIVES];
	unsigned int nr_drives;
	struct net_params nets[CONFIG_MAX_NETS];
	unsigned int nr_nets;
};

enum config_result { CONFIG_OK, CONFIG_EXIT_OK /* --help, --version */, CONFIG_ERROR };

/* Parses argv; on CONFIG_ERROR err says which option is wrong and why. */
enum config_result config_parse_args(struct vm_config *cfg, int argc, char **argv, struct err *err);

/* Frees what config_parse_args() allocated. */
void config_free(struct vm_config *cfg);

/* Checks limits that depend on the host (memory size). */
int config_check_host(const struct vm_config *cfg, struct err *err);

#endif
