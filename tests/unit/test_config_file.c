// SPDX-License-Identifier: Apache-2.0
/*
 * --config-file: Firecracker's JSON mapped onto struct vm_config, every
 * refusal naming its field, and the file checks around it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/images.h"
#include "vmm/config.h"
#include "vmm/config_file.h"

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"vmlinux\"}"

struct fixture {
	struct vm_config cfg;
	struct err err;
};

static int apply(struct fixture *f, const char *json)
{
	config_free(&f->cfg);
	config_init(&f->cfg);
	memset(&f->err, 0, sizeof(f->err));
	return config_from_json(&f->cfg, json, strlen(json), &f->err);
}

#define APPLY_OK(f, json)                                            \
	do {                                                         \
		if (apply((f), (json)))                              \
			fail_msg("config failed: %s", (f)->err.msg); \
	} while (0)

/* Must fail with -EINVAL and a message containing both substrings. */
#define APPLY_FAILS(f, json, s1, s2)                           \
	do {                                                   \
		assert_int_equal(apply((f), (json)), -EINVAL); \
		assert_err(&(f)->err, -EINVAL, (s1));          \
		assert_err(&(f)->err, -EINVAL, (s2));          \
	} while (0)

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	config_init(&f->cfg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	config_free(&f->cfg);
	free(f);
	return 0;
}

static void minimal_gets_defaults(void **state)
{
	struct fixture *f = *state;

	APPLY_OK(f, "{" BOOT "}");
	assert_string_equal(f->cfg.kernel_path, "vmlinux");
	assert_null(f->cfg.initrd_path);
	assert_string_equal(f->cfg.cmdline, CONFIG_DEFAULT_CMDLINE);
	assert_int_equal(f->cfg.nr_vcpus, CONFIG_DEFAULT_VCPUS);
	assert_int_equal(f->cfg.memory_mib, CONFIG_DEFAULT_MEMORY);
	assert_int_equal(f->cfg.nr_drives, 0);
	assert_false(f->cfg.has_vsock);
	assert_false(f->cfg.rng);
}

/* Shaped like Firecracker's own tests/framework/vm_config.json, nulls included. */
static void full_firecracker_config(void **state)
{
	struct fixture *f = *state;

	APPLY_OK(
		f,
		"{\"boot-source\": {\"kernel_image_path\": \"vmlinux.bin\",\n"
		"  \"boot_args\": \"console=ttyS0 reboot=k panic=1\", \"initrd_path\": \"rd\"},\n"
		" \"drives\": [{\"drive_id\": \"data\", \"path_on_host\": \"data.ext4\",\n"
		"   \"is_root_device\": false, \"is_read_only\": true},\n"
		"  {\"drive_id\": \"rootfs\", \"path_on_host\": \"root.ext4\",\n"
		"   \"is_root_device\": true, \"partuuid\": null, \"is_read_only\": false,\n"
		"   \"cache_type\": \"Unsafe\", \"io_engine\": \"Sync\", \"rate_limiter\": "
		"null}],\n"
		" \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 1024, \"smt\": false,\n"
		"   \"track_dirty_pages\": false, \"cpu_template\": \"None\", \"huge_pages\": "
		"\"None\"},\n"
		" \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\",\n"
		"   \"guest_mac\": \"AA:FC:00:00:00:01\", \"rx_rate_limiter\": null,\n"
		"   \"tx_rate_limiter\": {\"bandwidth\": null, \"ops\": null}}],\n"
		" \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\", \"vsock_id\": "
		"\"vsock0\"},\n"
		" \"entropy\": {\"rate_limiter\": {}},\n"
		" \"balloon\": null, \"logger\": null, \"metrics\": null, \"mmds-config\": "
		"null}\n");
	assert_string_equal(f->cfg.kernel_path, "vmlinux.bin");
	assert_string_equal(f->cfg.initrd_path, "rd");
	/* Firecracker's root= for the root device, which goes first (vda). */
	assert_string_equal(f->cfg.cmdline, "console=ttyS0 reboot=k panic=1 root=/dev/vda rw");
	assert_int_equal(f->cfg.nr_vcpus, 2);
	assert_int_equal(f->cfg.memory_mib, 1024);
	assert_int_equal(f->cfg.nr_drives, 2);
	assert_string_equal(f->cfg.drives[0].id, "rootfs");
	assert_string_equal(f->cfg.drives[0].path, "root.ext4");
	assert_false(f->cfg.drives[0].readonly);
	assert_string_equal(f->cfg.drives[1].id, "data");
	assert_true(f->cfg.drives[1].readonly);
	assert_int_equal(f->cfg.drives[1].queues, 1);
	assert_null(f->cfg.drives[1].serial);
	assert_int_equal(f->cfg.nr_nets, 1);
	assert_string_equal(f->cfg.nets[0].tap, "tap0");
	assert_true(f->cfg.nets[0].has_mac);
	assert_memory_equal(f->cfg.nets[0].mac, ((uint8_t[]){ 0xaa, 0xfc, 0, 0, 0, 1 }), 6);
	assert_true(f->cfg.has_vsock);
	assert_int_equal(f->cfg.vsock.guest_cid, 3);
	assert_string_equal(f->cfg.vsock.uds_path, "/tmp/v.sock");
	assert_true(f->cfg.rng);
}

static void root_device_partuuid_and_readonly(void **state)
{
	struct fixture *f = *state;

	APPLY_OK(f, "{\"boot-source\": {\"kernel_image_path\": \"k\", \"boot_args\": \"quiet\"},"
		    "\"drives\": [{\"drive_id\": \"r\", \"path_on_host\": \"r.img\","
		    "\"is_root_device\": true, \"is_read_only\": true, \"partuuid\": "
		    "\"0eaa91a0-01\"}]}");
	assert_string_equal(f->cfg.cmdline, "quiet root=PARTUUID=0eaa91a0-01 ro");
	APPLY_FAILS(f,
		    "{" BOOT ", \"drives\": ["
		    "{\"drive_id\": \"a\", \"path_on_host\": \"a\", \"is_root_device\": true},"
		    "{\"drive_id\": \"b\", \"path_on_host\": \"b\", \"is_root_device\": true}]}",
		    "drives[1]", "second root device ('a'");
}

static void syntax_errors_have_a_position(void **state)
{
	struct fixture *f = *state;

	APPLY_FAILS(f, "", "invalid JSON", "line 1, column 1");
	APPLY_FAILS(f, "{\n  \"boot-source\": {,}\n}", "invalid JSON", "line 2");
	APPLY_FAILS(f, "{" BOOT "} {}", "invalid JSON", "data after the end");
	APPLY_FAILS(f, "[]", "configuration", "expected an object");
	APPLY_OK(f, "\n {" BOOT "}\n\t \r\n");
}

static void unknown_and_duplicate_fields(void **state)
{
	struct fixture *f = *state;

	APPLY_FAILS(f, "{" BOOT ", \"mmds-version\": \"V1\"}", "unknown field", "mmds-version");
	APPLY_FAILS(f, "{" BOOT ", " BOOT "}", "'boot-source'", "twice");
	APPLY_FAILS(f, "{\"boot-source\": {\"kernel_image_path\": \"k\", \"kernel\": \"k\"}}",
		    "boot-source", "unknown field 'kernel'");
	APPLY_FAILS(f,
		    "{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 8,"
		    "\"ht_enabled\": false}}",
		    "machine-config", "'ht_enabled'");
	APPLY_FAILS(f,
		    "{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"a\","
		    "\"is_root_device\": false, \"serial\": \"x\"}]}",
		    "drives[0]", "unknown field 'serial'");
	APPLY_FAILS(f, "{" BOOT ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"u\", \"cid\": 3}}",
		    "vsock", "unknown field 'cid'");
	/* A name with a newline or an escape must not break the one error line. */
	APPLY_FAILS(f, "{" BOOT ", \"a\\nb\\u001b[2J\": 1}", "unknown field 'a?b?[2J'", "");
}

static void missing_and_mistyped_fields(void **state)
{
	struct fixture *f = *state;

	APPLY_FAILS(f, "{}", "configuration", "missing field 'boot-source'");
	APPLY_FAILS(f, "{\"boot-source\": null}", "configuration", "missing field 'boot-source'");
	APPLY_FAILS(f, "{\"boot-source\": {}}", "boot-source", "'kernel_image_path'");
	APPLY_FAILS(f, "{\"boot-source\": {\"kernel_image_path\": 1}}",
		    "boot-source.kernel_image_path", "expected a string");
	APPLY_FAILS(f, "{\"boot-source\": {\"kernel_image_path\": \"\"}}",
		    "boot-source.kernel_image_path", "empty");
	APPLY_FAILS(f, "{\"boot-source\": []}", "boot-source", "expected an object");
	APPLY_FAILS(f, "{" BOOT ", \"machine-config\": {\"vcpu_count\": 1}}", "machine-config",
		    "'mem_size_mib'");
	APPLY_FAILS(f,
		    "{" BOOT ", \"machine-config\": {\"vcpu_count\": \"1\", \"mem_size_mib\": 8}}",
		    "machine-config.vcpu_count", "integer");
	APPLY_FAILS(f, "{" BOOT ", \"drives\": {}}", "drives", "expected an array");
	APPLY_FAILS(f, "{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"a\"}]}",
		    "drives[0]", "'is_root_device'");
	APPLY_FAILS(f,
		    "{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"a\","
		    "\"is_root_device\": \"false\"}]}",
		    "drives[0].is_root_device", "true or false");
	APPLY_FAILS(f, "{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"is_root_device\": false}]}",
		    "drives[0]", "'path_on_host'");
	APPLY_FAILS(f, "{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"e\"}]}",
		    "network-interfaces[0]", "'host_dev_name'");
	APPLY_FAILS(f, "{" BOOT ", \"vsock\": {\"uds_path\": \"u\"}}", "vsock", "'guest_cid'");
	APPLY_FAILS(f, "{" BOOT ", \"entropy\": 1}", "entropy", "expected an object");
}

static void ranges(void **state)
{
	struct fixture *f = *state;

#define MC(v, m) "{" BOOT ", \"machine-config\": {\"vcpu_count\": " v ", \"mem_size_mib\": " m "}}"
	APPLY_OK(f, MC("254", "4"));
	assert_int_equal(f->cfg.nr_vcpus, 254);
	assert_int_equal(f->cfg.memory_mib, 4);
	APPLY_FAILS(f, MC("0", "128"), "machine-config.vcpu_count", "1 to 254");
	APPLY_FAILS(f, MC("255", "128"), "machine-config.vcpu_count", "1 to 254");
	APPLY_FAILS(f, MC("-1", "128"), "machine-config.vcpu_count", "1 to 254");
	APPLY_FAILS(f, MC("1.5", "128"), "machine-config.vcpu_count", "integer");
	APPLY_FAILS(f, MC("1e400", "128"), "machine-config.vcpu_count", "integer");
	APPLY_FAILS(f, MC("1", "3"), "machine-config.mem_size_mib", "from 4");
	APPLY_FAILS(f, MC("1", "1e30"), "machine-config.mem_size_mib", "from 4");
#undef MC
	APPLY_FAILS(f, "{" BOOT ", \"vsock\": {\"guest_cid\": 2, \"uds_path\": \"u\"}}",
		    "vsock.guest_cid", "from 3");
	APPLY_FAILS(f, "{" BOOT ", \"vsock\": {\"guest_cid\": 4294967295, \"uds_path\": \"u\"}}",
		    "vsock.guest_cid", "4294967294");
}

/* The checks the command line makes, reached through the shared functions. */
static void shared_device_checks(void **state)
{
	struct fixture *f = *state;

#define DRIVE(id) "{\"drive_id\": \"" id "\", \"path_on_host\": \"p\", \"is_root_device\": false}"
	APPLY_FAILS(f, "{" BOOT ", \"drives\": [" DRIVE("a b") "]}", "drives[0]",
		    "may only contain");
	APPLY_FAILS(f, "{" BOOT ", \"drives\": [" DRIVE("abcdefghijklmnopqrstuvwxyz0123456") "]}",
		    "drives[0]", "longer than");
	APPLY_FAILS(f, "{" BOOT ", \"drives\": [" DRIVE("a") "," DRIVE("a") "]}", "drives[1]",
		    "already used");
	APPLY_FAILS(
		f,
		"{" BOOT
		", \"drives\": [" DRIVE("a") "," DRIVE("b") "," DRIVE("c") "," DRIVE("d") "," DRIVE(
			"e") "," DRIVE("f") "," DRIVE("g") "," DRIVE("h") "," DRIVE("i") "]}",
		"drives[8]", "at most 8");
#undef DRIVE
#define NET(mac) "{\"iface_id\": \"e\", \"host_dev_name\": \"tap0\", \"guest_mac\": \"" mac "\"}"
	APPLY_FAILS(f, "{" BOOT ", \"network-interfaces\": [" NET("01:00:00:00:00:01") "]}",
		    "network-interfaces[0].guest_mac", "unicast");
	APPLY_FAILS(f, "{" BOOT ", \"network-interfaces\": [" NET("aa:bb:cc:dd:ee") "]}",
		    "network-interfaces[0].guest_mac", "unicast");
#undef NET
	APPLY_FAILS(f,
		    "{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"e\", "
		    "\"host_dev_name\": \"a-tap-name-far-too-long\"}]}",
		    "network-interfaces[0]", "longer than 15");
	APPLY_FAILS(f,
		    "{" BOOT ", \"drives\": [{\"drive_id\": \"x\", \"path_on_host\": \"p\","
		    "\"is_root_device\": false}], \"network-interfaces\": [{\"iface_id\": \"x\","
		    "\"host_dev_name\": \"t\"}]}",
		    "network-interfaces[0]", "already used");
}

static void unsupported_features_are_named(void **state)
{
	struct fixture *f = *state;

#define MC(extra) \
	"{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 8, " extra "}}"
	APPLY_FAILS(f, MC("\"smt\": true"), "machine-config.smt", "not supported");
	APPLY_FAILS(f, MC("\"track_dirty_pages\": 1"), "machine-config.track_dirty_pages",
		    "expected true or false");
	APPLY_FAILS(f, MC("\"cpu_template\": \"T2\""), "machine-config.cpu_template 'T2'",
		    "not supported");
	APPLY_FAILS(f, MC("\"huge_pages\": \"2M\""), "machine-config.huge_pages '2M'",
		    "not supported");
#undef MC
#define DR(extra)                                                                \
	"{" BOOT ", \"drives\": [{\"drive_id\": \"a\", \"path_on_host\": \"p\"," \
	"\"is_root_device\": false, " extra "}]}"
	APPLY_OK(f, DR("\"cache_type\": \"Writeback\", \"io_engine\": \"Async\""));
	APPLY_FAILS(f, DR("\"cache_type\": \"None\""), "drives[0].cache_type 'None'", "Unsafe");
	APPLY_FAILS(f, DR("\"io_engine\": \"Aio\""), "drives[0].io_engine 'Aio'", "Sync or Async");
	APPLY_FAILS(f, DR("\"rate_limiter\": {\"ops\": {\"size\": 1, \"refill_time\": 100}}"),
		    "drives[0].rate_limiter", "not supported");
	APPLY_FAILS(f, DR("\"rate_limiter\": {\"burst\": 1}"), "drives[0].rate_limiter",
		    "unknown field 'burst'");
	APPLY_FAILS(f, DR("\"socket\": \"/run/vhost.sock\""), "drives[0].socket", "vhost-user");
	/* Firecracker's "no limit": buckets of size or refill_time 0. */
	APPLY_OK(f, DR("\"rate_limiter\": {\"bandwidth\": {\"size\": 0, \"refill_time\": 0}, "
		       "\"ops\": {\"size\": 5, \"one_time_burst\": 9, \"refill_time\": 0}}"));
	APPLY_FAILS(f, DR("\"rate_limiter\": {\"ops\": {\"refill_time\": 0}}"),
		    "drives[0].rate_limiter.ops", "missing field 'size'");
	APPLY_FAILS(f, DR("\"rate_limiter\": {\"ops\": {\"size\": -1, \"refill_time\": 0}}"),
		    "drives[0].rate_limiter.ops.size", "integer");
#undef DR
	APPLY_FAILS(f,
		    "{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"e\", "
		    "\"host_dev_name\": \"t\", \"rx_rate_limiter\": {\"bandwidth\": "
		    "{\"size\": 1, \"refill_time\": 1}}}]}",
		    "network-interfaces[0].rx_rate_limiter", "not supported");
	APPLY_FAILS(f,
		    "{" BOOT ", \"entropy\": {\"rate_limiter\": {\"ops\": "
		    "{\"size\": 1, \"refill_time\": 1}}}}",
		    "entropy.rate_limiter", "not supported");
	APPLY_FAILS(f, "{" BOOT ", \"balloon\": {\"amount_mib\": 0, \"deflate_on_oom\": true}}",
		    "balloon", "not supported");
	APPLY_FAILS(f, "{" BOOT ", \"logger\": {\"log_path\": \"/tmp/l\"}}", "logger",
		    "not supported");
	APPLY_FAILS(f, "{" BOOT ", \"metrics\": {\"metrics_path\": \"/tmp/m\"}}", "metrics",
		    "not supported");
	APPLY_FAILS(f, "{" BOOT ", \"mmds-config\": {\"network_interfaces\": []}}", "mmds-config",
		    "not supported");
}

/* Arbitrary bytes, NULs included, with no terminator past the length. */
static void input_is_not_nul_terminated(void **state)
{
	struct fixture *f = *state;
	static const char doc[] = "{" BOOT "}";
	char *buf = malloc(sizeof(doc) - 1);

	assert_non_null(buf);
	memcpy(buf, doc, sizeof(doc) - 1);
	assert_int_equal(config_from_json(&f->cfg, buf, sizeof(doc) - 1, &f->err), 0);
	assert_string_equal(f->cfg.kernel_path, "vmlinux");
	config_free(&f->cfg);
	config_init(&f->cfg);
	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(config_from_json(&f->cfg, "{\0}", 3, &f->err), -EINVAL);
	free(buf);
}

static char *write_tmp(const char *content, size_t len)
{
	char *path = strdup("/tmp/kvmlet-cfg-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static void file_errors(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(CONFIG_FILE_MAX_BYTES + 1), *path;

	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(config_load_file(&f->cfg, "/nonexistent/c.json", &f->err), -ENOENT);
	assert_err(&f->err, -ENOENT, "/nonexistent/c.json");
	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(config_load_file(&f->cfg, "/tmp", &f->err), -EINVAL);
	assert_err(&f->err, -EINVAL, "not a regular file");

	assert_non_null(big);
	memset(big, ' ', CONFIG_FILE_MAX_BYTES + 1);
	path = write_tmp(big, CONFIG_FILE_MAX_BYTES + 1);
	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(config_load_file(&f->cfg, path, &f->err), -EFBIG);
	assert_err(&f->err, -EFBIG, "larger than 1048576 bytes");
	unlink(path);
	free(path);
	free(big);

	path = write_tmp("{\"boot-source\": 7}", 18);
	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(config_load_file(&f->cfg, path, &f->err), -EINVAL);
	assert_err(&f->err, -EINVAL, path);
	assert_err(&f->err, -EINVAL, "boot-source: expected an object");
	unlink(path);
	free(path);
}

/* --config-file through the command line: alone, or with host plumbing only. */
static void command_line(void **state)
{
	struct fixture *f = *state;
	char *path =
		write_tmp("{" BOOT ", \"entropy\": {}}", strlen("{" BOOT ", \"entropy\": {}}"));
	char prog[] = "kvmlet-vmm", serial[] = "--serial", none[] = "none", file[] = "--config-file";
	char drive[] = "--drive", spec[] = "id=a,path=b";
	char *ok[] = { prog, serial, none, file, path, NULL };
	char *mixed[] = { prog, file, path, drive, spec, NULL };

	config_free(&f->cfg);
	memset(&f->err, 0, sizeof(f->err));
	assert_int_equal(config_parse_args(&f->cfg, 5, ok, &f->err), CONFIG_OK);
	assert_string_equal(f->cfg.kernel_path, "vmlinux");
	assert_int_equal(f->cfg.serial, SERIAL_NONE);
	assert_true(f->cfg.rng);
	config_free(&f->cfg);
	assert_int_equal(config_parse_args(&f->cfg, 5, mixed, &f->err), CONFIG_ERROR);
	assert_err(&f->err, -EINVAL, "--config-file cannot be combined with --drive");
	config_init(&f->cfg);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(minimal_gets_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(full_firecracker_config, setup, teardown),
		cmocka_unit_test_setup_teardown(root_device_partuuid_and_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(syntax_errors_have_a_position, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_and_duplicate_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_and_mistyped_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(shared_device_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(unsupported_features_are_named, setup, teardown),
		cmocka_unit_test_setup_teardown(input_is_not_nul_terminated, setup, teardown),
		cmocka_unit_test_setup_teardown(file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(command_line, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
