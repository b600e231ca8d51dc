// SPDX-License-Identifier: Apache-2.0
/*
 * vmm/machine_state.c: a machine's state body saved from one VM and
 * restored into a fresh one through a real /dev/kvm, with the devices found
 * only by walking the registry (real serial and i8042, and fake devices of
 * a kind machine_state has never heard of); the refusals of unknown,
 * repeated and missing sections; and vm_pause()/vm_resume() reaching the
 * devices. Skipped (with SKIPPED:) when /dev/kvm is absent.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "kvmlet/platform.h"
#include "tests/unit/images.h"
#include "tests/unit/kvm_usable.h"
#include "vmm/machine_state.h"
#include "vmm/vm.h"

#define GUEST_RAM    (16 * MiB)
#define SECTION_ONE  100 /* a device kind with one section */
#define SECTION_MANY 101 /* numbered: several devices share it */
#define SERIAL_SCR   7	 /* the 16550's scratch register: state the guest can see */

struct fake {
	struct device dev;
	uint32_t value;
	unsigned int paused, resumed;
};

static int fake_pause(struct device *dev)
{
	container_of(dev, struct fake, dev)->paused++;
	return 0;
}

static void fake_resume(struct device *dev)
{
	container_of(dev, struct fake, dev)->resumed++;
}

static void fake_save(struct device *dev, struct state_writer *w)
{
	state_put_u32(w, container_of(dev, struct fake, dev)->value);
}

static int fake_restore(struct device *dev, struct state_reader *r, struct err *err)
{
	container_of(dev, struct fake, dev)->value = state_get_u32(r);
	return r->bad ? err_set(err, -EINVAL, "%s: truncated", dev->name) : 0;
}

static const struct device_ops one_ops = {
	.section = SECTION_ONE,
	.pause = fake_pause,
	.resume = fake_resume,
	.save = fake_save,
	.restore = fake_restore,
};

static const struct device_ops many_ops = {
	.section = SECTION_MANY,
	.numbered = true,
	.save = fake_save,
	.restore = fake_restore,
};

struct tvm {
	struct vm vm;
	struct vcpu vcpu[1];
	struct serial *serial;
	struct i8042 *i8042;
	struct fake one, many[2];
	struct machine_exit exit_hook;
};

static void fake_add(struct tvm *t, struct fake *f, const struct device_ops *ops, const char *name)
{
	f->dev = (struct device){ ops, name, NULL, name };
	assert_int_equal(registry_add(&t->vm.devices, &f->dev), 0);
}

/* A VM with one vCPU, RAM, and the devices: nr_many numbered fakes, then the rest. */
static void tvm_create(struct tvm *t, unsigned int nr_many, bool with_one)
{
	struct err err = { 0 };
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct kvm_userspace_memory_region slot = { 0 };

	memset(t, 0, sizeof(*t));
	vm_init(&t->vm);
	if (kvm_open(&t->vm.kvm, "/dev/kvm", &err))
		fail_msg("kvm_open: %s", err.msg);
	test_gm_alloc(&t->vm.mem, GUEST_RAM);
	t->vm.fd = ioctl(t->vm.kvm.fd, KVM_CREATE_VM, 0);
	assert_true(t->vm.fd >= 0);
	assert_int_equal(ioctl(t->vm.fd, KVM_SET_TSS_ADDR, (unsigned long)PLAT_KVM_TSS_ADDR), 0);
	slot.memory_size = GUEST_RAM;
	slot.userspace_addr = (uintptr_t)t->vm.mem.base;
	assert_int_equal(ioctl(t->vm.fd, KVM_SET_USER_MEMORY_REGION, &slot), 0);
	assert_int_equal(ioctl(t->vm.fd, KVM_CREATE_IRQCHIP, 0), 0);
	assert_int_equal(ioctl(t->vm.fd, KVM_CREATE_PIT2, &pit), 0);
	t->vm.nr_vcpus = 1;
	t->vm.vcpus = t->vcpu;
	if (vcpu_create(&t->vcpu[0], &t->vm, 0, &err))
		fail_msg("vcpu_create: %s", err.msg);

	for (unsigned int i = 0; i < nr_many; i++)
		fake_add(t, &t->many[i], &many_ops, "many");
	t->serial = serial_create(-1, -1, (struct irq_line){ 0 });
	t->i8042 = i8042_create(&t->exit_hook, (struct irq_line){ 0 });
	assert_non_null(t->serial);
	assert_non_null(t->i8042);
	assert_int_equal(registry_add(&t->vm.devices, serial_device(t->serial)), 0);
	assert_int_equal(registry_add(&t->vm.devices, i8042_device(t->i8042)), 0);
	if (with_one)
		fake_add(t, &t->one, &one_ops, "one");
}

static void tvm_destroy(struct tvm *t)
{
	/* The fakes own nothing; the legacy devices are freed by the teardown. */
	registry_destroy(&t->vm.devices);
	vcpu_destroy(&t->vcpu[0]);
	close(t->vm.fd);
	gm_free(&t->vm.mem);
	kvm_close(&t->vm.kvm);
}

static void cfg_make(struct vm_config *cfg)
{
	config_init(cfg);
	cfg->kernel_path = "/nonexistent/vmlinux"; /* not owned: config_free() leaves it */
	cfg->nr_vcpus = 1;
	cfg->memory_mib = GUEST_RAM >> 20;
}

/* Saves a's body into w (left open for the caller to add to). */
static void save(struct tvm *a, struct state_writer *w)
{
	struct vm_config cfg;
	struct err err = { 0 };

	cfg_make(&cfg);
	state_writer_init(w);
	if (machine_state_save(&a->vm, &cfg, w, &err))
		fail_msg("machine_state_save: %s", err.msg);
	config_free(&cfg);
}

/* Restores w's body into b; returns the result, the message in err. */
static int restore(struct tvm *b, const struct state_writer *w, struct err *err)
{
	struct vm_config cfg;
	struct state_reader r;
	int ret;

	config_init(&cfg);
	state_reader_init(&r, w->data, w->len);
	ret = machine_state_read_config(&r, &cfg, err);
	if (ret)
		fail_msg("machine_state_read_config: %s", err->msg);
	assert_int_equal(cfg.nr_vcpus, 1);
	assert_int_equal(cfg.memory_mib, GUEST_RAM >> 20);
	ret = machine_state_restore(&b->vm, &r, err);
	config_free(&cfg);
	return ret;
}

static void a_make(struct tvm *a)
{
	uint8_t scr = 0x5a;

	tvm_create(a, 2, true);
	a->one.value = 11;
	a->many[0].value = 22;
	a->many[1].value = 33;
	serial_bus_ops.write(a->serial, SERIAL_SCR, &scr, 1);
}

static void roundtrip(void **state)
{
	struct tvm a, b;
	struct state_writer w;
	struct err err = { 0 };
	uint8_t scr = 0;

	if (!kvm_usable())
		skip();
	a_make(&a);
	save(&a, &w);
	tvm_create(&b, 2, true);
	if (restore(&b, &w, &err))
		fail_msg("machine_state_restore: %s", err.msg);
	assert_int_equal(b.one.value, 11);
	/* Numbered sections go to the device at the same place among its kind. */
	assert_int_equal(b.many[0].value, 22);
	assert_int_equal(b.many[1].value, 33);
	serial_bus_ops.read(b.serial, SERIAL_SCR, &scr, 1);
	assert_int_equal(scr, 0x5a);
	state_writer_fini(&w);
	tvm_destroy(&a);
	tvm_destroy(&b);
}

/* Each refusal with its own message. */
static void expect_refused(struct tvm *a, void (*spoil)(struct state_writer *w),
			   unsigned int nr_many, bool with_one, const char *msg)
{
	struct tvm b;
	struct state_writer w;
	struct err err = { 0 };

	save(a, &w);
	if (spoil)
		spoil(&w);
	tvm_create(&b, nr_many, with_one);
	assert_int_equal(restore(&b, &w, &err), -EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("expected \"%s\", got \"%s\"", msg, err.msg);
	state_writer_fini(&w);
	tvm_destroy(&b);
}

static void add_unknown(struct state_writer *w)
{
	state_section_begin(w, 99, 1);
	state_put_u32(w, 1);
	state_section_end(w);
}

static void add_second_one(struct state_writer *w)
{
	state_section_begin(w, SECTION_ONE, DEVICE_SECTION_VERSION);
	state_put_u32(w, 44);
	state_section_end(w);
}

static void add_second_many(struct state_writer *w)
{
	state_section_begin(w, SECTION_MANY, DEVICE_SECTION_VERSION);
	state_put_u32(w, 1);
	state_put_u32(w, 55);
	state_section_end(w);
}

static void add_trailing(struct state_writer *w)
{
	state_section_begin(w, SECTION_ONE, DEVICE_SECTION_VERSION);
	state_put_u32(w, 44);
	state_put_u32(w, 0);
	state_section_end(w);
}

static void add_newer_version(struct state_writer *w)
{
	state_section_begin(w, SECTION_ONE, DEVICE_SECTION_VERSION + 1);
	state_put_u32(w, 44);
	state_section_end(w);
}

static void refusals(void **state)
{
	struct tvm a;

	if (!kvm_usable())
		skip();
	a_make(&a);
	expect_refused(&a, add_unknown, 2, true, "section 99: unknown section type");
	expect_refused(&a, add_second_one, 2, true, "two state sections for one");
	expect_refused(&a, add_second_many, 2, true, "two state sections for many");
	/* The snapshot has a device the machine lacks. */
	expect_refused(&a, NULL, 1, true, "device section for slot 1: no such device");
	expect_refused(&a, NULL, 2, false, "section 100: unknown section type");
	tvm_destroy(&a);

	/* The machine has a device the snapshot lacks. */
	tvm_create(&a, 2, false);
	expect_refused(&a, NULL, 2, true, "no state for one");
	expect_refused(&a, add_trailing, 2, true, "one: trailing bytes");
	expect_refused(&a, add_newer_version, 2, true, "version 2 is not supported");
	tvm_destroy(&a);
}

/* vm_pause() reaches the devices once the (here: no) vCPUs are parked; vm_resume() too. */
static void pause_reaches_devices(void **state)
{
	struct vm vm;
	struct fake one;
	struct err err = { 0 };

	vm_init(&vm);
	one.dev = (struct device){ &one_ops, "one", NULL, "one" };
	one.paused = one.resumed = 0;
	assert_int_equal(registry_add(&vm.devices, &one.dev), 0);
	assert_int_equal(vm_pause(&vm, &err), 0);
	assert_int_equal(one.paused, 1);
	assert_int_equal(one.resumed, 0);
	vm_resume(&vm);
	assert_int_equal(one.resumed, 1);
	/* The teardown walks the registry as well (the fake has no destroy). */
	vm_destroy(&vm);
	assert_int_equal(vm.devices.nr, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip),
		cmocka_unit_test(refusals),
		cmocka_unit_test(pause_reaches_devices),
	};

	return cmocka_run_group_tests_name("machine_state", tests, NULL, NULL);
}
