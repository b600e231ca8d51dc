// SPDX-License-Identifier: Apache-2.0
/* CRI → VM mapping (agent/vm/spec.h): resources, annotations, rejections. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/image/store.h"
#include "agent/vm/spec.h"

struct fixture {
	Runtime__V1__ContainerConfig cfg;
	Runtime__V1__LinuxContainerConfig linux_;
	Runtime__V1__LinuxContainerResources res;
	Runtime__V1__PodSandboxConfig sb;
	Runtime__V1__ContainerConfig__AnnotationsEntry ann[8], *ann_p[8];
	Runtime__V1__PodSandboxConfig__AnnotationsEntry sann[8], *sann_p[8];
	struct store_image img;
	struct vm_request req;
};

static struct fixture *fixture_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));

	runtime__v1__container_config__init(&f->cfg);
	runtime__v1__linux_container_config__init(&f->linux_);
	runtime__v1__linux_container_resources__init(&f->res);
	runtime__v1__pod_sandbox_config__init(&f->sb);
	f->cfg.linux = &f->linux_;
	f->linux_.resources = &f->res;
	f->cfg.annotations = f->ann_p;
	f->sb.annotations = f->sann_p;
	f->img.cmdline = (char *)"console=ttyS0";
	f->req.config = &f->cfg;
	f->req.sandbox = &f->sb;
	f->req.image = &f->img;
	return f;
}

static void annotate(struct fixture *f, const char *k, const char *v)
{
	size_t n = f->cfg.n_annotations++;

	runtime__v1__container_config__annotations_entry__init(&f->ann[n]);
	f->ann[n].key = (char *)k;
	f->ann[n].value = (char *)v;
	f->ann_p[n] = &f->ann[n];
}

static void annotate_sandbox(struct fixture *f, const char *k, const char *v)
{
	size_t n = f->sb.n_annotations++;

	runtime__v1__pod_sandbox_config__annotations_entry__init(&f->sann[n]);
	f->sann[n].key = (char *)k;
	f->sann[n].value = (char *)v;
	f->sann_p[n] = &f->sann[n];
}

static int map(struct fixture *f, struct vm_spec *s, struct err *err)
{
	memset(err, 0, sizeof(*err));
	return vm_spec_map(&f->req, 256, s, err);
}

static void defaults(void **state)
{
	struct fixture *f = fixture_new();
	struct vm_spec s;
	struct err err;

	f->cfg.linux = NULL;
	assert_int_equal(map(f, &s, &err), 0);
	assert_int_equal(s.vcpus, 1);
	assert_int_equal(s.memory_mib, 256);
	assert_int_equal(s.cpu_quota_us, 0);
	assert_string_equal(s.cmdline, "console=ttyS0");
	assert_false(s.rng);
	assert_false(vm_spec_wants_cidata(&s));
	vm_spec_free(&s);
	free(f);
}

static void resources(void **state)
{
	struct fixture *f = fixture_new();
	struct vm_spec s;
	struct err err;

	/* 1.5 CPUs round up to 2; 300 MiB + 1 byte rounds down to 300 MiB. */
	f->res.cpu_quota = 150000;
	f->res.cpu_period = 100000;
	f->res.memory_limit_in_bytes = (300LL << 20) + 1;
	assert_int_equal(map(f, &s, &err), 0);
	assert_int_equal(s.vcpus, 2);
	assert_int_equal(s.memory_mib, 300);
	assert_int_equal(s.cpu_quota_us, 150000);
	assert_int_equal(s.cpu_period_us, 100000);
	vm_spec_free(&s);

	/* Exactly one CPU is one vCPU; a huge quota is capped at the VMM's maximum. */
	f->res.cpu_quota = 100000;
	assert_int_equal(map(f, &s, &err), 0);
	assert_int_equal(s.vcpus, 1);
	vm_spec_free(&s);
	f->res.cpu_quota = 100000LL * 1000;
	assert_int_equal(map(f, &s, &err), 0);
	assert_int_equal(s.vcpus, VM_SPEC_MAX_VCPUS);
	vm_spec_free(&s);

	/* No quota (-1, as kubelet sends without a limit): one vCPU, no bandwidth. */
	f->res.cpu_quota = -1;
	assert_int_equal(map(f, &s, &err), 0);
	assert_int_equal(s.vcpus, 1);
	assert_int_equal(s.cpu_quota_us, 0);
	vm_spec_free(&s);

	/* Below the VMM's minimum: refused, naming the field. */
	f->res.memory_limit_in_bytes = 3LL << 20;
	assert_int_equal(map(f, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "memory_limit_in_bytes"));
	f->res.memory_limit_in_bytes = 4LL << 20;
	assert_int_equal(map(f, &s, &err), 0);
	assert_int_equal(s.memory_mib, 4);
	vm_spec_free(&s);
	f->res.memory_limit_in_bytes = -5;
	assert_int_equal(map(f, &s, &err), -EINVAL);
	free(f);
}

static void annotations(void **state)
{
	struct fixture *f = fixture_new();
	struct vm_spec s;
	struct err err;

	annotate_sandbox(f, "kvmlet.io/vcpus", "3");
	annotate_sandbox(f, "kvmlet.io/rng", "true");
	annotate_sandbox(f, "io.kubernetes.pod.name", "ignored");
	annotate(f, "kvmlet.io/vcpus", "4"); /* the container wins */
	annotate(f, "kvmlet.io/kernel-args", "quiet kvmlet.test=pod");
	annotate(f, "kvmlet.io/cloud-init-user-data", "#cloud-config\n");
	annotate(f, "other.io/anything", "goes");
	assert_int_equal(map(f, &s, &err), 0);
	assert_int_equal(s.vcpus, 4);
	assert_true(s.rng);
	assert_string_equal(s.cmdline, "console=ttyS0 quiet kvmlet.test=pod");
	assert_true(vm_spec_wants_cidata(&s));
	assert_string_equal(s.user_data, "#cloud-config\n");
	assert_null(s.meta_data);
	vm_spec_free(&s);

	/* An image without arguments takes the annotation's alone. */
	f->img.cmdline = NULL;
	assert_int_equal(map(f, &s, &err), 0);
	assert_string_equal(s.cmdline, "quiet kvmlet.test=pod");
	vm_spec_free(&s);
	free(f);
}

static void rejections(void **state)
{
	static const struct {
		const char *key, *value, *needle;
	} bad[] = {
		{ "kvmlet.io/unknown", "1", "kvmlet.io/unknown" },
		{ "kvmlet.io/vcpus", "0", "kvmlet.io/vcpus" },
		{ "kvmlet.io/vcpus", "255", "kvmlet.io/vcpus" },
		{ "kvmlet.io/vcpus", "-1", "kvmlet.io/vcpus" },
		{ "kvmlet.io/vcpus", "2x", "kvmlet.io/vcpus" },
		{ "kvmlet.io/vcpus", "", "kvmlet.io/vcpus" },
		{ "kvmlet.io/rng", "yes", "kvmlet.io/rng" },
		{ "kvmlet.io/kernel-args", "a\nb", "kernel-args" },
	};
	struct vm_spec s;
	struct err err;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fixture *f = fixture_new();

		annotate(f, bad[i].key, bad[i].value);
		assert_int_equal(map(f, &s, &err), -EINVAL);
		assert_non_null(strstr(err.msg, bad[i].needle));
		free(f);
	}

	/* Values beyond their bound, on the sandbox too. */
	char *big = malloc(VM_SPEC_CLOUD_INIT_MAX + 2);
	memset(big, 'x', VM_SPEC_CLOUD_INIT_MAX + 1);
	big[VM_SPEC_CLOUD_INIT_MAX + 1] = '\0';
	struct fixture *f = fixture_new();
	annotate_sandbox(f, "kvmlet.io/cloud-init-meta-data", big);
	assert_int_equal(map(f, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
	free(f);
	f = fixture_new();
	big[VM_SPEC_KERNEL_ARGS_MAX + 1] = '\0';
	annotate(f, "kvmlet.io/kernel-args", big);
	assert_int_equal(map(f, &s, &err), -EINVAL);
	free(f);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(resources),
		cmocka_unit_test(annotations),
		cmocka_unit_test(rejections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
