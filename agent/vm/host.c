// SPDX-License-Identifier: Apache-2.0
/*
 * The real VM backend (vm.h): opening it (adopting the VMs on disk), the
 * ops table, and what every op shares: paths, records, the VMM's sockets,
 * liveness. The ops themselves: create.c, lifecycle.c, guest.c, stats.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/vm/cgroup.h"
#include "agent/vm/host_priv.h"
#include "agent/vm/jail.h"
#include "agent/vm/proc.h"
#include "agent/vm/reason.h"
#include "agent/vm/spec.h"
#include "agent/vm/vm.h"
#include "lib/clock.h"
#include "lib/http_client.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"

/* ---- paths -------------------------------------------------------------- */

bool host_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (!n || n > VM_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return false;
	return true;
}

int host_state_path(const struct vm_host *h, const char *id, char *buf, size_t size)
{
	return vm_pathf(buf, size, "%s/%s", h->state_dir, id);
}

int host_jail_paths(const struct vm_host *h, const char *id, char *dir, char *root, size_t size)
{
	if (vm_jail_dir(h->jail_base, h->vmm_path, id, dir, size))
		return -ENAMETOOLONG;
	return vm_pathf(root, size, "%s/root", dir);
}

/*
 * jail_base and jail_base/<vmm>: 0711, whatever they were before. A VM's
 * files need no listing from outside its jail, and a VM never needs to
 * see another's names.
 */
static int jail_base_prepare(const struct vm_host *h)
{
	char dir[PATH_MAX], vmm[PATH_MAX];
	const char *slash;
	int r = mkdir_p(h->jail_base, 0711);

	if (r)
		return r;
	if (chmod(h->jail_base, 0711))
		return -errno;
	if (vm_jail_dir(h->jail_base, h->vmm_path, "x", dir, sizeof(dir)))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	snprintf(vmm, sizeof(vmm), "%.*s", (int)(slash - dir), dir);
	r = mkdir_p(vmm, 0711);
	if (!r && chmod(vmm, 0711))
		r = -errno;
	return r;
}

/* The record of id; -ENOENT (with text) when there is none. */
int host_load(const struct vm_host *h, const char *id, char *dir, size_t size,
	      struct vm_record *rec, struct err *err)
{
	int r;

	if (!host_id_valid(id))
		return err_set(err, -EINVAL,
			       "VM id '%.80s': expected 1 to %d letters, digits or '-'",
			       id ? id : "", VM_ID_MAX);
	if (host_state_path(h, id, dir, size))
		return err_set(err, -ENAMETOOLONG, "VM state path too long");
	r = vm_record_read(dir, rec, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, "no VM '%s'", id);
	return r;
}

/* ---- the VMM's sockets --------------------------------------------------- */

/*
 * A socket in the jail by a short name: a jail path is longer than a Unix
 * socket address holds (108 bytes). The socket is opened O_PATH without
 * following links, and connected through "/proc/self/fd/<n>": the VM owns
 * its jail root and could put a link to another VM's socket there. Returns
 * that descriptor (the caller closes it once connected) or -errno.
 */
int host_jail_socket(const char *root, const char *name, char *buf, size_t size)
{
	int dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW), fd;
	struct stat st;

	if (dirfd < 0)
		return -errno;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	close(dirfd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
	    vm_pathf(buf, size, "/proc/self/fd/%d", fd)) {
		close(fd);
		return -ENOTSOCK;
	}
	return fd;
}

int host_api_call(const char *root, const char *method, const char *path, const char *body,
		  unsigned int timeout_ms, long *status, char **answer, struct err *err)
{
	char sock[PATH_MAX], url[256];
	static const char *const json_headers[] = { "Content-Type: application/json",
						    "Accept: application/json", NULL };
	struct http_client_req req = {
		.method = method,
		.url = url,
		.unix_socket = sock,
		.headers = body ? json_headers : NULL,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.connect_timeout_ms = timeout_ms,
		.timeout_ms = timeout_ms,
		.max_response = 64 * 1024,
	};
	struct http_client_resp resp = { 0 };
	struct http_client *c;
	int sockfd, r;

	sockfd = host_jail_socket(root, "api.sock", sock, sizeof(sock));
	if (sockfd < 0)
		return err_set(err, sockfd, "the VMM's API socket in %s: %s", root,
			       strerror(-sockfd));
	snprintf(url, sizeof(url), "http://localhost%s", path);
	c = http_client_new(err);
	if (!c) {
		close(sockfd);
		return err->code;
	}
	r = http_client_do(c, &req, &resp, err);
	close(sockfd);
	if (!r) {
		*status = resp.status;
		if (resp.status >= 300)
			r = err_set(err, -EIO, "VMM API %s %s: %ld %.160s", method, path,
				    resp.status, resp.body ? resp.body : "");
	}
	if (!r && answer) {
		*answer = resp.body;
		resp.body = NULL;
	}
	http_client_resp_free(&resp);
	http_client_free(c);
	return r;
}

/* ---- argument lists ------------------------------------------------------ */

int host_argv_push(void *ctx, const char *s)
{
	struct argv_buf *a = ctx;

	if (!a->failed && vm_strv_push(&a->v, &a->n, s))
		a->failed = -ENOMEM;
	return a->failed;
}

/* ---- liveness ----------------------------------------------------------- */

/*
 * The shim is gone without a record (killed, or a host crash): its VMM may
 * still run in the cgroup, on the same disks kubelet's next attempt would
 * get. It is killed, and only once the group is empty is the VM exited,
 * recorded as lost at the time that was seen, so that every later look
 * agrees. A group that cannot be emptied stays LIVE_LOST.
 */
static enum host_liveness settle_lost(const char *dir, const struct vm_record *rec,
				      struct vm_exit *e)
{
	struct err err = { 0 };

	if (vm_cgroup_kill(rec->cgroup_version, rec->cgroup, CGROUP_KILL_MS)) {
		log_fields(LOG_WARN, "VM lost its shim and its cgroup cannot be emptied", "id",
			   rec->id, "cgroup", rec->cgroup, NULL);
		return LIVE_LOST;
	}
	*e = (struct vm_exit){ .exit_status = VM_EXIT_UNKNOWN,
			       .finished_at = (int64_t)clock_ns(CLOCK_REALTIME),
			       .lost = true };
	/* Another caller may have settled it meanwhile: its record stands. */
	if (vm_exit_read(dir, e, &err) == 0)
		return LIVE_EXITED;
	if (vm_exit_write(dir, e, &err))
		log_warn("VM %s: recording its loss: %s", rec->id, err.msg);
	else
		log_fields(LOG_WARN, "VM lost its shim: recorded as exited", "id", rec->id, NULL);
	return LIVE_EXITED;
}

/* Where the VM is, and its exit record when it has one. */
enum host_liveness host_liveness(const char *dir, const struct vm_record *rec, struct vm_exit *e)
{
	struct err err = { 0 };

	if (!rec->shim_pid)
		return LIVE_NEVER;
	if (vm_exit_read(dir, e, &err) == 0)
		return LIVE_EXITED;
	if (vm_proc_same((pid_t)rec->shim_pid, rec->shim_start_ticks))
		return LIVE_RUNNING;
	/* The shim may have written exit.json between the two looks. */
	memset(&err, 0, sizeof(err));
	if (vm_exit_read(dir, e, &err) == 0)
		return LIVE_EXITED;
	return settle_lost(dir, rec, e);
}

/* ---- status ------------------------------------------------------------- */

static int host_status(void *ctx, const char *id, struct vm_status *out, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	struct vm_exit e;
	char state[PATH_MAX];
	int r = host_load(h, id, state, sizeof(state), &rec, err);

	if (r)
		return r;
	memset(out, 0, sizeof(*out));
	out->started_at = rec.started_at;
	out->vsock_cid = rec.cid;
	out->guest_memory_bytes = rec.memory_mib << 20;
	out->vcpus = rec.vcpus;
	switch (host_liveness(state, &rec, &e)) {
	case LIVE_NEVER:
		out->state = VM_CREATED;
		break;
	case LIVE_RUNNING:
		out->state = VM_RUNNING;
		break;
	case LIVE_EXITED:
		out->state = VM_EXITED;
		out->finished_at = e.finished_at;
		vm_reason_explain(&e, rec.stop_requested_at != 0, &out->exit_code, out->reason,
				  sizeof(out->reason), out->message, sizeof(out->message));
		break;
	case LIVE_LOST:
		/* Its VMM is still there: not exited, or kubelet starts another on its disks. */
		out->state = VM_RUNNING;
		snprintf(out->message, sizeof(out->message),
			 "the VM's monitor is gone and its cgroup could not be emptied");
		break;
	}
	vm_record_free(&rec);
	return 0;
}

static int host_list(void *ctx, char ***ids, size_t *nr, struct err *err)
{
	struct vm_host *h = ctx;
	DIR *d = opendir(h->state_dir);
	struct dirent *de;

	*ids = NULL;
	*nr = 0;
	if (!d)
		return err_set(err, -errno, "%s: %s", h->state_dir, strerror(errno));
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (!host_id_valid(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s/vm.json", h->state_dir, de->d_name) >=
			    (int)sizeof(path) ||
		    access(path, F_OK))
			continue;
		if (vm_strv_push(ids, nr, de->d_name)) {
			closedir(d);
			vm_strv_free(*ids, *nr);
			*ids = NULL;
			*nr = 0;
			return err_set(err, -ENOMEM, "out of memory");
		}
	}
	closedir(d);
	return 0;
}

static const struct vm_backend_ops host_ops = {
	.create = host_create,
	.start = host_start,
	.status = host_status,
	.stop = host_stop,
	.remove = host_remove,
	.reopen_log = host_reopen_log,
	.exec = host_exec,
	.stats = host_stats,
	.sandbox_stats = host_sandbox_stats,
	.list = host_list,
};

/* ---- open --------------------------------------------------------------- */

/* What this VMM offers, from its --help: the CRI console came with issue 12. */
static void probe_vmm(struct vm_host *h)
{
	char help[] = "--help";
	char *argv[] = { h->vmm_path, help, NULL };
	posix_spawn_file_actions_t fa;
	char buf[8192];
	size_t n = 0;
	int p[2], status;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, h->vmm_path, &fa, NULL, argv, (char *[]){ NULL }) == 0) {
		close(p[1]);
		p[1] = -1;
		for (;;) {
			ssize_t r = read(p[0], buf + n, sizeof(buf) - 1 - n);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
			if (n == sizeof(buf) - 1)
				break;
		}
		waitpid(pid, &status, 0);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	buf[n] = '\0';
	h->vmm_serial_cri = strstr(buf, "cri:PATH") != NULL;
	h->vmm_console_sock = strstr(buf, "--console-sock") != NULL;
}

/*
 * After a restart: every VM on disk, checked against its shim, one line
 * each. A directory without vm.json is a create a crash cut short: it goes,
 * with its jail (nothing ran there: start needs the record).
 */
static void adopt(struct vm_host *h)
{
	DIR *d = opendir(h->state_dir);
	struct dirent *de;
	static const char *const names[] = { [LIVE_NEVER] = "created",
					     [LIVE_RUNNING] = "running",
					     [LIVE_EXITED] = "exited",
					     [LIVE_LOST] = "lost" };

	if (!d)
		return;
	while ((de = readdir(d))) {
		char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
		struct vm_record rec;
		struct vm_exit e;
		struct err err = { 0 };
		int r;

		if (!host_id_valid(de->d_name) ||
		    host_state_path(h, de->d_name, state, sizeof(state)) ||
		    host_jail_paths(h, de->d_name, jail_dir, root, sizeof(root)))
			continue;
		r = vm_record_read(state, &rec, &err);
		if (r == -ENOENT) {
			if (vm_jail_remove(jail_dir, &err) || vm_jail_remove_tree(state, &err))
				log_warn("VM %s: removing an unfinished create: %s", de->d_name,
					 err.msg);
			else
				log_fields(LOG_INFO, "VM unfinished create removed", "id",
					   de->d_name, NULL);
			continue;
		}
		if (r) {
			log_warn("VM %s: %s", de->d_name, err.msg);
			continue;
		}
		log_fields(LOG_INFO, "VM adopted", "id", de->d_name, "state",
			   names[host_liveness(state, &rec, &e)], NULL);
		vm_record_free(&rec);
	}
	closedir(d);
}

/*
 * One process per state directory: uids and CIDs are handed out from
 * memory, so a second agent on the same directory would hand out the same.
 */
static int lock_state(struct vm_host *h, struct err *err)
{
	char path[PATH_MAX];

	if (vm_pathf(path, sizeof(path), "%s/.lock", h->state_dir))
		return err_set(err, -ENAMETOOLONG, "%s: path too long", h->state_dir);
	h->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (h->lock_fd < 0)
		return err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (flock(h->lock_fd, LOCK_EX | LOCK_NB))
		return err_set(err, errno == EWOULDBLOCK ? -EBUSY : -errno,
			       "VM state directory %s: in use by another process", h->state_dir);
	return 0;
}

static void host_free(struct vm_host *h)
{
	if (!h)
		return;
	vm_ids_fini(&h->ids);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	free(h->state_dir);
	free(h->jail_base);
	free(h->vmm_path);
	free(h->jailer_path);
	free(h->shim_path);
	free(h);
}

int vm_host_open(const struct vm_host_config *cfg, struct vm_backend *out, struct err *err)
{
	struct vm_host *h;
	int r;

	if (!cfg->state_dir || cfg->state_dir[0] != '/' || !cfg->jail_base ||
	    cfg->jail_base[0] != '/' || !cfg->vmm_path || !cfg->jailer_path || !cfg->shim_path)
		return err_set(err, -EINVAL,
			       "[vm]: state_dir and jail_base must be absolute, and "
			       "the vmm, jailer and shim paths given");
	if (cfg->default_memory_mib < VM_SPEC_MIN_MEMORY_MIB)
		return err_set(err, -EINVAL, "[vm] default_memory_mib: at least %u",
			       VM_SPEC_MIN_MEMORY_MIB);
	for (const char *const *p =
		     (const char *const[]){ cfg->vmm_path, cfg->jailer_path, cfg->shim_path, NULL };
	     *p; p++)
		if (access(*p, X_OK))
			return err_set(err, -errno, "[vm]: '%s': %s", *p, strerror(errno));
	h = calloc(1, sizeof(*h));
	if (!h)
		return err_set(err, -ENOMEM, "out of memory");
	h->lock_fd = -1;
	h->state_dir = strdup(cfg->state_dir);
	h->jail_base = strdup(cfg->jail_base);
	h->vmm_path = strdup(cfg->vmm_path);
	h->jailer_path = strdup(cfg->jailer_path);
	h->shim_path = strdup(cfg->shim_path);
	h->default_memory_mib = cfg->default_memory_mib;
	h->overhead_mib = cfg->overhead_mib;
	h->cgroup_version = vm_cgroup_version();
	if (!h->state_dir || !h->jail_base || !h->vmm_path || !h->jailer_path || !h->shim_path) {
		host_free(h);
		return err_set(err, -ENOMEM, "out of memory");
	}
	r = vm_ids_init(&h->ids, cfg->uid_base, cfg->uid_count, err);
	if (r) {
		host_free(h);
		return r;
	}
	r = mkdir_p(h->state_dir, 0700);
	if (!r)
		r = jail_base_prepare(h);
	if (r) {
		err_set(err, r, "VM directories: %s", strerror(-r));
		host_free(h);
		return r;
	}
	r = lock_state(h, err);
	if (!r)
		r = vm_ids_load(&h->ids, h->state_dir, err);
	if (!r)
		r = http_client_global_init(err);
	if (r) {
		host_free(h);
		return r;
	}
	probe_vmm(h);
	/* Without it the console is no CRI log kubelet can read, and nothing survives the agent. */
	if (!h->vmm_serial_cri || !h->vmm_console_sock) {
		r = err_set(err, -ENOTSUP,
			    "[vm] '%s' has no --serial cri:PATH or --console-sock: too old for the "
			    "node agent",
			    h->vmm_path);
		host_free(h);
		return r;
	}
	adopt(h);
	log_fields(LOG_INFO, "VM backend ready", "state_dir", h->state_dir, "cgroup",
		   h->cgroup_version == 2 ? "v2" : "v1", NULL);
	out->ops = &host_ops;
	out->ctx = h;
	return 0;
}

void vm_host_close(struct vm_backend *b)
{
	if (b && b->ops == &host_ops) {
		host_free(b->ctx);
		b->ctx = NULL;
		b->ops = NULL;
	}
}
