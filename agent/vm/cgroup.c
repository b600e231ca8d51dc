// SPDX-License-Identifier: Apache-2.0
/* The VM's cgroup: version, jailer values, stats, OOM, removal (cgroup.h). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "agent/vm/cgroup.h"
#include "lib/clock.h"

/* The v1 hierarchies a VM's group lives in: the jailer writes one value into each. */
static const char *const v1_controllers[] = { "memory", "cpu", "cpuacct", "pids" };

int vm_cgroup_version(void)
{
	struct statfs sf;

	if (statfs(VM_CGROUP_ROOT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC)
		return 2;
	return 1;
}

/*
 * kubelet's systemd cgroup driver names the parent as a slice unit,
 * "kubepods-burstable-pod<uid>.slice", whose directory is nested by its
 * dashes: "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-
 * pod<uid>.slice" (systemd.slice(5); runc's ExpandSlice does the same).
 * "-.slice" is the root slice. name[0..n) has no '/' and ends in ".slice".
 */
static int expand_slice(const char *name, size_t n, char *buf, size_t size, struct err *err)
{
	size_t stem = n - strlen(".slice"), o = 0;

	if (stem == 1 && name[0] == '-') {
		snprintf(buf, size, "kvmlet");
		return 0;
	}
	if (!stem || name[0] == '-' || name[stem - 1] == '-' || memmem(name, stem, "--", 2))
		return err_set(err, -EINVAL,
			       "cgroup_parent '%.100s': not a valid systemd slice name", name);
	for (size_t i = 0; i <= stem; i++) {
		if (i < stem && name[i] != '-')
			continue;
		int w = snprintf(buf + o, size - o, "%s%.*s.slice", o ? "/" : "", (int)i, name);

		if (w < 0 || (size_t)w >= size - o)
			return err_set(err, -EINVAL, "cgroup_parent: too long");
		o += (size_t)w;
	}
	return 0;
}

int vm_cgroup_parent(const char *cgroup_parent, char *buf, size_t size, struct err *err)
{
	const char *p = cgroup_parent ? cgroup_parent : "";
	size_t n;

	while (*p == '/')
		p++;
	if (!*p)
		p = "kvmlet";
	n = strlen(p);
	while (n && p[n - 1] == '/')
		n--;
	if (n + 1 > size || n > 1024)
		return err_set(err, -EINVAL, "cgroup_parent: too long");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return err_set(err, -EINVAL, "cgroup_parent: not printable ASCII");
	/* Every component a real name: nothing climbs out of the hierarchy. */
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && p[j] != '/')
			j++;
		if (j == i || (j - i == 1 && p[i] == '.') ||
		    (j - i == 2 && p[i] == '.' && p[i + 1] == '.'))
			return err_set(err, -EINVAL,
				       "cgroup_parent '%.100s': empty, '.' or '..' component",
				       cgroup_parent);
		i = j + 1;
	}
	if (n >= strlen(".slice") && !memchr(p, '/', n) &&
	    !memcmp(p + n - strlen(".slice"), ".slice", strlen(".slice")))
		return expand_slice(p, n, buf, size, err);
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

static int push_value(int (*push)(void *, const char *), void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int push_value(int (*push)(void *, const char *), void *ctx, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	r = push(ctx, "--cgroup");
	return r ? r : push(ctx, buf);
}

int vm_cgroup_jailer_args(int v, uint64_t memory_bytes, int64_t quota_us, int64_t period_us,
			  int (*push)(void *ctx, const char *arg), void *ctx)
{
	int r;

	if (v == 2) {
		r = push_value(push, ctx, "memory.max=%" PRIu64, memory_bytes);
		if (!r && quota_us > 0)
			r = push_value(push, ctx, "cpu.max=%" PRId64 " %" PRId64, quota_us,
				       period_us);
		return r;
	}
	r = push_value(push, ctx, "memory.limit_in_bytes=%" PRIu64, memory_bytes);
	/* Period first: the kernel checks the quota against it. */
	if (!r)
		r = push_value(push, ctx, "cpu.cfs_period_us=%" PRId64,
			       quota_us > 0 ? period_us : 100000);
	if (!r)
		r = push_value(push, ctx, "cpu.cfs_quota_us=%" PRId64,
			       quota_us > 0 ? quota_us : -1);
	/* cpuacct is its own hierarchy on hybrid hosts: a write creates the group there. */
	if (!r)
		r = push_value(push, ctx, "cpuacct.usage=0");
	/*
	 * The pod's pids group counts and bounds the VMM's threads too: a write
	 * that changes nothing puts the VMM there, not in the shim's own group.
	 * Only where that hierarchy is mounted: the jailer refuses a controller
	 * it cannot find.
	 */
	if (!r && access(VM_CGROUP_ROOT "/pids/cgroup.procs", F_OK) == 0)
		r = push_value(push, ctx, "pids.max=max");
	return r;
}

static int group_file(int v, const char *ctrl, const char *rel, const char *file, char *buf,
		      size_t size)
{
	int n = v == 2 ? snprintf(buf, size, VM_CGROUP_ROOT "/%s%s%s", rel, *file ? "/" : "", file)
		       : snprintf(buf, size, VM_CGROUP_ROOT "/%s/%s%s%s", ctrl, rel,
				  *file ? "/" : "", file);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* A small cgroup file, NUL-terminated. */
static int read_small(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return 0;
}

static int read_u64(const char *path, uint64_t *out)
{
	char buf[64];
	char *end;
	int r = read_small(path, buf, sizeof(buf));

	if (r)
		return r;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return errno || end == buf ? -EINVAL : 0;
}

/* "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
static int read_key(const char *path, const char *key, uint64_t *out)
{
	char buf[8192];
	size_t klen = strlen(key);
	int r = read_small(path, buf, sizeof(buf));

	if (r)
		return r;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');

		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			*out = strtoull(line + klen + 1, NULL, 10);
			return 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	return -ENOENT;
}

int vm_cgroup_stats(int v, const char *rel, struct vm_cgroup_stats *out, struct err *err)
{
	char path[PATH_MAX];
	uint64_t inactive = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (v == 2) {
		uint64_t usec = 0;

		r = group_file(v, NULL, rel, "cpu.stat", path, sizeof(path));
		if (!r)
			r = read_key(path, "usage_usec", &usec);
		out->cpu_usage_ns = usec * 1000;
		if (!r)
			r = group_file(v, NULL, rel, "memory.current", path, sizeof(path));
		if (!r)
			r = read_u64(path, &out->memory_usage);
		if (!r)
			r = group_file(v, NULL, rel, "memory.stat", path, sizeof(path));
		if (!r)
			r = read_key(path, "inactive_file", &inactive);
	} else {
		r = group_file(v, "cpuacct", rel, "cpuacct.usage", path, sizeof(path));
		if (!r)
			r = read_u64(path, &out->cpu_usage_ns);
		if (!r)
			r = group_file(v, "memory", rel, "memory.usage_in_bytes", path,
				       sizeof(path));
		if (!r)
			r = read_u64(path, &out->memory_usage);
		if (!r)
			r = group_file(v, "memory", rel, "memory.stat", path, sizeof(path));
		if (!r)
			r = read_key(path, "total_inactive_file", &inactive);
	}
	if (r)
		return err_set(err, r == -ENOENT ? -ENOENT : r, "cgroup '%s': %s: %s", rel, path,
			       strerror(-r));
	out->memory_working_set = out->memory_usage > inactive ? out->memory_usage - inactive : 0;
	return 0;
}

bool vm_cgroup_oom(int v, const char *rel)
{
	char path[PATH_MAX];
	uint64_t n = 0;

	if (group_file(v, "memory", rel, v == 2 ? "memory.events" : "memory.oom_control", path,
		       sizeof(path)))
		return false;
	return read_key(path, "oom_kill", &n) == 0 && n > 0;
}

bool vm_cgroup_populated(int v, const char *rel)
{
	char path[PATH_MAX], buf[4096];
	uint64_t n = 0;

	if (v == 2) {
		if (group_file(v, NULL, rel, "cgroup.events", path, sizeof(path)))
			return false;
		return read_key(path, "populated", &n) == 0 && n > 0;
	}
	for (size_t i = 0; i < sizeof(v1_controllers) / sizeof(v1_controllers[0]); i++) {
		if (!group_file(v, v1_controllers[i], rel, "cgroup.procs", path, sizeof(path)) &&
		    !read_small(path, buf, sizeof(buf)) && buf[0])
			return true;
	}
	return false;
}

/*
 * Whether /proc/<pid>/cgroup puts the process in rel (in the memory
 * hierarchy on v1, the unified one on v2). Read after a pidfd pinned the
 * process: if the pid was reused before, the new owner's groups are read,
 * and it is spared unless it is ours too.
 */
static bool proc_in_group(int v, pid_t pid, const char *rel)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_small(path, buf, sizeof(buf)))
		return false;
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (nl)
			*nl = '\0';
		if (c2) {
			bool match;

			*c2 = '\0';
			if (v == 2) {
				match = !strcmp(c1 + 1, "");
			} else {
				char *tok, *save = NULL;

				match = false;
				for (tok = strtok_r(c1 + 1, ",", &save); tok && !match;
				     tok = strtok_r(NULL, ",", &save))
					match = !strcmp(tok, "memory");
			}
			if (match)
				return c2[1] == '/' && !strcmp(c2 + 2, rel);
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

/* One SIGKILL to each listed task, through a pidfd and only if it is ours. */
static void kill_listed(int v, const char *rel)
{
	char path[PATH_MAX];
	FILE *f;
	long pid;

	if (group_file(v, v == 2 ? NULL : "memory", rel, "cgroup.procs", path, sizeof(path)))
		return;
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%ld", &pid) == 1) {
		int pfd = pid > 1 ? (int)syscall(SYS_pidfd_open, (pid_t)pid, 0) : -1;

		if (pfd < 0)
			continue;
		if (proc_in_group(v, (pid_t)pid, rel))
			syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
		close(pfd);
	}
	fclose(f);
}

int vm_cgroup_kill(int v, const char *rel, unsigned int timeout_ms)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000ULL;
	char path[PATH_MAX];
	bool kill_file = false;

	/* v2 (5.14+): the kernel kills the whole group, no pid ever read. */
	if (v == 2 && !group_file(v, NULL, rel, "cgroup.kill", path, sizeof(path)))
		kill_file = access(path, W_OK) == 0;
	for (;;) {
		if (!vm_cgroup_populated(v, rel))
			return 0;
		if (kill_file) {
			FILE *f = fopen(path, "we");

			if (f) {
				fputs("1", f);
				fclose(f);
			}
		} else {
			kill_listed(v, rel);
		}
		if (clock_mono_ns() >= deadline)
			return -EBUSY;
		/* A killed task leaves its group a moment after it is reaped. */
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/*
 * The shims' own groups: <hierarchy>/kvmlet-shims/<id> in every mounted
 * hierarchy (v1: each controller's, name=systemd's, the hybrid "unified";
 * v2: the one tree). fn runs on each such directory path.
 */
static int each_shim_group(const char *id, int (*fn)(const char *dir, const char *top))
{
	DIR *d = opendir(VM_CGROUP_ROOT);
	struct dirent *de;
	struct statfs sf;
	int r = 0;

	if (statfs(VM_CGROUP_ROOT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) {
		char dir[PATH_MAX];

		if (d)
			closedir(d);
		if (snprintf(dir, sizeof(dir), "%s/" VM_SHIM_CGROUP "/%s", VM_CGROUP_ROOT, id) >=
		    (int)sizeof(dir))
			return -ENAMETOOLONG;
		return fn(dir, VM_CGROUP_ROOT);
	}
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char top[PATH_MAX], dir[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(top, sizeof(top), "%s/%s", VM_CGROUP_ROOT, de->d_name);
		/* "cpu,cpuacct" has its links "cpu" and "cpuacct": each hierarchy once. */
		if (lstat(top, &st) || !S_ISDIR(st.st_mode) || statfs(top, &sf) ||
		    (sf.f_type != CGROUP_SUPER_MAGIC && sf.f_type != CGROUP2_SUPER_MAGIC))
			continue;
		int e = snprintf(dir, sizeof(dir), "%s/" VM_SHIM_CGROUP "/%s", top, id) >=
					(int)sizeof(dir)
				? -ENAMETOOLONG
				: fn(dir, top);

		if (e && !r)
			r = e;
	}
	closedir(d);
	return r;
}

/* A new v1 cpuset group has no CPUs or memory nodes, and no task may join it. */
static void cpuset_inherit(const char *dir, const char *from)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };

	for (size_t i = 0; i < 2; i++) {
		char src[PATH_MAX], dst[PATH_MAX], val[4096];
		FILE *f;

		snprintf(src, sizeof(src), "%s/%s", from, files[i]);
		snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]);
		if (access(dst, F_OK) || read_small(src, val, sizeof(val)))
			continue;
		f = fopen(dst, "we");
		if (f) {
			fputs(val, f);
			fclose(f);
		}
	}
}

static int enter_group(const char *dir, const char *top)
{
	char mid[PATH_MAX], procs[PATH_MAX];
	FILE *f;
	int r = 0;

	snprintf(mid, sizeof(mid), "%s/" VM_SHIM_CGROUP, top);
	if ((mkdir(mid, 0755) && errno != EEXIST) || (mkdir(dir, 0755) && errno != EEXIST))
		return -errno;
	cpuset_inherit(mid, top);
	cpuset_inherit(dir, mid);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	f = fopen(procs, "we");
	if (!f)
		return -errno;
	/* "0": the writer itself. */
	if (fputs("0", f) < 0)
		r = -EIO;
	if (fclose(f) && !r)
		r = -errno;
	return r;
}

static int remove_group(const char *dir, const char *top)
{
	(void)top;
	return rmdir(dir) && errno != ENOENT ? -errno : 0;
}

int vm_cgroup_enter_shim(const char *id)
{
	return each_shim_group(id, enter_group);
}

int vm_cgroup_remove_shim(const char *id)
{
	return each_shim_group(id, remove_group);
}

bool vm_cgroup_exists(int v, const char *rel)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < (v == 2 ? 1 : sizeof(v1_controllers) / sizeof(v1_controllers[0]));
	     i++) {
		if (!group_file(v, v1_controllers[i], rel, "", path, sizeof(path)) &&
		    access(path, F_OK) == 0)
			return true;
	}
	return false;
}

int vm_cgroup_remove(int v, const char *rel, struct err *err)
{
	char path[PATH_MAX];
	/* A killed task leaves its group a moment after it is reaped. */
	uint64_t deadline = clock_mono_ns() + 2000000000ULL;

	for (size_t i = 0; i < (v == 2 ? 1 : sizeof(v1_controllers) / sizeof(v1_controllers[0]));
	     i++) {
		if (group_file(v, v1_controllers[i], rel, "", path, sizeof(path)))
			return err_set(err, -ENAMETOOLONG, "cgroup '%s': path too long", rel);
		while (rmdir(path) && errno == EBUSY && clock_mono_ns() < deadline) {
			uint64_t left = (deadline - clock_mono_ns()) / 1000000ULL;

			vm_cgroup_kill(v, rel, (unsigned int)left + 1);
		}
		if (access(path, F_OK) == 0)
			return err_set(err, -EBUSY, "cgroup '%s': still has tasks", path);
	}
	return 0;
}
