// SPDX-License-Identifier: Apache-2.0
/*
 * The BSP's ring-3 life: take over the boot data, describe the machine,
 * run the tests named by kvmlet.test= and the benchmarks kvmlet.bench=
 * names, report, and end the way kvmlet.end= says. The lines printed here are a contract with the tests and
 * benchmarks (README.md).
 */
#include <kvmlet/exit_codes.h>
#include <kvmlet/platform.h>
#include "bench.h"
#include "bootinfo.h"
#include "clock.h"
#include "cpu.h"
#include "cmdline.h"
#include "console.h"
#include "desc.h"
#include "exit.h"
#include "io.h"
#include "libc.h"
#include "pic.h"
#include "tests.h"
#include "topology.h"
#include "uart.h"

struct test {
	const char *name;
	bool (*run)(char *detail, size_t len);
	bool in_all; /* interactive tests must be asked for by name */
};

static const struct test tests[] = {
	{ "smp", test_smp, true },
	{ "irq", test_irq, true },
	{ "mem", test_mem, true },
	{ "echo", test_echo, false },
	{ "rng", test_rng, false },
	{ "blk", test_blk, false },
	{ "net", test_net, false },
	{ "hostile", test_hostile, false },
	{ "vsock-agent", test_vsock_agent, false },
	{ "vsock-connect", test_vsock_connect, false },
	{ "vsock-stream", test_vsock_stream, false },
	{ "vsock-echo", test_vsock_echo, false },
	{ "counter", test_counter, false },
	{ "migrate", test_migrate, false },
	{ "kbd", test_kbd, false },
	{ "pod", test_pod, false },
};

enum end { END_EXIT, END_IDLE, END_RESET, END_TRIPLE_FAULT };

static const char *const end_names[] = {
	[END_EXIT] = "exit",
	[END_IDLE] = "idle",
	[END_RESET] = "reset",
	[END_TRIPLE_FAULT] = "triple-fault",
};

static unsigned int failed;

static bool name_is(const char *name, const char *s, size_t len)
{
	return strlen(name) == len && !memcmp(name, s, len);
}

static void run_test(const struct test *t)
{
	char detail[160] = "";
	bool ok = t->run(detail, sizeof(detail));

	cons_printf("test %s: %s (%s)\n", t->name, ok ? "PASS" : "FAIL", detail);
	failed += !ok;
}

static void run_one(const char *name, size_t len)
{
	if (name_is("all", name, len)) {
		for (unsigned int i = 0; i < ARRAY_SIZE(tests); i++)
			if (tests[i].in_all)
				run_test(&tests[i]);
		return;
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(tests); i++) {
		if (name_is(tests[i].name, name, len)) {
			run_test(&tests[i]);
			return;
		}
	}
	cons_printf("test %.*s: FAIL (unknown test)\n", (int)len, name);
	failed++;
}

/* kvmlet.test=a,b,c: run in the order given; empty items are skipped. */
static void run_list(const char *list, size_t len)
{
	while (len) {
		size_t n = 0;

		while (n < len && list[n] != ',')
			n++;
		if (n)
			run_one(list, n);
		list += n;
		len -= n;
		if (len) {
			list++;
			len--;
		}
	}
}

/* kvmlet.end=: how to leave once the verdict is out; default "exit". */
static enum end parse_end(void)
{
	size_t len;
	const char *v = cmdline_get(bootinfo.cmdline, "kvmlet.end", &len);

	if (!v)
		return END_EXIT;
	for (unsigned int i = 0; i < ARRAY_SIZE(end_names); i++)
		if (name_is(end_names[i], v, len))
			return i;
	cons_printf("kvmlet-testguest: unknown kvmlet.end=%.*s\n", (int)len, v);
	failed++;
	return END_EXIT;
}

static void __attribute__((noreturn)) end_vm(enum end how)
{
	if (fw_power_requested() == FW_POWER_RESET)
		how = END_RESET;
	else if (fw_power_requested() == FW_POWER_OFF)
		how = END_EXIT;
	switch (how) {
	case END_IDLE:
		cons_printf("kvmlet-testguest: idle\n");
		cpu_park();
	case END_RESET:
		fw_reset();
	case END_TRIPLE_FAULT:
		fw_triple_fault();
	case END_EXIT:
		break;
	}
	fw_exit(failed ? KVMLET_EXIT_GUEST_FAIL : KVMLET_EXIT_OK);
}

void fw_main(const struct hvm_start_info *si) __attribute__((noreturn));

void fw_main(const struct hvm_start_info *si)
{
	const char *list, *err;
	size_t len = 0;
	enum end how;

	clock_boot_tsc = rdtsc(); /* "since boot" for the vsock agent's guest-get-time */
	/*
	 * IF is already on (head.S): first the IDT, then silence the PIC.
	 * desc_init() also sets up the I/O bitmap that port I/O may need.
	 */
	desc_init();
	pic_mask_all();
	/* Boot is done as far as the VMM's boot timer is concerned. */
	mmio_write8(PLAT_BOOT_TIMER_ADDR, PLAT_BOOT_TIMER_DONE);
	err = bootinfo_copy(si);
	uart_init();
	if (err) {
		cons_printf("kvmlet-testguest: FAIL (%s)\n", err);
		fw_exit(KVMLET_EXIT_GUEST_FAIL);
	}
	topology_discover();

	cons_printf("kvmlet-testguest: booted on %u CPU(s), %lu MiB RAM\n", topo.nr_cpus,
		    bootinfo_ram_bytes() >> 20);

	how = parse_end();
	list = cmdline_get(bootinfo.cmdline, "kvmlet.test", &len);
	if (list)
		run_list(list, len);
	list = cmdline_get(bootinfo.cmdline, "kvmlet.bench", &len);
	if (list)
		failed += bench_run_list(list, len);

	if (failed)
		cons_printf("kvmlet-testguest: FAIL (%u failed)\n", failed);
	else
		cons_printf("kvmlet-testguest: PASS\n");
	end_vm(how);
}
