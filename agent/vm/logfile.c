// SPDX-License-Identifier: Apache-2.0
/* The CRI log file of a VM, through descriptors (logfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/vm/logfile.h"

#define LOG_MODE 0620

int vm_log_check(const char *log_directory, const char *relpath, struct err *err)
{
	const char *p = relpath, *base = strrchr(relpath, '/');

	if (log_directory[0] != '/' || !strcmp(log_directory, "/"))
		return err_set(err, -EINVAL,
			       "log_directory '%.100s': expected an absolute directory below /",
			       log_directory);
	if (!*relpath || relpath[0] == '/' ||
	    strlen(log_directory) + strlen(relpath) >= PATH_MAX - 64)
		return err_set(err, -EINVAL, "log_path '%.100s': expected a relative file path",
			       relpath);
	if (!(base ? base[1] : relpath[0]))
		return err_set(err, -EINVAL, "log_path '%.100s': no file name", relpath);
	while (*p) {
		size_t n = strcspn(p, "/");

		if ((n == 2 && !strncmp(p, "..", 2)) || (n == 1 && *p == '.') || n == 0)
			return err_set(err, -EINVAL,
				       "log_path '%.100s': '.', '..' and empty components are "
				       "refused",
				       relpath);
		p += n + (p[n] == '/');
	}
	return 0;
}

static int open_dir_beneath(int dirfd, const char *rel)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/* The file name in dfd, made or reopened as root:gid LOG_MODE. */
static int open_file(int dfd, const char *name, gid_t gid, const char *what, struct err *err)
{
	struct stat st;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO put there never blocks us. */
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		    LOG_MODE);
	if (fd < 0)
		return err_set(err, -errno, "log file '%s': %s", what, strerror(errno));
	/* A hard link to another file (/etc/shadow) must never be chowned. */
	if (fstat(fd, &st))
		r = err_set(err, -errno, "log file '%s': %s", what, strerror(errno));
	else if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		r = err_set(err, -EINVAL, "log file '%s': not a regular file with a single link",
			    what);
	else if (fchown(fd, 0, gid) || fchmod(fd, LOG_MODE))
		r = err_set(err, -errno, "log file '%s': %s", what, strerror(errno));
	close(fd);
	return r;
}

int vm_log_prepare(const char *log_directory, const char *relpath, gid_t gid, int *dir_fd,
		   struct err *err)
{
	char what[PATH_MAX], sub[PATH_MAX];
	const char *slash = strrchr(relpath, '/');
	int top, dfd, r;

	r = vm_log_check(log_directory, relpath, err);
	if (r)
		return r;
	snprintf(what, sizeof(what), "%s/%s", log_directory, relpath);
	snprintf(sub, sizeof(sub), "%.*s", slash ? (int)(slash - relpath) : 1,
		 slash ? relpath : ".");
	top = open(log_directory, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return err_set(err, -errno, "log directory '%s': %s", log_directory,
			       strerror(errno));
	dfd = open_dir_beneath(top, sub);
	close(top);
	if (dfd < 0)
		return err_set(err, dfd, "log file '%s': its directory: %s%s", what, strerror(-dfd),
			       dfd == -ELOOP || dfd == -EXDEV ? " (a link on the way)" : "");
	r = open_file(dfd, slash ? slash + 1 : relpath, gid, what, err);
	if (r || !dir_fd)
		close(dfd);
	else
		*dir_fd = dfd;
	return r;
}
