// SPDX-License-Identifier: Apache-2.0
/*
 * seccomp filters: each role's filter, installed in a forked child, lets the
 * calls that role makes through and kills the whole process with SIGSYS for
 * anything else; ADVANCED also checks arguments, BASIC does not.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/seccomp.h"

#define CHILD_INSTALL_FAILED 100

/*
 * A probe runs in the child under the filter. It returns 0 when every call
 * behaved as expected, or the line of the first that did not.
 */
typedef int (*probe_fn)(void);

#define EXPECT(cond)                     \
	do {                             \
		if (!(cond))             \
			return __LINE__; \
	} while (0)

/* A raw call that must fail with errno e (the filter let it through). */
#define EXPECT_ERRNO(call, e) EXPECT((call) == -1 && errno == (e))

/* Runs probe in a child under role's filter at level; returns its wait status. */
static int run_child(enum seccomp_role role, enum seccomp_level level, probe_fn probe)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* A SIGSYS death would otherwise dump core into the build tree. */
		struct rlimit no_core = { 0, 0 };
		struct err err = { 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		if (seccomp_install(role, level, &err))
			_exit(CHILD_INSTALL_FAILED);
		/* _exit: no atexit handlers, whose calls are nobody's business here. */
		_exit(probe());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static const char *level_name(enum seccomp_level level)
{
	return level == SECCOMP_LEVEL_ADVANCED ? "ADVANCED" : "BASIC";
}

static void expect_ok(enum seccomp_role role, enum seccomp_level level, probe_fn probe,
		      const char *what)
{
	int st = run_child(role, level, probe);

	if (WIFSIGNALED(st))
		fail_msg("%s at %s: killed by signal %d", what, level_name(level), WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s at %s: exit %d (a failing check's line, or %d: install failed)", what,
			 level_name(level), WEXITSTATUS(st), CHILD_INSTALL_FAILED);
}

static void expect_killed(enum seccomp_role role, enum seccomp_level level, probe_fn probe,
			  const char *what)
{
	int st = run_child(role, level, probe);

	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
		fail_msg("%s at %s: expected SIGSYS, got %s %d", what, level_name(level),
			 WIFSIGNALED(st) ? "signal" : "exit",
			 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void expect_killed_both(enum seccomp_role role, probe_fn probe, const char *what)
{
	expect_killed(role, SECCOMP_LEVEL_BASIC, probe, what);
	expect_killed(role, SECCOMP_LEVEL_ADVANCED, probe, what);
}

/* ---- probes: what every thread does ---------------------------------------------- */

static int probe_common(void)
{
	struct timespec ts;
	void *p;
	char *m;

	EXPECT(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) == 0);
	EXPECT(syscall(SYS_getpid) == getpid());
	EXPECT(syscall(SYS_tgkill, getpid(), gettid(), 0) == 0);
	EXPECT_ERRNO(syscall(SYS_write, -1, "x", 1), EBADF);
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(p != MAP_FAILED);
	EXPECT(mprotect(p, 4096, PROT_READ) == 0);
	EXPECT(madvise(p, 1 << 20, MADV_DONTNEED) == 0);
	EXPECT(munmap(p, 1 << 20) == 0);
	/* Large enough for malloc to mmap it. */
	m = malloc(4 << 20);
	EXPECT(m != NULL);
	memset(m, 1, 4 << 20);
	free(m);
	return 0;
}

/* ---- probes: each role's own calls ----------------------------------------------- */

static int probe_vcpu(void)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	struct kvm_irq_level irq = { 0 };

	EXPECT_ERRNO(syscall(SYS_ioctl, -1, KVM_RUN, 0), EBADF);
	EXPECT_ERRNO(syscall(SYS_ioctl, -1, KVM_IRQ_LINE, &irq), EBADF);
	EXPECT_ERRNO(syscall(SYS_epoll_ctl, -1, EPOLL_CTL_DEL, 0, NULL), EBADF);
	EXPECT_ERRNO(syscall(SYS_timerfd_settime, -1, 0, &its, NULL), EBADF);
	EXPECT_ERRNO(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0), EBADF);
	EXPECT_ERRNO(syscall(SYS_close, -1), EBADF);
	return probe_common();
}

/* A live migration's threads: sockets, the dirty log, sleeping, waking the main thread. */
static int probe_migration(void)
{
	struct kvm_dirty_log log = { 0 };
	struct kvm_clear_dirty_log clear = { 0 };
	struct timespec ts = { 0, 1000 };
	int fd;

	EXPECT_ERRNO(syscall(SYS_ioctl, -1, KVM_GET_DIRTY_LOG, &log), EBADF);
	EXPECT_ERRNO(syscall(SYS_ioctl, -1, KVM_CLEAR_DIRTY_LOG, &clear), EBADF);
	EXPECT_ERRNO(syscall(SYS_connect, -1, NULL, 0), EBADF);
	EXPECT_ERRNO(syscall(SYS_sendmsg, -1, NULL, 0), EBADF);
	if (syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL))
		return 1;
	fd = (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return 1;
	syscall(SYS_close, fd);
	return probe_common();
}

static int probe_vmm(void)
{
	struct kvm_regs regs;
	char buf[8];
	int fd;

	EXPECT_ERRNO(syscall(SYS_ioctl, -1, KVM_GET_REGS, &regs), EBADF);
	EXPECT_ERRNO(syscall(SYS_ioctl, -1, KVM_GET_DIRTY_LOG, NULL), EBADF);
	EXPECT_ERRNO(syscall(SYS_epoll_wait, -1, NULL, 1, 0), EBADF);
	EXPECT_ERRNO(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0), EBADF);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	EXPECT(fd >= 0);
	EXPECT(close(fd) == 0);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	EXPECT(fd >= 0);
	EXPECT(fcntl(fd, F_GETFL) >= 0);
	EXPECT(read(fd, buf, sizeof(buf)) == 0);
	EXPECT(close(fd) == 0);
	EXPECT_ERRNO(rename("/nonexistent/kvmlet-a", "/nonexistent/kvmlet-b"), ENOENT);
	EXPECT(getrandom(buf, sizeof(buf), 0) == sizeof(buf));
	/* As vm_release_fd does at exit: a child that drops the VM fd, never waited for. */
	signal(SIGCHLD, SIG_IGN);
	fd = fork();
	EXPECT(fd >= 0);
	if (fd == 0) {
		close(STDIN_FILENO);
		_exit(0);
	}
	return probe_common();
}

static int probe_api(void)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	int fd;

	EXPECT_ERRNO(syscall(SYS_accept4, -1, NULL, NULL, SOCK_CLOEXEC), EBADF);
	EXPECT_ERRNO(syscall(SYS_epoll_wait, -1, NULL, 1, 0), EBADF);
	EXPECT_ERRNO(send(-1, "x", 1, MSG_NOSIGNAL), EBADF);
	EXPECT_ERRNO(syscall(SYS_timerfd_settime, -1, 0, &its, NULL), EBADF);
	/* The logger's and metrics files are opened to append. */
	fd = open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);
	EXPECT(fd >= 0);
	EXPECT(write(fd, "x", 1) == 1);
	EXPECT(close(fd) == 0);
	return probe_common();
}

/* ---- probes: forbidden everywhere ------------------------------------------------ */

static int probe_execve(void)
{
	char prog[] = "true";
	char *const argv[] = { prog, NULL };

	syscall(SYS_execve, "/bin/true", argv, NULL);
	return 1;
}

static int probe_socket_inet(void)
{
	return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 1;
}

#ifndef __SANITIZE_ADDRESS__
static int probe_ptrace(void)
{
	syscall(SYS_ptrace, PTRACE_TRACEME, 0, NULL, NULL);
	return 1;
}
#endif

static int probe_thread_clone(void)
{
	/* pthread_create's clone3, as a thread under a filter would create one. */
	syscall(SYS_clone3, NULL, 0);
	return 1;
}

static int probe_unshare(void)
{
	syscall(SYS_unshare, CLONE_NEWUSER);
	return 1;
}

/* ---- probes: forbidden by arguments, at ADVANCED only ---------------------------- */

static int probe_vcpu_foreign_ioctl(void)
{
	/* A VM-creating ioctl: not something a vCPU thread does. */
	EXPECT_ERRNO(syscall(SYS_ioctl, -1, KVM_CREATE_VM, 0), EBADF);
	return 0;
}

static int probe_vmm_kvm_run(void)
{
	EXPECT_ERRNO(syscall(SYS_ioctl, -1, KVM_RUN, 0), EBADF);
	return 0;
}

static int probe_vmm_tty_ioctl(void)
{
	EXPECT_ERRNO(syscall(SYS_ioctl, -1, TIOCSTI, "x"), EBADF);
	return 0;
}

static int probe_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	EXPECT(p != MAP_FAILED);
	munmap(p, 4096);
	return 0;
}

static int probe_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	EXPECT(p != MAP_FAILED);
	EXPECT(mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0);
	return 0;
}

static int probe_tgkill_other(void)
{
	/* Signal 0 to init: only checks, but a filter that allows it allows any. */
	syscall(SYS_tgkill, 1, 1, 0);
	return 0;
}

static int probe_clone_shared_files(void)
{
	/* Not fork's flags: a child sharing the descriptor table. */
	long pid = syscall(SYS_clone, CLONE_FILES | SIGCHLD, NULL, NULL, NULL, 0);

	if (pid == 0)
		_exit(0);
	EXPECT(pid > 0);
	return 0;
}

static int probe_api_open_create(void)
{
	int fd = open("/nonexistent/kvmlet", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	EXPECT(fd < 0);
	return 0;
}

static int probe_api_open_trunc(void)
{
	int fd = open("/dev/null", O_WRONLY | O_APPEND | O_TRUNC | O_CLOEXEC);

	EXPECT(fd >= 0);
	close(fd);
	return 0;
}

#ifndef __SANITIZE_ADDRESS__
static int probe_api_open_read(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	EXPECT(fd >= 0);
	close(fd);
	return 0;
}
#endif

#ifndef __SANITIZE_ADDRESS__
static int probe_vmm_rt_sigaction(void)
{
	signal(SIGUSR1, SIG_IGN);
	return 0;
}
#endif

/* Allowed at BASIC, killed at ADVANCED. */
static void expect_advanced_only(enum seccomp_role role, probe_fn probe, const char *what)
{
	expect_ok(role, SECCOMP_LEVEL_BASIC, probe, what);
	expect_killed(role, SECCOMP_LEVEL_ADVANCED, probe, what);
}

/* ---- tests ------------------------------------------------------------------------ */

static void vcpu_role(void **state)
{
	expect_ok(SECCOMP_ROLE_VCPU, SECCOMP_LEVEL_BASIC, probe_vcpu, "vCPU calls");
	expect_ok(SECCOMP_ROLE_VCPU, SECCOMP_LEVEL_ADVANCED, probe_vcpu, "vCPU calls");
	expect_killed_both(SECCOMP_ROLE_VCPU, probe_execve, "vCPU execve");
	expect_killed_both(SECCOMP_ROLE_VCPU, probe_socket_inet, "vCPU socket");
	expect_killed_both(SECCOMP_ROLE_VCPU, probe_thread_clone, "vCPU clone3");
	expect_killed_both(SECCOMP_ROLE_VCPU, probe_unshare, "vCPU unshare");
	expect_advanced_only(SECCOMP_ROLE_VCPU, probe_vcpu_foreign_ioctl, "vCPU KVM_CREATE_VM");
	expect_advanced_only(SECCOMP_ROLE_VCPU, probe_mmap_exec, "vCPU mmap PROT_EXEC");
	expect_advanced_only(SECCOMP_ROLE_VCPU, probe_tgkill_other, "vCPU tgkill of pid 1");
}

static void vmm_role(void **state)
{
	expect_ok(SECCOMP_ROLE_VMM, SECCOMP_LEVEL_BASIC, probe_vmm, "main thread calls");
	expect_ok(SECCOMP_ROLE_VMM, SECCOMP_LEVEL_ADVANCED, probe_vmm, "main thread calls");
	expect_killed_both(SECCOMP_ROLE_VMM, probe_execve, "main thread execve");
	expect_killed_both(SECCOMP_ROLE_VMM, probe_thread_clone, "main thread clone3");
	expect_killed_both(SECCOMP_ROLE_VMM, probe_unshare, "main thread unshare");
	expect_advanced_only(SECCOMP_ROLE_VMM, probe_socket_inet, "main thread AF_INET socket");
	expect_advanced_only(SECCOMP_ROLE_VMM, probe_vmm_kvm_run, "main thread KVM_RUN");
	expect_advanced_only(SECCOMP_ROLE_VMM, probe_vmm_tty_ioctl, "main thread TIOCSTI");
	expect_advanced_only(SECCOMP_ROLE_VMM, probe_mprotect_exec, "main thread PROT_EXEC");
	expect_advanced_only(SECCOMP_ROLE_VMM, probe_clone_shared_files, "main thread clone");
#ifndef __SANITIZE_ADDRESS__
	/* LeakSanitizer's check at exit needs these in sanitizer builds. */
	expect_killed_both(SECCOMP_ROLE_VMM, probe_ptrace, "main thread ptrace");
	expect_advanced_only(SECCOMP_ROLE_VMM, probe_vmm_rt_sigaction, "main thread SIGUSR1");
#endif
}

static void migration_role(void **state)
{
	expect_ok(SECCOMP_ROLE_MIGRATION, SECCOMP_LEVEL_BASIC, probe_migration, "migration calls");
	expect_ok(SECCOMP_ROLE_MIGRATION, SECCOMP_LEVEL_ADVANCED, probe_migration,
		  "migration calls");
	expect_killed_both(SECCOMP_ROLE_MIGRATION, probe_execve, "migration execve");
	expect_killed_both(SECCOMP_ROLE_MIGRATION, probe_unshare, "migration unshare");
	expect_advanced_only(SECCOMP_ROLE_MIGRATION, probe_vmm_kvm_run, "migration KVM_RUN");
	expect_advanced_only(SECCOMP_ROLE_MIGRATION, probe_mmap_exec, "migration PROT_EXEC");
	expect_killed_both(SECCOMP_ROLE_MIGRATION, probe_api_open_create, "migration O_CREAT");
}

static void api_role(void **state)
{
	expect_ok(SECCOMP_ROLE_API, SECCOMP_LEVEL_BASIC, probe_api, "API calls");
	expect_ok(SECCOMP_ROLE_API, SECCOMP_LEVEL_ADVANCED, probe_api, "API calls");
	expect_killed_both(SECCOMP_ROLE_API, probe_execve, "API execve");
	expect_killed_both(SECCOMP_ROLE_API, probe_socket_inet, "API socket");
	expect_killed_both(SECCOMP_ROLE_API, probe_vmm_kvm_run, "API ioctl");
	expect_killed_both(SECCOMP_ROLE_API, probe_thread_clone, "API clone3");
	expect_advanced_only(SECCOMP_ROLE_API, probe_api_open_create, "API open O_CREAT");
	expect_advanced_only(SECCOMP_ROLE_API, probe_api_open_trunc, "API open O_TRUNC");
#ifndef __SANITIZE_ADDRESS__
	/* ASan's reports read /proc/self/maps from any thread in sanitizer builds. */
	expect_advanced_only(SECCOMP_ROLE_API, probe_api_open_read, "API open O_RDONLY");
#endif
	expect_advanced_only(SECCOMP_ROLE_API, probe_mmap_exec, "API mmap PROT_EXEC");
}

static void *violator(void *arg)
{
	struct err err = { 0 };

	if (seccomp_install(SECCOMP_ROLE_VCPU, SECCOMP_LEVEL_ADVANCED, &err) == 0)
		probe_execve();
	return NULL;
}

/* One thread's violation ends the process, not just the thread. */
static int probe_kill_process(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, violator, NULL))
		return 1;
	pthread_join(t, NULL);
	return 2; /* only reached if the process survived */
}

static void kills_whole_process(void **state)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		_exit(probe_kill_process());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static int probe_no_filter(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	EXPECT(fd >= 0);
	close(fd);
	EXPECT(prctl(PR_GET_SECCOMP) == 0);
	return 0;
}

static void level_none_installs_nothing(void **state)
{
	int st;

	for (int role = SECCOMP_ROLE_VMM; role <= SECCOMP_ROLE_VCPU; role++) {
		st = run_child(role, SECCOMP_LEVEL_NONE, probe_no_filter);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

static void bad_arguments(void **state)
{
	struct err err = { 0 };

	/* Refused before anything is installed: this process stays unfiltered. */
	assert_int_equal(seccomp_install((enum seccomp_role)7, SECCOMP_LEVEL_BASIC, &err), -EINVAL);
	assert_int_equal(seccomp_install(SECCOMP_ROLE_VMM, (enum seccomp_level)3, &err), -EINVAL);
	assert_int_equal(prctl(PR_GET_SECCOMP), 0);
}

static void parse_level(void **state)
{
	static const char *const bad[] = { "",	 "3",  "-1",  "00", "01", "1 ",
					   " 1", "2x", "one", "9",  "10" };
	enum seccomp_level l = SECCOMP_LEVEL_BASIC;

	assert_int_equal(seccomp_parse_level("0", &l), 0);
	assert_int_equal(l, SECCOMP_LEVEL_NONE);
	assert_int_equal(seccomp_parse_level("1", &l), 0);
	assert_int_equal(l, SECCOMP_LEVEL_BASIC);
	assert_int_equal(seccomp_parse_level("2", &l), 0);
	assert_int_equal(l, SECCOMP_LEVEL_ADVANCED);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l = SECCOMP_LEVEL_BASIC;
		if (seccomp_parse_level(bad[i], &l) != -EINVAL)
			fail_msg("seccomp_parse_level(\"%s\") accepted", bad[i]);
		assert_int_equal(l, SECCOMP_LEVEL_BASIC); /* untouched */
	}
	assert_int_equal(seccomp_parse_level(NULL, &l), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_level),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(level_none_installs_nothing),
		cmocka_unit_test(vcpu_role),
		cmocka_unit_test(vmm_role),
		cmocka_unit_test(migration_role),
		cmocka_unit_test(api_role),
		cmocka_unit_test(kills_whole_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
