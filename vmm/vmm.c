// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "kvmlet/exit_codes.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "devices/legacy/i8042.h"
#include "vmm/api/fault.h"
#include "vmm/api/routes.h"
#include "vmm/config_file.h"
#include "vmm/console.h"
#include "vmm/migration/params.h"
#include "vmm/snapshot/snapshot.h"
#include "vmm/vmm.h"

enum vm_state vmm_state(struct vmm *m)
{
	return __atomic_load_n(&m->state, __ATOMIC_ACQUIRE);
}

/* The state after a, as the lifecycle table says (vmm/lifecycle.c). */
static void vmm_transition(struct vmm *m, enum vm_action a)
{
	pthread_mutex_lock(&m->lock);
	__atomic_store_n(&m->state, vm_state_after(m->state, a), __ATOMIC_RELEASE);
	pthread_mutex_unlock(&m->lock);
}

/* A start or load is over: a happened, or nothing did (it failed). */
static void vmm_end_busy(struct vmm *m, bool done, enum vm_action a)
{
	pthread_mutex_lock(&m->lock);
	__atomic_store_n(&m->busy, false, __ATOMIC_RELEASE);
	if (done)
		__atomic_store_n(&m->state, vm_state_after(m->state, a), __ATOMIC_RELEASE);
	pthread_mutex_unlock(&m->lock);
}

void vmm_reply(struct vmm *m, struct http_call *call, unsigned int status, const char *ctype,
	       const void *body, size_t len)
{
	http_call_reply(call, status, ctype, body, len);
}

/* The server counts every answer, its own (parse errors, 405, 503, 408) included. */
void vmm_sync_api_stats(struct vmm *m)
{
	uint64_t req = 0, e4 = 0, e5 = 0;

	if (!m->api)
		return;
	http_server_counts(m->api, &req, &e4, &e5);
	__atomic_store_n(&m->stats.api_requests, req, __ATOMIC_RELAXED);
	__atomic_store_n(&m->stats.api_client_errors, e4, __ATOMIC_RELAXED);
	__atomic_store_n(&m->stats.api_server_errors, e5, __ATOMIC_RELAXED);
}

void vmm_fault(struct vmm *m, struct http_call *call, unsigned int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Logged once here, at the boundary, so the operator sees what clients were told. */
	log_warn("API: %u %s", status, msg);
	http_call_fault(call, status, "%s", msg);
}

/* ---- metrics file ------------------------------------------------------ */

static const struct vm *vmm_published_vm(struct vmm *m)
{
	return __atomic_load_n(&m->vm_built, __ATOMIC_ACQUIRE) ? &m->vm : NULL;
}

int vmm_metrics_open(struct vmm *m, const char *path, struct err *err)
{
	int r;

	pthread_mutex_lock(&m->metrics_lock);
	if (m->metrics.fd >= 0)
		r = err_set(err, -EEXIST, "the metrics file is already set (%s)", "PUT /metrics");
	else
		r = metrics_sink_open(&m->metrics, path, err);
	pthread_mutex_unlock(&m->metrics_lock);
	return r;
}

int vmm_metrics_flush(struct vmm *m, struct err *err)
{
	int r;

	pthread_mutex_lock(&m->metrics_lock);
	vmm_sync_api_stats(m);
	if (m->metrics.fd < 0)
		r = err_set(err, -ENOENT, "no metrics file: PUT /metrics first");
	else
		r = metrics_sink_flush(&m->metrics, vmm_published_vm(m), &m->stats, vmm_state(m),
				       err);
	pthread_mutex_unlock(&m->metrics_lock);
	return r;
}

static void vmm_on_metrics_timer(struct event_timer *t)
{
	struct vmm *m = container_of(t, struct vmm, metrics_timer);
	struct err err = { 0 };

	/* A full pipe drops the line (counted); there is nothing to report here. */
	pthread_mutex_lock(&m->metrics_lock);
	vmm_sync_api_stats(m);
	if (m->metrics.fd >= 0)
		metrics_sink_flush(&m->metrics, vmm_published_vm(m), &m->stats, vmm_state(m), &err);
	pthread_mutex_unlock(&m->metrics_lock);
}

int vmm_logger_set(struct vmm *m, const char *path, int level, struct err *err)
{
	int fd;

	if (path) {
		/* O_NONBLOCK: a FIFO without a reader must not stall whoever logs. */
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0600);
		if (fd < 0)
			return err_set(err, -errno, "logger.log_path '%s': %s", path,
				       strerror(errno));
		/* kvmlet logs to stderr, so the log file becomes stderr; dup2 swaps it atomically. */
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	if (level >= LOG_OFF)
		log_set_level((enum log_level)level);
	return 0;
}

/* ---- commands from the API thread -------------------------------------- */

void vmm_post(struct vmm *m, struct vmm_cmd *cmd)
{
	uint64_t one = 1;

	cmd->next = NULL;
	pthread_mutex_lock(&m->cmd_lock);
	*m->cmd_tail = cmd;
	m->cmd_tail = &cmd->next;
	pthread_mutex_unlock(&m->cmd_lock);
	if (write(m->cmd_ev.fd, &one, sizeof(one)) < 0)
		log_debug("command eventfd: %s", strerror(errno));
}

static struct vmm_cmd *vmm_take_cmds(struct vmm *m)
{
	struct vmm_cmd *list;

	pthread_mutex_lock(&m->cmd_lock);
	list = m->cmd_head;
	m->cmd_head = NULL;
	m->cmd_tail = &m->cmd_head;
	pthread_mutex_unlock(&m->cmd_lock);
	return list;
}

/* Checks, on the main thread, that the VM may do a now; replies 400 if not. */
static bool vmm_allowed(struct vmm *m, struct vmm_cmd *c, enum vm_action a)
{
	char msg[160];

	if (vm_action_allowed(vmm_state(m), a, msg, sizeof(msg)))
		return true;
	vmm_fault(m, c->call, 400, "%s", msg);
	return false;
}

static int vmm_install_main_filter(struct vmm *m, struct err *err)
{
	return seccomp_install(SECCOMP_ROLE_VMM, m->cfg.seccomp_level, err);
}

/* The process's own events (commands, signals) go where the main thread waits. */
static int vmm_move_events(struct vmm *m, struct event_loop *from, struct event_loop *to)
{
	event_loop_del(from, &m->cmd_ev);
	event_loop_del(from, &m->signal_ev);
	if (event_loop_add(to, &m->cmd_ev, EPOLLIN) < 0 ||
	    event_loop_add(to, &m->signal_ev, EPOLLIN) < 0)
		return -1;
	return 0;
}

/* The VM exists: the main thread now serves its loop, commands and signals included. */
static int vmm_publish_vm(struct vmm *m, struct err *err)
{
	int r;

	if (vmm_move_events(m, &m->idle_loop, &m->vm.loop) < 0)
		return err_set(err, -errno, "epoll_ctl: %s", strerror(errno));
	r = event_timer_arm(&m->vm.loop, &m->metrics_timer, METRICS_FLUSH_INTERVAL_MS,
			    METRICS_FLUSH_INTERVAL_MS);
	if (r)
		return err_set(err, r, "metrics timer: %s", strerror(-r));
	__atomic_store_n(&m->stats.instance_start_ns, clock_mono_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&m->vm_built, true, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Starts the vCPUs and the migration service thread, then narrows the main
 * thread's own filter: after it, the main thread starts no thread.
 */
static int vmm_run_vcpus(struct vmm *m, bool paused, struct err *err)
{
	int r = vm_start(&m->vm, paused, err);

	if (!r)
		r = mig_service_start(&m->mig_svc, m->cfg.seccomp_level, err);
	if (!r)
		r = vmm_install_main_filter(m, err);
	return r;
}

/* Builds and starts the VM from m->cfg; the caller has set m->busy. */
static int vmm_boot(struct vmm *m, struct err *err)
{
	struct vm_create_opts opts = {
		.start_ns = m->start_ns,
		.seccomp_level = m->cfg.seccomp_level,
	};
	int r;

	pthread_mutex_lock(&m->lock);
	r = config_finish(&m->cfg, err);
	pthread_mutex_unlock(&m->lock);
	if (!r)
		r = vm_create(&m->vm, &m->cfg, &opts, err);
	if (!r && m->cfg.track_dirty_pages)
		r = snapshot_track_dirty(&m->vm, err);
	if (!r)
		r = vmm_publish_vm(m, err);
	if (!r)
		r = vmm_run_vcpus(m, false, err);
	return r;
}

/*
 * A start or load that failed leaves the process as it was, so the client
 * can fix its request and try again; a VM that already ran vCPUs cannot be
 * taken back, so those failures end the process instead.
 */
static void vmm_boot_failed(struct vmm *m)
{
	if (__atomic_load_n(&m->vm_built, __ATOMIC_ACQUIRE)) {
		vm_request_exit(&m->vm, KVMLET_EXIT_VMM_ERROR, "starting the VM failed");
		return;
	}
	vm_destroy(&m->vm);
}

static void vmm_do_start(struct vmm *m, struct vmm_cmd *c)
{
	struct err err = { 0 };

	if (vmm_boot(m, &err)) {
		vmm_boot_failed(m);
		vmm_end_busy(m, false, VM_ACTION_START);
		vmm_fault(m, c->call, 400, "InstanceStart failed: %s", err.msg);
		return;
	}
	vmm_end_busy(m, true, VM_ACTION_START);
	log_info("VM started through the API");
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

static void vmm_do_load(struct vmm *m, struct vmm_cmd *c)
{
	const struct vmm_cmd_load *a = &c->load;
	struct snapshot_load_params p = a->p;
	uint64_t t0 = clock_mono_ns();
	struct err err = { 0 };
	int r;

	p.start_ns = m->start_ns;
	/* The snapshot describes the VM; the process keeps its own settings. */
	r = snapshot_load(&m->vm, &m->cfg, &m->lock, &p, &err);
	if (!r)
		r = vmm_publish_vm(m, &err);
	if (!r)
		r = vmm_run_vcpus(m, !a->resume, &err);
	if (r) {
		vmm_boot_failed(m);
		vmm_end_busy(m, false, VM_ACTION_LOAD);
		stats_add(m->stats.snapshot_failures, 1);
		vmm_fault(m, c->call, 400, "loading the snapshot failed: %s", err.msg);
		return;
	}
	vmm_end_busy(m, true, a->resume ? VM_ACTION_LOAD : VM_ACTION_LOAD_PAUSED);
	__atomic_store_n(&m->stats.snapshot_load_ns_last, clock_mono_ns() - t0, __ATOMIC_RELAXED);
	log_info("snapshot %s loaded in %.3f ms, VM %s", p.snapshot_path,
		 (clock_mono_ns() - t0) / 1e6, a->resume ? "running" : "paused");
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

static void vmm_do_pause(struct vmm *m, struct vmm_cmd *c)
{
	struct err err = { 0 };
	uint64_t t0, ns;

	if (!vmm_allowed(m, c, VM_ACTION_PAUSE))
		return;
	if (vmm_state(m) == VM_STATE_PAUSED) {
		vmm_reply(m, c->call, 204, NULL, NULL, 0);
		return;
	}
	t0 = clock_mono_ns();
	if (vm_pause(&m->vm, &err)) {
		vm_resume(&m->vm);
		vmm_fault(m, c->call, 500, "pausing failed: %s", err.msg);
		return;
	}
	ns = clock_mono_ns() - t0;
	stats_add(m->stats.pauses, 1);
	__atomic_store_n(&m->stats.pause_ns_last, ns, __ATOMIC_RELAXED);
	if (ns > m->stats.pause_ns_max)
		__atomic_store_n(&m->stats.pause_ns_max, ns, __ATOMIC_RELAXED);
	vmm_transition(m, VM_ACTION_PAUSE);
	log_info("VM paused in %.3f ms", ns / 1e6);
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

static void vmm_do_resume(struct vmm *m, struct vmm_cmd *c)
{
	if (!vmm_allowed(m, c, VM_ACTION_RESUME))
		return;
	if (vmm_state(m) == VM_STATE_PAUSED) {
		vm_resume(&m->vm);
		stats_add(m->stats.resumes, 1);
		vmm_transition(m, VM_ACTION_RESUME);
		log_info("VM resumed");
	}
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

static void vmm_do_snapshot(struct vmm *m, struct vmm_cmd *c)
{
	const struct snapshot_create_params *p = &c->snapshot;
	struct err err = { 0 };
	uint64_t t0 = clock_mono_ns();

	if (!vmm_allowed(m, c, VM_ACTION_SNAPSHOT))
		return;
	if (p->diff && !m->cfg.track_dirty_pages) {
		vmm_fault(m, c->call, 400,
			  "a diff snapshot needs dirty page tracking: set track_dirty_pages in "
			  "machine-config (or enable_diff_snapshots when loading)");
		return;
	}
	/* Only this thread changes cfg once the VM exists: no lock needed to read it. */
	if (snapshot_create(&m->vm, &m->cfg, p, &err)) {
		stats_add(m->stats.snapshot_failures, 1);
		vmm_fault(m, c->call, 400, "creating the snapshot failed: %s", err.msg);
		return;
	}
	if (p->diff)
		stats_add(m->stats.snapshots_diff, 1);
	else
		stats_add(m->stats.snapshots_full, 1);
	__atomic_store_n(&m->stats.snapshot_create_ns_last, clock_mono_ns() - t0, __ATOMIC_RELAXED);
	log_info("%s snapshot written to %s and %s in %.3f ms", p->diff ? "diff" : "full",
		 p->snapshot_path, p->mem_file_path, (clock_mono_ns() - t0) / 1e6);
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

static void vmm_do_ctrl_alt_del(struct vmm *m, struct vmm_cmd *c)
{
	struct i8042 *kbd;
	int r;

	if (!vmm_allowed(m, c, VM_ACTION_CTRL_ALT_DEL))
		return;
	kbd = i8042_from_device(registry_find(&m->vm.devices, "i8042", NULL));
	r = kbd ? i8042_send_ctrl_alt_del(kbd) : -ENODEV;
	if (r) {
		vmm_fault(m, c->call, 400, "SendCtrlAltDel: %s", strerror(-r));
		return;
	}
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

static void vmm_do_update_drive(struct vmm *m, struct vmm_cmd *c)
{
	const struct vmm_cmd_update_drive *a = &c->update_drive;
	struct err err = { 0 };
	struct virtio_blk *blk;
	char *path;
	int i;

	if (!vmm_allowed(m, c, VM_ACTION_UPDATE_DRIVE))
		return;
	i = config_find_drive(&m->cfg, a->id);
	blk = virtio_blk_from_device(registry_find(&m->vm.devices, "virtio-blk", a->id));
	if (!blk || i < 0) {
		vmm_fault(m, c->call, 400, "drive '%s' does not exist", a->id);
		return;
	}
	/* cfg's copy first: once the device has switched, nothing may fail. */
	path = strdup(a->path);
	if (!path) {
		vmm_fault(m, c->call, 500, "out of memory");
		return;
	}
	if (virtio_blk_update_backend(blk, a->path, &err)) {
		free(path);
		vmm_fault(m, c->call, 400, "drive '%s': %s", a->id, err.msg);
		return;
	}
	/* The device keeps its own copy; cfg must say the same for GET /vm/config and snapshots. */
	pthread_mutex_lock(&m->lock);
	free(m->cfg.drives[i].path);
	m->cfg.drives[i].path = path;
	pthread_mutex_unlock(&m->lock);
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

static void vmm_do_console_reopen(struct vmm *m, struct vmm_cmd *c)
{
	struct err err = { 0 };

	if (!vmm_allowed(m, c, VM_ACTION_CONSOLE_REOPEN))
		return;
	if (m->cfg.serial != SERIAL_CRI || !m->vm.console) {
		vmm_fault(m, c->call, 400,
			  "the VM has no CRI log to reopen (start it with --serial cri:PATH)");
		return;
	}
	if (console_reopen(m->vm.console, &err)) {
		vmm_fault(m, c->call, 500, "reopening the console log failed: %s", err.msg);
		return;
	}
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

/* ---- live migration ---------------------------------------------------- */

/* Counts a finished migration, either role, for metrics. */
static void vmm_count_migration(struct vmm *m, enum mig_phase phase)
{
	uint64_t bytes, iterations, downtime_ns;

	pthread_mutex_lock(&m->mig.lock);
	bytes = m->mig.bytes_sent;
	iterations = m->mig.iteration;
	downtime_ns = (uint64_t)(m->mig.downtime_ms * 1e6);
	pthread_mutex_unlock(&m->mig.lock);
	stats_add(m->stats.migration_bytes, bytes);
	stats_add(m->stats.migration_iterations, iterations);
	if (phase == MIG_PHASE_COMPLETED) {
		stats_add(m->stats.migrations_completed, 1);
		if (downtime_ns)
			__atomic_store_n(&m->stats.migration_downtime_ns_last, downtime_ns,
					 __ATOMIC_RELAXED);
	} else if (phase == MIG_PHASE_CANCELLED) {
		stats_add(m->stats.migrations_cancelled, 1);
	} else {
		stats_add(m->stats.migrations_failed, 1);
	}
}

/* The outgoing migration is over (main thread): halt, or carry on as before. */
static void vmm_on_migration_done(struct mig_source *s, enum mig_phase phase, void *ctx)
{
	struct vmm *m = ctx;
	char why[192];

	mig_source_free(s);
	m->mig_src = NULL;
	vmm_count_migration(m, phase);
	if (phase == MIG_PHASE_COMPLETED) {
		vmm_transition(m, VM_ACTION_MIGRATE_DONE);
		snprintf(why, sizeof(why), "the VM migrated (downtime %.1f ms); halting",
			 m->mig.downtime_ms);
		vm_request_exit(&m->vm, KVMLET_EXIT_MIGRATED, why);
		return;
	}
	vmm_transition(m, m->mig_was_paused ? VM_ACTION_MIGRATE_PAUSED : VM_ACTION_MIGRATE_RUNNING);
	log_info("migration %s; the VM is %s here", mig_phase_name(phase),
		 vm_state_name(vmm_state(m)));
}

static void vmm_do_migrate_send(struct vmm *m, struct vmm_cmd *c)
{
	struct err err = { 0 };
	bool paused;

	if (!vmm_allowed(m, c, VM_ACTION_MIGRATE_SEND))
		return;
	paused = vmm_state(m) == VM_STATE_PAUSED;
	if (mig_source_start(&m->mig_src, &m->mig_svc, &m->vm, &m->cfg, &c->migrate_send, paused,
			     &m->mig, vmm_on_migration_done, m, &err)) {
		mig_source_free(m->mig_src);
		m->mig_src = NULL;
		vmm_fault(m, c->call, 400, "cannot migrate: %s", err.msg);
		return;
	}
	m->mig_was_paused = paused;
	vmm_transition(m, VM_ACTION_MIGRATE_SEND);
	log_info("migrating to %s over %u connection%s", c->migrate_send.dest.text,
		 c->migrate_send.connections, c->migrate_send.connections > 1 ? "s" : "");
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
}

/*
 * Receives the VM (blocking the main thread, which has nothing else to
 * serve yet) and runs it. A failure ends the process: nothing ran.
 */
static void vmm_receive(struct vmm *m)
{
	uint64_t t0 = clock_mono_ns();
	struct err err = { 0 };
	int r;

	r = mig_target_receive(&m->mig_tgt, &m->vm, &m->cfg, &m->lock, m->start_ns, &err);
	if (!r)
		r = vmm_publish_vm(m, &err);
	if (!r)
		r = vmm_run_vcpus(m, false, &err);
	/* Only now may the source let go; if it cannot be told, it keeps the guest. */
	if (!r)
		r = mig_target_confirm(&m->mig_tgt, &err);
	mig_target_close(&m->mig_tgt);
	pthread_mutex_lock(&m->mig.lock);
	m->mig.total_ms = (double)(clock_mono_ns() - t0) / 1e6;
	pthread_mutex_unlock(&m->mig.lock);
	if (r) {
		log_error("receiving the migration failed: %s", err.msg);
		mig_progress_end(&m->mig, MIG_PHASE_FAILED, err.msg);
		vmm_count_migration(m, MIG_PHASE_FAILED);
		vmm_boot_failed(m);
		vmm_end_busy(m, false, VM_ACTION_MIGRATE_ARRIVED);
		m->exit_now = true;
		m->exit_code = KVMLET_EXIT_VMM_ERROR;
		return;
	}
	mig_progress_end(&m->mig, MIG_PHASE_COMPLETED, NULL);
	vmm_count_migration(m, MIG_PHASE_COMPLETED);
	vmm_end_busy(m, true, VM_ACTION_MIGRATE_ARRIVED);
	log_info("migration received in %.1f ms; the VM runs", m->mig.total_ms);
}

static int vmm_listen_for_migration(struct vmm *m, const struct mig_recv_params *p, struct err *err)
{
	int r = mig_target_listen(&m->mig_tgt, p, &m->mig, m->signal_ev.fd, err);

	if (!r) {
		vmm_transition(m, VM_ACTION_MIGRATE_RECEIVE);
		log_info("waiting for a migration on %s", p->listen.text);
	}
	return r;
}

static void vmm_do_migrate_receive(struct vmm *m, struct vmm_cmd *c)
{
	struct err err = { 0 };

	/* The route checked the state and set busy. */
	if (vmm_listen_for_migration(m, &c->migrate_receive, &err)) {
		vmm_end_busy(m, false, VM_ACTION_MIGRATE_RECEIVE);
		vmm_fault(m, c->call, 400, "cannot receive: %s", err.msg);
		return;
	}
	vmm_reply(m, c->call, 204, NULL, NULL, 0);
	vmm_receive(m);
}

static void (*const cmd_handlers[])(struct vmm *m, struct vmm_cmd *c) = {
	[VMM_CMD_START] = vmm_do_start,
	[VMM_CMD_LOAD] = vmm_do_load,
	[VMM_CMD_PAUSE] = vmm_do_pause,
	[VMM_CMD_RESUME] = vmm_do_resume,
	[VMM_CMD_SNAPSHOT] = vmm_do_snapshot,
	[VMM_CMD_CTRL_ALT_DEL] = vmm_do_ctrl_alt_del,
	[VMM_CMD_UPDATE_DRIVE] = vmm_do_update_drive,
	[VMM_CMD_CONSOLE_REOPEN] = vmm_do_console_reopen,
	[VMM_CMD_MIGRATE_SEND] = vmm_do_migrate_send,
	[VMM_CMD_MIGRATE_RECEIVE] = vmm_do_migrate_receive,
};

static void vmm_run_cmd(struct vmm *m, struct vmm_cmd *c)
{
	/* A halted VM answers nothing but GETs. */
	if (m->vm_built && vm_exiting(&m->vm)) {
		enum vm_state st = vmm_state(m);

		vmm_fault(m, c->call, 400, "the VM is %s: %s",
			  st == VM_STATE_HALTED || st == VM_STATE_MIGRATED ? vm_state_name(st)
									   : "halting",
			  m->vm.exit_reason);
		return;
	}
	cmd_handlers[c->kind](m, c);
}

static void vmm_on_cmd(struct event_handler *h, uint32_t events)
{
	struct vmm *m = container_of(h, struct vmm, cmd_ev);
	struct vmm_cmd *c, *next;
	uint64_t v;

	if (read(h->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	for (c = vmm_take_cmds(m); c; c = next) {
		next = c->next;
		vmm_run_cmd(m, c);
		vmm_cmd_free(c);
	}
}

/* Replies to what is still queued when the process stops. */
static void vmm_refuse_cmds(struct vmm *m, const char *why)
{
	struct vmm_cmd *c, *next;

	for (c = vmm_take_cmds(m); c; c = next) {
		next = c->next;
		vmm_fault(m, c->call, 400, "%s", why);
		vmm_cmd_free(c);
	}
}

/* ---- the process ------------------------------------------------------- */

static void vmm_on_signal(struct event_handler *h, uint32_t events)
{
	struct vmm *m = container_of(h, struct vmm, signal_ev);
	struct signalfd_siginfo si;
	int code;
	char why[64];

	if (read(h->fd, &si, sizeof(si)) != sizeof(si))
		return;
	code = 128 + (int)si.ssi_signo;
	snprintf(why, sizeof(why), "received SIG%s, shutting down", sigabbrev_np(si.ssi_signo));
	m->exit_now = true;
	if (m->vm_built && !vm_exiting(&m->vm)) {
		vm_request_exit(&m->vm, code, why);
		return;
	}
	log_info("%s", why);
	m->exit_code = code;
}

static int vmm_api_thread_init(void *ctx)
{
	struct vmm *m = ctx;
	struct err err = { 0 };
	int r = seccomp_install(SECCOMP_ROLE_API, m->cfg.seccomp_level, &err);

	if (r)
		log_error("API thread: %s", err.msg);
	return r;
}

static int vmm_setup_idle_loop(struct vmm *m, struct err *err)
{
	sigset_t stop;
	int r;

	r = event_loop_init(&m->idle_loop);
	if (r)
		return err_set(err, r, "epoll: %s", strerror(-r));
	m->cmd_ev = (struct event_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), vmm_on_cmd };
	if (m->cmd_ev.fd < 0)
		return err_set(err, -errno, "eventfd: %s", strerror(errno));
	/* Blocked for every thread created later: only the main thread reads them, from a signalfd. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &stop, NULL))
		return err_set(err, -EINVAL, "blocking signals failed");
	m->signal_ev = (struct event_handler){ signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK),
					       vmm_on_signal };
	if (m->signal_ev.fd < 0)
		return err_set(err, -errno, "signalfd: %s", strerror(errno));
	if (event_loop_add(&m->idle_loop, &m->cmd_ev, EPOLLIN) ||
	    event_loop_add(&m->idle_loop, &m->signal_ev, EPOLLIN))
		return err_set(err, -errno, "epoll_ctl: %s", strerror(errno));
	return 0;
}

int vmm_init(struct vmm *m, struct vm_config *cfg, uint64_t start_ns, struct err *err)
{
	bool boot_now;
	int r = 0;

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->cmd_lock, NULL);
	pthread_mutex_init(&m->metrics_lock, NULL);
	m->cfg = *cfg;
	config_init(cfg); /* m owns what it held */
	m->cmd_tail = &m->cmd_head;
	m->start_ns = start_ns;
	m->stats.start_ns = start_ns;
	m->metrics.fd = -1;
	m->cmd_ev.fd = m->signal_ev.fd = -1;
	event_timer_init(&m->metrics_timer, vmm_on_metrics_timer);
	m->idle_loop.epfd = -1;
	vm_init(&m->vm);
	m->state = VM_STATE_NOT_STARTED;
	mig_progress_init(&m->mig);
	m->mig_tgt.lfd = -1;
	for (unsigned int i = 0; i < MIG_MAX_CONNECTIONS; i++)
		m->mig_tgt.fd[i] = -1;

	r = vmm_setup_idle_loop(m, err);
	if (r)
		return r;
	/*
	 * The API thread first: threads inherit seccomp filters, so it must
	 * exist before the main thread installs its own (after booting).
	 */
	/* Decided before the API thread exists: from then on a PUT may set a kernel. */
	boot_now = m->cfg.kernel_path != NULL;
	m->busy = boot_now;
	/* Listening before the API answers: GET /kvmlet/migration then says so. */
	if (m->cfg.migrate_from) {
		struct mig_recv_params p;

		r = mig_recv_params_from_args(m->cfg.migrate_from, m->cfg.migrate_token, &p, err);
		if (!r)
			r = vmm_listen_for_migration(m, &p, err);
		if (r)
			return r;
		m->busy = m->receive_pending = true;
	}
	if (m->cfg.api_sock) {
		const struct http_server_opts api = {
			.path = m->cfg.api_sock,
			.fn = routes_handle,
			.ctx = m,
			.thread_init = vmm_api_thread_init,
			.fault = &api_fault_fmt,
			.name = "API",
			.thread_name = "api",
		};

		r = http_server_start(&m->api, &api, err);
		if (r)
			return r;
	}
	if (boot_now) {
		r = vmm_boot(m, err);
		vmm_end_busy(m, !r, VM_ACTION_START);
	}
	return r;
}

/*
 * --keep-halted: the guest is gone but whoever drives the VMM may still ask
 * how it ended (GET /, /kvmlet/state, /metrics). Commands are refused with
 * the reason; SIGTERM ends the process with the guest's exit code.
 */
static void vmm_serve_halted(struct vmm *m)
{
	int code = m->exit_code;

	if (vmm_move_events(m, &m->vm.loop, &m->idle_loop) < 0)
		return;
	log_info("the VM halted (%s); serving the API until SIGTERM", m->vm.exit_reason);
	while (!m->exit_now)
		if (event_loop_run_once(&m->idle_loop, -1) < 0 && errno != EINTR)
			break;
	m->exit_code = code;
}

int vmm_run(struct vmm *m)
{
	if (m->receive_pending)
		vmm_receive(m);
	for (;;) {
		bool built = __atomic_load_n(&m->vm_built, __ATOMIC_ACQUIRE);
		int r = event_loop_run_once(built ? &m->vm.loop : &m->idle_loop, -1);

		if (r < 0 && r != -EINTR) {
			log_error("event loop failed: %s", strerror(-r));
			m->exit_code = KVMLET_EXIT_VMM_ERROR;
			if (built)
				vm_request_exit(&m->vm, KVMLET_EXIT_VMM_ERROR, "event loop failed");
			else
				break;
		}
		if (!built && m->exit_now)
			break;
		if (built && vm_exiting(&m->vm)) {
			/* The guest stopped mid-migration: the migration goes with it. */
			if (m->mig_src) {
				mig_source_abort(m->mig_src);
				mig_source_free(m->mig_src);
				m->mig_src = NULL;
			}
			m->exit_code = vm_stop(&m->vm);
			/* A migrated VM stays Migrated. */
			if (vm_action_allowed(vmm_state(m), VM_ACTION_HALT, NULL, 0))
				vmm_transition(m, VM_ACTION_HALT);
			break;
		}
	}
	if (m->vm_built && m->api && m->cfg.keep_halted && !m->exit_now)
		vmm_serve_halted(m);
	return m->exit_code;
}

void vmm_fini(struct vmm *m)
{
	/* The API thread goes first: it reads the VM and the configuration. */
	if (m->api)
		http_server_stop(m->api);
	m->api = NULL;
	vmm_refuse_cmds(m, "the VMM is shutting down");
	mig_service_stop(&m->mig_svc);
	mig_target_close(&m->mig_tgt);
	vm_destroy(&m->vm);
	metrics_sink_close(&m->metrics);
	if (m->cmd_ev.fd >= 0)
		close(m->cmd_ev.fd);
	if (m->signal_ev.fd >= 0)
		close(m->signal_ev.fd);
	event_loop_fini(&m->idle_loop);
	config_free(&m->cfg);
}
