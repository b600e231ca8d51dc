/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sending side of a live migration: pre-copy over one to eight
 * connections, then stop-and-copy, then the halt once the target runs the
 * guest (docs/migration.md).
 *
 * Threads: mig_source_start() and every callback run on the main thread,
 * which keeps serving the VM's event loop. The migration service thread,
 * started with the vCPUs (before the main thread installs its seccomp
 * filter, which allows no new threads), drives each migration: it turns
 * the dirty log on, talks to the target on connection 0 and runs the
 * iterations; one worker thread per connection, which it starts, sends
 * that connection's share of the pages (chunk k goes on connection k mod
 * N, so a page always travels on the same connection and TCP's order
 * keeps a newer copy behind an older one). Pausing the VM and saving its
 * state happen on the main thread, at the service thread's request. The
 * service thread and its workers run under the "migration" seccomp role.
 */
#ifndef KVMLET_VMM_MIGRATION_SOURCE_H
#define KVMLET_VMM_MIGRATION_SOURCE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "vmm/config.h"
#include "vmm/migration/progress.h"
#include "vmm/migration/stream.h"
#include "vmm/migration/transport.h"
#include "vmm/seccomp.h"
#include "vmm/vm.h"

struct mig_send_params {
	struct mig_addr dest;
	char token[MIG_MAX_TOKEN + 1];
	uint64_t downtime_ms;	      /* default 300 */
	uint64_t max_bandwidth_mibps; /* 0: unlimited */
	bool auto_converge;
	unsigned int connections; /* 1..MIG_MAX_CONNECTIONS */
	uint64_t timeout_s;	  /* 0: none */
};

#define MIG_DEFAULT_DOWNTIME_MS 300

struct mig_source;

struct mig_service {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct mig_source *job; /* the migration it runs; NULL when idle */
	bool quit;
	/*
	 * The service thread's requests to the main thread (pause and save,
	 * finished): an eventfd made before the main thread's filter, which
	 * allows no new one, on the VM's loop while a migration runs.
	 */
	struct event_handler ev;
	struct mig_source *current; /* main thread's: the migration on ev */
	enum seccomp_level level;
};

/* Starts the idle service thread; main thread, before its own filter. */
int mig_service_start(struct mig_service *svc, enum seccomp_level level, struct err *err);
/* Stops and joins it (no migration may be running: mig_source_abort() first). */
void mig_service_stop(struct mig_service *svc);

/*
 * Called on the main thread when the migration is over: phase is
 * COMPLETED (the target runs the guest: halt), FAILED or CANCELLED (the
 * guest is running again, or paused if it was paused). After the call
 * mig_source_free() may be called.
 */
typedef void (*mig_source_done_fn)(struct mig_source *s, enum mig_phase phase, void *ctx);

/*
 * Starts migrating vm (Running or Paused, as was_paused says) to p->dest;
 * returns at once. Turns on dirty logging (manual-protect where KVM has
 * it) unless it is on already. -errno with err set if it could not start.
 */
int mig_source_start(struct mig_source **out, struct mig_service *svc, struct vm *vm,
		     const struct vm_config *cfg, const struct mig_send_params *p, bool was_paused,
		     struct mig_progress *prog, mig_source_done_fn done, void *ctx,
		     struct err *err);
/*
 * The VM is going away (the guest halted, a signal): stops the migration
 * threads and waits for them, resuming nothing. Main thread.
 */
void mig_source_abort(struct mig_source *s);
void mig_source_free(struct mig_source *s);

#endif
