// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <string.h>
#include <unistd.h>

#include "kvmlet/version.h"
#include "lib/kvopts.h"
#include "lib/parse.h"
#include "vmm/config.h"
#include "vmm/config_file.h"

static const char usage[] =
	"usage: kvmlet-vmm --kernel PATH [options]\n"
	"       kvmlet-vmm --api-sock PATH [options]\n"
	"       kvmlet-vmm --migrate-from tcp:ADDR:PORT|unix:PATH --migrate-token T [options]\n"
	"\n"
	"  --kernel PATH          PVH ELF, ELF64 vmlinux or bzImage\n"
	"  --initrd PATH          initial ramdisk\n"
	"  --cmdline STR          kernel command line (default \"" CONFIG_DEFAULT_CMDLINE "\")\n"
	"  --vcpus N              1..254 (default 1)\n"
	"  --memory MiB           guest RAM (default 128)\n"
	"  --memory-backend B     anon (default) or memfd\n"
	"  --serial MODE          stdio (default), file:PATH, cri:PATH or none; cri: appends\n"
	"                         kubelet's CRI log format to PATH (opened as it is,\n"
	"                         created 0640 if missing; PUT /kvmlet/console/reopen\n"
	"                         opens it again after a rotation)\n"
	"  --console-sock PATH    also serve the console on a Unix socket: raw output to\n"
	"                         every client (at most 4), their input to the guest\n"
	"  --rng                  a virtio-rng device fed by getrandom()\n"
	"  --vsock cid=N,uds=PATH a virtio-vsock device relayed to Unix sockets\n"
	"  --drive id=ID,path=FILE[,readonly=on][,serial=STR][,queues=N]\n"
	"                         a virtio-blk disk (repeatable)\n"
	"  --net id=ID,tap=NAME[,mac=MAC]\n"
	"                         a virtio-net interface on a TAP device (repeatable)\n"
	"  --config-file FILE     the whole VM as Firecracker's JSON configuration;\n"
	"                         only --serial, --console-sock, --memory-backend,\n"
	"                         --api-sock and --seccomp-level may be added\n"
	"  --api-sock PATH        serve the control API (Firecracker's) on a Unix socket;\n"
	"                         without --kernel or --config-file the VM waits for it\n"
	"  --keep-halted          with --api-sock: when the guest halts, keep serving\n"
	"                         the API (state Halted, exit code, reason) until SIGTERM\n"
	"  --migrate-from ADDR    receive a live migration on tcp:ADDR:PORT or unix:PATH,\n"
	"                         then run the guest (docs/migration.md)\n"
	"  --migrate-token T      the one-time token the source must present\n"
	"  --seccomp-level N      0 no filters (debugging), 1 system calls only,\n"
	"                         2 system calls and arguments (default)\n"
	"  --help, --version\n"
	"\n"
	"Exit status: the guest's debug-exit status; 0 after power-off, 6 after reset;\n"
	"1 VMM failure; 2 bad options or images; 4 guest crash; 5 migrated away;\n"
	"128+N on signal N.\n";

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_VCPUS,
	OPT_MEMORY,
	OPT_MEMORY_BACKEND,
	OPT_SERIAL,
	OPT_RNG,
	OPT_VSOCK,
	OPT_DRIVE,
	OPT_NET,
	OPT_CONFIG_FILE,
	OPT_API_SOCK,
	OPT_CONSOLE_SOCK,
	OPT_SECCOMP_LEVEL,
	OPT_KEEP_HALTED,
	OPT_MIGRATE_FROM,
	OPT_MIGRATE_TOKEN,
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
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "drive", required_argument, NULL, OPT_DRIVE },
	{ "net", required_argument, NULL, OPT_NET },
	{ "config-file", required_argument, NULL, OPT_CONFIG_FILE },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "console-sock", required_argument, NULL, OPT_CONSOLE_SOCK },
	{ "seccomp-level", required_argument, NULL, OPT_SECCOMP_LEVEL },
	{ "keep-halted", no_argument, NULL, OPT_KEEP_HALTED },
	{ "migrate-from", required_argument, NULL, OPT_MIGRATE_FROM },
	{ "migrate-token", required_argument, NULL, OPT_MIGRATE_TOKEN },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const char *option_name(int opt)
{
	for (const struct option *o = options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

static int parse_serial(struct vm_config *cfg, const char *v, struct err *err)
{
	if (strcmp(v, "stdio") == 0) {
		cfg->serial = SERIAL_STDIO;
	} else if (strcmp(v, "none") == 0) {
		cfg->serial = SERIAL_NONE;
	} else if (strncmp(v, "file:", 5) == 0 && v[5]) {
		cfg->serial = SERIAL_FILE;
		cfg->serial_path = v + 5;
	} else if (strncmp(v, "cri:", 4) == 0 && v[4]) {
		cfg->serial = SERIAL_CRI;
		cfg->serial_path = v + 4;
	} else {
		return err_set(err, -EINVAL,
			       "--serial '%s': expected stdio, file:PATH, cri:PATH or none", v);
	}
	return 0;
}

/* Device ids name devices in the API and in logs: keep them plain. */
static int check_id(const char *what, const char *id, size_t max, struct err *err)
{
	size_t n = strlen(id);

	if (n > max)
		return err_set(err, -EINVAL, "%s: id '%s' is longer than %zu characters", what, id,
			       max);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '-')
			return err_set(err, -EINVAL,
				       "%s: id '%s' may only contain letters, digits, '_' and '-'",
				       what, id);
	return 0;
}

int config_find_drive(const struct vm_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->nr_drives; i++)
		if (!strcmp(cfg->drives[i].id, id))
			return (int)i;
	return -1;
}

int config_find_net(const struct vm_config *cfg, const char *id)
{
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		if (!strcmp(cfg->nets[i].id, id))
			return (int)i;
	return -1;
}

static bool id_taken(const struct vm_config *cfg, const char *id)
{
	return config_find_drive(cfg, id) >= 0 || config_find_net(cfg, id) >= 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int config_add_drive(struct vm_config *cfg, const char *what, const struct blk_params *p,
		     struct err *err)
{
	struct blk_params *d = &cfg->drives[cfg->nr_drives];
	int r;

	if (cfg->nr_drives == CONFIG_MAX_DRIVES)
		return err_set(err, -EINVAL, "%s: at most %u drives", what, CONFIG_MAX_DRIVES);
	r = check_id(what, p->id, BLK_ID_MAX, err);
	if (r)
		return r;
	if (id_taken(cfg, p->id))
		return err_set(err, -EINVAL, "%s: id '%s' is already used", what, p->id);
	if (p->serial && strlen(p->serial) > 20)
		return err_set(err, -EINVAL, "%s: serial '%s' is longer than 20 bytes", what,
			       p->serial);
	if (p->queues < 1 || p->queues > BLK_MAX_QUEUES)
		return err_set(err, -EINVAL, "%s: queues=%u: expected 1 to %u", what, p->queues,
			       BLK_MAX_QUEUES);
	*d = (struct blk_params){
		.id = strdup(p->id),
		.path = strdup(p->path),
		.readonly = p->readonly,
		.serial = dup_or_null(p->serial),
		.queues = p->queues,
	};
	/* Counted even when a copy failed, so that config_free() frees the rest. */
	cfg->nr_drives++;
	if (!d->id || !d->path || (p->serial && !d->serial))
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int parse_drive(struct vm_config *cfg, const char *arg, struct err *err)
{
	enum { K_ID, K_PATH, K_READONLY, K_SERIAL, K_QUEUES };
	static const struct kvopt_key keys[] = {
		[K_ID] = { "id", true },
		[K_PATH] = { "path", true },
		[K_READONLY] = { "readonly", false },
		[K_SERIAL] = { "serial", false },
		[K_QUEUES] = { "queues", false },
	};
	struct kvopts o;
	uint64_t queues = 1;
	bool ro = false;
	int r;

	if (cfg->nr_drives == CONFIG_MAX_DRIVES)
		return err_set(err, -EINVAL, "--drive: at most %u drives", CONFIG_MAX_DRIVES);
	r = kvopts_parse(&o, "--drive", arg, keys, sizeof(keys) / sizeof(keys[0]), err);
	if (r)
		return r;
	if (o.value[K_READONLY] && kvopts_bool(o.value[K_READONLY], &ro))
		r = err_set(err, -EINVAL, "--drive: readonly='%s': expected on or off",
			    o.value[K_READONLY]);
	if (!r && o.value[K_QUEUES] && parse_u64(o.value[K_QUEUES], 1, BLK_MAX_QUEUES, &queues))
		r = err_set(err, -EINVAL, "--drive: queues='%s': expected 1 to %u",
			    o.value[K_QUEUES], BLK_MAX_QUEUES);
	if (!r)
		r = config_add_drive(cfg, "--drive",
				     &(struct blk_params){ .id = (char *)o.value[K_ID],
							   .path = (char *)o.value[K_PATH],
							   .readonly = ro,
							   .serial = (char *)o.value[K_SERIAL],
							   .queues = (unsigned int)queues },
				     err);
	kvopts_free(&o);
	return r;
}

int config_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 ||
	    strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* A NIC needs a unicast address. */
	return (mac[0] & 1) ? -EINVAL : 0;
}

int config_add_net(struct vm_config *cfg, const char *what, const struct net_params *p,
		   struct err *err)
{
	struct net_params *n = &cfg->nets[cfg->nr_nets];
	int r;

	if (cfg->nr_nets == CONFIG_MAX_NETS)
		return err_set(err, -EINVAL, "%s: at most %u interfaces", what, CONFIG_MAX_NETS);
	r = check_id(what, p->id, NET_ID_MAX, err);
	if (r)
		return r;
	if (id_taken(cfg, p->id))
		return err_set(err, -EINVAL, "%s: id '%s' is already used", what, p->id);
	if (strlen(p->tap) >= IFNAMSIZ)
		return err_set(err, -EINVAL, "%s: tap name '%s' is longer than %d characters", what,
			       p->tap, IFNAMSIZ - 1);
	if (p->has_mac && (p->mac[0] & 1))
		return err_set(err, -EINVAL, "%s: mac is a multicast address", what);
	*n = (struct net_params){
		.id = strdup(p->id),
		.tap = strdup(p->tap),
		.has_mac = p->has_mac,
	};
	memcpy(n->mac, p->mac, sizeof(n->mac));
	cfg->nr_nets++;
	if (!n->id || !n->tap)
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int parse_net(struct vm_config *cfg, const char *arg, struct err *err)
{
	enum { K_ID, K_TAP, K_MAC };
	static const struct kvopt_key keys[] = {
		[K_ID] = { "id", true },
		[K_TAP] = { "tap", true },
		[K_MAC] = { "mac", false },
	};
	struct net_params n = { 0 };
	struct kvopts o;
	int r;

	if (cfg->nr_nets == CONFIG_MAX_NETS)
		return err_set(err, -EINVAL, "--net: at most %u interfaces", CONFIG_MAX_NETS);
	r = kvopts_parse(&o, "--net", arg, keys, sizeof(keys) / sizeof(keys[0]), err);
	if (r)
		return r;
	if (o.value[K_MAC] && config_parse_mac(o.value[K_MAC], n.mac))
		r = err_set(err, -EINVAL, "--net: mac '%s': expected a unicast xx:xx:xx:xx:xx:xx",
			    o.value[K_MAC]);
	if (!r) {
		n.id = (char *)o.value[K_ID];
		n.tap = (char *)o.value[K_TAP];
		n.has_mac = o.value[K_MAC] != NULL;
		r = config_add_net(cfg, "--net", &n, err);
	}
	kvopts_free(&o);
	return r;
}

int config_set_vsock(struct vm_config *cfg, const char *what, const struct vsock_params *p,
		     struct err *err)
{
	struct sockaddr_un sun;

	if (cfg->has_vsock)
		return err_set(err, -EINVAL, "%s: only one vsock device per VM", what);
	if (p->guest_cid < VSOCK_MIN_CID || p->guest_cid > VSOCK_MAX_CID)
		return err_set(err, -EINVAL, "%s: cid %llu: expected %d to %llu", what,
			       (unsigned long long)p->guest_cid, VSOCK_MIN_CID, VSOCK_MAX_CID);
	/* Guest-initiated connections append "_<port>", up to 11 more bytes. */
	if (strlen(p->uds_path) + 11 >= sizeof(sun.sun_path))
		return err_set(err, -EINVAL, "%s: uds path '%s' is too long for a Unix socket",
			       what, p->uds_path);
	cfg->vsock =
		(struct vsock_params){ .guest_cid = p->guest_cid, .uds_path = strdup(p->uds_path) };
	cfg->has_vsock = true;
	if (!cfg->vsock.uds_path)
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int parse_vsock(struct vm_config *cfg, const char *arg, struct err *err)
{
	enum { K_CID, K_UDS };
	static const struct kvopt_key keys[] = {
		[K_CID] = { "cid", true },
		[K_UDS] = { "uds", true },
	};
	struct kvopts o;
	uint64_t cid;
	int r;

	if (cfg->has_vsock)
		return err_set(err, -EINVAL, "--vsock: only one vsock device per VM");
	r = kvopts_parse(&o, "--vsock", arg, keys, sizeof(keys) / sizeof(keys[0]), err);
	if (r)
		return r;
	if (parse_u64(o.value[K_CID], VSOCK_MIN_CID, VSOCK_MAX_CID, &cid))
		r = err_set(err, -EINVAL, "--vsock: cid='%s': expected %d to %llu", o.value[K_CID],
			    VSOCK_MIN_CID, VSOCK_MAX_CID);
	else
		r = config_set_vsock(cfg, "--vsock",
				     &(struct vsock_params){ .guest_cid = cid,
							     .uds_path = (char *)o.value[K_UDS] },
				     err);
	kvopts_free(&o);
	return r;
}

static void config_drop_drive(struct vm_config *cfg, unsigned int i)
{
	free(cfg->drives[i].id);
	free(cfg->drives[i].path);
	free(cfg->drives[i].serial);
	memmove(&cfg->drives[i], &cfg->drives[i + 1],
		(cfg->nr_drives - i - 1) * sizeof(cfg->drives[0]));
	cfg->nr_drives--;
	if (i == 0)
		cfg->has_root_drive = false;
}

bool config_remove_device(struct vm_config *cfg, const char *id)
{
	int i = config_find_drive(cfg, id);

	if (i >= 0) {
		config_drop_drive(cfg, (unsigned int)i);
		return true;
	}
	i = config_find_net(cfg, id);
	if (i < 0)
		return false;
	free(cfg->nets[i].id);
	free(cfg->nets[i].tap);
	memmove(&cfg->nets[i], &cfg->nets[i + 1], (cfg->nr_nets - i - 1) * sizeof(cfg->nets[0]));
	cfg->nr_nets--;
	return true;
}

void config_free(struct vm_config *cfg)
{
	free(cfg->vsock.uds_path);
	cfg->vsock.uds_path = NULL;
	cfg->has_vsock = false;
	for (unsigned int i = 0; i < cfg->nr_drives; i++) {
		free(cfg->drives[i].id);
		free(cfg->drives[i].path);
		free(cfg->drives[i].serial);
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		free(cfg->nets[i].id);
		free(cfg->nets[i].tap);
	}
	cfg->nr_drives = cfg->nr_nets = 0;
	cfg->has_root_drive = false;
	for (unsigned int i = 0; i < CONFIG_NR_OWNED; i++) {
		free(cfg->owned[i]);
		cfg->owned[i] = NULL;
	}
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
		if (parse_u64(arg, CONFIG_MIN_MEMORY_MIB, CONFIG_MAX_MEMORY_MIB, &v))
			return err_set(err, -EINVAL, "--memory '%s': expected MiB, at least %u",
				       arg, CONFIG_MIN_MEMORY_MIB);
		cfg->memory_mib = v;
		return 0;
	case OPT_MEMORY_BACKEND:
		if (strcmp(arg, "anon") == 0)
			cfg->mem_backend = MEM_BACKEND_ANON;
		else if (strcmp(arg, "memfd") == 0)
			cfg->mem_backend = MEM_BACKEND_MEMFD;
		else
			return err_set(err, -EINVAL,
				       "--memory-backend '%s': expected anon or memfd", arg);
		return 0;
	case OPT_SERIAL:
		return parse_serial(cfg, arg, err);
	case OPT_RNG:
		cfg->rng = true;
		return 0;
	case OPT_VSOCK:
		return parse_vsock(cfg, arg, err);
	case OPT_DRIVE:
		return parse_drive(cfg, arg, err);
	case OPT_NET:
		return parse_net(cfg, arg, err);
	case OPT_API_SOCK:
		if (!*arg || strlen(arg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return err_set(err, -EINVAL,
				       "--api-sock '%s': expected a socket path of 1 to %zu bytes",
				       arg, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		cfg->api_sock = arg;
		return 0;
	case OPT_CONSOLE_SOCK:
		if (!*arg || strlen(arg) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return err_set(
				err, -EINVAL,
				"--console-sock '%s': expected a socket path of 1 to %zu bytes",
				arg, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		cfg->console_sock = arg;
		return 0;
	case OPT_KEEP_HALTED:
		cfg->keep_halted = true;
		return 0;
	case OPT_MIGRATE_FROM:
		cfg->migrate_from = arg;
		return 0;
	case OPT_MIGRATE_TOKEN:
		cfg->migrate_token = arg;
		return 0;
	case OPT_SECCOMP_LEVEL:
		if (seccomp_parse_level(arg, &cfg->seccomp_level))
			return err_set(err, -EINVAL, "--seccomp-level '%s': expected 0, 1 or 2",
				       arg);
		return 0;
	}
	return err_set(err, -EINVAL, "internal: unhandled option %d", opt);
}

void config_init(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cmdline = CONFIG_DEFAULT_CMDLINE;
	cfg->nr_vcpus = CONFIG_DEFAULT_VCPUS;
	cfg->memory_mib = CONFIG_DEFAULT_MEMORY;
	cfg->mem_backend = MEM_BACKEND_ANON;
	cfg->serial = SERIAL_STDIO;
	cfg->seccomp_level = SECCOMP_LEVEL_DEFAULT;
}

static enum config_result parse_args(struct vm_config *cfg, int argc, char **argv, struct err *err)
{
	const char *config_file = NULL, *vm_option = NULL;
	int opt;

	config_init(cfg);

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
				err_set(err, -EINVAL, "option '%s' needs a value",
					argv[optind - 1]);
			else if (optopt)
				err_set(err, -EINVAL, "unknown option '-%c' (see --help)", optopt);
			else
				err_set(err, -EINVAL, "unknown option '%s' (see --help)",
					argv[optind - 1]);
			return CONFIG_ERROR;
		}
		if (opt == OPT_CONFIG_FILE) {
			config_file = optarg;
			continue;
		}
		/*
		 * The file describes the whole VM, as in Firecracker; letting
		 * options override parts of it would make two sources of truth.
		 * Host-side plumbing (serial, memory backend) is not in the file.
		 */
		if (opt != OPT_SERIAL && opt != OPT_CONSOLE_SOCK && opt != OPT_MEMORY_BACKEND &&
		    opt != OPT_API_SOCK && opt != OPT_SECCOMP_LEVEL && opt != OPT_KEEP_HALTED &&
		    opt != OPT_MIGRATE_FROM && opt != OPT_MIGRATE_TOKEN && !vm_option)
			vm_option = option_name(opt);
		if (parse_option(cfg, opt, optarg, err))
			return CONFIG_ERROR;
	}
	if (optind < argc) {
		err_set(err, -EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
		return CONFIG_ERROR;
	}
	if (config_file && vm_option) {
		err_set(err, -EINVAL,
			"--config-file cannot be combined with --%s: the file describes the whole "
			"VM",
			vm_option);
		return CONFIG_ERROR;
	}
	if (config_file && cfg->migrate_from) {
		err_set(err, -EINVAL, "--config-file cannot be combined with --migrate-from");
		return CONFIG_ERROR;
	}
	if (config_file)
		return config_load_file(cfg, config_file, err) ? CONFIG_ERROR : CONFIG_OK;
	if (cfg->keep_halted && !cfg->api_sock) {
		err_set(err, -EINVAL, "--keep-halted needs --api-sock: nobody could ask");
		return CONFIG_ERROR;
	}
	if (cfg->migrate_from && (cfg->kernel_path || vm_option)) {
		err_set(err, -EINVAL,
			"--migrate-from cannot be combined with --%s: the source sends the VM",
			cfg->kernel_path ? "kernel" : vm_option);
		return CONFIG_ERROR;
	}
	if (!cfg->migrate_from != !cfg->migrate_token) {
		err_set(err, -EINVAL, "--migrate-from and --migrate-token go together");
		return CONFIG_ERROR;
	}
	if (!cfg->kernel_path && !cfg->api_sock && !cfg->migrate_from) {
		err_set(err, -EINVAL,
			"--kernel, --config-file, --api-sock or --migrate-from is required (see "
			"--help)");
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

enum config_result config_parse_args(struct vm_config *cfg, int argc, char **argv, struct err *err)
{
	enum config_result r = parse_args(cfg, argc, argv, err);

	if (r != CONFIG_OK)
		config_free(cfg);
	return r;
}
