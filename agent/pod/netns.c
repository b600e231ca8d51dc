// SPDX-License-Identifier: Apache-2.0
/* Sandbox network namespaces (netns.h). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/pod/netns.h"
#include "lib/mkdir_p.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

/* In the child: only system calls from here on (the parent has threads). */
static int child_setup(const char *path)
{
	struct ifreq ifr;
	int fd;

	if (unshare(CLONE_NEWNET) < 0)
		return 1;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 2;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return 3;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return 3;
	if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0)
		return 4;
	return 0;
}

int pod_netns_create(const char *path, struct err *err)
{
	static const char *const steps[] = { "", "unshare(CLONE_NEWNET)", "a socket",
					     "bringing lo up", "the bind mount" };
	int fd, r, status;
	pid_t pid;

	if ((r = mkdir_parents(path, 0755)))
		return err_set(err, r, "the directory of netns %s: %s", path, strerror(-r));
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return err_set(err, -errno, "netns %s: %m", path);
	close(fd);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		unlink(path);
		return err_set(err, r, "netns %s: fork: %s", path, strerror(-r));
	}
	if (!pid)
		_exit(child_setup(path));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			status = -1;
			break;
		}
	if (status == 0)
		return 0;
	unlink(path);
	r = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
	return err_set(err, r == 1 ? -EPERM : -EIO, "netns %s: %s failed", path,
		       r > 0 && r < 5 ? steps[r] : "the child");
}

int pod_netns_remove(const char *path, struct err *err)
{
	if (!path || !*path)
		return 0;
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return err_set(err, -errno, "netns %s: umount: %m", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(err, -errno, "netns %s: %m", path);
	return 0;
}

bool pod_netns_alive(const char *path)
{
	struct statfs sf;

	return path && *path && !statfs(path, &sf) && sf.f_type == NSFS_MAGIC;
}
