// SPDX-License-Identifier: Apache-2.0
/*
 * Per-thread seccomp-bpf filters.
 *
 * The lists come from reading the code each thread runs and from tracing
 * the integration tests (strace -f, per thread) in release and sanitizer
 * builds. Most of a thread's system calls are obvious from its job; the
 * entries that are not say why they are there.
 *
 * Stacking: a filter applies to the thread that installs it and to every
 * thread it creates afterwards, and filters stack: a system call must pass
 * every filter on the thread. So the main thread creates the API and vCPU
 * threads before it installs its own filter (its list has no clone3 for
 * threads), and each of those threads installs its own list first thing.
 * A child forked by the main thread (vm_release_fd) keeps the main
 * thread's filter; what it does is on the main thread's list.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <linux/fs.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/seccomp.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Sanitizer runtimes make system calls of their own (see sanitizer_rules):
 * allowed only in builds that carry them.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SC_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SC_SANITIZER 1
#endif
#endif

/*
 * Built with -DKVMLET_SECCOMP_AUDIT, a call off the list is allowed and
 * logged by the kernel ("audit: type=1326 ... syscall=N" in dmesg): for
 * finding what a list lacks by running the tests.
 */
#ifdef KVMLET_SECCOMP_AUDIT
#define SC_DEFAULT_ACTION SCMP_ACT_LOG
#else
#define SC_DEFAULT_ACTION SCMP_ACT_KILL_PROCESS
#endif

/* One allowed system call, with up to two conditions on its arguments. */
struct sc_rule {
	int nr;
	unsigned int nargs; /* 0: any arguments */
	struct scmp_arg_cmp arg[2];
};

/* A thread role's list: system calls, and its ioctl requests (any request at BASIC). */
struct sc_policy {
	const char *name;
	const struct sc_rule *rules;
	size_t nr_rules;
	const unsigned long *ioctls;
	size_t nr_ioctls;
};

/* clang-format off */
#define ANY(name)	{ SCMP_SYS(name), 0, { { 0 } } }
#define IF1(name, a)	{ SCMP_SYS(name), 1, { a } }

/*
 * int arguments compare on their low 32 bits only, as the kernel reads
 * them: the upper half of the register is not defined by the ABI.
 */
#define EQ32(i, v)	{ (i), SCMP_CMP_MASKED_EQ, 0xffffffffULL, (scmp_datum_t)(v) }
#define EQ64(i, v)	{ (i), SCMP_CMP_EQ, (scmp_datum_t)(v), 0 }
/* None of bits is set. */
#define CLEAR(i, bits)	{ (i), SCMP_CMP_MASKED_EQ, (scmp_datum_t)(bits), 0 }
/*
 * Opened to append (the logger's and metrics files): never truncating, no
 * O_TMPFILE, O_PATH or directory.
 */
#define APPEND_ONLY(i)	{ (i), SCMP_CMP_MASKED_EQ, \
			  O_APPEND | O_TRUNC | O_TMPFILE | O_PATH | O_DIRECTORY, O_APPEND }
/* Opened read-only, not created or truncated. */
#define READ_ONLY(i)	{ (i), SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY }
/* The process's own pid, filled in when the filter is built. */
#define OWN_PID(i)	EQ32(i, SC_PID_PLACEHOLDER)
#define SC_PID_PLACEHOLDER 0xfeedfacecafeULL
/* clang-format on */

/* What glibc's fork() passes to clone on x86-64. */
#define FORK_CLONE_FLAGS (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD)

/* Every thread: locks, malloc, signals, exiting, and abort(). */
static const struct sc_rule common_rules[] = {
	ANY(futex),
	ANY(restart_syscall), /* a futex wait with a timeout, interrupted by a signal */
	ANY(brk),	      /* free() of a main-arena chunk may trim from any thread */
	IF1(mmap, CLEAR(2, PROT_EXEC)),
	IF1(mprotect, CLEAR(2, PROT_EXEC)),
	ANY(mremap),
	ANY(munmap),
	ANY(madvise),	    /* malloc, and glibc releasing a finished thread's stack */
	ANY(clock_gettime), /* normally the vDSO; the system call when it is unusable */
	ANY(rt_sigreturn),  /* the vCPU kick handler */
	ANY(rt_sigprocmask),
	ANY(getpid),
	ANY(gettid),
	IF1(tgkill, OWN_PID(0)), /* vCPU kicks, pthread_kill, abort() */
	ANY(write),		 /* log lines to stderr, eventfds */
	ANY(sysinfo),		 /* qsort() sizing its buffer: sysconf(_SC_PHYS_PAGES) */
	ANY(exit),
	ANY(exit_group),
};

/*
 * The main thread, once the VM runs: the event loop and every device's
 * I/O, the commands the API thread posts (pause, resume, snapshots, drive
 * updates), and tearing the VM down at exit.
 */
static const struct sc_rule vmm_rules[] = {
	ANY(epoll_wait),
	ANY(epoll_pwait),
	ANY(epoll_ctl),
	ANY(read),
	ANY(readv),
	ANY(writev),
	ANY(close),
	ANY(timerfd_settime),
	ANY(io_uring_enter),
	/* blk recreates a queue's ring when it has to drop unsubmitted requests. */
	ANY(io_uring_setup),
	IF1(io_uring_register, EQ32(1, IORING_REGISTER_EVENTFD)),
	ANY(getrandom), /* virtio-rng; mkstemp's names */
	/* vsock: host connections, and guest connections to <uds>_<port> listeners. */
	IF1(socket, EQ32(0, AF_UNIX)),
	ANY(connect),
	ANY(accept4),
	ANY(recvfrom),
	ANY(recvmsg),
	ANY(sendto),
	ANY(sendmsg),
	ANY(shutdown),
	IF1(getsockopt, EQ32(1, SOL_SOCKET)),
	ANY(unlink), /* the vsock socket and a failed snapshot's temporary file, at exit */
	/* Snapshots: state and memory files, written durably; drive updates. */
	ANY(openat),
	ANY(fstat),
	ANY(newfstatat),
	ANY(statx), /* a new drive's direct I/O alignment */
	ANY(lseek),
	ANY(pread64),
	ANY(pwrite64),
	ANY(ftruncate),
	ANY(fsync),
	ANY(fdatasync),
	ANY(rename),
	ANY(renameat),
	ANY(renameat2),
	IF1(fcntl, EQ32(1, F_GETFL)), /* a new drive dropping O_DIRECT */
	IF1(fcntl, EQ32(1, F_SETFL)),
	ANY(mincore), /* guest RAM residency, logged at exit with KVMLET_DEBUG */
	/*
	 * At exit a forked child holds the VM fd while KVM releases it
	 * (vm_release_fd); the child sets its robust list, closes and exits.
	 */
	IF1(rt_sigaction, EQ32(0, SIGCHLD)),
	IF1(clone, EQ64(0, FORK_CLONE_FLAGS)),
	ANY(set_robust_list),
};

static const unsigned long vmm_ioctls[] = {
	/* VM: interrupts, eventfds, memory slots (dirty logging), snapshots. */
	KVM_CHECK_EXTENSION,
	KVM_IRQ_LINE,
	KVM_IRQFD,
	KVM_IOEVENTFD,
	KVM_SET_USER_MEMORY_REGION,
	KVM_GET_DIRTY_LOG,
	KVM_REGISTER_COALESCED_MMIO,
	KVM_UNREGISTER_COALESCED_MMIO,
	KVM_GET_IRQCHIP,
	KVM_SET_IRQCHIP,
	KVM_GET_PIT2,
	KVM_SET_PIT2,
	KVM_GET_CLOCK,
	KVM_SET_CLOCK,
	/* /dev/kvm: which MSRs a snapshot saves. */
	KVM_GET_MSR_INDEX_LIST,
	/* vCPUs, paused: snapshot state. */
	KVM_GET_REGS,
	KVM_SET_REGS,
	KVM_GET_SREGS,
	KVM_SET_SREGS,
#ifdef KVM_GET_SREGS2
	KVM_GET_SREGS2,
	KVM_SET_SREGS2,
#endif
	KVM_GET_FPU,
	KVM_SET_FPU,
	KVM_GET_XSAVE,
	KVM_SET_XSAVE,
#ifdef KVM_GET_XSAVE2
	KVM_GET_XSAVE2,
#endif
	KVM_GET_XCRS,
	KVM_SET_XCRS,
	KVM_GET_MSRS,
	KVM_SET_MSRS,
	KVM_GET_LAPIC,
	KVM_SET_LAPIC,
	KVM_GET_VCPU_EVENTS,
	KVM_SET_VCPU_EVENTS,
	KVM_GET_MP_STATE,
	KVM_SET_MP_STATE,
	KVM_GET_DEBUGREGS,
	KVM_SET_DEBUGREGS,
	KVM_GET_CPUID2,
	KVM_SET_CPUID2,
	/* Devices: TAP offloads on (re)activation; a new drive's geometry. */
	TUNSETOFFLOAD,
	BLKGETSIZE64,
	BLKSSZGET,
	BLKPBSZGET,
};

/*
 * A vCPU thread: KVM_RUN and the exits it handles. Guest writes to a
 * device's MMIO registers run that device's code here, so a virtio
 * device's activation and reset are on this list too: epoll_ctl, closing
 * vsock connections, draining (and at worst recreating) blk's rings,
 * TAP offloads; so are the UART's output and interrupt and the serial
 * coalescing switch-off.
 */
static const struct sc_rule vcpu_rules[] = {
	ANY(epoll_ctl),	      ANY(close),
	ANY(timerfd_settime), ANY(io_uring_enter),
	ANY(io_uring_setup),  IF1(io_uring_register, EQ32(1, IORING_REGISTER_EVENTFD)),
	/* A migration's auto-converge: the vCPU sleeps its share of each slice. */
	ANY(clock_nanosleep), ANY(nanosleep),
};

static const unsigned long vcpu_ioctls[] = {
	KVM_RUN,
	KVM_KVMCLOCK_CTRL, /* parking: the guest's watchdog must not count the pause */
	KVM_GET_REGS,	   /* where a failed vCPU stopped, for the message */
	KVM_IRQ_LINE,	   /* the UART's interrupt, on the VM fd */
	KVM_UNREGISTER_COALESCED_MMIO,
	TUNSETOFFLOAD,
};

/*
 * The API thread (lib/http_server.c, whose header lists the same calls):
 * its epoll loop over the listening socket, connections, the wake-up
 * eventfd and the loop's timerfd (the sweep tick), all created before the
 * filter; a peek (recvfrom) at a connection it may evict; and the logger's
 * and metrics files, which PUT /logger and PUT /metrics open to append to.
 */
static const struct sc_rule api_rules[] = {
	ANY(epoll_wait),
	ANY(epoll_pwait),
	ANY(epoll_ctl),
	ANY(accept4),
	ANY(read),
	ANY(recvfrom),
	ANY(recvmsg),
	ANY(writev),
	ANY(sendto),
	ANY(sendmsg),
	ANY(shutdown),
	ANY(close),
	ANY(timerfd_settime),
	IF1(openat, APPEND_ONLY(2)),
	IF1(dup2, EQ32(1, STDERR_FILENO)), /* PUT /logger sends stderr to its file */
	ANY(fstat),
	ANY(newfstatat),
};

/*
 * A live migration's threads (vmm/migration/source.h): the service thread,
 * started with the vCPUs before the main thread narrows its filter, runs
 * each outgoing migration and starts its sending threads (clone3 takes
 * its flags in memory: no argument check), which inherit this list. They
 * connect to the target, send frames and read replies, turn the dirty log
 * on and off (manual-protect: each chunk re-protected before it is sent),
 * kick throttled vCPUs, sleep for the bandwidth limit, and wake the main
 * thread through its eventfd (write, in common_rules). The main thread
 * itself never opens a network socket or starts a thread.
 */
static const struct sc_rule migration_rules[] = {
	ANY(clone3),
	ANY(rseq), /* a new thread registers it */
	ANY(set_robust_list),
	IF1(prctl, EQ32(0, PR_SET_NAME)), /* a sending thread names itself */
	IF1(socket, EQ32(0, AF_UNIX)),
	IF1(socket, EQ32(0, AF_INET)),
	IF1(socket, EQ32(0, AF_INET6)),
	ANY(connect),
	ANY(setsockopt),
	ANY(writev),
	ANY(sendmsg),
	ANY(sendto),
	ANY(read),
	ANY(recvfrom),
	ANY(recvmsg),
	ANY(shutdown),
	ANY(close),
	ANY(poll),
	ANY(ppoll),
	ANY(clock_nanosleep),
	ANY(nanosleep),
};

static const unsigned long migration_ioctls[] = {
	KVM_CHECK_EXTENSION,
	KVM_ENABLE_CAP,
	KVM_SET_USER_MEMORY_REGION,
	KVM_GET_DIRTY_LOG,
	KVM_CLEAR_DIRTY_LOG,
};

#ifdef SC_SANITIZER
/* LeakSanitizer's tracer: shares memory, files and fs, untraced; no signal at exit. */
#define LSAN_CLONE_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_UNTRACED)

/*
 * ASan and UBSan, for the sanitizer builds the tests run: their allocator
 * maps and unmaps shadow and reports, error reports read /proc/self/maps
 * and write to stderr, and at exit LeakSanitizer stops the world from a
 * clone()d tracer that ptrace()s every thread. None of this is in release
 * builds.
 */
static const struct sc_rule sanitizer_rules[] = {
	/* Allocator, thread exit, reports (isatty on stderr, /proc/self/maps, the binary). */
	ANY(sigaltstack),
	ANY(sched_yield),
	ANY(sched_getaffinity), /* a thread started after a filter (migration workers) */
	ANY(getrlimit),
	ANY(prlimit64),
	IF1(open, READ_ONLY(1)),
	IF1(openat, READ_ONLY(2)),
	ANY(readlink),
	ANY(read),
	ANY(pread64),
	ANY(close),
	ANY(lseek),
	ANY(fstat),
	ANY(newfstatat),
	ANY(pipe2),
	IF1(fcntl, EQ32(1, F_SETFD)),
	IF1(ioctl, EQ32(1, TCGETS)),
	ANY(nanosleep),
	ANY(clock_nanosleep),
	/* LeakSanitizer at exit, on the main thread and in its tracer. */
	ANY(prctl),
	IF1(clone, EQ64(0, LSAN_CLONE_FLAGS)),
	ANY(getppid),
	ANY(rt_sigaction),
	ANY(getdents),
	ANY(getdents64),
	ANY(ptrace),
	ANY(wait4),
	ANY(kill),
	ANY(set_robust_list),
};
#endif

static const struct sc_policy policies[] = {
	[SECCOMP_ROLE_VMM] = { "main thread", vmm_rules, ARRAY_SIZE(vmm_rules), vmm_ioctls,
			       ARRAY_SIZE(vmm_ioctls) },
	[SECCOMP_ROLE_API] = { "API thread", api_rules, ARRAY_SIZE(api_rules), NULL, 0 },
	[SECCOMP_ROLE_VCPU] = { "vCPU thread", vcpu_rules, ARRAY_SIZE(vcpu_rules), vcpu_ioctls,
				ARRAY_SIZE(vcpu_ioctls) },
	[SECCOMP_ROLE_MIGRATION] = { "migration thread", migration_rules,
				     ARRAY_SIZE(migration_rules), migration_ioctls,
				     ARRAY_SIZE(migration_ioctls) },
};

int seccomp_parse_level(const char *s, enum seccomp_level *out)
{
	if (!s || s[0] < '0' || s[0] > '2' || s[1])
		return -EINVAL;
	*out = (enum seccomp_level)(s[0] - '0');
	return 0;
}

static int sc_add(scmp_filter_ctx ctx, const struct sc_rule *r, bool args, scmp_datum_t pid,
		  const char *who, struct err *err)
{
	struct scmp_arg_cmp arg[ARRAY_SIZE(r->arg)];
	unsigned int n = args ? r->nargs : 0;
	char *name;
	int rc;

	for (unsigned int i = 0; i < n; i++) {
		arg[i] = r->arg[i];
		if (arg[i].op == SCMP_CMP_MASKED_EQ && arg[i].datum_b == SC_PID_PLACEHOLDER)
			arg[i].datum_b = pid;
	}
	rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, r->nr, n, arg);
	/* The same call allowed twice (BASIC drops the conditions) is no error. */
	if (rc == 0 || rc == -EEXIST)
		return 0;
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, r->nr);
	err_set(err, rc, "seccomp filter for the %s: adding %s: %s", who, name ? name : "?",
		strerror(-rc));
	free(name);
	return rc;
}

static int sc_add_all(scmp_filter_ctx ctx, const struct sc_rule *rules, size_t n, bool args,
		      scmp_datum_t pid, const char *who, struct err *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc = sc_add(ctx, &rules[i], args, pid, who, err);

		if (rc)
			return rc;
	}
	return 0;
}

static int sc_build(scmp_filter_ctx ctx, const struct sc_policy *p, enum seccomp_level level,
		    struct err *err)
{
	bool args = level == SECCOMP_LEVEL_ADVANCED;
	scmp_datum_t pid = (scmp_datum_t)getpid();
	int rc;

	rc = sc_add_all(ctx, common_rules, ARRAY_SIZE(common_rules), args, pid, p->name, err);
	if (!rc)
		rc = sc_add_all(ctx, p->rules, p->nr_rules, args, pid, p->name, err);
#ifdef SC_SANITIZER
	/* With their conditions even at BASIC: they are not the role's calls. */
	if (!rc)
		rc = sc_add_all(ctx, sanitizer_rules, ARRAY_SIZE(sanitizer_rules), true, pid,
				p->name, err);
#endif
	if (rc || !p->nr_ioctls)
		return rc;
	if (!args) {
		struct sc_rule r = ANY(ioctl);

		return sc_add(ctx, &r, false, pid, p->name, err);
	}
	for (size_t i = 0; i < p->nr_ioctls; i++) {
		struct sc_rule r = { SCMP_SYS(ioctl), 1, { EQ32(1, p->ioctls[i]) } };

		rc = sc_add(ctx, &r, true, pid, p->name, err);
		if (rc)
			return rc;
	}
	return 0;
}

int seccomp_install(enum seccomp_role role, enum seccomp_level level, struct err *err)
{
	const struct sc_policy *p;
	scmp_filter_ctx ctx;
	int rc;

	if (level == SECCOMP_LEVEL_NONE)
		return 0;
	if ((unsigned int)role >= ARRAY_SIZE(policies) || !policies[role].rules ||
	    (level != SECCOMP_LEVEL_BASIC && level != SECCOMP_LEVEL_ADVANCED))
		return err_set(err, -EINVAL, "seccomp: unknown role %d or level %d", (int)role,
			       (int)level);
	p = &policies[role];
	ctx = seccomp_init(SC_DEFAULT_ACTION);
	if (!ctx)
		return err_set(err, -ENOMEM, "seccomp filter for the %s: out of memory", p->name);
	/* x32 and i386 system calls are not ours either. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SC_DEFAULT_ACTION);
	if (rc)
		err_set(err, rc, "seccomp filter for the %s: %s", p->name, strerror(-rc));
	if (!rc)
		rc = sc_build(ctx, p, level, err);
	if (!rc) {
		/* A binary tree: KVM_RUN's check is not at the end of a long chain. */
		(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
		rc = seccomp_load(ctx);
		if (rc)
			err_set(err, rc, "installing the seccomp filter for the %s: %s", p->name,
				strerror(-rc));
	}
	seccomp_release(ctx);
	return rc;
}
