/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a VM is made of. The command line and --config-file (config_file.c)
 * fill it in through the same checks; the control API will too.
 */
#ifndef KVMLET_VMM_CONFIG_H
#define KVMLET_VMM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/blk/blk.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/vsock/vsock.h"
#include "lib/err.h"
#include "memory/guest_memory.h"
#include "vmm/seccomp.h"

#define CONFIG_MAX_VCPUS       254 /* xAPIC IDs, one left for the I/O APIC */
#define CONFIG_MIN_MEMORY_MIB  4
#define CONFIG_DEFAULT_VCPUS   1
#define CONFIG_DEFAULT_MEMORY  128
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1"
#define CONFIG_MAX_DRIVES      8
#define CONFIG_MAX_NETS	       8
#define CONFIG_MAX_MEMORY_MIB  (UINT64_MAX >> 21) /* keeps the byte count from overflowing */
/* CIDs 0-2 are the hypervisor, local and host; 2^32 - 1 is VMADDR_CID_ANY. */
#define VSOCK_MIN_CID	       3
#define VSOCK_MAX_CID	       0xfffffffeULL

/* Slots of vm_config.owned. */
enum {
	CONFIG_OWNED_KERNEL,
	CONFIG_OWNED_INITRD,
	CONFIG_OWNED_CMDLINE,
	CONFIG_OWNED_PARTUUID,
	CONFIG_OWNED_BOOT_ARGS,
	CONFIG_NR_OWNED
};

/* SERIAL_CRI: kubelet's container log format (vmm/console.h), serial_path kept open to append. */
enum serial_mode { SERIAL_STDIO, SERIAL_FILE, SERIAL_NONE, SERIAL_CRI };

struct vm_config {
	const char *kernel_path;
	const char *initrd_path;
	const char *cmdline;
	/*
	 * The command line as the user gave it, once config_finish() has
	 * derived cmdline from it (root=...); NULL before.
	 */
	const char *boot_args;
	unsigned int nr_vcpus;
	uint64_t memory_mib;
	enum mem_backend mem_backend;
	enum serial_mode serial;
	const char *serial_path;
	bool track_dirty_pages; /* KVM dirty logging from the start, for diff snapshots */
	bool rng;		/* virtio-rng */
	bool has_vsock;
	struct vsock_params vsock;
	struct blk_params drives[CONFIG_MAX_DRIVES];
	unsigned int nr_drives;
	struct net_params nets[CONFIG_MAX_NETS];
	unsigned int nr_nets;
	/*
	 * Firecracker's is_root_device: drives[0] is the root disk and
	 * config_finish() puts "root=" on the command line for it.
	 */
	bool has_root_drive;
	/*
	 * Strings the config file supplied; kernel_path, initrd_path and
	 * cmdline point into them (from argv they point into argv instead).
	 */
	char *owned[CONFIG_NR_OWNED];

	/* The process, not the VM: never part of a snapshot or of GET /vm/config. */
	const char *api_sock;
	const char *console_sock;  /* clients attach to the console here (vmm/console.h) */
	bool keep_halted;	   /* after the VM halts, serve the API until SIGTERM */
	const char *migrate_from;  /* --migrate-from: receive the VM (into argv) */
	const char *migrate_token; /* --migrate-token */
	enum seccomp_level seccomp_level;
};

enum config_result { CONFIG_OK, CONFIG_EXIT_OK /* --help, --version */, CONFIG_ERROR };

/* Empties cfg and sets the defaults. */
void config_init(struct vm_config *cfg);

/*
 * The checks every source of configuration shares: the command line, the
 * config file and (later) the control API. `what` names the source in the
 * error ("--drive", "drives[0]"); p is copied, cfg owns the copy.
 */
int config_add_drive(struct vm_config *cfg, const char *what, const struct blk_params *p,
		     struct err *err);
int config_add_net(struct vm_config *cfg, const char *what, const struct net_params *p,
		   struct err *err);
int config_set_vsock(struct vm_config *cfg, const char *what, const struct vsock_params *p,
		     struct err *err);
/* Where the drive or interface with this id is in cfg->drives or cfg->nets; -1 if none. */
int config_find_drive(const struct vm_config *cfg, const char *id);
int config_find_net(const struct vm_config *cfg, const char *id);
/* Removes the drive or interface with this id; false if there is none. */
bool config_remove_device(struct vm_config *cfg, const char *id);
/* Parses a unicast xx:xx:xx:xx:xx:xx; -EINVAL otherwise. */
int config_parse_mac(const char *s, uint8_t mac[6]);

/* Parses argv; on CONFIG_ERROR err says which option is wrong and why. */
enum config_result config_parse_args(struct vm_config *cfg, int argc, char **argv, struct err *err);

/* Frees what config_parse_args() and config_from_json() allocated. */
void config_free(struct vm_config *cfg);

/* Checks limits that depend on the host (memory size). */
int config_check_host(const struct vm_config *cfg, struct err *err);

#endif
