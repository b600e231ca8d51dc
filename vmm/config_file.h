/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --config-file: the JSON Firecracker accepts with its own --config-file,
 * mapped onto struct vm_config. Each section has its own entry point so the
 * control API's PUT handlers can apply the same bodies with the same checks.
 */
#ifndef KVMLET_VMM_CONFIG_FILE_H
#define KVMLET_VMM_CONFIG_FILE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "lib/err.h"
#include "vmm/config.h"

#define CONFIG_FILE_MAX_BYTES (1 << 20)

/* Reads and applies a config file; errors name the file. */
int config_load_file(struct vm_config *cfg, const char *path, struct err *err);

/*
 * Applies a whole configuration document to cfg, which config_init() set up.
 * On failure cfg may be half filled in: config_free() it.
 */
int config_from_json(struct vm_config *cfg, const char *json, size_t len, struct err *err);

/* The sections, each one API body ("boot-source", "machine-config", ...). */
int config_apply_boot_source(struct vm_config *cfg, const cJSON *obj, struct err *err);
int config_apply_machine_config(struct vm_config *cfg, const cJSON *obj, struct err *err);
/* what names the item in errors, e.g. "drives[0]". */
int config_apply_drive(struct vm_config *cfg, const char *what, const cJSON *obj, struct err *err);
int config_apply_network_interface(struct vm_config *cfg, const char *what, const cJSON *obj,
				   struct err *err);
int config_apply_vsock(struct vm_config *cfg, const cJSON *obj, struct err *err);
int config_apply_entropy(struct vm_config *cfg, const cJSON *obj, struct err *err);

/*
 * obj's field name, if present, is a RateLimiter that limits nothing: no
 * buckets, or only buckets of size or refill_time 0, which is how
 * Firecracker spells "no limit". kvmlet has no rate limiters yet, so one
 * that limits anything is refused.
 */
int config_check_rate_limiter(const char *what, const cJSON *obj, const char *name,
			      struct err *err);

/*
 * What Firecracker does when the VM starts rather than per section: the
 * root device's "root=... rw|ro" after boot_args. config_from_json() calls
 * it; the control API calls it at InstanceStart. Calling it again derives
 * the same command line.
 */
int config_finish(struct vm_config *cfg, struct err *err);

/*
 * The configuration as Firecracker's FullVmConfiguration (GET /vm/config),
 * which config_from_json() reads back: snapshots carry it this way.
 * NULL when out of memory.
 */
cJSON *config_to_json(const struct vm_config *cfg);
/* Just the machine-config object (GET /machine-config). */
cJSON *config_machine_to_json(const struct vm_config *cfg);

#endif
