// SPDX-License-Identifier: Apache-2.0
#include "agent/net/cni_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool sigpending_has(int sig)
{
	sigset_t set;

	return sigpending(&set) == 0 && sigismember(&set, sig) == 1;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int spawn(const char *path, char *const envp[], int in, int out, int errfd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char *const argv[] = { (char *)path, NULL };
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	posix_spawnattr_init(&at);
	/* Its own group, so a timeout kills whatever it started too; signals as new. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	r = posix_spawn(pid, path, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return -r;
}

static void take(struct cni_exec *x, const char *buf, size_t n)
{
	if (x->out_len + n > CNI_OUTPUT_MAX) {
		x->out_cut = true;
		n = CNI_OUTPUT_MAX - x->out_len;
	}
	memcpy(x->out + x->out_len, buf, n);
	x->out_len += n;
	x->out[x->out_len] = 0;
}

static void take_err(struct cni_exec *x, const char *buf, size_t n)
{
	size_t cap = sizeof(x->errtail) - 1, have = strlen(x->errtail);

	if (n >= cap) {
		memcpy(x->errtail, buf + n - cap, cap);
		x->errtail[cap] = 0;
		return;
	}
	if (have + n > cap) {
		memmove(x->errtail, x->errtail + (have + n - cap), cap - n);
		have = cap - n;
	}
	memcpy(x->errtail + have, buf, n);
	x->errtail[have + n] = 0;
}

/* Pumps stdin, stdout, stderr until both outputs close and the process exits, or the deadline. */
static bool pump(struct cni_exec *x, int pidfd, int *in, int *out, int *errp, const char *data,
		 size_t len, int64_t deadline)
{
	size_t off = 0;
	bool exited = false;
	char buf[16384];

	while (!exited || *out >= 0 || *errp >= 0) {
		struct pollfd p[4] = { { .fd = *in, .events = POLLOUT },
				       { .fd = *out, .events = POLLIN },
				       { .fd = *errp, .events = POLLIN },
				       { .fd = exited ? -1 : pidfd, .events = POLLIN } };
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			x->timed_out = !exited;
			return true;
		}
		if (poll(p, 4, (int)(left > INT32_MAX ? INT32_MAX : left)) < 0) {
			if (errno == EINTR)
				continue;
			x->timed_out = !exited;
			return true;
		}
		if (p[0].revents) {
			ssize_t n = p[0].revents & POLLOUT ? write(*in, data + off, len - off) : -1;

			if (n > 0)
				off += (size_t)n;
			if (n < 0 || off == len)
				close_fd(in);
		}
		for (int k = 1; k <= 2; k++) {
			int *fd = k == 1 ? out : errp;

			if (!p[k].revents)
				continue;
			ssize_t n = read(*fd, buf, sizeof(buf));

			if (n > 0)
				k == 1 ? take(x, buf, (size_t)n) : take_err(x, buf, (size_t)n);
			else if (n == 0 || errno != EAGAIN)
				close_fd(fd);
		}
		/*
		 * Once it exited, a grandchild may still hold the pipes: they
		 * are read to the end only while the deadline allows.
		 */
		if (p[3].revents)
			exited = true;
	}
	return false;
}

int cni_exec_run(const char *path, char *const envp[], const char *in, size_t in_len,
		 int timeout_ms, struct cni_exec *x, struct err *err)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	pid_t pid;
	int r, pidfd = -1;

	memset(x, 0, sizeof(*x));
	x->out = malloc(CNI_OUTPUT_MAX + 1);
	if (!x->out)
		return err_set(err, -ENOMEM, "plugin output: out of memory");
	x->out[0] = 0;
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		r = err_set(err, -errno, "pipe: %s", strerror(errno));
		goto out;
	}
	r = spawn(path, envp, pin[0], pout[1], perr[1], &pid);
	if (r) {
		err_set(err, r, "%s: %s", path, strerror(-r));
		goto out;
	}
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	fcntl(pout[0], F_SETFL, O_NONBLOCK);
	fcntl(perr[0], F_SETFL, O_NONBLOCK);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		r = err_set(err, -errno, "pidfd_open: %s", strerror(errno));
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		goto out;
	}
	/*
	 * A plugin that exits without reading its stdin must not kill the
	 * caller with SIGPIPE: blocked on this thread while writing, and a
	 * pending one taken back, whether or not the process ignores it.
	 */
	sigset_t pipe_set, old;
	bool pending_before;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	pending_before = sigpending_has(SIGPIPE);
	/* At the deadline the group goes: the plugin, or what it started and left holding a pipe. */
	bool late = pump(x, pidfd, &pin[1], &pout[0], &perr[0], in, in_len, now_ms() + timeout_ms);

	if (!pending_before && sigpending_has(SIGPIPE))
		sigtimedwait(&pipe_set, NULL, &(struct timespec){ 0 });
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (late)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &x->status, 0) < 0 && errno == EINTR)
		;
	r = 0;
out:
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++) {
		close_fd(&pin[i]);
		close_fd(&pout[i]);
		close_fd(&perr[i]);
	}
	if (r)
		cni_exec_free(x);
	return r;
}

void cni_exec_free(struct cni_exec *x)
{
	free(x->out);
	x->out = NULL;
}
