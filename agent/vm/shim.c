// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-shim: the monitor of one VM, like conmon or a containerd shim.
 *
 *   kvmlet-shim --state-dir DIR --cgroup-version 1|2 --cgroup REL -- JAILER-ARGV...
 *
 * The backend starts it detached (its own session, stdio on /dev/null, not
 * the agent's child), so the agent may die and come back while the VM
 * runs. It forks and execs the jailer (which becomes the VMM), sends the
 * VMM's stdout and stderr to DIR/vmm.log, waits for it, and records how it
 * ended in DIR/exit.json (record.h): exit status or signal, when, whether
 * the VM's memory cgroup saw an OOM kill, and whether the shim killed it.
 * SIGTERM asks the shim to kill the VMM (SIGKILL) at once: that is how a
 * stop ends a VM whose grace period ran out. The shim then exits 0; it exits
 * 1 only when it could not record the end (the backend then reports
 * "Unknown").
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/vm/cgroup.h"
#include "agent/vm/record.h"
#include "lib/clock.h"

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

static pid_t start_vmm(const struct shim_args *a, const sigset_t *old)
{
	char log[4096];
	pid_t pid;

	snprintf(log, sizeof(log), "%s/vmm.log", a->state_dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		sigprocmask(SIG_SETMASK, old, NULL);
		execv(a->argv[0], a->argv);
		dprintf(2, "kvmlet-shim: exec %s: %s\n", a->argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

int main(int argc, char **argv)
{
	struct shim_args a;
	sigset_t set, old;
	struct vm_exit e = { 0 };
	struct err err = { 0 };
	bool killed = false;
	int status = 0;
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
	pid = start_vmm(&a, &old);
	if (pid < 0)
		return 1;
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		pid_t w;

		if (sig < 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT) {
			/* Not reaped yet, so pid is still the VMM. */
			if (!killed && kill(pid, SIGKILL) == 0)
				killed = true;
			continue;
		}
		if (sig != SIGCHLD)
			continue;
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
	}
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
		char log[4096];
		int fd;

		snprintf(log, sizeof(log), "%s/vmm.log", a.state_dir);
		fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			dprintf(fd, "kvmlet-shim: recording the exit: %s\n", err.msg);
			close(fd);
		}
		return 1;
	}
	return 0;
}
