// SPDX-License-Identifier: Apache-2.0
/* Filling and emptying a VM's jail root (jail.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/vm/disk.h"
#include "agent/vm/jail.h"

int vm_pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int vm_jail_dir(const char *jail_base, const char *vmm_path, const char *id, char *buf, size_t size)
{
	const char *exe = strrchr(vmm_path, '/');

	return vm_pathf(buf, size, "%s/%s/%s", jail_base, exe ? exe + 1 : vmm_path, id);
}

static int join(char *buf, size_t size, const char *dir, const char *name)
{
	return vm_pathf(buf, size, "%s/%s", dir, name);
}

int vm_jail_place_ro(const char *src, const char *root, const char *name, struct err *err)
{
	char dst[PATH_MAX];
	struct stat st;
	int in, out, r;

	if (join(dst, sizeof(dst), root, name))
		return err_set(err, -ENAMETOOLONG, "%s/%s: path too long", root, name);
	if (lstat(src, &st))
		return err_set(err, -errno, "image file '%s': %s", src, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, -EINVAL, "image file '%s': not a regular file", src);
	/* A link shares the inode: only when the VM's uid can never write it. */
	if (st.st_uid == 0 && !(st.st_mode & (S_IWGRP | S_IWOTH)) && link(src, dst) == 0)
		return 0;
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return err_set(err, -errno, "image file '%s': %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
	if (out < 0) {
		r = err_set(err, -errno, "jail file '%s': %s", dst, strerror(errno));
		close(in);
		return r;
	}
	r = vm_disk_copy_sparse(in, out, err);
	close(out);
	close(in);
	if (r)
		unlink(dst);
	return r;
}

int vm_jail_mknod(const char *host_path, const char *root, const char *name, gid_t gid,
		  bool readonly, struct err *err)
{
	char dst[PATH_MAX];
	struct stat st;
	mode_t mode = readonly ? 0440 : 0660;

	if (join(dst, sizeof(dst), root, name))
		return err_set(err, -ENAMETOOLONG, "%s/%s: path too long", root, name);
	if (stat(host_path, &st))
		return err_set(err, -errno, "device '%s': %s", host_path, strerror(errno));
	if (!S_ISBLK(st.st_mode))
		return err_set(err, -EINVAL,
			       "device '%s': not a block device (a VM takes block devices only)",
			       host_path);
	if (mknod(dst, S_IFBLK | mode, st.st_rdev))
		return err_set(err, -errno, "device node '%s' (%u:%u): %s", dst, major(st.st_rdev),
			       minor(st.st_rdev), strerror(errno));
	/* Root's node, the VM's by group: an owner could chmod a read-only node writable. */
	if (chown(dst, 0, gid) || chmod(dst, mode)) {
		int e = errno;

		unlink(dst);
		return err_set(err, -e, "device node '%s': %s", dst, strerror(e));
	}
	return 0;
}

int vm_jail_mount_log(const char *root, const char *dir, struct err *err)
{
	char dst[PATH_MAX];

	if (join(dst, sizeof(dst), root, "log"))
		return err_set(err, -ENAMETOOLONG, "%s/log: path too long", root);
	if (mkdir(dst, 0755) && errno != EEXIST)
		return err_set(err, -errno, "%s: %s", dst, strerror(errno));
	if (mount(dir, dst, NULL, MS_BIND, NULL))
		return err_set(err, -errno, "bind-mounting the log directory '%s': %s", dir,
			       strerror(errno));
	/* Nothing in a log directory is a program or a device. */
	if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
		int e = errno;

		umount2(dst, MNT_DETACH);
		return err_set(err, -e, "remounting '%s': %s", dst, strerror(e));
	}
	return 0;
}

int vm_jail_umount_log(const char *root, struct err *err)
{
	char dst[PATH_MAX];

	if (join(dst, sizeof(dst), root, "log"))
		return err_set(err, -ENAMETOOLONG, "%s/log: path too long", root);
	/* Several stacked mounts are possible after a crash between mount and record. */
	for (int i = 0; i < 16; i++) {
		if (umount2(dst, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
			continue;
		if (errno == EINVAL || errno == ENOENT)
			return 0;
		return err_set(err, -errno, "unmounting '%s': %s", dst, strerror(errno));
	}
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP ? rmdir(path) : unlink(path))
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

int vm_jail_remove_tree(const char *path, struct err *err)
{
	int r;

	if (access(path, F_OK) && errno == ENOENT)
		return 0;
	/* FTW_MOUNT: a mount left inside (the log directory) is never entered. */
	r = nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (r < 0)
		return err_set(err, -errno ? -errno : -EIO, "removing '%s': %s", path,
			       strerror(errno ? errno : EIO));
	if (r > 0 || access(path, F_OK) == 0)
		return err_set(err, r > 0 ? -r : -EBUSY, "removing '%s': %s", path,
			       strerror(r > 0 ? r : EBUSY));
	return 0;
}

int vm_jail_remove(const char *jail_dir, struct err *err)
{
	char root[PATH_MAX];
	int r;

	if (join(root, sizeof(root), jail_dir, "root"))
		return err_set(err, -ENAMETOOLONG, "%s/root: path too long", jail_dir);
	r = vm_jail_umount_log(root, err);
	return r ? r : vm_jail_remove_tree(jail_dir, err);
}
