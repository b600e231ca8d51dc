// SPDX-License-Identifier: Apache-2.0
/*
 * devices/registry.c and the lifecycle interface: lookups by kind and id,
 * pause in order and resume in reverse, teardown in reverse, and the legacy
 * and virtio devices found behind their registry entries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "devices/registry.h"
#include "devices/virtio/rng/rng.h"
#include "tests/unit/images.h"

#define NR_FAKES 3

/* What the fake devices did, in order: 'p'ause, 'r'esume, 'd'estroy and the device's index. */
struct journal {
	char log[64];
	unsigned int len;
};

struct fake {
	struct device dev;
	struct journal *j;
	char tag;
	int pause_result;
};

static void note(struct fake *f, char what)
{
	f->j->log[f->j->len++] = what;
	f->j->log[f->j->len++] = f->tag;
}

static int fake_pause(struct device *dev)
{
	struct fake *f = container_of(dev, struct fake, dev);

	note(f, 'p');
	return f->pause_result;
}

static void fake_resume(struct device *dev)
{
	note(container_of(dev, struct fake, dev), 'r');
}

static void fake_destroy(struct device *dev)
{
	note(container_of(dev, struct fake, dev), 'd');
}

static const struct device_ops fake_ops = {
	.section = 100,
	.pause = fake_pause,
	.resume = fake_resume,
	.destroy = fake_destroy,
};

/* No ops at all: every walk must step over it. */
static const struct device_ops bare_ops = { .section = 101 };

static void fakes_add(struct registry *reg, struct fake *f, struct journal *j)
{
	static const char *const kinds[NR_FAKES] = { "disk", "disk", "nic" };
	static const char *const ids[NR_FAKES] = { "d0", "d1", NULL };

	for (unsigned int i = 0; i < NR_FAKES; i++) {
		f[i] = (struct fake){
			{ &fake_ops, kinds[i], ids[i], kinds[i] }, j, (char)('0' + i), 0
		};
		assert_int_equal(registry_add(reg, &f[i].dev), 0);
	}
}

static void lookup(void **state)
{
	struct registry reg = { 0 };
	struct journal j = { 0 };
	struct fake f[NR_FAKES];
	struct device bare = { &bare_ops, "bare", NULL, "bare" };

	fakes_add(&reg, f, &j);
	assert_int_equal(registry_add(&reg, &bare), 0);
	assert_ptr_equal(registry_find(&reg, "disk", "d1"), &f[1].dev);
	assert_ptr_equal(registry_find(&reg, "disk", "d0"), &f[0].dev);
	/* No id: the first of the kind. */
	assert_ptr_equal(registry_find(&reg, "disk", NULL), &f[0].dev);
	assert_ptr_equal(registry_find(&reg, "nic", NULL), &f[2].dev);
	assert_ptr_equal(registry_find(&reg, "bare", NULL), &bare);
	assert_null(registry_find(&reg, "disk", "d2"));
	assert_null(registry_find(&reg, "nic", "d0"));
	assert_null(registry_find(&reg, "cdrom", NULL));
	registry_destroy(&reg);
	assert_int_equal(reg.nr, 0);
}

static void full(void **state)
{
	struct registry reg = { 0 };
	struct device d = { &bare_ops, "bare", NULL, "bare" };

	for (unsigned int i = 0; i < REGISTRY_MAX_DEVICES; i++)
		assert_int_equal(registry_add(&reg, &d), 0);
	assert_int_equal(registry_add(&reg, &d), -ENOSPC);
	assert_int_equal(reg.nr, REGISTRY_MAX_DEVICES);
	registry_destroy(&reg);
}

static void pause_resume_order(void **state)
{
	struct registry reg = { 0 };
	struct journal j = { 0 };
	struct fake f[NR_FAKES];
	struct device bare = { &bare_ops, "bare", NULL, "bare" };

	fakes_add(&reg, f, &j);
	assert_int_equal(registry_add(&reg, &bare), 0);
	/* A device that cannot pause is reported; the others pause all the same. */
	f[1].pause_result = -EBUSY;
	assert_int_equal(registry_pause(&reg), -EBUSY);
	registry_resume(&reg);
	assert_int_equal(j.len, 12);
	assert_memory_equal(j.log, "p0p1p2r2r1r0", 12);
}

static void teardown_reverse(void **state)
{
	struct registry reg = { 0 };
	struct journal j = { 0 };
	struct fake f[NR_FAKES];

	fakes_add(&reg, f, &j);
	registry_destroy(&reg);
	assert_int_equal(j.len, 6);
	assert_memory_equal(j.log, "d2d1d0", 6);
	assert_int_equal(reg.nr, 0);
	/* Empty now: a second teardown does nothing. */
	registry_destroy(&reg);
	assert_int_equal(j.len, 6);
}

/* Real devices: the registry owns them, finds them by kind, and frees them. */
static void real_devices(void **state)
{
	struct registry reg = { 0 };
	struct guest_memory gm;
	struct machine_exit ex = { 0 };
	struct virtio_rng *rng;
	struct serial *s;
	struct i8042 *k;
	struct device *d;

	test_gm_alloc(&gm, 1 << 20);
	rng = virtio_rng_create(&gm);
	s = serial_create(-1, -1, (struct irq_line){ 0 });
	k = i8042_create(&ex, (struct irq_line){ 0 });
	assert_non_null(rng);
	assert_non_null(s);
	assert_non_null(k);
	assert_int_equal(registry_add(&reg, virtio_device(virtio_rng_dev(rng))), 0);
	assert_int_equal(registry_add(&reg, serial_device(s)), 0);
	assert_int_equal(registry_add(&reg, i8042_device(k)), 0);

	d = registry_find(&reg, "virtio-rng", NULL);
	assert_ptr_equal(virtio_from_device(d), virtio_rng_dev(rng));
	assert_null(serial_from_device(d));
	assert_string_equal(d->name, "virtio-rng");
	assert_ptr_equal(serial_from_device(registry_find(&reg, "serial", NULL)), s);
	assert_null(virtio_from_device(registry_find(&reg, "serial", NULL)));
	assert_ptr_equal(i8042_from_device(registry_find(&reg, "i8042", NULL)), k);
	assert_null(i8042_from_device(NULL));
	/* Pausing and resuming a device that never ran is harmless. */
	assert_int_equal(registry_pause(&reg), 0);
	registry_resume(&reg);
	/* Frees all three (the sanitizer build checks nothing leaks). */
	registry_destroy(&reg);
	gm_free(&gm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookup),
		cmocka_unit_test(full),
		cmocka_unit_test(pause_resume_order),
		cmocka_unit_test(teardown_reverse),
		cmocka_unit_test(real_devices),
	};

	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
