// SPDX-License-Identifier: Apache-2.0
/*
 * ContainerStats and PodSandboxStats (vm.h): the cgroup's counters, and
 * the blocks the VM's disk copies take.
 */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/vm/cgroup.h"
#include "agent/vm/host_priv.h"
#include "agent/vm/jail.h"
#include "agent/vm/vm.h"
#include "lib/clock.h"

int host_stats(void *ctx, const char *id, struct vm_stats *out, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	struct vm_cgroup_stats cs;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	int r = host_load(h, id, state, sizeof(state), &rec, err);

	if (r)
		return r;
	memset(out, 0, sizeof(*out));
	out->timestamp = (int64_t)clock_ns(CLOCK_REALTIME);
	/* A VM that never ran, or whose group is gone, uses nothing. */
	if (vm_cgroup_stats(rec.cgroup_version, rec.cgroup, &cs, err) == 0) {
		out->cpu_usage_ns = cs.cpu_usage_ns;
		out->memory_usage = cs.memory_usage;
		out->memory_working_set = cs.memory_working_set;
	} else {
		memset(err, 0, sizeof(*err));
	}
	/* Without a jail path, no disk to count (create made sure it fits). */
	size_t nr_disks = host_jail_paths(h, id, jail_dir, root, sizeof(root)) ? 0 : rec.nr_disks;

	for (size_t i = 0; i < nr_disks; i++) {
		char path[PATH_MAX];
		struct stat st;

		if (!vm_pathf(path, sizeof(path), "%s/%s", root, rec.disks[i]) &&
		    lstat(path, &st) == 0) {
			out->disk_used_bytes += (uint64_t)st.st_blocks * 512;
			out->disk_inodes++;
		}
	}
	vm_record_free(&rec);
	return 0;
}

int host_sandbox_stats(void *ctx, const char *cgroup_parent, struct vm_stats *out, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_cgroup_stats cs;
	char rel[PATH_MAX];
	int r = vm_cgroup_parent(cgroup_parent, rel, sizeof(rel), err);

	memset(out, 0, sizeof(*out));
	if (r)
		return r;
	out->timestamp = (int64_t)clock_ns(CLOCK_REALTIME);
	/* The parent's counters include its VMs' (hierarchical accounting). */
	r = vm_cgroup_stats(h->cgroup_version, rel, &cs, err);
	if (r)
		return r;
	out->cpu_usage_ns = cs.cpu_usage_ns;
	out->memory_usage = cs.memory_usage;
	out->memory_working_set = cs.memory_working_set;
	return 0;
}
