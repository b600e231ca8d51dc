// SPDX-License-Identifier: Apache-2.0
/* The pod's cgroup (cgroup.h). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/pod/cgroup.h"
#include "lib/mkdir_p.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const v1_controllers[] = { "cpu", "cpuacct", "memory", "pids" };

static bool has_dotdot(const char *p)
{
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && !strncmp(p, "..", 2))
			return true;
		p += n;
		while (*p == '/')
			p++;
	}
	return false;
}

int pod_cgroup_relpath(const char *cgroup_parent, char *out, size_t cap, struct err *err)
{
	int w;

	out[0] = '\0';
	if (has_dotdot(cgroup_parent))
		return err_set(err, -EINVAL, "cgroup_parent: '%s' has a '..' component",
			       cgroup_parent);
	while (*cgroup_parent == '/')
		cgroup_parent++;
	w = snprintf(out, cap, "%s", cgroup_parent);
	if (w < 0 || (size_t)w >= cap)
		return err_set(err, -ENAMETOOLONG, "cgroup_parent: too long");
	return 0;
}

static int make(const char *root, const char *ctl, const char *rel, struct err *err)
{
	char path[PATH_MAX];
	int r = snprintf(path, sizeof(path), "%s%s%s/%s", root, ctl ? "/" : "", ctl ? ctl : "",
			 rel);

	if (r < 0 || (size_t)r >= sizeof(path))
		return err_set(err, -ENAMETOOLONG, "cgroup %s: too long", rel);
	if ((r = mkdir_p(path, 0755)))
		return err_set(err, r, "cgroup %s: cannot create it: %s", path, strerror(-r));
	return 0;
}

int pod_cgroup_ensure(const char *root, const char *cgroup_parent, struct err *err)
{
	char rel[PATH_MAX], probe[PATH_MAX];
	struct stat st;
	int r;

	if (!cgroup_parent || !*cgroup_parent)
		return 0;
	if ((r = pod_cgroup_relpath(cgroup_parent, rel, sizeof(rel), err)))
		return r;
	if (!*rel)
		return 0;
	snprintf(probe, sizeof(probe), "%s/cgroup.controllers", root);
	if (!access(probe, F_OK))
		return make(root, NULL, rel, err);
	for (size_t i = 0; i < ARRAY_SIZE(v1_controllers); i++) {
		snprintf(probe, sizeof(probe), "%s/%s", root, v1_controllers[i]);
		if (stat(probe, &st) || !S_ISDIR(st.st_mode))
			continue;
		if ((r = make(root, v1_controllers[i], rel, err)))
			return r;
	}
	return 0;
}
