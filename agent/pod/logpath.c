// SPDX-License-Identifier: Apache-2.0
/* A container's CRI log path, checked (logpath.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/pod/logpath.h"
#include "lib/mkdir_p.h"

/* Whether path is base or beneath it (both canonical). */
static bool beneath(const char *path, const char *base)
{
	size_t n = strlen(base);

	if (n == 1) /* "/" */
		return true;
	return !strncmp(path, base, n) && (path[n] == '\0' || path[n] == '/');
}

/* Where fd really is, through /proc (a canonical path). */
static int fd_path(int fd, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, cap - 1);
	if (n < 0)
		return -errno;
	if ((size_t)n >= cap - 1)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

static int check_components(const char *log_path, struct err *err)
{
	const char *p = log_path;

	if (log_path[0] == '/')
		return err_set(err, -EINVAL,
			       "config.log_path: '%s' is absolute (it must be relative to the "
			       "sandbox's log_directory)",
			       log_path);
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && !strncmp(p, "..", 2))
			return err_set(err, -EINVAL, "config.log_path: '%s' has a '..' component",
				       log_path);
		p += n;
		while (*p == '/')
			p++;
	}
	if (log_path[strlen(log_path) - 1] == '/')
		return err_set(err, -EINVAL, "config.log_path: '%s' names a directory", log_path);
	return 0;
}

/*
 * Opens each directory of rel beneath dirfd (creating missing ones) and
 * checks that each lies beneath base; returns the last directory's fd.
 */
static int walk_dirs(int dirfd, const char *rel, const char *base, const char **leaf,
		     struct err *err)
{
	char comp[NAME_MAX + 1], where[PATH_MAX];
	const char *p = rel;
	int fd = dup(dirfd), r;

	if (fd < 0)
		return err_set(err, -errno, "log directory: %m");
	for (;;) {
		size_t n = strcspn(p, "/");
		int next;

		if (!p[n]) {
			*leaf = p;
			return fd;
		}
		if (n > NAME_MAX) {
			close(fd);
			return err_set(err, -EINVAL, "config.log_path: a component is too long");
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		while (*p == '/')
			p++;
		if (!n || !strcmp(comp, "."))
			continue;
		if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			close(fd);
			return err_set(err, r, "log directory %s/.../%s: %s", base, comp,
				       strerror(-r));
		}
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return err_set(err, -EINVAL, "config.log_path: '%s' is not a directory",
				       comp);
		fd = next;
		if ((r = fd_path(fd, where, sizeof(where))) || !beneath(where, base)) {
			close(fd);
			return err_set(err, -EINVAL,
				       "config.log_path: '%s' leads outside the log directory %s",
				       rel, base);
		}
	}
}

int pod_log_path(const char *log_directory, const char *log_path, char *out, size_t cap,
		 struct err *err)
{
	char base[PATH_MAX];
	const char *leaf = NULL;
	struct stat st;
	size_t dlen;
	int dirfd, fd, r;

	out[0] = '\0';
	if (!log_path || !*log_path)
		return 0;
	if (!log_directory || !*log_directory)
		return err_set(err, -EINVAL,
			       "config.log_path: given, but the sandbox has no log_directory");
	if (log_directory[0] != '/')
		return err_set(err, -EINVAL, "log_directory: '%s' is not absolute", log_directory);
	if ((r = check_components(log_path, err)))
		return r;
	if ((r = mkdir_p(log_directory, 0755)))
		return err_set(err, r, "log_directory %s: cannot create it: %s", log_directory,
			       strerror(-r));
	if (!realpath(log_directory, base))
		return err_set(err, -errno, "log_directory %s: %m", log_directory);
	dirfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return err_set(err, -errno, "log_directory %s: %m", log_directory);
	fd = walk_dirs(dirfd, log_path, base, &leaf, err);
	close(dirfd);
	if (fd < 0)
		return fd;
	r = fstatat(fd, leaf, &st, AT_SYMLINK_NOFOLLOW);
	if (!r && !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, -EINVAL,
			       "config.log_path: '%s' exists and is not a regular file", log_path);
	}
	close(fd);
	/* As containerd reports it: the join, not the resolved path, which was only checked. */
	dlen = strlen(log_directory);
	while (dlen > 1 && log_directory[dlen - 1] == '/')
		dlen--;
	r = snprintf(out, cap, "%.*s/%s", (int)dlen, log_directory, log_path);
	if (r < 0 || (size_t)r >= cap) {
		out[0] = '\0';
		return err_set(err, -EINVAL, "config.log_path: too long");
	}
	return 0;
}
