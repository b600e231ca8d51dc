// SPDX-License-Identifier: Apache-2.0
/* CRI resources and kvmlet.io/ annotations to a VM shape (spec.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/image/store.h"
#include "agent/vm/spec.h"

#define ANNOTATION_PREFIX "kvmlet.io/"

enum annotation {
	A_KERNEL_ARGS,
	A_VCPUS,
	A_RNG,
	A_USER_DATA,
	A_META_DATA,
	A_NETWORK_CONFIG,
	A_COUNT,
};

/* Every annotation kvmlet reads; any other kvmlet.io/ key is refused. */
static const struct {
	const char *key;
	size_t max;
} annotations[A_COUNT] = {
	[A_KERNEL_ARGS] = { ANNOTATION_PREFIX "kernel-args", VM_SPEC_KERNEL_ARGS_MAX },
	[A_VCPUS] = { ANNOTATION_PREFIX "vcpus", 3 },
	[A_RNG] = { ANNOTATION_PREFIX "rng", 5 },
	[A_USER_DATA] = { ANNOTATION_PREFIX "cloud-init-user-data", VM_SPEC_CLOUD_INIT_MAX },
	[A_META_DATA] = { ANNOTATION_PREFIX "cloud-init-meta-data", VM_SPEC_CLOUD_INIT_MAX },
	[A_NETWORK_CONFIG] = { ANNOTATION_PREFIX "cloud-init-network-config",
			       VM_SPEC_CLOUD_INIT_MAX },
};

static int annotation_index(const char *key)
{
	for (int i = 0; i < A_COUNT; i++)
		if (!strcmp(key, annotations[i].key))
			return i;
	return -1;
}

/* Records a known annotation into vals[] (a later one wins) and refuses unknown ones. */
static int annotation_scan(const char *where, const char *k, const char *v, const char **vals,
			   struct err *err)
{
	int a;

	k = k ? k : "";
	v = v ? v : "";
	if (strncmp(k, ANNOTATION_PREFIX, strlen(ANNOTATION_PREFIX)))
		return 0;
	a = annotation_index(k);
	if (a < 0)
		return err_set(err, -EINVAL,
			       "%s annotation '%.80s': unknown kvmlet.io/ annotation (docs/cri.md "
			       "lists them)",
			       where, k);
	if (strlen(v) > annotations[a].max)
		return err_set(err, -EINVAL, "%s annotation '%s': longer than %zu bytes", where, k,
			       annotations[a].max);
	vals[a] = v;
	return 0;
}

static int scan_sandbox(const Runtime__V1__PodSandboxConfig *sb, const char **vals, struct err *err)
{
	for (size_t i = 0; sb && i < sb->n_annotations; i++) {
		int r = annotation_scan("pod sandbox", sb->annotations[i]->key,
					sb->annotations[i]->value, vals, err);
		if (r)
			return r;
	}
	return 0;
}

static int scan_container(const Runtime__V1__ContainerConfig *c, const char **vals, struct err *err)
{
	for (size_t i = 0; i < c->n_annotations; i++) {
		int r = annotation_scan("container", c->annotations[i]->key,
					c->annotations[i]->value, vals, err);
		if (r)
			return r;
	}
	return 0;
}

static int parse_vcpus(const char *v, uint32_t *out, struct err *err)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (!*v || *end || errno || v[0] == '-' || v[0] == '+' || n < 1 || n > VM_SPEC_MAX_VCPUS)
		return err_set(err, -EINVAL,
			       "annotation '" ANNOTATION_PREFIX "vcpus': '%s' is not a number "
			       "from 1 to %u",
			       v, VM_SPEC_MAX_VCPUS);
	*out = (uint32_t)n;
	return 0;
}

static int parse_bool(const char *key, const char *v, bool *out, struct err *err)
{
	if (!strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "false"))
		*out = false;
	else
		return err_set(err, -EINVAL, "annotation '%s': expected \"true\" or \"false\"",
			       key);
	return 0;
}

/* ceil(quota/period), at least 1, at most the VMM's maximum. */
static uint32_t vcpus_from_quota(int64_t quota, int64_t period)
{
	uint64_t n;

	if (quota <= 0 || period <= 0)
		return 1;
	n = ((uint64_t)quota + (uint64_t)period - 1) / (uint64_t)period;
	return n > VM_SPEC_MAX_VCPUS ? VM_SPEC_MAX_VCPUS : (uint32_t)n;
}

static int map_resources(const Runtime__V1__ContainerConfig *c, uint64_t default_memory_mib,
			 struct vm_spec *s, struct err *err)
{
	const Runtime__V1__LinuxContainerResources *r = c->linux ? c->linux->resources : NULL;

	s->memory_mib = default_memory_mib;
	s->vcpus = 1;
	if (!r)
		return 0;
	if (r->memory_limit_in_bytes < 0)
		return err_set(err, -EINVAL, "linux.resources.memory_limit_in_bytes: negative");
	if (r->memory_limit_in_bytes > 0) {
		s->memory_mib = (uint64_t)r->memory_limit_in_bytes >> 20;
		if (s->memory_mib < VM_SPEC_MIN_MEMORY_MIB)
			return err_set(err, -EINVAL,
				       "linux.resources.memory_limit_in_bytes: %" PRId64
				       " bytes is below the VM minimum of %u MiB",
				       r->memory_limit_in_bytes, VM_SPEC_MIN_MEMORY_MIB);
	}
	if (r->cpu_quota > 0 && r->cpu_period > 0) {
		s->cpu_quota_us = r->cpu_quota;
		s->cpu_period_us = r->cpu_period;
	}
	s->vcpus = vcpus_from_quota(r->cpu_quota, r->cpu_period);
	return 0;
}

static int build_cmdline(const char *image, const char *extra, struct vm_spec *s, struct err *err)
{
	size_t n;

	image = image ? image : "";
	extra = extra ? extra : "";
	n = strlen(image) + 1 + strlen(extra) + 1;
	if (n > VM_SPEC_CMDLINE_MAX)
		return err_set(err, -EINVAL,
			       "the kernel command line (image's and kvmlet.io/kernel-args) is "
			       "longer than %u bytes",
			       VM_SPEC_CMDLINE_MAX);
	for (const char *p = extra; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return err_set(err, -EINVAL,
				       "annotation '" ANNOTATION_PREFIX
				       "kernel-args': control characters");
	s->cmdline = malloc(n);
	if (!s->cmdline)
		return err_set(err, -ENOMEM, "out of memory");
	snprintf(s->cmdline, n, "%s%s%s", image, *image && *extra ? " " : "", extra);
	return 0;
}

int vm_spec_map(const struct vm_request *req, uint64_t default_memory_mib, struct vm_spec *out,
		struct err *err)
{
	const char *vals[A_COUNT] = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	if (!req->config)
		return err_set(err, -EINVAL, "container config: missing");
	/* The sandbox's first, so that the container's win. */
	r = scan_sandbox(req->sandbox, vals, err);
	if (!r)
		r = scan_container(req->config, vals, err);
	if (!r)
		r = map_resources(req->config, default_memory_mib, out, err);
	if (!r && vals[A_VCPUS])
		r = parse_vcpus(vals[A_VCPUS], &out->vcpus, err);
	if (!r && vals[A_RNG])
		r = parse_bool(annotations[A_RNG].key, vals[A_RNG], &out->rng, err);
	if (!r)
		r = build_cmdline(req->image ? req->image->cmdline : NULL, vals[A_KERNEL_ARGS], out,
				  err);
	if (r) {
		vm_spec_free(out);
		return r;
	}
	out->user_data = vals[A_USER_DATA];
	out->meta_data = vals[A_META_DATA];
	out->network_config = vals[A_NETWORK_CONFIG];
	return 0;
}

bool vm_spec_wants_cidata(const struct vm_spec *s)
{
	return s->user_data || s->meta_data || s->network_config;
}

void vm_spec_free(struct vm_spec *s)
{
	free(s->cmdline);
	s->cmdline = NULL;
}
