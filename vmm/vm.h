/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One virtual machine: KVM VM, guest memory, vCPUs, buses, the registry of
 * its devices (legacy and virtio, in creation order), and the main-thread
 * event loop that serves host input, signals and shutdown.
 */
#ifndef KVMLET_VMM_VM_H
#define KVMLET_VMM_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/legacy/boot_timer.h"
#include "devices/machine.h"
#include "devices/registry.h"
#include "kvmlet/platform.h"
#include "lib/err.h"
#include "lib/event_loop.h"
#include "vmm/config.h"
#include "vmm/kvm.h"
#include "memory/guest_memory.h"
#include "vmm/seccomp.h"
#include "vmm/serial_coalesce.h"
#include "vmm/vcpu.h"

#define VM_STDIN_CHUNK 64

struct console;

struct vm {
	struct kvm kvm;
	int fd;
	struct guest_memory mem;
	struct bus pio;
	struct bus mmio;
	struct vcpu *vcpus;
	unsigned int nr_vcpus;

	struct machine_exit exit_hook; /* handed to devices */
	struct boot_timer boot_timer;
	/*
	 * Every device, found by kind and id (registry_find()); snapshots,
	 * metrics, pause and teardown walk it. Fixed once the VM is built.
	 */
	struct registry devices;
	int serial_out_fd;	 /* owned when --serial file: */
	struct console *console; /* --serial cri: or --console-sock; NULL otherwise */
	struct serial_coalesce coalesce;
	unsigned int nr_virtio; /* virtio-mmio slots taken */
	char *cmdline;		/* the user's, plus what devices announce */

	struct event_loop loop;
	struct event_handler exit_ev;	 /* eventfd: someone asked the VM to stop */
	struct event_handler stdin_ev;	 /* host input for the serial port */
	struct event_handler rx_room_ev; /* eventfd: the serial FIFO has room again */
	bool stdin_watched;
	uint8_t stdin_buf[VM_STDIN_CHUNK];
	size_t stdin_len, stdin_off; /* read from stdin, not yet taken by the guest */

	/*
	 * vCPU run control. pause_requested is read by vCPU threads without
	 * the lock (atomically); the counts change under run_lock, and
	 * run_cond announces every change and every resume.
	 */
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	bool pause_requested;
	unsigned int nr_parked; /* vCPU threads waiting in vcpu_park() */
	unsigned int nr_alive;	/* vCPU threads started and not yet returned */
	enum seccomp_level seccomp_level;
	/*
	 * Auto-converge during a migration: each vCPU sleeps this share of
	 * every time slice (vcpu.c); 0 normally. Set by the migration thread.
	 */
	unsigned int throttle_pct;

	bool exiting;
	int exit_code;
	char exit_reason[128]; /* what stopped the VM, for the API */
};

struct vm_create_opts {
	uint64_t start_ns; /* CLOCK_MONOTONIC at exec, for the boot timer */
	/*
	 * NULL: a fresh boot from cfg's kernel. Otherwise a snapshot's memory
	 * file, mapped privately; the caller restores vCPU, VM and device
	 * state before starting the vCPUs, and nothing is loaded.
	 */
	const char *mem_file;
	/*
	 * A live migration's target: RAM starts zero and nothing is loaded;
	 * the caller fills memory and restores every state before starting.
	 */
	bool incoming;
	enum seccomp_level seccomp_level;
};

/* An empty VM that vm_destroy() accepts; vm_create() starts with it. */
void vm_init(struct vm *vm);
/* Builds the whole machine from cfg; the vCPUs are not running yet. */
int vm_create(struct vm *vm, const struct vm_config *cfg, const struct vm_create_opts *opts,
	      struct err *err);
/* Starts the vCPU threads; with paused they wait for vm_resume() first. */
int vm_start(struct vm *vm, bool paused, struct err *err);
/* After the VM is exiting: stops and joins the vCPU threads; returns the exit code. */
int vm_stop(struct vm *vm);
void vm_destroy(struct vm *vm);

/*
 * Stops every vCPU at an instruction boundary with its state in KVM
 * complete (see vcpu_park()), then pauses the devices (registry order):
 * their in-flight work completes to guest memory. Returns once all have
 * stopped, or -ETIMEDOUT. A device that fails to pause is logged and the
 * pause goes on. On the main thread (the devices' event loop).
 */
int vm_pause(struct vm *vm, struct err *err);
/* Resumes the devices (reverse order), then the vCPUs. */
void vm_resume(struct vm *vm);

/* Stops the VM from any thread. The first request decides the exit code. */
void vm_request_exit(struct vm *vm, int code, const char *reason);
bool vm_exiting(const struct vm *vm);

#endif
