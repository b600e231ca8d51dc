// SPDX-License-Identifier: Apache-2.0
/* kvmlet-vmm: one process, one virtual machine. */
#include <malloc.h>
#include <signal.h>

#include "kvmlet/exit_codes.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "vmm/config.h"
#include "vmm/vmm.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct err err = { 0 };
	static struct vmm vmm; /* large; and the API thread may hold pointers into it */
	uint64_t start_ns;
	int code;

	/*
	 * One malloc arena for every thread: glibc's per-thread arenas read
	 * /proc/sys/vm/overcommit_memory when they shrink, an open() that the
	 * API and vCPU threads' seccomp filters rightly forbid. The VMM's hot
	 * paths do not allocate, so sharing the arena costs nothing measurable.
	 */
	mallopt(M_ARENA_MAX, 1);
	start_ns = clock_mono_ns();
	switch (config_parse_args(&cfg, argc, argv, &err)) {
	case CONFIG_EXIT_OK:
		return KVMLET_EXIT_OK;
	case CONFIG_ERROR:
		log_error("%s", err.msg);
		return KVMLET_EXIT_BAD_INPUT;
	case CONFIG_OK:
		break;
	}
	/* A closed serial reader or API client must not kill the VM. */
	signal(SIGPIPE, SIG_IGN);

	if (vmm_init(&vmm, &cfg, start_ns, &err)) {
		log_error("%s", err.msg);
		vmm_fini(&vmm);
		config_free(&cfg);
		return KVMLET_EXIT_BAD_INPUT;
	}
	code = vmm_run(&vmm);
	vmm_fini(&vmm);
	config_free(&cfg);
	return code;
}
