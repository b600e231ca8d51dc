// SPDX-License-Identifier: Apache-2.0
/* Checks of what kubelet sends (check.h). */
#include <errno.h>
#include <string.h>

#include "agent/pod/check.h"
#include "agent/pod/filter.h"

static int check_string(const char *what, const char *s, size_t max, bool required, struct err *err)
{
	size_t n = s ? strlen(s) : 0;

	if (required && !n)
		return err_set(err, -EINVAL, "%s: missing", what);
	if (n > max)
		return err_set(err, -EINVAL, "%s: %zu bytes, over the %zu allowed", what, n, max);
	return 0;
}

/* Keys are non-empty and bounded, values bounded each (value_max) or in total (total_max). */
static int check_map(const char *what, const struct pod_kv *const *map, size_t n, size_t value_max,
		     size_t total_max, struct err *err)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		size_t klen = map[i]->key ? strlen(map[i]->key) : 0;
		size_t vlen = map[i]->value ? strlen(map[i]->value) : 0;

		if (!klen)
			return err_set(err, -EINVAL, "%s: an empty key", what);
		if (klen > POD_KEY_MAX)
			return err_set(err, -EINVAL, "%s: key '%.40s...' is %zu bytes, over %d",
				       what, map[i]->key, klen, POD_KEY_MAX);
		if (vlen > value_max)
			return err_set(err, -EINVAL, "%s[%s]: value of %zu bytes, over %zu", what,
				       map[i]->key, vlen, value_max);
		total += klen + vlen;
		if (total > total_max)
			return err_set(err, -EINVAL, "%s: over %zu bytes in all", what, total_max);
	}
	return 0;
}

/* An absolute path with no ".." component: what the agent takes as a host path. */
static int check_host_path(const char *what, const char *p, struct err *err)
{
	const char *c = p;

	if (p[0] != '/')
		return err_set(err, -EINVAL, "%s: '%.200s' is not absolute", what, p);
	while (*c) {
		size_t n = strcspn(c, "/");

		if (n == 2 && !strncmp(c, "..", 2))
			return err_set(err, -EINVAL, "%s: '%.200s' has a '..' component", what, p);
		c += n;
		while (*c == '/')
			c++;
	}
	return 0;
}

int pod_check_sandbox_config(const Runtime__V1__PodSandboxConfig *cfg, struct err *err)
{
	const Runtime__V1__PodSandboxMetadata *m = cfg ? cfg->metadata : NULL;
	int r;

	if (!cfg)
		return err_set(err, -EINVAL, "config: missing");
	if (!m)
		return err_set(err, -EINVAL, "config.metadata: missing");
	if ((r = check_string("config.metadata.name", m->name, POD_NAME_MAX, true, err)) ||
	    (r = check_string("config.metadata.namespace", m->namespace_, POD_NAMESPACE_MAX, true,
			      err)) ||
	    (r = check_string("config.metadata.uid", m->uid, POD_UID_MAX, true, err)) ||
	    (r = check_string("config.hostname", cfg->hostname, POD_NAME_MAX, false, err)) ||
	    (r = check_string("config.log_directory", cfg->log_directory, 3000, false, err)))
		return r;
	if (cfg->log_directory && *cfg->log_directory &&
	    (r = check_host_path("config.log_directory", cfg->log_directory, err)))
		return r;
	if ((r = check_map("config.labels", POD_KV(cfg->labels), cfg->n_labels, POD_LABEL_VALUE_MAX,
			   POD_ANNOTATIONS_MAX, err)) ||
	    (r = check_map("config.annotations", POD_KV(cfg->annotations), cfg->n_annotations,
			   POD_ANNOTATIONS_MAX, POD_ANNOTATIONS_MAX, err)))
		return r;
	if (cfg->linux && cfg->linux->cgroup_parent)
		return check_string("config.linux.cgroup_parent", cfg->linux->cgroup_parent, 1024,
				    false, err);
	return 0;
}

int pod_check_container_config(const Runtime__V1__ContainerConfig *cfg, struct err *err)
{
	const Runtime__V1__ContainerMetadata *m = cfg ? cfg->metadata : NULL;
	int r;

	if (!cfg)
		return err_set(err, -EINVAL, "config: missing");
	if (!m)
		return err_set(err, -EINVAL, "config.metadata: missing");
	if ((r = check_string("config.metadata.name", m->name, CONTAINER_NAME_MAX, true, err)))
		return r;
	if (!cfg->image || !cfg->image->image || !*cfg->image->image)
		return err_set(err, -EINVAL, "config.image.image: missing");
	if ((r = check_string("config.image.image", cfg->image->image, 4096, true, err)) ||
	    (r = check_string("config.log_path", cfg->log_path, 3000, false, err)) ||
	    (r = check_map("config.labels", POD_KV(cfg->labels), cfg->n_labels, POD_LABEL_VALUE_MAX,
			   POD_ANNOTATIONS_MAX, err)) ||
	    (r = check_map("config.annotations", POD_KV(cfg->annotations), cfg->n_annotations,
			   POD_ANNOTATIONS_MAX, POD_ANNOTATIONS_MAX, err)))
		return r;
	/* A mount's host path escaping kubelet's directories is refused, not walked. */
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const char *hp = cfg->mounts[i] ? cfg->mounts[i]->host_path : NULL;

		if (!hp || !*hp)
			return err_set(err, -EINVAL, "config.mounts[%zu].host_path: missing", i);
		if ((r = check_string("config.mounts.host_path", hp, 4096, true, err)) ||
		    (r = check_host_path("config.mounts.host_path", hp, err)))
			return r;
	}
	return 0;
}
