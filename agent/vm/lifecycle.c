// SPDX-License-Identifier: Apache-2.0
/*
 * Start, stop and remove (vm.h): kvmlet-shim started detached, the CRI log
 * handed to the VMM, a graceful stop with a deadline, removal of every
 * trace.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/ga_client.h"
#include "agent/vm/cgroup.h"
#include "agent/vm/host_priv.h"
#include "agent/vm/jail.h"
#include "agent/vm/logfile.h"
#include "agent/vm/proc.h"
#include "agent/vm/vm.h"
#include "lib/clock.h"
#include "lib/log.h"

#define START_TIMEOUT_MS     10000 /* until the API socket answers */
#define SHIM_EXIT_TIMEOUT_MS 10000 /* after SIGTERM, until the shim has recorded the end */
#define SHUTDOWN_AGENT_MS    500   /* guest-shutdown: connect and call, each */
#define CTRL_ALT_DEL_MS	     2000  /* the API call, at most (and never past the grace) */

/* ---- start -------------------------------------------------------------- */

/* The VMM's last words (the jailer's or VMM's error line) for a failure message. */
static void vmm_last_line(const char *state, char *buf, size_t size)
{
	char path[PATH_MAX], data[1024];
	ssize_t n = 0;
	int fd;

	buf[0] = '\0';
	if (vm_pathf(path, sizeof(path), "%s/vmm.log", state))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	if (end > 0)
		n = pread(fd, data, sizeof(data) - 1,
			  end > (off_t)sizeof(data) - 1 ? end - (off_t)sizeof(data) + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	data[n] = '\0';
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		data[--n] = '\0';
	char *line = strrchr(data, '\n');
	line = line ? line + 1 : data;
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	snprintf(buf, size, "%.*s", (int)(size - 1), line);
}

/*
 * The CRI log: root's file, writable by the VM's group only (the VMM opens
 * it O_WRONLY|O_APPEND; as its owner it could chmod it), its directory in
 * the jail.
 */
static int prepare_log(const struct vm_record *rec, const char *root, struct err *err)
{
	char src[64];
	int dfd, r;

	r = vm_log_prepare(rec->log_directory, vm_record_log_relpath(rec), rec->uid, &dfd, err);
	if (r)
		return r;
	/* The very directory checked, not whatever its path names by now. */
	snprintf(src, sizeof(src), "/proc/self/fd/%d", dfd);
	r = vm_jail_mount_log(root, src, err);
	close(dfd);
	return r;
}

/* Ends the VM through its shim and waits until the shim has recorded it. */
static void kill_via_shim(const struct vm_record *rec, int pidfd)
{
	/* Through the pidfd: the signal cannot reach a process that reused the pid. */
	syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
	if (vm_proc_wait(pidfd, SHIM_EXIT_TIMEOUT_MS) != 1) {
		/* A stuck shim: end the VM's processes ourselves. */
		vm_cgroup_kill(rec->cgroup_version, rec->cgroup, CGROUP_KILL_MS);
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		vm_proc_wait(pidfd, SHIM_EXIT_TIMEOUT_MS);
	}
}

static int wait_api(const char *root, int pidfd, struct err *err)
{
	uint64_t deadline = clock_mono_ms() + START_TIMEOUT_MS;

	for (;;) {
		struct err e = { 0 };
		long status = 0;

		char *body = NULL;

		/* Answering is not enough: the VMM serves its API before it loads the kernel. */
		if (host_api_call(root, "GET", "/", NULL, 500, &status, &body, &e) == 0) {
			cJSON *info = body ? cJSON_Parse(body) : NULL;
			const cJSON *st = cJSON_GetObjectItemCaseSensitive(info, "state");
			bool running = cJSON_IsString(st) && !strcmp(st->valuestring, "Running");

			cJSON_Delete(info);
			free(body);
			if (running)
				return 0;
			err_set(&e, -EAGAIN, "the VM is not running yet");
		}
		if (clock_mono_ms() >= deadline)
			return err_set(err, -ETIMEDOUT,
				       "the VMM's API did not answer within %u s: %s",
				       START_TIMEOUT_MS / 1000, e.msg);
		/* Waiting on the shim: an early exit ends the wait at once. */
		if (vm_proc_wait(pidfd, 20) == 1)
			return err_set(err, -ECHILD, "the VMM exited while starting");
	}
}

/*
 * The VMM ended by itself with a status that says the guest ran (powered
 * off, crashed, or its own exit value), rather than that the VMM failed
 * (1) or refused its set-up (2), or was killed.
 */
static bool guest_ran(const char *state)
{
	struct vm_exit e;
	struct err err = { 0 };

	return vm_exit_read(state, &e, &err) == 0 && e.signal == 0 && e.exit_status != 1 &&
	       e.exit_status != 2;
}

/* The log's directory in the jail, once, and on record before anything runs. */
static int start_prepare(const char *state, const char *root, struct vm_record *rec,
			 struct err *err)
{
	int r;

	if (!*rec->log_path || rec->log_mounted)
		return 0;
	r = prepare_log(rec, root, err);
	if (r)
		return r;
	rec->log_mounted = true;
	r = vm_record_write(state, rec, err);
	/* Not on record: a retry would stack a second mount on this one. */
	if (r) {
		struct err e = { 0 };

		vm_jail_umount_log(root, &e);
		rec->log_mounted = false;
	}
	return r;
}

/*
 * kvmlet-shim started detached and held before it runs anything, then put
 * on record, then let go: a crash in between never leaves a VM the state
 * does not know. Returns a pidfd of the shim (-1 if it is gone already).
 */
static int start_spawn(const struct vm_host *h, const char *state, struct vm_record *rec,
		       int *pidfd, struct err *err)
{
	struct argv_buf a = { 0 };
	char vmv[16];
	pid_t pid;
	int go, r;

	snprintf(vmv, sizeof(vmv), "%d", rec->cgroup_version);
	host_argv_push(&a, h->shim_path);
	host_argv_push(&a, "--state-dir");
	host_argv_push(&a, state);
	host_argv_push(&a, "--cgroup-version");
	host_argv_push(&a, vmv);
	host_argv_push(&a, "--cgroup");
	host_argv_push(&a, rec->cgroup);
	host_argv_push(&a, "--");
	for (size_t i = 0; i < rec->argc; i++)
		host_argv_push(&a, rec->argv[i]);
	r = a.failed ? err_set(err, a.failed, "out of memory")
		     : vm_proc_spawn_detached(a.v, &pid, &rec->shim_start_ticks, &go, err);
	vm_strv_free(a.v, a.n);
	if (r)
		return r;
	rec->shim_pid = pid;
	rec->started_at = (int64_t)clock_ns(CLOCK_REALTIME);
	r = vm_record_write(state, rec, err);
	if (r) {
		vm_proc_go(go, false);
		return r;
	}
	*pidfd = vm_proc_open(pid, rec->shim_start_ticks);
	if (vm_proc_go(go, true) || *pidfd < 0)
		return err_set(err, -EIO, "kvmlet-shim ended at once");
	return 0;
}

/* Until the VMM runs the guest; a guest that ended by itself has started. */
static int start_await(const char *state, const char *root, int pidfd, struct err *err)
{
	int r = wait_api(root, pidfd, err);

	if (r == -ECHILD && guest_ran(state)) {
		/* Like a container that exits at once: started, and ended already. */
		memset(err, 0, sizeof(*err));
		return 0;
	}
	if (r == -ECHILD) {
		err->code = -EIO;
		return -EIO;
	}
	return r;
}

int host_start(void *ctx, const char *id, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	int pidfd = -1, r;

	r = host_load(h, id, state, sizeof(state), &rec, err);
	if (r)
		return r;
	bool was_started = rec.shim_pid != 0;

	if (was_started)
		r = err_set(err, -EINVAL, "VM '%s' was started already", id);
	else if (host_jail_paths(h, id, jail_dir, root, sizeof(root)))
		r = err_set(err, -ENAMETOOLONG, "VM '%s': jail path too long", id);
	if (!r)
		r = start_prepare(state, root, &rec, err);
	if (!r)
		r = start_spawn(h, state, &rec, &pidfd, err);
	/* Nothing ran: nothing to kill or explain. */
	if (r && (was_started || !rec.shim_pid)) {
		vm_record_free(&rec);
		return r;
	}
	if (!r)
		r = start_await(state, root, pidfd, err);
	if (r) {
		char last[200];

		if (pidfd >= 0)
			kill_via_shim(&rec, pidfd);
		vmm_last_line(state, last, sizeof(last));
		if (*last)
			err_prefix(err, err->code, "%s; ", last);
		log_fields(LOG_WARN, "VM failed to start", "id", id, "error", err->msg, NULL);
	} else {
		char cid[16];

		snprintf(cid, sizeof(cid), "%u", rec.cid);
		log_fields(LOG_INFO, "VM started", "id", id, "cid", cid, NULL);
	}
	if (pidfd >= 0)
		close(pidfd);
	vm_record_free(&rec);
	return r;
}

/* ---- stop and remove ---------------------------------------------------- */

/* guest-shutdown through the guest agent, if one answers at once; best effort. */
static void guest_shutdown(const char *root)
{
	struct ga_address addr = { .transport = GA_VSOCK_UDS, .port = GA_DEFAULT_PORT };
	struct ga_error e = { 0 };
	struct ga_conn *c;
	int sockfd = host_jail_socket(root, "vsock.sock", addr.path, sizeof(addr.path));

	if (sockfd < 0)
		return;
	c = ga_connect_addr(&addr, SHUTDOWN_AGENT_MS, &e);
	close(sockfd);
	if (!c)
		return;
	/* guest-shutdown has no answer when it works: a timeout is the good case. */
	ga_call(c, "guest-shutdown", NULL, SHUTDOWN_AGENT_MS, NULL, &e);
	ga_close(c);
}

int host_stop(void *ctx, const char *id, int64_t timeout_s, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX], secs[24];
	int pidfd, r = host_load(h, id, state, sizeof(state), &rec, err);
	bool graceful = false;

	if (r)
		return r;
	pidfd = rec.shim_pid ? vm_proc_open((pid_t)rec.shim_pid, rec.shim_start_ticks) : -ESRCH;
	if (pidfd < 0) {
		/* Never started, or ended; a VMM whose shim was killed goes now. */
		if (rec.shim_pid)
			vm_cgroup_kill(rec.cgroup_version, rec.cgroup, CGROUP_KILL_MS);
		vm_record_free(&rec);
		return 0;
	}
	/* Without a jail path no graceful stop: the kill below still works. */
	if (timeout_s > 0 && host_jail_paths(h, id, jail_dir, root, sizeof(root)))
		timeout_s = 0;
	if (timeout_s > 0) {
		uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_s * 1000;
		struct err e = { 0 };
		long status;
		int left;

		/*
		 * On record before the guest hears of it: the reset a Linux guest
		 * answers with is then this stop, not a crash (reason.h).
		 */
		rec.stop_requested_at = (int64_t)clock_ns(CLOCK_REALTIME);
		if (vm_record_write(state, &rec, &e))
			log_warn("VM %s: recording the stop request: %s", id, e.msg);
		memset(&e, 0, sizeof(e));
		/* The firmware powers off on it; a Linux guest reboots unless told otherwise. */
		/* A hung API never takes more than the grace period. */
		host_api_call(root, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}",
			      timeout_s * 1000 < CTRL_ALT_DEL_MS ? (unsigned int)timeout_s * 1000
								 : CTRL_ALT_DEL_MS,
			      &status, NULL, &e);
		left = (int)(deadline > clock_mono_ms() ? deadline - clock_mono_ms() : 0);
		graceful = vm_proc_wait(pidfd, left < 1000 ? left : 1000) == 1;
		left = (int)(deadline > clock_mono_ms() ? deadline - clock_mono_ms() : 0);
		/* guest-shutdown only when its connect and call fit in what is left. */
		if (!graceful && left >= 2 * SHUTDOWN_AGENT_MS)
			guest_shutdown(root);
		if (!graceful) {
			left = (int)(deadline > clock_mono_ms() ? deadline - clock_mono_ms() : 0);
			graceful = vm_proc_wait(pidfd, left) == 1;
		}
	}
	if (!graceful)
		kill_via_shim(&rec, pidfd);
	close(pidfd);
	snprintf(secs, sizeof(secs), "%" PRId64, timeout_s);
	log_fields(LOG_INFO, graceful ? "VM stopped" : "VM killed", "id", id, "grace_s", secs,
		   NULL);
	vm_record_free(&rec);
	return 0;
}

int host_remove(void *ctx, const char *id, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	int r = host_load(h, id, state, sizeof(state), &rec, err);

	if (r == -ENOENT) {
		/* Idempotent; and a create cut short by a crash leaves a jail without a record. */
		if (host_id_valid(id) && !host_jail_paths(h, id, jail_dir, root, sizeof(root)) &&
		    !host_state_path(h, id, state, sizeof(state))) {
			memset(err, 0, sizeof(*err));
			r = vm_jail_remove(jail_dir, err);
			if (!r)
				r = vm_jail_remove_tree(state, err);
		}
		return r == -ENOENT ? 0 : r;
	}
	if (r)
		return r;
	r = host_stop(ctx, id, 0, err);
	if (!r && host_jail_paths(h, id, jail_dir, root, sizeof(root)))
		r = err_set(err, -ENAMETOOLONG, "VM '%s': jail path too long", id);
	/*
	 * Anything of the VM that outlived its shim (a killed shim) goes now,
	 * and the jail only once nothing of the VM can still change it.
	 */
	if (!r && vm_cgroup_kill(rec.cgroup_version, rec.cgroup, CGROUP_KILL_MS))
		r = err_set(err, -EBUSY, "VM '%s': its cgroup '%s' cannot be emptied", id,
			    rec.cgroup);
	if (!r)
		r = vm_jail_remove(jail_dir, err);
	if (!r)
		r = vm_cgroup_remove(rec.cgroup_version, rec.cgroup, err);
	/* The shim has gone (stop waited for it): its own groups are empty. */
	if (!r && vm_cgroup_remove_shim(id))
		log_warn("VM %s: removing kvmlet-shim's cgroups failed", id);
	/* The record goes last: a failure above can be retried. */
	if (!r)
		r = vm_jail_remove_tree(state, err);
	if (!r) {
		vm_ids_release(&h->ids, rec.uid, rec.cid);
		log_fields(LOG_INFO, "VM removed", "id", id, NULL);
	}
	vm_record_free(&rec);
	return r;
}
