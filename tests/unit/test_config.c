// SPDX-License-Identifier: Apache-2.0
/* The command line: defaults, every option, and errors that name the option. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/images.h"
#include "vmm/config.h"

struct fixture {
	struct vm_config cfg;
	struct err err;
};

/*
 * getopt permutes the argv array but never writes the strings, so the
 * literals are passed through a mutable array of pointers.
 */
static enum config_result parse_argv(struct fixture *f, const char *const *argv)
{
	char *args[64];
	int argc = 0;

	while (argv[argc]) {
		assert_true(argc < 63);
		args[argc] = (char *)argv[argc];
		argc++;
	}
	args[argc] = NULL;
	memset(&f->err, 0, sizeof(f->err));
	return config_parse_args(&f->cfg, argc, args, &f->err);
}

#define PARSE(f, ...) parse_argv((f), (const char *const[]){ "kvmlet-vmm", __VA_ARGS__, NULL })

/* Parsing must fail with a message containing every given substring. */
#define PARSE_FAILS(f, substr1, substr2, ...)                            \
	do {                                                             \
		assert_int_equal(PARSE((f), __VA_ARGS__), CONFIG_ERROR); \
		assert_err(&(f)->err, -EINVAL, (substr1));               \
		assert_err(&(f)->err, -EINVAL, (substr2));               \
	} while (0)

#define PARSE_OK(f, ...)                                            \
	do {                                                        \
		if (PARSE((f), __VA_ARGS__) != CONFIG_OK)           \
			fail_msg("parse failed: %s", (f)->err.msg); \
		assert_int_equal((f)->err.code, 0);                 \
	} while (0)

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static void defaults(void **state)
{
	struct fixture *f = *state;

	PARSE_OK(f, "--kernel", "bzImage");
	assert_string_equal(f->cfg.kernel_path, "bzImage");
	assert_null(f->cfg.initrd_path);
	assert_string_equal(f->cfg.cmdline, CONFIG_DEFAULT_CMDLINE);
	assert_string_equal(f->cfg.cmdline, "console=ttyS0 reboot=k panic=1");
	assert_int_equal(f->cfg.nr_vcpus, 1);
	assert_int_equal(f->cfg.memory_mib, 128);
	assert_int_equal(f->cfg.mem_backend, MEM_BACKEND_ANON);
	assert_int_equal(f->cfg.serial, SERIAL_STDIO);
	assert_null(f->cfg.serial_path);
}

static void every_option(void **state)
{
	struct fixture *f = *state;

	PARSE_OK(f, "--kernel", "vmlinux", "--initrd", "rd.img", "--cmdline", "console=ttyS0 quiet",
		 "--vcpus", "4", "--memory", "512", "--memory-backend", "memfd", "--serial",
		 "file:/tmp/console.log");
	assert_string_equal(f->cfg.kernel_path, "vmlinux");
	assert_string_equal(f->cfg.initrd_path, "rd.img");
	assert_string_equal(f->cfg.cmdline, "console=ttyS0 quiet");
	assert_int_equal(f->cfg.nr_vcpus, 4);
	assert_int_equal(f->cfg.memory_mib, 512);
	assert_int_equal(f->cfg.mem_backend, MEM_BACKEND_MEMFD);
	assert_int_equal(f->cfg.serial, SERIAL_FILE);
	assert_string_equal(f->cfg.serial_path, "/tmp/console.log");

	/* --opt=value, hex numbers, an empty command line, the other backend. */
	PARSE_OK(f, "--vcpus=254", "--memory=0x400", "--kernel=k",
		 "--cmdline=", "--memory-backend=anon", "--serial=none");
	assert_int_equal(f->cfg.nr_vcpus, 254);
	assert_int_equal(f->cfg.memory_mib, 1024);
	assert_string_equal(f->cfg.kernel_path, "k");
	assert_string_equal(f->cfg.cmdline, "");
	assert_int_equal(f->cfg.mem_backend, MEM_BACKEND_ANON);
	assert_int_equal(f->cfg.serial, SERIAL_NONE);
}

static void fresh_defaults_each_time(void **state)
{
	struct fixture *f = *state;

	PARSE_OK(f, "--kernel", "a", "--vcpus", "8", "--serial", "none", "--initrd", "i");
	PARSE_OK(f, "--kernel", "b");
	assert_int_equal(f->cfg.nr_vcpus, 1);
	assert_int_equal(f->cfg.serial, SERIAL_STDIO);
	assert_null(f->cfg.initrd_path);
	/* The last of a repeated option wins. */
	PARSE_OK(f, "--kernel", "a", "--vcpus", "2", "--vcpus", "3", "--kernel", "c");
	assert_int_equal(f->cfg.nr_vcpus, 3);
	assert_string_equal(f->cfg.kernel_path, "c");
}

static void vcpus(void **state)
{
	struct fixture *f = *state;

	PARSE_OK(f, "--kernel", "k", "--vcpus", "1");
	assert_int_equal(f->cfg.nr_vcpus, 1);
	PARSE_OK(f, "--kernel", "k", "--vcpus", "254");
	assert_int_equal(f->cfg.nr_vcpus, 254);
	PARSE_FAILS(f, "--vcpus '0'", "1 to 254", "--kernel", "k", "--vcpus", "0");
	PARSE_FAILS(f, "--vcpus '255'", "1 to 254", "--kernel", "k", "--vcpus", "255");
	PARSE_FAILS(f, "--vcpus 'abc'", "1 to 254", "--kernel", "k", "--vcpus", "abc");
	PARSE_FAILS(f, "--vcpus ''", "expected a number", "--vcpus", "", "--kernel", "k");
	PARSE_FAILS(f, "--vcpus '-1'", "expected a number", "--vcpus=-1", "--kernel", "k");
	PARSE_FAILS(f, "--vcpus '4 '", "expected a number", "--vcpus", "4 ", "--kernel", "k");
}

static void memory(void **state)
{
	struct fixture *f = *state;

	PARSE_OK(f, "--kernel", "k", "--memory", "4");
	assert_int_equal(f->cfg.memory_mib, CONFIG_MIN_MEMORY_MIB);
	PARSE_FAILS(f, "--memory '0'", "at least 4", "--kernel", "k", "--memory", "0");
	PARSE_FAILS(f, "--memory '3'", "at least 4", "--kernel", "k", "--memory", "3");
	PARSE_FAILS(f, "--memory '1G'", "expected MiB", "--kernel", "k", "--memory", "1G");
	PARSE_FAILS(f, "--memory '99999999999999999999'", "expected MiB", "--kernel", "k",
		    "--memory", "99999999999999999999");
	/* Large, but not so large that MiB -> bytes overflows. */
	PARSE_OK(f, "--kernel", "k", "--memory", "8796093022207");
	assert_int_equal(f->cfg.memory_mib, UINT64_MAX >> 21);
	assert_true(f->cfg.memory_mib << 20 >> 20 == f->cfg.memory_mib);
	PARSE_FAILS(f, "--memory '8796093022208'", "expected MiB", "--kernel", "k", "--memory",
		    "8796093022208");
}

static void memory_backend(void **state)
{
	struct fixture *f = *state;

	PARSE_FAILS(f, "--memory-backend 'hugetlb'", "anon or memfd", "--kernel", "k",
		    "--memory-backend", "hugetlb");
	PARSE_FAILS(f, "--memory-backend 'MEMFD'", "anon or memfd", "--kernel", "k",
		    "--memory-backend", "MEMFD");
}

static void serial(void **state)
{
	struct fixture *f = *state;

	PARSE_OK(f, "--kernel", "k", "--serial", "stdio");
	assert_int_equal(f->cfg.serial, SERIAL_STDIO);
	PARSE_OK(f, "--kernel", "k", "--serial", "none");
	assert_int_equal(f->cfg.serial, SERIAL_NONE);
	PARSE_OK(f, "--kernel", "k", "--serial", "file:out.txt");
	assert_int_equal(f->cfg.serial, SERIAL_FILE);
	assert_string_equal(f->cfg.serial_path, "out.txt");
	PARSE_OK(f, "--kernel", "k", "--serial", "file:a:b");
	assert_string_equal(f->cfg.serial_path, "a:b");
	PARSE_OK(f, "--kernel", "k", "--serial", "cri:/var/log/pods/c/0.log");
	assert_int_equal(f->cfg.serial, SERIAL_CRI);
	assert_string_equal(f->cfg.serial_path, "/var/log/pods/c/0.log");
	PARSE_OK(f, "--kernel", "k", "--serial", "cri:x", "--console-sock", "/tmp/c.sock");
	assert_string_equal(f->cfg.console_sock, "/tmp/c.sock");
	PARSE_FAILS(f, "--serial 'file:'", "stdio, file:PATH, cri:PATH or none", "--kernel", "k",
		    "--serial", "file:");
	PARSE_FAILS(f, "--serial 'cri:'", "cri:PATH", "--kernel", "k", "--serial", "cri:");
	PARSE_FAILS(f, "--console-sock ''", "socket path", "--kernel", "k", "--console-sock", "");
	PARSE_FAILS(f, "--serial 'tcp:1234'", "file:PATH", "--kernel", "k", "--serial", "tcp:1234");
	PARSE_FAILS(f, "--serial 'file'", "file:PATH", "--kernel", "k", "--serial", "file");
	PARSE_FAILS(f, "--serial ''", "file:PATH", "--kernel", "k", "--serial", "");
	PARSE_FAILS(f, "--serial 'STDIO'", "file:PATH", "--kernel", "k", "--serial", "STDIO");
}

static void unknown_option(void **state)
{
	struct fixture *f = *state;

	PARSE_FAILS(f, "unknown option '--bogus'", "--help", "--kernel", "k", "--bogus");
	PARSE_FAILS(f, "unknown option '--bogus=1'", "--help", "--bogus=1", "--kernel", "k");
	PARSE_FAILS(f, "unknown option '-x'", "--help", "--kernel", "k", "-x");
	PARSE_FAILS(f, "unknown option '-k'", "--help", "-k", "vmlinux");
}

static void missing_value(void **state)
{
	struct fixture *f = *state;

	PARSE_FAILS(f, "option '--kernel'", "needs a value", "--kernel");
	PARSE_FAILS(f, "option '--vcpus'", "needs a value", "--kernel", "k", "--vcpus");
	PARSE_FAILS(f, "option '--serial'", "needs a value", "--kernel", "k", "--serial");
	PARSE_FAILS(f, "option '--memory-backend'", "needs a value", "--kernel", "k",
		    "--memory-backend");
}

static void positional_argument(void **state)
{
	struct fixture *f = *state;

	PARSE_FAILS(f, "unexpected argument 'extra'", "--help", "--kernel", "k", "extra");
	PARSE_FAILS(f, "unexpected argument 'first'", "--help", "first", "--kernel", "k");
	PARSE_FAILS(f, "unexpected argument '--vcpus'", "--help", "--kernel", "k", "--", "--vcpus");
}

static void missing_kernel(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse_argv(f, (const char *const[]){ "kvmlet-vmm", NULL }), CONFIG_ERROR);
	assert_err(&f->err, -EINVAL,
		   "--kernel, --config-file, --api-sock or --migrate-from is required");
	PARSE_FAILS(f, "--migrate-from is required", "--help", "--vcpus", "2", "--initrd", "i");
}

/* Runs the parse with stdout captured; returns what was printed. */
static char *capture_stdout(struct fixture *f, const char *arg, enum config_result *res)
{
	static char buf[4096];
	FILE *tmp = tmpfile();
	int saved = dup(STDOUT_FILENO);
	size_t n;

	assert_non_null(tmp);
	assert_true(saved >= 0);
	fflush(stdout);
	assert_true(dup2(fileno(tmp), STDOUT_FILENO) >= 0);
	*res = parse_argv(f, (const char *const[]){ "kvmlet-vmm", arg, "--bogus", NULL });
	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	return buf;
}

static void help_and_version(void **state)
{
	struct fixture *f = *state;
	enum config_result res;
	const char *out;

	/* They stop parsing at once: no --kernel needed, later errors not seen. */
	out = capture_stdout(f, "--help", &res);
	assert_int_equal(res, CONFIG_EXIT_OK);
	assert_int_equal(f->err.code, 0);
	assert_non_null(strstr(out, "usage: kvmlet-vmm --kernel PATH"));
	assert_non_null(strstr(out, "--memory-backend"));
	out = capture_stdout(f, "--version", &res);
	assert_int_equal(res, CONFIG_EXIT_OK);
	assert_non_null(strstr(out, "kvmlet-vmm "));
}

static void check_host(void **state)
{
	struct fixture *f = *state;

	PARSE_OK(f, "--kernel", "k", "--memory", "4");
	assert_int_equal(config_check_host(&f->cfg, &f->err), 0);
	assert_int_equal(f->err.code, 0);
	PARSE_OK(f, "--kernel", "k", "--memory", "8796093022207");
	assert_int_equal(config_check_host(&f->cfg, &f->err), -ENOMEM);
	assert_err(&f->err, -ENOMEM, "--memory 8796093022207 MiB is more than the host's");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(defaults),
		T(every_option),
		T(fresh_defaults_each_time),
		T(vcpus),
		T(memory),
		T(memory_backend),
		T(serial),
		T(unknown_option),
		T(missing_value),
		T(positional_argument),
		T(missing_kernel),
		T(help_and_version),
		T(check_host),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
