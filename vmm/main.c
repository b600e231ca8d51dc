// SPDX-License-Identifier: Apache-2.0
/* kvmlet-vmm: one process, one virtual machine. */
#include <signal.h>
#include <time.h>

#include "kvmlet/exit_codes.h"
#include "lib/log.h"
#include "vmm/config.h"
#include "vmm/vm.h"

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct err err = { 0 };
	struct timespec ts;
	struct vm vm;
	int code;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	switch (config_parse_args(&cfg, argc, argv, &err)) {
	case CONFIG_EXIT_OK:
		return KVMLET_EXIT_OK;
	case CONFIG_ERROR:
		log_error("%s", err.msg);
		return KVMLET_EXIT_BAD_INPUT;
	case CONFIG_OK:
		break;
	}
	/* A closed serial reader must not kill the VM. */
	signal(SIGPIPE, SIG_IGN);

	if (vm_create(&vm, &cfg, (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec, &err)) {
		log_error("%s", err.msg);
		vm_destroy(&vm);
		config_free(&cfg);
		return KVMLET_EXIT_BAD_INPUT;
	}
	code = vm_run(&vm);
	vm_destroy(&vm);
	config_free(&cfg);
	return code;
}
