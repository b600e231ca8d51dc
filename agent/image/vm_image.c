// SPDX-License-Identifier: Apache-2.0
/* The kernel, initrd, cmdline and disks of an unpacked VM image (vm_image.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/image/vm_image.h"

static int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
			   RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* A regular file at name below root: 0, -ENOENT if absent, else an error. */
static int regular_file(int root, const char *name, struct err *err)
{
	int fd = open_beneath(root, name, O_PATH);
	struct stat st;
	int rc = 0;

	if (fd == -ENOENT)
		return -ENOENT;
	if (fd < 0)
		return err_set(err, fd == -ELOOP || fd == -EXDEV ? -EINVAL : fd,
			       "/%s: %s (a symlink on the way is refused)", name, strerror(-fd));
	if (fstat(fd, &st))
		rc = err_set(err, -errno, "/%s: %m", name);
	else if (!S_ISREG(st.st_mode))
		rc = err_set(err, -EINVAL, "/%s: not a regular file", name);
	close(fd);
	return rc;
}

static char *join(const char *a, const char *b)
{
	char *s;

	return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

/* One optional file: *out gets "rootfs/<name>" when present. */
static int find_file(int root, const char *rootfs, const char *name, char **out, struct err *err)
{
	int rc = regular_file(root, name, err);

	*out = NULL;
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	*out = join(rootfs, name);
	return *out ? 0 : err_set(err, -ENOMEM, "out of memory");
}

/* One line of printable text (tabs allowed): a newline or control character would reach the
 * kernel, the VM config and the logs as something other than one command line. */
static bool cmdline_ok(const char *s)
{
	for (; *s; s++)
		if ((*s != '\t' && (unsigned char)*s < 0x20) || *s == 0x7f)
			return false;
	return true;
}

/* /boot/cmdline: one line, a trailing newline dropped. */
static int read_cmdline(int root, char **out, struct err *err)
{
	char buf[VM_IMAGE_CMDLINE_MAX + 1];
	int rc = regular_file(root, "boot/cmdline", err), fd;
	ssize_t n;

	*out = NULL;
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	fd = open_beneath(root, "boot/cmdline", O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		return err_set(err, fd, "/boot/cmdline: %s", strerror(-fd));
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		return err_set(err, -errno, "/boot/cmdline: %m");
	if (n > VM_IMAGE_CMDLINE_MAX)
		return err_set(err, -EFBIG, "/boot/cmdline: over %d bytes", VM_IMAGE_CMDLINE_MAX);
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (strlen(buf) != (size_t)n || !cmdline_ok(buf))
		return err_set(err, -EINVAL, "/boot/cmdline: must be one line of text");
	*out = strdup(buf);
	return *out ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry directly under /disk/ must be a regular file; sorted by name. */
static int find_disks(int root, const char *rootfs, struct vm_image_parts *p, struct err *err)
{
	int fd = open_beneath(root, "disk", O_RDONLY | O_DIRECTORY), rc = 0;
	struct dirent *de;
	DIR *d;

	p->disks = calloc(VM_IMAGE_MAX_DISKS + 1, sizeof(char *));
	if (!p->disks) {
		if (fd >= 0)
			close(fd);
		return err_set(err, -ENOMEM, "out of memory");
	}
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return err_set(err, -EINVAL, "/disk: %s (must be a directory, not a symlink)",
			       strerror(-fd));
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return err_set(err, -errno, "/disk: %m");
	}
	while (!rc && (de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
			rc = err_set(err, -errno, "/disk/%s: %m", de->d_name);
		else if (!S_ISREG(st.st_mode))
			rc = err_set(err, -EINVAL, "/disk/%s: not a regular file", de->d_name);
		else if (p->nr_disks == VM_IMAGE_MAX_DISKS)
			rc = err_set(err, -E2BIG, "/disk: more than %d disks", VM_IMAGE_MAX_DISKS);
		else if (asprintf(&p->disks[p->nr_disks], "%s/disk/%s", rootfs, de->d_name) < 0)
			rc = err_set(err, -ENOMEM, "out of memory");
		else
			p->nr_disks++;
	}
	closedir(d);
	qsort(p->disks, p->nr_disks, sizeof(char *), cmp_names);
	return rc;
}

int vm_image_find(const char *image_dir, const char *rootfs, const char *label_cmdline,
		  struct vm_image_parts *out, struct err *err)
{
	char path[PATH_MAX];
	int root, rc;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/%s", image_dir, rootfs);
	root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (root < 0)
		return err_set(err, -errno, "%s: %m", path);
	rc = find_file(root, rootfs, "boot/vmlinuz", &out->kernel, err);
	if (!rc)
		rc = find_file(root, rootfs, "boot/initrd", &out->initrd, err);
	if (!rc && label_cmdline) {
		if (strlen(label_cmdline) > VM_IMAGE_CMDLINE_MAX)
			rc = err_set(err, -EFBIG, "label %s: over %d bytes", VM_IMAGE_CMDLINE_LABEL,
				     VM_IMAGE_CMDLINE_MAX);
		else if (!cmdline_ok(label_cmdline))
			rc = err_set(err, -EINVAL, "label %s: must be one line of text",
				     VM_IMAGE_CMDLINE_LABEL);
		else if (!(out->cmdline = strdup(label_cmdline)))
			rc = err_set(err, -ENOMEM, "out of memory");
	} else if (!rc) {
		rc = read_cmdline(root, &out->cmdline, err);
	}
	if (!rc)
		rc = find_disks(root, rootfs, out, err);
	close(root);
	if (rc)
		vm_image_parts_free(out);
	return rc ? err_prefix(err, rc, "VM image: ") : 0;
}

/*
 * The cap on virtual size is for all the image's qcow2 disks together: a few
 * MiB of qcow2 may expand to the cap, and per disk that was 64 times over.
 */
int vm_image_convert_disks(const char *image_dir, const struct vm_image_parts *parts,
			   const struct qcow2_options *opt, struct err *err)
{
	struct qcow2_options left = *opt;

	for (size_t i = 0; i < parts->nr_disks; i++) {
		char path[PATH_MAX];
		struct stat st;
		bool qcow2;
		int fd, rc;

		snprintf(path, sizeof(path), "%s/%s", image_dir, parts->disks[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			return err_set(err, -errno, "%s: %m", path);
		rc = qcow2_probe(fd, &qcow2);
		close(fd);
		if (rc)
			return err_set(err, rc, "%s: %s", path, strerror(-rc));
		if (!qcow2)
			continue;
		rc = qcow2_convert_to_raw(path, &left, err);
		if (rc)
			return err_prefix(err, rc, "disk /%s: ", parts->disks[i]);
		if (!left.max_virtual_size)
			continue;
		if (stat(path, &st))
			return err_set(err, -errno, "%s: %m", path);
		/* Never 0, which would mean no cap: 1 byte refuses any further qcow2. */
		left.max_virtual_size = (uint64_t)st.st_size < left.max_virtual_size
						? left.max_virtual_size - (uint64_t)st.st_size
						: 1;
	}
	return 0;
}

void vm_image_parts_free(struct vm_image_parts *p)
{
	free(p->kernel);
	free(p->initrd);
	free(p->cmdline);
	for (size_t i = 0; p->disks && i < p->nr_disks; i++)
		free(p->disks[i]);
	free(p->disks);
	memset(p, 0, sizeof(*p));
}
