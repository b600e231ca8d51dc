// SPDX-License-Identifier: Apache-2.0
/*
 * Firecracker's configuration file (its API bodies under one object), field
 * names and types as in its swagger definition. Like Firecracker (serde's
 * deny_unknown_fields) an unknown field is an error, and so is any setting
 * kvmlet would otherwise have to ignore: a VM that silently differs from
 * its description is worse than one that does not start. null means absent,
 * as for serde's Option.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/json.h"
#include "vmm/config_file.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A setting kvmlet does not have: only its "off" value is accepted. */
static int only_value(const char *what, const cJSON *obj, const char *name, const char *ok,
		      const char *why, struct err *err)
{
	const char *s;
	int r = json_get_string(what, obj, name, false, &s, err);

	if (!r && s && strcmp(s, ok))
		return err_set(err, -EINVAL, "%s.%s '%s': not supported (%s); only '%s'", what,
			       name, s, why, ok);
	return r;
}

static int only_false(const char *what, const cJSON *obj, const char *name, const char *why,
		      struct err *err)
{
	bool b = false;
	int r = json_get_bool(what, obj, name, false, &b, err);

	if (!r && b)
		return err_set(err, -EINVAL, "%s.%s: not supported (%s)", what, name, why);
	return r;
}

/*
 * One TokenBucket. As in Firecracker, a bucket whose size or refill_time is
 * 0 limits nothing; *limits says whether this one would.
 */
static int token_bucket(const char *what, const cJSON *obj, const char *name, bool *limits,
			struct err *err)
{
	static const char *const names[] = { "size", "one_time_burst", "refill_time" };
	const cJSON *v = json_member(obj, name);
	uint64_t size = 0, burst = 0, refill = 0;
	char ctx[128];
	int r;

	*limits = false;
	if (!v)
		return 0;
	snprintf(ctx, sizeof(ctx), "%s.%s", what, name);
	r = json_check_members(ctx, v, names, ARRAY_SIZE(names), err);
	if (!r)
		r = json_get_uint(ctx, v, "size", true, 0, UINT64_MAX, &size, err);
	if (!r)
		r = json_get_uint(ctx, v, "one_time_burst", false, 0, UINT64_MAX, &burst, err);
	if (!r)
		r = json_get_uint(ctx, v, "refill_time", true, 0, UINT64_MAX, &refill, err);
	*limits = !r && size && refill;
	return r;
}

int config_check_rate_limiter(const char *what, const cJSON *obj, const char *name, struct err *err)
{
	static const char *const names[] = { "bandwidth", "ops" };
	const cJSON *v = json_member(obj, name);
	bool bw = false, ops = false;
	char ctx[96];
	int r;

	if (!v)
		return 0;
	snprintf(ctx, sizeof(ctx), "%s.%s", what, name);
	r = json_check_members(ctx, v, names, ARRAY_SIZE(names), err);
	if (!r)
		r = token_bucket(ctx, v, "bandwidth", &bw, err);
	if (!r)
		r = token_bucket(ctx, v, "ops", &ops, err);
	if (!r && (bw || ops))
		r = err_set(err, -EINVAL, "%s: rate limiters are not supported yet", ctx);
	return r;
}

/* strdup() into one of cfg->owned[], replacing what was there. */
static int own(struct vm_config *cfg, unsigned int slot, const char *s, const char **out,
	       struct err *err)
{
	char *copy = s ? strdup(s) : NULL;

	if (s && !copy)
		return err_set(err, -ENOMEM, "out of memory");
	free(cfg->owned[slot]);
	cfg->owned[slot] = copy;
	if (out)
		*out = copy;
	return 0;
}

/* Firecracker's BootSource: its fields as json_decode() fills them. */
struct boot_source_body {
	const char *kernel, *args, *initrd;
};

static const struct json_field boot_source_fields[] = {
	JSON_FIELD("kernel_image_path", JSON_NONEMPTY_STRING, true, struct boot_source_body,
		   kernel),
	JSON_FIELD("boot_args", JSON_STRING, false, struct boot_source_body, args),
	JSON_FIELD("initrd_path", JSON_NONEMPTY_STRING, false, struct boot_source_body, initrd),
};

int config_apply_boot_source(struct vm_config *cfg, const cJSON *obj, struct err *err)
{
	struct boot_source_body b = { 0 };
	int r;

	r = json_decode("boot-source", obj, boot_source_fields, ARRAY_SIZE(boot_source_fields), &b,
			err);
	if (r)
		return r;
	/*
	 * Without boot_args kvmlet's default applies, not Firecracker's: that
	 * one (8250.nr_uarts=0 ...) would silence the serial console.
	 */
	r = own(cfg, CONFIG_OWNED_KERNEL, b.kernel, &cfg->kernel_path, err);
	if (!r)
		r = own(cfg, CONFIG_OWNED_INITRD, b.initrd, &cfg->initrd_path, err);
	/* New boot arguments: config_finish() derives the command line afresh. */
	if (!r)
		r = own(cfg, CONFIG_OWNED_BOOT_ARGS, NULL, &cfg->boot_args, err);
	if (!r)
		r = own(cfg, CONFIG_OWNED_CMDLINE, b.args ? b.args : CONFIG_DEFAULT_CMDLINE,
			&cfg->cmdline, err);
	return r;
}

int config_apply_machine_config(struct vm_config *cfg, const cJSON *obj, struct err *err)
{
	static const char *const names[] = { "vcpu_count",	  "mem_size_mib", "smt",
					     "track_dirty_pages", "cpu_template", "huge_pages" };
	const char *what = "machine-config";
	uint64_t vcpus, mib;
	bool dirty = false;
	int r;

	r = json_check_members(what, obj, names, ARRAY_SIZE(names), err);
	if (!r)
		r = json_get_uint(what, obj, "vcpu_count", true, 1, CONFIG_MAX_VCPUS, &vcpus, err);
	if (!r)
		r = json_get_uint(what, obj, "mem_size_mib", true, CONFIG_MIN_MEMORY_MIB,
				  CONFIG_MAX_MEMORY_MIB, &mib, err);
	if (!r)
		r = only_false(what, obj, "smt", "vCPUs are single-threaded cores", err);
	if (!r)
		r = json_get_bool(what, obj, "track_dirty_pages", false, &dirty, err);
	if (!r)
		r = only_value(what, obj, "cpu_template", "None", "no CPU templates yet", err);
	if (!r)
		r = only_value(what, obj, "huge_pages", "None", "no huge page backing yet", err);
	if (r)
		return r;
	cfg->nr_vcpus = (unsigned int)vcpus;
	cfg->memory_mib = mib;
	cfg->track_dirty_pages = dirty;
	return 0;
}

int config_apply_drive(struct vm_config *cfg, const char *what, const cJSON *obj, struct err *err)
{
	static const char *const names[] = { "drive_id",     "path_on_host", "is_root_device",
					     "is_read_only", "partuuid",     "cache_type",
					     "io_engine",    "rate_limiter", "socket" };
	const char *id, *path, *partuuid, *cache, *engine, *socket;
	bool root = false, ro = false;
	struct blk_params d;
	int r;

	r = json_check_members(what, obj, names, ARRAY_SIZE(names), err);
	if (!r)
		r = json_get_nonempty_string(what, obj, "drive_id", true, &id, err);
	if (!r)
		r = json_get_string(what, obj, "socket", false, &socket, err);
	if (!r && socket)
		r = err_set(err, -EINVAL, "%s.socket: vhost-user drives are not supported", what);
	if (!r)
		r = json_get_nonempty_string(what, obj, "path_on_host", true, &path, err);
	if (!r)
		r = json_get_bool(what, obj, "is_root_device", true, &root, err);
	if (!r)
		r = json_get_bool(what, obj, "is_read_only", false, &ro, err);
	if (!r)
		r = json_get_nonempty_string(what, obj, "partuuid", false, &partuuid, err);
	/*
	 * kvmlet always honours FLUSH with an fsync, which is Writeback;
	 * Unsafe (flushes acknowledged but dropped) only promises less.
	 */
	if (!r)
		r = json_get_string(what, obj, "cache_type", false, &cache, err);
	if (!r && cache && strcmp(cache, "Unsafe") && strcmp(cache, "Writeback"))
		r = err_set(err, -EINVAL, "%s.cache_type '%s': expected Unsafe or Writeback", what,
			    cache);
	/* Host-side only: kvmlet always uses io_uring; the guest sees the same disk. */
	if (!r)
		r = json_get_string(what, obj, "io_engine", false, &engine, err);
	if (!r && engine && strcmp(engine, "Sync") && strcmp(engine, "Async"))
		r = err_set(err, -EINVAL, "%s.io_engine '%s': expected Sync or Async", what,
			    engine);
	if (!r)
		r = config_check_rate_limiter(what, obj, "rate_limiter", err);
	if (!r && root && cfg->has_root_drive)
		r = err_set(err, -EINVAL, "%s: a second root device ('%s' is the first)", what,
			    cfg->drives[0].id);
	if (!r)
		r = config_add_drive(cfg, what,
				     &(struct blk_params){
					     .id = (char *)id,
					     .path = (char *)path,
					     .readonly = ro,
					     .queues = 1,
				     },
				     err);
	if (r || !root)
		return r;
	/* As in Firecracker the root disk comes first, so the guest sees it as vda. */
	d = cfg->drives[cfg->nr_drives - 1];
	memmove(&cfg->drives[1], &cfg->drives[0], (cfg->nr_drives - 1) * sizeof(d));
	cfg->drives[0] = d;
	cfg->has_root_drive = true;
	return own(cfg, CONFIG_OWNED_PARTUUID, partuuid, NULL, err);
}

int config_apply_network_interface(struct vm_config *cfg, const char *what, const cJSON *obj,
				   struct err *err)
{
	static const char *const names[] = { "iface_id", "host_dev_name", "guest_mac",
					     "rx_rate_limiter", "tx_rate_limiter" };
	struct net_params n = { 0 };
	const char *id, *tap, *mac;
	int r;

	r = json_check_members(what, obj, names, ARRAY_SIZE(names), err);
	if (!r)
		r = json_get_nonempty_string(what, obj, "iface_id", true, &id, err);
	if (!r)
		r = json_get_nonempty_string(what, obj, "host_dev_name", true, &tap, err);
	if (!r)
		r = json_get_string(what, obj, "guest_mac", false, &mac, err);
	if (!r && mac && config_parse_mac(mac, n.mac))
		r = err_set(err, -EINVAL, "%s.guest_mac '%s': expected a unicast xx:xx:xx:xx:xx:xx",
			    what, mac);
	if (!r)
		r = config_check_rate_limiter(what, obj, "rx_rate_limiter", err);
	if (!r)
		r = config_check_rate_limiter(what, obj, "tx_rate_limiter", err);
	if (r)
		return r;
	n.id = (char *)id;
	n.tap = (char *)tap;
	n.has_mac = mac != NULL;
	return config_add_net(cfg, what, &n, err);
}

/* Firecracker's Vsock; vsock_id is deprecated there and names nothing: accepted, unused. */
struct vsock_body {
	uint64_t cid;
	const char *uds, *id;
};

static const struct json_field vsock_fields[] = {
	JSON_FIELD_UINT("guest_cid", true, struct vsock_body, cid, VSOCK_MIN_CID, VSOCK_MAX_CID),
	JSON_FIELD("uds_path", JSON_NONEMPTY_STRING, true, struct vsock_body, uds),
	JSON_FIELD("vsock_id", JSON_STRING, false, struct vsock_body, id),
};

int config_apply_vsock(struct vm_config *cfg, const cJSON *obj, struct err *err)
{
	struct vsock_body b = { 0 };
	int r = json_decode("vsock", obj, vsock_fields, ARRAY_SIZE(vsock_fields), &b, err);
	struct vsock_params p = { .guest_cid = b.cid, .uds_path = (char *)b.uds };

	return r ? r : config_set_vsock(cfg, "vsock", &p, err);
}

int config_apply_entropy(struct vm_config *cfg, const cJSON *obj, struct err *err)
{
	static const char *const names[] = { "rate_limiter" };
	int r = json_check_members("entropy", obj, names, ARRAY_SIZE(names), err);

	if (!r)
		r = config_check_rate_limiter("entropy", obj, "rate_limiter", err);
	if (!r)
		cfg->rng = true;
	return r;
}

int config_finish(struct vm_config *cfg, struct err *err)
{
	const char *uuid = cfg->owned[CONFIG_OWNED_PARTUUID], *rw;
	char *s;
	int n, r;

	/* Idempotent: a start that failed may be retried. */
	if (!cfg->boot_args) {
		r = own(cfg, CONFIG_OWNED_BOOT_ARGS, cfg->cmdline, &cfg->boot_args, err);
		if (r)
			return r;
	}
	if (!cfg->has_root_drive)
		return own(cfg, CONFIG_OWNED_CMDLINE, cfg->boot_args, &cfg->cmdline, err);
	rw = cfg->drives[0].readonly ? "ro" : "rw";
	if (uuid)
		n = asprintf(&s, "%s root=PARTUUID=%s %s", cfg->boot_args, uuid, rw);
	else
		n = asprintf(&s, "%s root=/dev/vda %s", cfg->boot_args, rw);
	if (n < 0)
		return err_set(err, -ENOMEM, "out of memory");
	free(cfg->owned[CONFIG_OWNED_CMDLINE]);
	cfg->owned[CONFIG_OWNED_CMDLINE] = s;
	cfg->cmdline = s;
	return 0;
}

static void add_str(cJSON *o, const char *name, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, name, v);
}

static void format_mac(char buf[18], const uint8_t mac[6])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

cJSON *config_machine_to_json(const struct vm_config *cfg)
{
	cJSON *m = cJSON_CreateObject();

	if (!m)
		return NULL;
	cJSON_AddNumberToObject(m, "vcpu_count", cfg->nr_vcpus);
	cJSON_AddNumberToObject(m, "mem_size_mib", (double)cfg->memory_mib);
	cJSON_AddBoolToObject(m, "smt", false);
	cJSON_AddBoolToObject(m, "track_dirty_pages", cfg->track_dirty_pages);
	cJSON_AddStringToObject(m, "huge_pages", "None");
	return m;
}

cJSON *config_to_json(const struct vm_config *cfg)
{
	cJSON *root = cJSON_CreateObject(), *o, *arr;
	char mac[18];

	if (!root)
		return NULL;
	o = cfg->kernel_path ? cJSON_AddObjectToObject(root, "boot-source") : NULL;
	if (o) {
		add_str(o, "kernel_image_path", cfg->kernel_path);
		add_str(o, "boot_args", cfg->boot_args ? cfg->boot_args : cfg->cmdline);
		add_str(o, "initrd_path", cfg->initrd_path);
	}
	cJSON_AddItemToObject(root, "machine-config", config_machine_to_json(cfg));
	arr = cJSON_AddArrayToObject(root, "drives");
	for (unsigned int i = 0; arr && i < cfg->nr_drives; i++) {
		const struct blk_params *d = &cfg->drives[i];

		o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "drive_id", d->id);
		cJSON_AddStringToObject(o, "path_on_host", d->path);
		cJSON_AddBoolToObject(o, "is_root_device", i == 0 && cfg->has_root_drive);
		cJSON_AddBoolToObject(o, "is_read_only", d->readonly);
		if (i == 0 && cfg->has_root_drive)
			add_str(o, "partuuid", cfg->owned[CONFIG_OWNED_PARTUUID]);
		cJSON_AddStringToObject(o, "cache_type", "Writeback");
		cJSON_AddStringToObject(o, "io_engine", "Async");
	}
	arr = cJSON_AddArrayToObject(root, "network-interfaces");
	for (unsigned int i = 0; arr && i < cfg->nr_nets; i++) {
		const struct net_params *n = &cfg->nets[i];

		o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "iface_id", n->id);
		cJSON_AddStringToObject(o, "host_dev_name", n->tap);
		if (n->has_mac) {
			format_mac(mac, n->mac);
			cJSON_AddStringToObject(o, "guest_mac", mac);
		}
	}
	if (cfg->has_vsock) {
		o = cJSON_AddObjectToObject(root, "vsock");
		if (o) {
			cJSON_AddNumberToObject(o, "guest_cid", (double)cfg->vsock.guest_cid);
			cJSON_AddStringToObject(o, "uds_path", cfg->vsock.uds_path);
		}
	}
	if (cfg->rng)
		cJSON_AddObjectToObject(root, "entropy");
	return root;
}

/*
 * Errors quote the file's strings, which may hold any character: keep the
 * message on one line and free of terminal escapes.
 */
static int one_line(struct err *err, int r)
{
	for (char *p = err->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return r;
}

static int apply_array(struct vm_config *cfg, const char *name, const cJSON *arr,
		       int (*apply)(struct vm_config *, const char *, const cJSON *, struct err *),
		       struct err *err)
{
	unsigned int i = 0;
	char what[48];

	if (!cJSON_IsArray(arr))
		return err_set(err, -EINVAL, "%s: expected an array", name);
	for (const cJSON *c = arr->child; c; c = c->next, i++) {
		int r;

		snprintf(what, sizeof(what), "%s[%u]", name, i);
		r = apply(cfg, what, c, err);
		if (r)
			return r;
	}
	return 0;
}

/* Firecracker features kvmlet lacks; named so the error says so, not "unknown". */
static const char *const unsupported[] = { "balloon",	  "logger",	"metrics",
					   "mmds-config", "cpu-config", "pmem" };

int config_from_json(struct vm_config *cfg, const char *json, size_t len, struct err *err)
{
	static const char *const names[] = {
		"boot-source", "machine-config", "drives",     "network-interfaces",
		"vsock",       "entropy",	 "balloon",    "logger",
		"metrics",     "mmds-config",	 "cpu-config", "pmem"
	};
	const cJSON *v;
	cJSON *root;
	int r;

	root = json_parse(json, len, err);
	if (!root)
		return err->code ? err->code : -EINVAL;
	r = json_check_members("configuration", root, names, ARRAY_SIZE(names), err);
	for (size_t i = 0; !r && i < ARRAY_SIZE(unsupported); i++)
		if (json_member(root, unsupported[i]))
			r = err_set(err, -EINVAL, "%s: not supported by kvmlet", unsupported[i]);
	if (!r && !json_member(root, "boot-source"))
		r = err_set(err, -EINVAL, "configuration: missing field 'boot-source'");
	if (!r)
		r = config_apply_boot_source(cfg, json_member(root, "boot-source"), err);
	if (!r && (v = json_member(root, "machine-config")))
		r = config_apply_machine_config(cfg, v, err);
	if (!r && (v = json_member(root, "drives")))
		r = apply_array(cfg, "drives", v, config_apply_drive, err);
	if (!r && (v = json_member(root, "network-interfaces")))
		r = apply_array(cfg, "network-interfaces", v, config_apply_network_interface, err);
	if (!r && (v = json_member(root, "vsock")))
		r = config_apply_vsock(cfg, v, err);
	if (!r && (v = json_member(root, "entropy")))
		r = config_apply_entropy(cfg, v, err);
	if (!r)
		r = config_finish(cfg, err);
	cJSON_Delete(root);
	return r ? one_line(err, r) : 0;
}

static int read_file(const char *path, char **out, size_t *len, struct err *err)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, -errno, "--config-file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, -EINVAL, "--config-file %s: not a regular file", path);
	}
	if (st.st_size > CONFIG_FILE_MAX_BYTES) {
		close(fd);
		return err_set(err, -EFBIG, "--config-file %s: larger than %d bytes", path,
			       CONFIG_FILE_MAX_BYTES);
	}
	/* One byte more than allowed tells a file that grew since fstat(). */
	buf = malloc(CONFIG_FILE_MAX_BYTES + 1);
	if (!buf) {
		close(fd);
		return err_set(err, -ENOMEM, "out of memory");
	}
	while ((n = read(fd, buf + got, CONFIG_FILE_MAX_BYTES + 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	if (n < 0 || got > CONFIG_FILE_MAX_BYTES) {
		free(buf);
		return err_set(err, n < 0 ? -EIO : -EFBIG, "--config-file %s: %s", path,
			       n < 0 ? "read failed" : "file grew while being read");
	}
	*out = buf;
	*len = got;
	return 0;
}

int config_load_file(struct vm_config *cfg, const char *path, struct err *err)
{
	size_t len = 0;
	char *buf = NULL;
	int r;

	r = read_file(path, &buf, &len, err);
	if (r)
		return one_line(err, r);
	r = config_from_json(cfg, buf, len, err);
	free(buf);
	if (r)
		return one_line(err, err_prefix(err, r, "--config-file %s: ", path));
	return 0;
}
