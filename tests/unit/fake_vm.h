/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake VM backend (struct vm_backend) and host (struct pod_sys) for the
 * pod layer's tests: each op records "op:id" in a call log and answers
 * from a table of VMs in memory, or with a scripted failure. The host
 * makes network namespaces as plain files and knows one image.
 */
#ifndef KVMLET_TESTS_UNIT_FAKE_VM_H
#define KVMLET_TESTS_UNIT_FAKE_VM_H

#include <stdbool.h>

#include "agent/pod/pods.h"
#include "agent/vm/vm.h"

#define FAKE_MAX_VMS  16
#define FAKE_IMAGE    "registry.local/fw:1"
#define FAKE_IMAGE_ID "sha256:1111111111111111111111111111111111111111111111111111111111111111"

enum fake_op {
	FAKE_CREATE,
	FAKE_START,
	FAKE_STATUS,
	FAKE_STOP,
	FAKE_REMOVE,
	FAKE_REOPEN,
	FAKE_EXEC,
	FAKE_STATS,
	FAKE_SANDBOX_STATS,
	FAKE_LIST,
	FAKE_NR_OPS
};

struct fake_vm {
	char id[65];
	bool used;
	struct vm_status st;
	char log_path[4096];
	char netns[4096];
};

struct fake {
	struct fake_vm vms[FAKE_MAX_VMS];
	int fail[FAKE_NR_OPS]; /* the next call of the op returns this (then 0 again) */
	char calls[8192];      /* "create:<id8> start:<id8> ..." */
	uint64_t cpu_ns;       /* stats: grows by 1 ms per call */
	int32_t stop_exit;     /* the exit code a stop leaves */
	int stop_gate;	       /* >= 0: stop waits for a byte from this fd (a slow grace period) */
	volatile int stopping; /* set while a stop waits at the gate */
};

void fake_init(struct fake *f);
void fake_backend(struct fake *f, struct vm_backend *out);
void fake_sys(struct fake *f, struct pod_sys *out);
struct fake_vm *fake_vm_find(struct fake *f, const char *id);
/* A created VM that no create call made (what a crash leaves); NULL if full. */
struct fake_vm *fake_add_vm(struct fake *f, const char *id);
/* How many times "op:<first 8 of id>" appears in the call log. */
int fake_called(const struct fake *f, const char *op, const char *id);

#endif
