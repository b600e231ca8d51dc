// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-jailer: builds a jail around one kvmlet-vmm, as Firecracker's
 * jailer does around firecracker, then becomes the VMM. docs/jailer.md
 * describes the options and the order of the steps.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jailer/cgroup.h"
#include "jailer/chroot.h"
#include "kvmlet/exit_codes.h"
#include "lib/log.h"
#include "lib/parse.h"

#define JAIL_ID_MAX	    64
#define JAIL_DEFAULT_BASE   "/srv/jailer"
#define JAIL_DEFAULT_PARENT "kvmlet"
#define JAIL_DEFAULT_NOFILE 2048 /* Firecracker's default */
#define JAIL_MAX_RLIMITS    8
#define JAIL_MAX_ENV	    8

extern char **environ;

struct jail_config {
	const char *id, *exec_file, *base, *netns, *parent_cgroup;
	char exec_name[NAME_MAX + 1];
	uid_t uid;
	gid_t gid;
	int cgroup_version; /* 0: the mounted one */
	const char *cgroups[JAIL_CGROUP_MAX_SETTINGS + 1];
	unsigned int nr_cgroups;
	struct {
		int resource;
		rlim_t value;
	} rlimits[JAIL_MAX_RLIMITS];
	unsigned int nr_rlimits;
	bool daemonize, new_pid_ns;
	char **vmm_args; /* after "--" */
	int nr_vmm_args;
};

/* What the VMM may still see of the environment: debugging switches only. */
static const char *const jail_env_keep[] = { "KVMLET_DEBUG=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=",
					     "LSAN_OPTIONS=" };

static const char usage[] =
	"usage: kvmlet-jailer --id ID --exec-file PATH --uid N --gid N\n"
	"         [--chroot-base-dir DIR] [--netns PATH] [--cgroup-version 1|2]\n"
	"         [--parent-cgroup PATH] [--cgroup FILE=VALUE]... [--resource-limit "
	"fsize=N|no-file=N]...\n"
	"         [--daemonize] [--new-pid-ns] [-- VMM-ARGS...]\n"
	"Runs the VMM in a chroot of <base>/<exec-file name>/<id>/root (see docs/jailer.md).\n";

static int jail_parse_id(const char *id, struct err *err)
{
	size_t n = strlen(id);

	if (!n || n > JAIL_ID_MAX)
		return err_set(err, -EINVAL, "--id: must be 1 to %d characters", JAIL_ID_MAX);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-')
			return err_set(err, -EINVAL,
				       "--id '%.*s': only letters, digits and '-' are allowed",
				       JAIL_ID_MAX + 1, id);
	return 0;
}

/* uid_t/gid_t (unsigned) -1 means "unchanged" to the kernel; 0 would be no jail. */
static int jail_parse_ugid(const char *opt, const char *s, unsigned int *out, struct err *err)
{
	uint64_t v;

	if (parse_u64(s, 1, UINT32_MAX - 1, &v))
		return err_set(err, -EINVAL,
			       "%s '%.32s': expected a number from 1 to %u (not root)", opt, s,
			       UINT32_MAX - 1);
	*out = (unsigned int)v;
	return 0;
}

static int jail_parse_rlimit(struct jail_config *cfg, const char *arg, struct err *err)
{
	const char *eq = strchr(arg, '=');
	int resource;
	uint64_t v;

	if (eq && eq - arg == 5 && !memcmp(arg, "fsize", 5))
		resource = RLIMIT_FSIZE;
	else if (eq && eq - arg == 7 && !memcmp(arg, "no-file", 7))
		resource = RLIMIT_NOFILE;
	else
		return err_set(err, -EINVAL,
			       "--resource-limit '%.64s': expected fsize=N or no-file=N", arg);
	if (parse_u64(eq + 1, 1, RLIM_INFINITY - 1, &v))
		return err_set(err, -EINVAL, "--resource-limit '%.64s': bad number", arg);
	for (unsigned int i = 0; i < cfg->nr_rlimits; i++)
		if (cfg->rlimits[i].resource == resource)
			return err_set(err, -EINVAL, "--resource-limit %.*s given twice",
				       (int)(eq - arg), arg);
	cfg->rlimits[cfg->nr_rlimits].resource = resource;
	cfg->rlimits[cfg->nr_rlimits++].value = v;
	return 0;
}

/* An absolute path without ".." components. */
static bool jail_path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *c = p; (c = strstr(c, "..")); c += 2)
		if (c[-1] == '/' && (c[2] == '/' || !c[2]))
			return false;
	return true;
}

static int jail_parse_args(struct jail_config *cfg, int argc, char **argv, struct err *err)
{
	enum {
		O_ID,
		O_EXEC,
		O_UID,
		O_GID,
		O_BASE,
		O_NETNS,
		O_CGV,
		O_CG,
		O_PARENT,
		O_RL,
		O_DAEMON,
		O_PIDNS,
		O_HELP
	};
	static const struct option opts[] = {
		[O_ID] = { "id", required_argument, NULL, O_ID },
		[O_EXEC] = { "exec-file", required_argument, NULL, O_EXEC },
		[O_UID] = { "uid", required_argument, NULL, O_UID },
		[O_GID] = { "gid", required_argument, NULL, O_GID },
		[O_BASE] = { "chroot-base-dir", required_argument, NULL, O_BASE },
		[O_NETNS] = { "netns", required_argument, NULL, O_NETNS },
		[O_CGV] = { "cgroup-version", required_argument, NULL, O_CGV },
		[O_CG] = { "cgroup", required_argument, NULL, O_CG },
		[O_PARENT] = { "parent-cgroup", required_argument, NULL, O_PARENT },
		[O_RL] = { "resource-limit", required_argument, NULL, O_RL },
		[O_DAEMON] = { "daemonize", no_argument, NULL, O_DAEMON },
		[O_PIDNS] = { "new-pid-ns", no_argument, NULL, O_PIDNS },
		[O_HELP] = { "help", no_argument, NULL, O_HELP },
		{ 0 },
	};
	const unsigned int repeatable = 1u << O_CG | 1u << O_RL;
	unsigned int seen = 0;
	int c, r = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->base = JAIL_DEFAULT_BASE;
	cfg->parent_cgroup = JAIL_DEFAULT_PARENT;
	opterr = 0;
	/* "+": stop at the first non-option, whose place is after "--". */
	while (!r && (c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (c >= O_ID && c <= O_HELP) {
			if (seen & ~repeatable & 1u << c)
				return err_set(err, -EINVAL, "--%s given twice", opts[c].name);
			seen |= 1u << c;
		}
		switch (c) {
		case O_ID:
			cfg->id = optarg;
			break;
		case O_EXEC:
			cfg->exec_file = optarg;
			break;
		case O_BASE:
			cfg->base = optarg;
			break;
		case O_NETNS:
			cfg->netns = optarg;
			break;
		case O_PARENT:
			cfg->parent_cgroup = optarg;
			break;
		case O_UID:
			r = jail_parse_ugid("--uid", optarg, &cfg->uid, err);
			break;
		case O_GID:
			r = jail_parse_ugid("--gid", optarg, &cfg->gid, err);
			break;
		case O_CGV:
			if (strcmp(optarg, "1") && strcmp(optarg, "2"))
				r = err_set(err, -EINVAL,
					    "--cgroup-version '%.16s': expected 1 or 2", optarg);
			else
				cfg->cgroup_version = optarg[0] - '0';
			break;
		case O_CG:
			if (cfg->nr_cgroups == JAIL_CGROUP_MAX_SETTINGS)
				r = err_set(err, -E2BIG, "--cgroup: at most %d values",
					    JAIL_CGROUP_MAX_SETTINGS);
			else
				cfg->cgroups[cfg->nr_cgroups++] = optarg;
			break;
		case O_RL:
			r = jail_parse_rlimit(cfg, optarg, err);
			break;
		case O_DAEMON:
			cfg->daemonize = true;
			break;
		case O_PIDNS:
			cfg->new_pid_ns = true;
			break;
		case O_HELP:
			fputs(usage, stdout);
			return 1;
		case ':':
			r = err_set(err, -EINVAL, "%.64s needs a value", argv[optind - 1]);
			break;
		default:
			r = err_set(err, -EINVAL, "unknown option '%.64s' (see --help)",
				    argv[optind - 1]);
			break;
		}
	}
	if (r)
		return r;
	if (optind < argc && strcmp(argv[optind - 1], "--"))
		return err_set(err, -EINVAL,
			       "unexpected argument '%.64s': VMM arguments go after --",
			       argv[optind]);
	cfg->vmm_args = argv + optind;
	cfg->nr_vmm_args = argc - optind;

	if (!(seen & 1u << O_ID) || !(seen & 1u << O_EXEC) || !(seen & 1u << O_UID) ||
	    !(seen & 1u << O_GID))
		return err_set(err, -EINVAL, "--id, --exec-file, --uid and --gid are required");
	r = jail_parse_id(cfg->id, err);
	if (r)
		return r;
	if (!jail_path_ok(cfg->base))
		return err_set(err, -EINVAL,
			       "--chroot-base-dir '%.64s': must be an absolute path without '..'",
			       cfg->base);
	if (cfg->netns && !*cfg->netns)
		return err_set(err, -EINVAL, "--netns: empty path");
	return 0;
}

/* The exec file: a regular, executable file whose name can be a path component. */
static int jail_check_exec(struct jail_config *cfg, struct err *err)
{
	char copy[PATH_MAX];
	const char *name;
	struct stat st;

	if (stat(cfg->exec_file, &st) < 0)
		return err_set(err, -errno, "--exec-file %s: %s", cfg->exec_file, strerror(errno));
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return err_set(err, -EACCES, "--exec-file %s: not a regular executable file",
			       cfg->exec_file);
	if (strlen(cfg->exec_file) >= sizeof(copy))
		return err_set(err, -ENAMETOOLONG, "--exec-file: path too long");
	strcpy(copy, cfg->exec_file);
	name = basename(copy);
	if (!*name || name[0] == '.' || strlen(name) > NAME_MAX - 20)
		return err_set(err, -EINVAL, "--exec-file %s: unusable file name", cfg->exec_file);
	strcpy(cfg->exec_name, name);
	return 0;
}

/* Opened before anything is created, so that a wrong path costs nothing. */
static int jail_open_netns(const char *path, struct err *err)
{
	struct statfs fs;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set(err, -errno, "--netns %s: %s", path, strerror(errno));
	if (fstatfs(fd, &fs) < 0 || fs.f_type != NSFS_MAGIC ||
	    ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return err_set(err, -EINVAL, "--netns %s: not a network namespace", path);
	}
	return fd;
}

static int jail_set_rlimits(const struct jail_config *cfg, struct err *err)
{
	bool nofile = false;
	struct rlimit rl;

	for (unsigned int i = 0; i < cfg->nr_rlimits; i++) {
		rl.rlim_cur = rl.rlim_max = cfg->rlimits[i].value;
		nofile |= cfg->rlimits[i].resource == RLIMIT_NOFILE;
		if (setrlimit(cfg->rlimits[i].resource, &rl) < 0)
			return err_set(err, -errno, "--resource-limit %s=%llu: %s",
				       cfg->rlimits[i].resource == RLIMIT_NOFILE ? "no-file"
										 : "fsize",
				       (unsigned long long)cfg->rlimits[i].value, strerror(errno));
	}
	if (nofile || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	/* The default only ever lowers the limit: raising it needs CAP_SYS_RESOURCE. */
	if (rl.rlim_max > JAIL_DEFAULT_NOFILE)
		rl.rlim_max = JAIL_DEFAULT_NOFILE;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return err_set(err, -errno, "no-file limit: %s", strerror(errno));
	return 0;
}

static int jail_drop_privileges(uid_t uid, gid_t gid, struct err *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct caps[2];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return err_set(err, -errno, "clearing ambient capabilities: %s", strerror(errno));
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return err_set(err, -errno, "switching to uid %u gid %u: %s", uid, gid,
			       strerror(errno));
	/* No set-user-ID or file-capability binary can hand anything back. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(err, -errno, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != uid ||
	    eu != uid || su != uid || rg != gid || eg != gid || sg != gid ||
	    getgroups(0, NULL) != 0)
		return err_set(err, -EPERM, "privileges were not dropped to uid %u gid %u", uid,
			       gid);
	if (syscall(SYS_capget, &hdr, caps) < 0 || caps[0].effective || caps[0].permitted ||
	    caps[0].inheritable || caps[1].effective || caps[1].permitted || caps[1].inheritable)
		return err_set(err, -EPERM, "capabilities remain after dropping privileges");
	if (setuid(0) == 0 || setgid(0) == 0 || setgroups(0, NULL) == 0)
		return err_set(err, -EPERM, "root privileges could be regained");
	return 0;
}

static int jail_write_pid(const struct jail_config *cfg, pid_t pid, struct err *err)
{
	char path[NAME_MAX + 8], buf[24];
	int fd, n;

	snprintf(path, sizeof(path), "/%s.pid", cfg->exec_name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(err, -errno, "jail: %s: %s", path, strerror(errno));
	n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, n) != n) {
		close(fd);
		return err_set(err, -EIO, "jail: writing %s failed", path);
	}
	close(fd);
	return 0;
}

/*
 * Past pivot_root there is no /proc, which exit handlers (the sanitizers')
 * need: leave without running them.
 */
static void __attribute__((noreturn)) jail_fail(const struct err *err)
{
	log_error("%s", err->msg);
	_exit(KVMLET_EXIT_BAD_INPUT);
}

/* The --new-pid-ns parent: passes on stop signals and, in the end, the VMM's status. */
static void __attribute__((noreturn)) jail_wait(pid_t child, const sigset_t *set)
{
	siginfo_t si;
	int status;

	for (;;) {
		if (sigwaitinfo(set, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD) {
			kill(child, si.si_signo);
			continue;
		}
		if (waitpid(child, &status, WNOHANG) == child)
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	}
}

/*
 * Becomes the process that will exec the VMM: in a new PID namespace, a
 * session of its own, or just this process. Writes <exec-name>.pid.
 * Returns a descriptor that hangs up when a waiting parent dies, or -1.
 */
static int jail_spawn(const struct jail_config *cfg, int devnull)
{
	struct err err = { 0 };
	sigset_t set, old;
	int sync[2] = { -1, -1 }, alive[2] = { -1, -1 };
	char ok = 0;
	pid_t pid;

	if (cfg->new_pid_ns) {
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGCHLD);
		sigprocmask(SIG_BLOCK, &set, &old);
		if (!cfg->daemonize && pipe2(alive, O_CLOEXEC) < 0) {
			err_set(&err, -errno, "--new-pid-ns: pipe: %s", strerror(errno));
			jail_fail(&err);
		}
		if (unshare(CLONE_NEWPID) < 0) {
			err_set(&err, -errno, "--new-pid-ns: unshare: %s", strerror(errno));
			jail_fail(&err);
		}
		pid = fork();
		if (pid < 0) {
			err_set(&err, -errno, "--new-pid-ns: fork: %s", strerror(errno));
			jail_fail(&err);
		}
		if (pid > 0) {
			if (jail_write_pid(cfg, pid, &err) ||
			    (!cfg->daemonize && jail_drop_privileges(cfg->uid, cfg->gid, &err))) {
				kill(pid, SIGKILL);
				jail_fail(&err);
			}
			if (cfg->daemonize)
				_exit(KVMLET_EXIT_OK);
			jail_wait(pid, &set);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (alive[1] >= 0)
			close(alive[1]);
	} else if (cfg->daemonize && getpgrp() == getpid()) {
		/* setsid() refuses a group leader: a child is never one. */
		if (pipe2(sync, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
			err_set(&err, -errno, "--daemonize: %s", strerror(errno));
			jail_fail(&err);
		}
		if (pid > 0) {
			close(sync[1]);
			/* Return once the pid file names the VMM, as without the fork. */
			_exit(read(sync[0], &ok, 1) == 1 ? KVMLET_EXIT_OK : KVMLET_EXIT_BAD_INPUT);
		}
		close(sync[0]);
	}
	if (cfg->daemonize && setsid() < 0) {
		err_set(&err, -errno, "--daemonize: setsid: %s", strerror(errno));
		jail_fail(&err);
	}
	if (!cfg->new_pid_ns && jail_write_pid(cfg, getpid(), &err))
		jail_fail(&err);
	if (sync[1] >= 0) {
		ok = 1;
		if (write(sync[1], &ok, 1) != 1)
			_exit(KVMLET_EXIT_BAD_INPUT);
		close(sync[1]);
	}
	if (cfg->daemonize &&
	    (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0))
		_exit(KVMLET_EXIT_BAD_INPUT);
	return alive[0];
}

/*
 * A foreground --new-pid-ns VMM lives no longer than the jailer waiting
 * for it. Set after the credential change, which clears it.
 */
static void jail_tie_to_parent(int alive)
{
	struct pollfd p = { .fd = alive, .events = POLLIN };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    (poll(&p, 1, 0) > 0 && (p.revents & POLLHUP)))
		_exit(KVMLET_EXIT_VMM_ERROR);
	close(alive);
}

static void __attribute__((noreturn)) jail_exec(const struct jail_config *cfg)
{
	char *envp[JAIL_MAX_ENV + 1] = { 0 }, **argv;
	char path[NAME_MAX + 2];
	struct err err = { 0 };
	unsigned int n = 0;

	/* Never freed: the process becomes the VMM or ends. */
	argv = calloc(cfg->nr_vmm_args + 2, sizeof(*argv));
	if (!argv) {
		err_set(&err, -ENOMEM, "out of memory");
		jail_fail(&err);
	}

	for (char **e = environ; e && *e && n < JAIL_MAX_ENV; e++)
		for (unsigned int i = 0; i < sizeof(jail_env_keep) / sizeof(jail_env_keep[0]); i++)
			if (!strncmp(*e, jail_env_keep[i], strlen(jail_env_keep[i])))
				envp[n++] = *e;
	argv[0] = (char *)cfg->exec_name;
	for (int i = 0; i < cfg->nr_vmm_args; i++)
		argv[i + 1] = cfg->vmm_args[i];
	argv[cfg->nr_vmm_args + 1] = NULL;
	snprintf(path, sizeof(path), "/%s", cfg->exec_name);
	/* Whatever libraries opened since start-up stays behind too. */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	execve(path, argv, envp);
	err_set(&err, -errno, "exec %s in the jail: %s", path, strerror(errno));
	jail_fail(&err);
}

/*
 * Everything on the host side, up to moving into the cgroup: checks first,
 * so that bad input creates nothing; on a later failure the cgroup goes
 * again (it cannot once we are in it). Returns the chroot directory in root.
 */
static int jail_setup(struct jail_config *cfg, struct jail_cgroup *cg, char *root, size_t len,
		      int *devnull, struct err *err)
{
	int netns = -1, r;

	if (geteuid() != 0)
		return err_set(err, -EPERM, "must run as root (it mounts, mknods and setuids)");
	r = jail_check_exec(cfg, err);
	if (r)
		return r;
	if (cfg->netns) {
		netns = jail_open_netns(cfg->netns, err);
		if (netns < 0)
			return netns;
	}
	r = jail_cgroup_prepare(cg, cfg->cgroup_version, cfg->parent_cgroup, cfg->id,
				(const char *const *)cfg->cgroups, cfg->nr_cgroups, err);
	if (!r)
		r = jail_cgroup_create(cg, err);
	if (r)
		goto out;
	/* After the copy: a small fsize limit must not stop the jailer's own writes. */
	r = chroot_prepare(cfg->base, cfg->exec_name, cfg->id, cfg->exec_file, root, len, err);
	if (!r)
		r = jail_set_rlimits(cfg, err);
	if (!r && netns >= 0 && setns(netns, CLONE_NEWNET) < 0)
		r = err_set(err, -errno, "--netns %s: setns: %s", cfg->netns, strerror(errno));
	/* Opened while the host's /dev is still there. */
	if (!r && cfg->daemonize) {
		*devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (*devnull < 0)
			r = err_set(err, -errno, "/dev/null: %s", strerror(errno));
	}
	if (!r)
		r = jail_cgroup_attach(cg, err);
	if (r)
		jail_cgroup_remove(cg);
out:
	if (netns >= 0)
		close(netns);
	return r;
}

int main(int argc, char **argv)
{
	struct jail_config cfg;
	struct jail_cgroup cg;
	struct err err = { 0 };
	char root[PATH_MAX], exec_copy[PATH_MAX + NAME_MAX + 2];
	int devnull = -1, alive, r;

	r = jail_parse_args(&cfg, argc, argv, &err);
	if (r > 0)
		return KVMLET_EXIT_OK;
	if (r) {
		log_error("%s", err.msg);
		return KVMLET_EXIT_BAD_INPUT;
	}
	/* Before anything is opened: an inherited descriptor is a way out of the jail. */
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0) {
		log_error("close_range: %s (Linux 5.9 or later is needed)", strerror(errno));
		return KVMLET_EXIT_BAD_INPUT;
	}
	r = jail_setup(&cfg, &cg, root, sizeof(root), &devnull, &err);
	if (r) {
		if (devnull >= 0)
			close(devnull);
		log_error("%s", err.msg);
		return KVMLET_EXIT_BAD_INPUT;
	}

	snprintf(exec_copy, sizeof(exec_copy), "%s/%s", root, cfg.exec_name);
	if (chroot_enter(root, chroot_needs_interpreter(exec_copy), &err) ||
	    chroot_add_devices(cfg.uid, cfg.gid, &err))
		jail_fail(&err);
	alive = jail_spawn(&cfg, devnull);
	if (devnull >= 0)
		close(devnull);
	if (jail_drop_privileges(cfg.uid, cfg.gid, &err))
		jail_fail(&err);
	if (alive >= 0)
		jail_tie_to_parent(alive);
	jail_exec(&cfg);
}
