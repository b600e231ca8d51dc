/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The receiving side of a live migration (docs/migration.md): accepts the
 * source's connections (each must present the one-time token), checks that
 * the source's configuration fits this host before any memory is taken,
 * builds the VM from it, writes the pages it receives, then restores the
 * machine state through the snapshot restore path. The guest runs only
 * once everything arrived and was accepted; any bad stream ends the
 * receive with an error and a REFUSE to the source, and nothing runs.
 *
 * Threading: the main thread of a VMM that has no VM yet; the API thread
 * keeps answering GET /kvmlet/migration from the progress report.
 */
#ifndef KVMLET_VMM_MIGRATION_TARGET_H
#define KVMLET_VMM_MIGRATION_TARGET_H

#include <pthread.h>
#include <stdint.h>

#include "lib/err.h"
#include "vmm/config.h"
#include "vmm/migration/progress.h"
#include "vmm/migration/stream.h"
#include "vmm/migration/transport.h"
#include "vmm/vm.h"

struct mig_recv_params {
	struct mig_addr listen;
	char token[MIG_MAX_TOKEN + 1];
	/* Limits this target accepts; 0: what the host allows. */
	unsigned int max_vcpus;
	uint64_t max_memory_mib;
};

struct mig_target {
	struct mig_recv_params p;
	int lfd;
	int fd[MIG_MAX_CONNECTIONS];
	unsigned int n;
	int abort_fd; /* readable: give up (the process's signalfd); -1 none */
	struct mig_progress *prog;
};

/* Binds the listening socket; the receive itself is mig_target_receive(). */
int mig_target_listen(struct mig_target *t, const struct mig_recv_params *p,
		      struct mig_progress *prog, int abort_fd, struct err *err);
/*
 * Receives a whole VM into vm, replacing *cfg (under cfg_lock) with the
 * source's configuration (keeping this process's own settings). On success
 * the vCPUs are restored but not started: start them, then call
 * mig_target_confirm(). On failure the source has been told why, and vm is
 * still to be destroyed.
 */
int mig_target_receive(struct mig_target *t, struct vm *vm, struct vm_config *cfg,
		       pthread_mutex_t *cfg_lock, uint64_t start_ns, struct err *err);
/* Tells the source the guest runs here; closes the connections. */
int mig_target_confirm(struct mig_target *t, struct err *err);
void mig_target_close(struct mig_target *t);

/*
 * The memory half of the receive, over frames already read and checked
 * (mig_frame_read): the fuzzer's entry point. Applies one frame that came
 * on connection conn to gm; keeps a copy of the machine state.
 */
struct mig_apply;
struct mig_apply *mig_apply_new(struct guest_memory *gm, unsigned int nr_conns);
void mig_apply_free(struct mig_apply *a);
/* 1: the stream is complete (COMPLETE after everything), 0: more to come. */
int mig_apply_frame(struct mig_apply *a, unsigned int conn, const struct mig_header *h,
		    const uint8_t *payload, struct err *err);
/* The machine state the stream carried (after a complete stream). */
const uint8_t *mig_apply_state(const struct mig_apply *a, size_t *len);

#endif
