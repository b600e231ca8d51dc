// SPDX-License-Identifier: Apache-2.0
/* The shim's identity, liveness and detached start (proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/vm/proc.h"

int vm_proc_start_ticks(pid_t pid, uint64_t *ticks)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;
	char *p;
	char state;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields resume after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c", &state) != 1)
		return -EIO;
	if (state == 'Z' || state == 'X')
		return -ESRCH;
	/* Field 3 is state; field 22 is starttime: 19 more fields on. */
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
	}
	*ticks = strtoull(p, NULL, 10);
	return 0;
}

bool vm_proc_same(pid_t pid, uint64_t ticks)
{
	uint64_t t;

	return pid > 0 && vm_proc_start_ticks(pid, &t) == 0 && t == ticks;
}

int vm_proc_open(pid_t pid, uint64_t ticks)
{
	int fd;

	if (pid <= 0)
		return -ESRCH;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return -errno;
	if (!vm_proc_same(pid, ticks)) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

int vm_proc_wait(int pidfd, int timeout_ms)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r > 0;
}

/* Keeps only fd among the descriptors above stdio. */
static void close_all_but(int fd)
{
	if (fd > 3)
		close_range(3, (unsigned int)fd - 1, 0);
	close_range((unsigned int)fd + 1, ~0U, 0);
}

/*
 * In the grandchild: everything inherited closed but the go pipe (a
 * sibling spawn's go pipe held here would keep that one waiting), then the
 * go byte, /dev/null and exec. Without the byte (the caller did not record
 * this process, or died first) it ends without running anything. Never
 * returns.
 */
static void exec_detached(char *const *argv, int go)
{
	sigset_t none;
	char b;
	int fd;

	close_all_but(go);
	if (read(go, &b, 1) != 1)
		_exit(127);
	close(go);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(argv[0], argv);
	_exit(127);
}

int vm_proc_spawn_detached(char *const *argv, pid_t *pid, uint64_t *ticks, int *go_fd,
			   struct err *err)
{
	int p[2], go[2], status;
	pid_t child, grandchild = 0;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC))
		return err_set(err, -errno, "pipe: %s", strerror(errno));
	/* A socket pair, not a pipe: send() to a gone reader is EPIPE without SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, go)) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return err_set(err, -e, "pipe: %s", strerror(e));
	}
	child = fork();
	if (child < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		close(go[0]);
		close(go[1]);
		return err_set(err, -e, "fork: %s", strerror(e));
	}
	if (child == 0) {
		pid_t g;

		close(p[0]);
		close(go[1]);
		if (setsid() < 0)
			_exit(127);
		g = fork();
		if (g == 0)
			exec_detached(argv, go[0]);
		/* The intermediate child exits: the grandchild is nobody's child but init's. */
		if (g < 0 || write(p[1], &g, sizeof(g)) != (ssize_t)sizeof(g))
			_exit(127);
		_exit(0);
	}
	close(p[1]);
	close(go[0]);
	do
		n = read(p[0], &grandchild, sizeof(grandchild));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(grandchild) || grandchild <= 0) {
		close(go[1]);
		return err_set(err, -ECHILD, "starting '%s' failed", argv[0]);
	}
	*pid = grandchild;
	/* The start time does not change at exec: it names this process from now on. */
	if (vm_proc_start_ticks(grandchild, ticks)) {
		close(go[1]);
		return err_set(err, -ESRCH, "'%s' ended at once", argv[0]);
	}
	*go_fd = go[1];
	return 0;
}

int vm_proc_go(int go_fd, bool go)
{
	ssize_t n = go ? send(go_fd, "g", 1, MSG_NOSIGNAL) : 1;

	close(go_fd);
	return n == 1 ? 0 : -EPIPE;
}
