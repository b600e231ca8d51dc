// SPDX-License-Identifier: Apache-2.0
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "jailer/chroot.h"

#define EXEC_TMP_PREFIX ".jailer-tmp-"

/* Device nodes a VMM needs; kvmlet draws randomness from getrandom(). */
static const struct chroot_dev {
	const char *path;
	unsigned int major, minor;
} chroot_devs[] = {
	{ "/dev/kvm", 10, 232 },
	{ "/dev/net/tun", 10, 200 },
};

/*
 * Where the dynamic loader finds the libraries of a Debian/Ubuntu/Fedora
 * build. Parents before children, so that "usr" exists for "usr/lib".
 */
static const char *const chroot_lib_dirs[] = { "lib", "lib64", "usr/lib", "usr/lib64" };

static int chroot_mkdir_p(const char *path, struct err *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return err_set(err, -ENAMETOOLONG, "%s: path too long", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p)
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return err_set(err, -errno, "cannot create %s: %s", buf, strerror(errno));
		if (!c)
			return 0;
		*p = c;
	}
}

/* One level below dirfd; an existing symbolic link there is refused, not followed. */
static int chroot_subdir(int dirfd, const char *name, const char *where, struct err *err)
{
	int fd;

	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return err_set(err, -errno, "cannot create %s/%s: %s", where, name,
			       strerror(errno));
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, -errno, "%s/%s: %s", where, name,
			       errno == ELOOP ? "is a symbolic link" : strerror(errno));
	return fd;
}

/*
 * A copy, not a link: the jailed process must not share an inode (and so
 * its future contents) with the host's binary.
 */
static int chroot_copy(int src, int rootfd, const char *name, const char *root, struct err *err)
{
	char tmp[NAME_MAX + sizeof(EXEC_TMP_PREFIX)];
	struct stat st;
	off_t off = 0;
	int dst, r = 0;

	if (fstat(src, &st) < 0)
		return err_set(err, -errno, "--exec-file: %s", strerror(errno));
	snprintf(tmp, sizeof(tmp), EXEC_TMP_PREFIX "%s", name);
	if (unlinkat(rootfd, tmp, 0) < 0 && errno != ENOENT)
		return err_set(err, -errno, "%s/%s: %s", root, tmp, strerror(errno));
	dst = openat(rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
	if (dst < 0)
		return err_set(err, -errno, "cannot create %s/%s: %s", root, tmp, strerror(errno));
	while (off < st.st_size) {
		ssize_t n = sendfile(dst, src, &off, st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = err_set(err, n < 0 ? -errno : -EIO, "cannot copy --exec-file to %s: %s",
				    root, n < 0 ? strerror(errno) : "file shrank");
			break;
		}
	}
	if (!r && fchmod(dst, 0755) < 0)
		r = err_set(err, -errno, "%s/%s: %s", root, tmp, strerror(errno));
	if (close(dst) < 0 && !r)
		r = err_set(err, -errno, "%s/%s: %s", root, tmp, strerror(errno));
	/* The rename replaces a copy left by an earlier run atomically. */
	if (!r && renameat(rootfd, tmp, rootfd, name) < 0)
		r = err_set(err, -errno, "cannot create %s/%s: %s", root, name, strerror(errno));
	if (r)
		unlinkat(rootfd, tmp, 0);
	return r;
}

int chroot_prepare(const char *base, const char *exec_name, const char *id, const char *exec_file,
		   char *root, size_t root_len, struct err *err)
{
	const char *levels[] = { exec_name, id, "root" };
	int fd, next, src, r;

	if ((size_t)snprintf(root, root_len, "%s/%s/%s/root", base, exec_name, id) >= root_len)
		return err_set(err, -ENAMETOOLONG, "--chroot-base-dir: path too long");
	/* The operator names base and may route it through links; below it, nothing is followed. */
	r = chroot_mkdir_p(base, err);
	if (r)
		return r;
	fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, -errno, "--chroot-base-dir %s: %s", base, strerror(errno));
	for (unsigned int i = 0; i < 3; i++) {
		next = chroot_subdir(fd, levels[i], i ? root : base, err);
		close(fd);
		if (next < 0)
			return next;
		fd = next;
	}
	src = open(exec_file, O_RDONLY | O_CLOEXEC);
	if (src < 0) {
		r = err_set(err, -errno, "--exec-file %s: %s", exec_file, strerror(errno));
	} else {
		r = chroot_copy(src, fd, exec_name, root, err);
		close(src);
	}
	close(fd);
	return r;
}

bool chroot_needs_interpreter(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	bool interp = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (pread(fd, &eh, sizeof(eh), 0) == sizeof(eh) && !memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(ph))
		for (unsigned int i = 0; i < eh.e_phnum && !interp; i++)
			interp = pread(fd, &ph, sizeof(ph), eh.e_phoff + (off_t)i * sizeof(ph)) ==
					 sizeof(ph) &&
				 ph.p_type == PT_INTERP;
	close(fd);
	return interp;
}

/*
 * Mirrors one host library directory into the jail (cwd): a symbolic link
 * stays a link, a directory becomes a read-only bind mount.
 */
static int chroot_add_lib_dir(const char *name, struct err *err)
{
	char host[PATH_MAX], target[PATH_MAX], have[PATH_MAX];
	struct stat st;
	ssize_t n, m;

	snprintf(host, sizeof(host), "/%s", name);
	if (lstat(host, &st) < 0)
		return errno == ENOENT ? 0 : err_set(err, -errno, "%s: %s", host, strerror(errno));
	if (S_ISLNK(st.st_mode)) {
		n = readlink(host, target, sizeof(target) - 1);
		if (n < 0)
			return err_set(err, -errno, "%s: %s", host, strerror(errno));
		target[n] = '\0';
		if (!symlink(target, name))
			return 0;
		m = errno == EEXIST ? readlink(name, have, sizeof(have) - 1) : -1;
		if (m == n && !memcmp(have, target, n))
			return 0;
		return err_set(err, -EEXIST, "jail: /%s exists and is not a link to %s", name,
			       target);
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	/* Relative to the jail: "usr" before "usr/lib". */
	for (const char *slash = name;; slash++) {
		size_t len;

		slash = strchr(slash, '/');
		len = slash ? (size_t)(slash - name) : strlen(name);
		memcpy(target, name, len);
		target[len] = '\0';
		if (mkdir(target, 0755) < 0 && errno != EEXIST)
			return err_set(err, -errno, "jail: cannot create /%s: %s", target,
				       strerror(errno));
		if (!slash)
			break;
	}
	if (lstat(name, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(err, -ENOTDIR, "jail: /%s is not a directory", name);
	if (mount(host, name, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, name, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) <
		    0)
		return err_set(err, -errno, "jail: cannot bind %s read-only: %s", host,
			       strerror(errno));
	return 0;
}

int chroot_enter(const char *root, bool libs, struct err *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return err_set(err, -errno, "jail: unshare(CLONE_NEWNS): %s", strerror(errno));
	/* Before any mount: none of them may propagate back into the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_set(err, -errno, "jail: making / private: %s", strerror(errno));
	/* pivot_root() needs a mount point; operator mounts below root come along. */
	if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
		return err_set(err, -errno, "jail: bind-mounting %s: %s", root, strerror(errno));
	if (chdir(root) < 0)
		return err_set(err, -errno, "jail: %s: %s", root, strerror(errno));
	/* Device nodes on a tmpfs of the namespace's own never appear on the host's disk. */
	if ((mkdir("dev", 0755) < 0 && errno != EEXIST) ||
	    mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k") < 0)
		return err_set(err, -errno, "jail: /dev: %s", strerror(errno));
	for (unsigned int i = 0; libs && i < sizeof(chroot_lib_dirs) / sizeof(chroot_lib_dirs[0]);
	     i++) {
		int r = chroot_add_lib_dir(chroot_lib_dirs[i], err);

		if (r)
			return r;
	}
#ifdef KVMLET_JAIL_MOUNT_PROC
	/*
	 * Sanitizer builds only: their runtime reads its options and, at exit,
	 * LeakSanitizer's thread list from /proc. A real jail has no /proc.
	 */
	if ((mkdir("proc", 0555) < 0 && errno != EEXIST) ||
	    mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return err_set(err, -errno, "jail: /proc: %s", strerror(errno));
#endif
	/* pivot_root(".", ".") stacks the old root on the new one: no old_root directory. */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return err_set(err, -errno, "jail: pivot_root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) < 0)
		return err_set(err, -errno, "jail: detaching the old root: %s", strerror(errno));
	if (chdir("/") < 0)
		return err_set(err, -errno, "jail: chdir(/): %s", strerror(errno));
	return 0;
}

int chroot_add_devices(uid_t uid, gid_t gid, struct err *err)
{
	if (mkdir("/dev/net", 0755) < 0 && errno != EEXIST)
		return err_set(err, -errno, "jail: /dev/net: %s", strerror(errno));
	for (unsigned int i = 0; i < sizeof(chroot_devs) / sizeof(chroot_devs[0]); i++) {
		const struct chroot_dev *d = &chroot_devs[i];

		/* chmod after mknod: the umask must not decide the mode. */
		if (mknod(d->path, S_IFCHR | 0600, makedev(d->major, d->minor)) < 0 ||
		    chown(d->path, uid, gid) < 0 || chmod(d->path, 0660) < 0)
			return err_set(err, -errno, "jail: %s: %s", d->path, strerror(errno));
	}
	/* As in Firecracker: the VMM may create its sockets and files in its root. */
	if (chown("/", uid, gid) < 0)
		return err_set(err, -errno, "jail: chown /: %s", strerror(errno));
	return 0;
}
