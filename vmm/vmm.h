/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kvmlet-vmm process: its configuration, the VM's lifecycle state, the
 * VM once built, and the control API. Threads:
 *
 *  - the main thread owns the VM: it builds it, runs the event loop that
 *    serves the devices, and carries out every API request that touches a
 *    running VM (start, load, pause, resume, snapshot, Ctrl+Alt+Del, drive
 *    updates), which the API thread posts to it as commands;
 *  - the API thread answers everything else itself (configuration before
 *    boot, GETs, metrics, logger) and never waits for the main thread: a
 *    command's reply is sent when the main thread has carried it out;
 *  - one thread per vCPU;
 *  - the migration service thread and, during a live migration, its
 *    sending threads (vmm/migration/source.h). A migration target
 *    receives on the main thread, before its VM exists.
 *
 * lock guards cfg and state. Before the VM starts the API thread edits
 * cfg; afterwards only the main thread does (drive updates), and the VM
 * keeps pointers into it.
 */
#ifndef KVMLET_VMM_VMM_H
#define KVMLET_VMM_VMM_H

#include <pthread.h>
#include <stdbool.h>

#include "lib/event_loop.h"
#include "lib/http_server.h"
#include "vmm/config.h"
#include "vmm/lifecycle.h"
#include "vmm/metrics.h"
#include "vmm/migration/progress.h"
#include "vmm/migration/source.h"
#include "vmm/migration/target.h"
#include "vmm/vm.h"
#include "vmm/vmm_cmd.h"
#include "vmm/vmm_stats.h"

struct vmm {
	pthread_mutex_t lock;
	struct vm_config cfg;
	enum vm_state state;
	bool busy;	 /* a start or snapshot load is being carried out */
	bool configured; /* a pre-boot resource was PUT: no snapshot load then */

	struct vm vm;
	bool vm_built; /* vm is valid; set once, by the main thread */
	struct vmm_stats stats;
	uint64_t start_ns;

	struct http_server *api;
	pthread_mutex_t cmd_lock;
	struct vmm_cmd *cmd_head, **cmd_tail;
	struct event_handler cmd_ev; /* eventfd: commands are waiting */

	/* Before the VM exists the main thread waits on this loop instead of the VM's. */
	struct event_loop idle_loop;
	struct event_handler signal_ev;

	pthread_mutex_t metrics_lock; /* the metrics file, flushed by both threads */
	struct metrics_sink metrics;
	struct event_timer metrics_timer; /* on the VM's loop once it is built */

	struct mig_progress mig;    /* GET /kvmlet/migration; its own lock */
	struct mig_service mig_svc; /* started with the vCPUs */
	struct mig_source *mig_src; /* the outgoing migration; main thread */
	bool mig_was_paused;	    /* the VM was Paused when it began */
	struct mig_target mig_tgt;  /* receiving; main thread */
	bool receive_pending;	    /* --migrate-from: receive first thing */

	bool exit_now; /* a signal arrived before the VM existed */
	int exit_code;
};

/* Sets up the process from parsed options; boots at once when cfg names a kernel. */
int vmm_init(struct vmm *m, struct vm_config *cfg, uint64_t start_ns, struct err *err);
/* Serves until the VM halts or a signal arrives; returns the exit code. */
int vmm_run(struct vmm *m);
void vmm_fini(struct vmm *m);

/*
 * Called by the API routes (vmm/api/routes.c). vmm_post() hands cmd
 * (vmm_cmd.h) to the main thread, which replies to cmd->call and frees it.
 */
void vmm_post(struct vmm *m, struct vmm_cmd *cmd);
enum vm_state vmm_state(struct vmm *m);

/* Replies; usable from any thread. vmm_fault() also logs what the client was told. */
void vmm_reply(struct vmm *m, struct http_call *call, unsigned int status, const char *ctype,
	       const void *body, size_t len);
void vmm_fault(struct vmm *m, struct http_call *call, unsigned int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * PUT /logger: log to path (created if missing) instead of where the log
 * went so far (NULL keeps it), at level (an enum log_level; below LOG_OFF
 * keeps the current one). Each call reconfigures, as Firecracker's does.
 */
int vmm_logger_set(struct vmm *m, const char *path, int level, struct err *err);

/* Copies the API server's answer counts into stats, for metrics. */
void vmm_sync_api_stats(struct vmm *m);

/* The metrics file (PUT /metrics, FlushMetrics); any thread. */
int vmm_metrics_open(struct vmm *m, const char *path, struct err *err);
int vmm_metrics_flush(struct vmm *m, struct err *err);

#endif
