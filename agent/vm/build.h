/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What CreateContainer builds up (create.c), shared with the parts that add
 * to it: mounts as ISO disks (mounts.c) and the cloud-init disk (cidata.c).
 *
 * Threads: one build belongs to one create call.
 */
#ifndef KVMLET_AGENT_VM_BUILD_H
#define KVMLET_AGENT_VM_BUILD_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/vm/host_priv.h"
#include "agent/vm/record.h"
#include "agent/vm/spec.h"
#include "agent/vm/vm.h"
#include "lib/err.h"

#define VMM_MAX_DRIVES	   8		       /* kvmlet-vmm's CONFIG_MAX_DRIVES */
#define VM_LOG_FSIZE_SLACK ((uint64_t)1 << 30) /* the CRI log between two of kubelet's rotations */

/* What create builds up, undone as a whole on failure. */
struct build {
	struct vm_host *h;
	const struct vm_request *req;
	struct vm_spec spec;
	struct vm_record rec;
	char state[PATH_MAX];
	char jail_dir[PATH_MAX];
	char root[PATH_MAX];
	struct argv_buf vmm; /* the VMM's arguments, inside the jail */
	unsigned int drives;
	uint64_t largest_disk; /* bytes: the biggest file the VMM may rightly write */
	bool ids_taken, state_made, jail_made, tap_made;
};

/* Appends a formatted argument; an overlong one fails the list (a->failed). */
void build_pushf(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A --drive for the VMM, counted against VMM_MAX_DRIVES. */
int build_add_drive(struct build *b, const char *id, const char *file, bool readonly,
		    const char *serial, struct err *err);
/* A new file in the jail root for an ISO image: its descriptor. */
int build_iso_create(struct build *b, const char *name, struct err *err);
/* Every CRI mount as a read-only ISO disk (mounts.c). */
int build_add_mounts(struct build *b, struct err *err);
/* The cloud-init NoCloud disk, when the annotations ask for one (cidata.c). */
int build_add_cidata(struct build *b, struct err *err);

#endif
