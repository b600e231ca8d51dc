// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/parse.h"
#include "vmm/config.h"

#define KVMLET_VERSION "0.1.0"

static const char usage[] =
	"usage: kvmlet-vmm --kernel PATH [options]\n"
	"\n"
	"  --kernel PATH          PVH ELF, ELF64 vmlinux or bzImage\n"
	"  --initrd PATH          initial ramdisk\n"
	"  --cmdline STR          kernel command line (default \"" CONFIG_DEFAULT_CMDLINE "\")\n"
	"  --vcpus N              1..254 (default 1)\n"
	"  --memory MiB           guest RAM (default 128)\n"
	"  --memory-backend B     anon (default) or memfd\n"
	"  --serial MODE          stdio (default), file:PATH or none\n"
	"  --help, --version\n"
	"\n"
	"Exit status: the guest's debug-exit status; 0 after power-off or reset;\n"
	"1 VMM failure; 2 bad options or images; 4 guest crash; 128+N on signal N.\n";

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_VCPUS,
	OPT_MEMORY,
	OPT_MEMORY_BACKEND,
	OPT_SERIAL,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "vcpus", required_argument, NULL, OPT_VCPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "memory-backend", required_argument, NULL, OPT_MEMORY_BACKEND },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static int parse_serial(struct vm_config *cfg, const char *v, struct err *err)
{
	if (strcmp(v, "stdio") == 0) {
		cfg->serial = SERIAL_STDIO;
	} else if (strcmp(v, "none") == 0) {
		cfg->serial = SERIAL_NONE;
	} else if (strncmp(v, "file:", 5) == 0 && v[5]) {
		cfg->serial = SERIAL_FILE;
		cfg->serial_path = v + 5;
	} else {
		return err_set(err, -EINVAL, "--serial '%s': expected stdio, file:PATH or none", v);
	}
	return 0;
}

static int parse_option(struct vm_config *cfg, int opt, const char *arg, struct err *err)
{
	uint64_t v;

	switch (opt) {
	case OPT_KERNEL:
		cfg->kernel_path = arg;
		return 0;
	case OPT_INITRD:
		cfg->initrd_path = arg;
		return 0;
	case OPT_CMDLINE:
		cfg->cmdline = arg;
		return 0;
	case OPT_VCPUS:
		if (parse_u64(arg, 1, CONFIG_MAX_VCPUS, &v))
			return err_set(err, -EINVAL, "--vcpus '%s': expected a number from 1 to %u",
				       arg, CONFIG_MAX_VCPUS);
		cfg->nr_vcpus = (unsigned int)v;
		return 0;
	case OPT_MEMORY:
		/* The upper bound only keeps the byte count from overflowing. */
		if (parse_u64(arg, CONFIG_MIN_MEMORY_MIB, UINT64_MAX >> 21, &v))
			return err_set(err, -EINVAL, "--memory '%s': expected MiB, at least %u", arg,
				       CONFIG_MIN_MEMORY_MIB);
		cfg->memory_mib = v;
		return 0;
	case OPT_MEMORY_BACKEND:
		if (strcmp(arg, "anon") == 0)
			cfg->mem_backend = MEM_BACKEND_ANON;
		else if (strcmp(arg, "memfd") == 0)
			cfg->mem_backend = MEM_BACKEND_MEMFD;
		else
			return err_set(err, -EINVAL, "--memory-backend '%s': expected anon or memfd",
				       arg);
		return 0;
	case OPT_SERIAL:
		return parse_serial(cfg, arg, err);
	}
	return err_set(err, -EINVAL, "internal: unhandled option %d", opt);
}

enum config_result config_parse_args(struct vm_config *cfg, int argc, char **argv,
				     struct err *err)
{
	int opt;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cmdline = CONFIG_DEFAULT_CMDLINE;
	cfg->nr_vcpus = CONFIG_DEFAULT_VCPUS;
	cfg->memory_mib = CONFIG_DEFAULT_MEMORY;
	cfg->mem_backend = MEM_BACKEND_ANON;
	cfg->serial = SERIAL_STDIO;

	opterr = 0; /* we report errors ourselves, in one line */
	optind = 0; /* 0, not 1: also resets getopt's state from an earlier call */
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		if (opt == OPT_HELP) {
			fputs(usage, stdout);
			return CONFIG_EXIT_OK;
		}
		if (opt == OPT_VERSION) {
			puts("kvmlet-vmm " KVMLET_VERSION);
			return CONFIG_EXIT_OK;
		}
		if (opt == '?') {
			if (optopt >= OPT_KERNEL)
				err_set(err, -EINVAL, "option '%s' needs a value", argv[optind - 1]);
			else if (optopt)
				err_set(err, -EINVAL, "unknown option '-%c' (see --help)", optopt);
			else
				err_set(err, -EINVAL, "unknown option '%s' (see --help)",
					argv[optind - 1]);
			return CONFIG_ERROR;
		}
		if (parse_option(cfg, opt, optarg, err))
			return CONFIG_ERROR;
	}
	if (optind < argc) {
		err_set(err, -EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
		return CONFIG_ERROR;
	}
	if (!cfg->kernel_path) {
		err_set(err, -EINVAL, "--kernel is required (see --help)");
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}

int config_check_host(const struct vm_config *cfg, struct err *err)
{
	long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
	uint64_t host_mib = pages > 0 && page_size > 0 ? ((uint64_t)pages * page_size) >> 20 : 0;

	if (host_mib && cfg->memory_mib > host_mib)
		return err_set(err, -ENOMEM, "--memory %llu MiB is more than the host's %llu MiB",
			       (unsigned long long)cfg->memory_mib, (unsigned long long)host_mib);
	return 0;
}
