// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-shim: the monitor of one VM, like conmon or a containerd shim.
 *
 *   kvmlet-shim --state-dir DIR --cgroup-version 1|2 --cgroup REL -- JAILER-ARGV...
 *
 * The backend starts it detached (its own session, stdio on /dev/null, not
 * the agent's child), so the agent may die and come back while the VM
 * runs. It forks and execs the jailer (which becomes the VMM), reads the
 * VMM's stdout and stderr through a pipe and keeps only their last 64 KiB
 * in DIR/vmm.log (rewritten at most once a second and at the end: a VM
 * cannot fill the host's disk through it), waits for it, and records how it
 * ended in DIR/exit.json (record.h): exit status or signal, when, whether
 * the VM's memory cgroup saw an OOM kill, and whether the shim killed it.
 * Before it runs the jailer it moves itself into a leaf cgroup of its own,
 * kvmlet-shims/<id>, in every mounted hierarchy (cgroup.h), so that
 * stopping or restarting the agent's systemd unit never reaches it.
 * SIGTERM asks the shim to kill the VMM (SIGKILL) at once: that is how a
 * stop ends a VM whose grace period ran out. The shim then exits 0; it exits
 * 1 only when it could not record the end (the backend then reports
 * "Unknown").
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/vm/cgroup.h"
#include "agent/vm/record.h"
#include "lib/clock.h"

#define LOG_KEEP     (64 * 1024) /* bytes of the VMM's output kept in vmm.log */
#define LOG_FLUSH_MS 1000	 /* vmm.log rewritten at most this often */

struct shim_args {
	const char *state_dir;
	int cgroup_version;
	const char *cgroup;
	char **argv;
};

static int parse_args(int argc, char **argv, struct shim_args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 1; i + 1 < argc && strcmp(argv[i], "--"); i += 2) {
		if (!strcmp(argv[i], "--state-dir"))
			a->state_dir = argv[i + 1];
		else if (!strcmp(argv[i], "--cgroup-version"))
			a->cgroup_version = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--cgroup"))
			a->cgroup = argv[i + 1];
		else
			return -EINVAL;
	}
	if (i >= argc || strcmp(argv[i], "--") || i + 1 >= argc || !a->state_dir || !a->cgroup ||
	    (a->cgroup_version != 1 && a->cgroup_version != 2))
		return -EINVAL;
	a->argv = argv + i + 1;
	return 0;
}

/* The tail of the VMM's output: the last LOG_KEEP bytes, oldest first from head. */
struct tail {
	char buf[LOG_KEEP];
	size_t len;  /* bytes held, up to LOG_KEEP */
	size_t head; /* where the next byte goes */
	bool dirty;
	uint64_t flushed_ms;
};

static void tail_add(struct tail *t, const char *p, size_t n)
{
	if (n >= LOG_KEEP) {
		p += n - LOG_KEEP;
		n = LOG_KEEP;
	}
	for (size_t i = 0; i < n; i++) {
		t->buf[t->head] = p[i];
		t->head = (t->head + 1) % LOG_KEEP;
	}
	t->len = t->len + n > LOG_KEEP ? LOG_KEEP : t->len + n;
	t->dirty = true;
}

/* vmm.log replaced by the tail (write, rename): readers see a whole one. */
static void tail_flush(struct tail *t, const char *state_dir)
{
	char path[4096], tmp[4096];
	size_t start = (t->head + LOG_KEEP - t->len) % LOG_KEEP;
	size_t first = t->len < LOG_KEEP - start ? t->len : LOG_KEEP - start;
	int fd;

	t->dirty = false;
	t->flushed_ms = clock_mono_ms();
	snprintf(path, sizeof(path), "%s/vmm.log", state_dir);
	snprintf(tmp, sizeof(tmp), "%s/.vmm.log.tmp", state_dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return;
	bool ok = write(fd, t->buf + start, first) == (ssize_t)first &&
		  write(fd, t->buf, t->len - first) == (ssize_t)(t->len - first);
	close(fd);
	if (!ok || rename(tmp, path))
		unlink(tmp);
}

static pid_t start_vmm(const struct shim_args *a, const sigset_t *old, int out)
{
	pid_t pid = fork();

	if (pid == 0) {
		dup2(out, 1);
		dup2(out, 2);
		sigprocmask(SIG_SETMASK, old, NULL);
		execv(a->argv[0], a->argv);
		dprintf(2, "kvmlet-shim: exec %s: %s\n", a->argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Reads what the VMM wrote; false once the pipe has no writer left. */
static bool drain(int fd, struct tail *t)
{
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			tail_add(t, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EAGAIN;
	}
}

int main(int argc, char **argv)
{
	static struct tail tail;
	struct shim_args a;
	sigset_t set, old;
	struct vm_exit e = { 0 };
	struct err err = { 0 };
	bool killed = false, reaped = false, open_pipe = true;
	int status = 0, sfd, pipefd[2];
	pid_t pid;

	if (parse_args(argc, argv, &a)) {
		fprintf(stderr, "usage: kvmlet-shim --state-dir DIR --cgroup-version 1|2 "
				"--cgroup REL -- JAILER-ARGV...\n");
		return 2;
	}
	/* Signals are taken one at a time, synchronously: no handler races the wait. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Out of the agent's cgroups (its systemd unit's, which a restart of the
	 * agent kills) before anything runs: the jailer moves the VMM on.
	 */
	const char *id = strrchr(a.cgroup, '/');
	int enter_err = vm_cgroup_enter_shim(id ? id + 1 : a.cgroup);

	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || pipe2(pipefd, O_CLOEXEC))
		return 1;
	pid = start_vmm(&a, &old, pipefd[1]);
	close(pipefd[1]);
	if (pid < 0)
		return 1;
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	if (enter_err) {
		char line[200];
		int n = snprintf(line, sizeof(line),
				 "kvmlet-shim: leaving the agent's cgroups: %s (a restart of the "
				 "agent's unit may kill this VM)\n",
				 strerror(-enter_err));

		tail_add(&tail, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
	}
	/* Until the VMM is reaped and every writer of the pipe is gone. */
	while (!reaped || open_pipe) {
		struct pollfd p[2] = { { sfd, POLLIN, 0 }, { pipefd[0], POLLIN, 0 } };
		struct signalfd_siginfo si;
		int wait_ms = tail.dirty ? LOG_FLUSH_MS : -1;

		if (poll(p, open_pipe ? 2 : 1, wait_ms) < 0 && errno != EINTR)
			break;
		if (open_pipe && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			open_pipe = drain(pipefd[0], &tail);
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !reaped) {
				/* Not reaped yet, so pid is still the VMM. */
				if (!killed && kill(pid, SIGKILL) == 0)
					killed = true;
			} else if (si.ssi_signo == SIGCHLD && !reaped) {
				reaped = waitpid(pid, &status, WNOHANG) == pid;
			}
		}
		/* A child of the VMM holding the pipe must not keep the record back. */
		if (reaped && open_pipe)
			open_pipe = drain(pipefd[0], &tail) && poll(&p[1], 1, 100) > 0;
		if (tail.dirty && clock_mono_ms() - tail.flushed_ms >= LOG_FLUSH_MS)
			tail_flush(&tail, a.state_dir);
	}
	if (tail.dirty)
		tail_flush(&tail, a.state_dir);
	e.finished_at = (int64_t)clock_ns(CLOCK_REALTIME);
	if (WIFSIGNALED(status)) {
		e.exit_status = -1;
		e.signal = WTERMSIG(status);
	} else {
		e.exit_status = WEXITSTATUS(status);
	}
	e.killed = killed;
	e.oom = vm_cgroup_oom(a.cgroup_version, a.cgroup);
	if (vm_exit_write(a.state_dir, &e, &err)) {
		/* stderr is /dev/null when started by the backend; vmm.log keeps a trace. */
		char line[600];
		int n = snprintf(line, sizeof(line), "kvmlet-shim: recording the exit: %s\n",
				 err.msg);

		tail_add(&tail, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
		tail_flush(&tail, a.state_dir);
		return 1;
	}
	return 0;
}
