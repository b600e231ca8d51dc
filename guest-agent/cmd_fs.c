// SPDX-License-Identifier: Apache-2.0
/*
 * File systems: guest-get-fsinfo from /proc/self/mountinfo, statvfs and
 * sysfs; guest-fsfreeze-* with FIFREEZE/FITHAW on every mounted file system
 * that is backed by a block device (the only ones a host snapshot covers).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ga_internal.h"

struct mount {
	unsigned int major, minor;
	char *dir, *type, *source;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

static void free_mounts(struct mount *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].dir);
		free(m[i].type);
		free(m[i].source);
	}
	free(m);
}

/* Mounts on real block devices (major != 0), in mount order. */
static struct mount *read_mounts(size_t *count)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct mount *m = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	char *line = NULL;

	*count = 0;
	if (!f)
		return NULL;
	while (getline(&line, &lcap, f) > 0) {
		unsigned int maj, min;
		char dir[4096], type[256], source[4096];
		const char *sep;

		/* id parent maj:min root mountpoint options [optional...] - type source super */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, dir) != 3)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep + 3, "%255s %4095s", type, source) != 2)
			continue;
		if (maj == 0)
			continue;
		if (n == cap) {
			struct mount *nm = realloc(m, (cap = cap ? cap * 2 : 16) * sizeof(*m));

			if (!nm)
				break;
			m = nm;
		}
		unescape(dir);
		unescape(source);
		m[n] = (struct mount){ maj, min, strdup(dir), strdup(type), strdup(source) };
		if (!m[n].dir || !m[n].type || !m[n].source) {
			n++;
			break;
		}
		n++;
	}
	free(line);
	fclose(f);
	*count = n;
	return m;
}

/* The disk behind a device: itself, or the parent of a partition. */
static void disk_address(json_object *disks, const char *sysname)
{
	char path[PATH_MAX], real[PATH_MAX], disk[NAME_MAX + 1];
	const char *bus = "unknown";
	int dom = -1, b = -1, slot = -1, fn = -1;
	json_object *d, *pci;
	char *p;

	snprintf(path, sizeof(path), "/sys/class/block/%s", sysname);
	if (!realpath(path, real))
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/partition", real) < sizeof(path) &&
	    access(path, F_OK) == 0) {
		p = strrchr(real, '/');
		if (p)
			*p = '\0';
	}
	p = strrchr(real, '/');
	if ((size_t)snprintf(disk, sizeof(disk), "%s", p ? p + 1 : real) >= sizeof(disk))
		return;
	if (!strncmp(disk, "vd", 2))
		bus = "virtio";
	else if (!strncmp(disk, "sd", 2))
		bus = "scsi";
	else if (!strncmp(disk, "nvme", 4))
		bus = "nvme";
	else if (!strncmp(disk, "hd", 2))
		bus = "ide";
	/* the last PCI address on the device's sysfs path is its controller */
	for (p = real; (p = strchr(p, '/')); p++) {
		int d0, b0, s0, f0, len = 0;

		if (sscanf(p + 1, "%x:%x:%x.%x%n", &d0, &b0, &s0, &f0, &len) == 4 &&
		    (p[1 + len] == '/' || !p[1 + len]) && len == 12) {
			dom = d0;
			b = b0;
			slot = s0;
			fn = f0;
		}
	}
	d = json_object_new_object();
	pci = json_object_new_object();
	json_object_object_add(pci, "domain", json_object_new_int(dom));
	json_object_object_add(pci, "bus", json_object_new_int(b));
	json_object_object_add(pci, "slot", json_object_new_int(slot));
	json_object_object_add(pci, "function", json_object_new_int(fn));
	json_object_object_add(d, "pci-controller", pci);
	json_object_object_add(d, "bus-type", json_object_new_string(bus));
	json_object_object_add(d, "bus", json_object_new_int(0));
	json_object_object_add(d, "target", json_object_new_int(0));
	json_object_object_add(d, "unit", json_object_new_int(0));
	snprintf(path, sizeof(path), "/dev/%s", disk);
	json_object_object_add(d, "dev", json_object_new_string(path));
	json_object_array_add(disks, d);
}

json_object *cmd_get_fsinfo(struct ga *ga, json_object *args, char **err)
{
	size_t n;
	struct mount *m = read_mounts(&n);
	json_object *list = json_object_new_array();

	/* newest mount first, as QGA lists them */
	for (size_t i = n; i-- > 0;) {
		char path[64], real[PATH_MAX];
		json_object *e = json_object_new_object(), *disks = json_object_new_array();
		const char *name;
		struct statvfs sv;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", m[i].major, m[i].minor);
		if (realpath(path, real) && (name = strrchr(real, '/'))) {
			name++;
			disk_address(disks, name);
		} else {
			name = m[i].source;
		}
		json_object_object_add(e, "name", json_object_new_string(name));
		json_object_object_add(e, "mountpoint", json_object_new_string(m[i].dir));
		json_object_object_add(e, "type", json_object_new_string(m[i].type));
		if (statvfs(m[i].dir, &sv) == 0) {
			uint64_t used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
			uint64_t total =
				(uint64_t)(sv.f_blocks - sv.f_bfree + sv.f_bavail) * sv.f_frsize;

			json_object_object_add(e, "used-bytes",
					       json_object_new_int64((int64_t)used));
			json_object_object_add(e, "total-bytes",
					       json_object_new_int64((int64_t)total));
		}
		json_object_object_add(e, "disk", disks);
		json_object_array_add(list, e);
	}
	free_mounts(m, n);
	return list;
}

json_object *cmd_fsfreeze_status(struct ga *ga, json_object *args, char **err)
{
	return json_object_new_string(ga->frozen ? "frozen" : "thawed");
}

/* Runs FIFREEZE or FITHAW on each block-backed mount; returns how many took it. */
static int freeze_all(unsigned long req, bool newest_first, int *fail_errno, char *fail_dir,
		      size_t fail_len)
{
	size_t n;
	struct mount *m = read_mounts(&n);
	int count = 0;

	for (size_t k = 0; k < n; k++) {
		size_t i = newest_first ? n - 1 - k : k;
		bool seen = false;

		/* a file system mounted twice (bind mounts) is frozen once */
		for (size_t j = 0; j < n; j++) {
			size_t o = newest_first ? n - 1 - j : j;

			if (j < k && m[o].major == m[i].major && m[o].minor == m[i].minor)
				seen = true;
		}
		if (seen)
			continue;
		int fd = open(m[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (ioctl(fd, req, 0) == 0) {
			count++;
		} else if (req == FIFREEZE && errno != EOPNOTSUPP && errno != EBUSY &&
			   !*fail_errno) {
			/* EBUSY: already frozen by someone else; EOPNOTSUPP: cannot freeze */
			*fail_errno = errno;
			snprintf(fail_dir, fail_len, "%s", m[i].dir);
		}
		close(fd);
	}
	free_mounts(m, n);
	return count;
}

json_object *cmd_fsfreeze_freeze(struct ga *ga, json_object *args, char **err)
{
	char dir[4096] = "";
	int fail = 0, count;

	/* Set first: commands that could touch the frozen disks are refused from now on. */
	ga->frozen = true;
	count = freeze_all(FIFREEZE, true, &fail, dir, sizeof(dir));
	if (fail) {
		freeze_all(FITHAW, false, &fail, dir, sizeof(dir));
		ga->frozen = false;
		return ga_fail(err, "failed to freeze %s: %s", dir, strerror(fail));
	}
	/* Nothing took the freeze: nothing needs a thaw, so nothing is refused (as QGA). */
	if (count == 0)
		ga->frozen = false;
	return json_object_new_int(count);
}

json_object *cmd_fsfreeze_thaw(struct ga *ga, json_object *args, char **err)
{
	char dir[16];
	int fail = 0, count = freeze_all(FITHAW, false, &fail, dir, sizeof(dir));

	ga->frozen = false;
	return json_object_new_int(count);
}
