// SPDX-License-Identifier: Apache-2.0
/* Filling and emptying a VM's jail root (jail.h). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent/vm/disk.h"
#include "agent/vm/jail.h"

#define REMOVE_MAX_DEPTH 64 /* a jail holds a flat root; a VM's own deep tree is refused */

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

/* A directory entry below dirfd, never through a link, never into another mount. */
static int open_subdir(int dirfd, const char *name)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * Empties the directory dfd (closed here). A mount met on the way, even a
 * bind mount of the same file system (which st_dev does not tell apart),
 * is -EXDEV: nothing is deleted beyond it.
 */
static int empty_dir(int dfd, unsigned int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = -errno;
		close(dfd);
		return r;
	}
	if (depth > REMOVE_MAX_DEPTH) {
		closedir(d);
		return -ELOOP;
	}
	while (!r && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!unlinkat(dirfd(d), de->d_name, 0) || errno == ENOENT)
			continue;
		if (errno != EISDIR) {
			r = -errno;
			break;
		}
		int sub = open_subdir(dirfd(d), de->d_name);

		if (sub < 0) {
			r = sub;
			break;
		}
		r = empty_dir(sub, depth + 1);
		if (!r && unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) && errno != ENOENT)
			r = -errno;
		/* Removing entries while reading: start over rather than trust the stream. */
		if (!r)
			rewinddir(d);
	}
	if (!r && errno)
		r = -errno;
	closedir(d);
	return r;
}

int vm_jail_remove_tree(const char *path, struct err *err)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), r;

	if (dfd < 0 && errno == ENOENT)
		return 0;
	if (dfd < 0)
		return err_set(err, -errno, "removing '%s': %s", path, strerror(errno));
	r = empty_dir(dfd, 0);
	if (!r && rmdir(path) && errno != ENOENT)
		r = -errno;
	if (r == -EXDEV)
		return err_set(err, -EBUSY, "removing '%s': a mount is still inside", path);
	if (r)
		return err_set(err, r, "removing '%s': %s", path, strerror(-r));
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
