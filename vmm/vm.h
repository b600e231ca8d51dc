/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One virtual machine: KVM VM, guest memory, vCPUs, buses and the legacy
 * devices of the kvmlet board, and the main-thread event loop that serves
 * host input, signals and shutdown.
 */
#ifndef KVMLET_VMM_VM_H
#define KVMLET_VMM_VM_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/legacy/boot_timer.h"
#include "devices/machine.h"
#include "kvmlet/platform.h"
#include "lib/err.h"
#include "lib/event_loop.h"
#include "vmm/config.h"
#include "vmm/kvm.h"
#include "vmm/memory.h"
#include "vmm/serial_coalesce.h"
#include "vmm/vcpu.h"

#define VM_STDIN_CHUNK 64

struct serial;
struct virtio_dev;
struct virtio_rng;
struct virtio_blk;
struct virtio_net;
struct virtio_vsock;

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
	struct serial *serial;
	int serial_out_fd; /* owned when --serial file: */
	struct serial_coalesce coalesce;
	struct virtio_dev *virtio[PLAT_VIRTIO_MAX_DEVICES]; /* in slot order */
	unsigned int nr_virtio;
	struct virtio_rng *rng;
	struct virtio_vsock *vsock;
	struct virtio_blk *blk[CONFIG_MAX_DRIVES];
	unsigned int nr_blk;
	struct virtio_net *net[CONFIG_MAX_NETS];
	unsigned int nr_net;
	char *cmdline; /* the user's, plus what devices announce */

	struct event_loop loop;
	struct event_handler exit_ev;	 /* eventfd: someone asked the VM to stop */
	struct event_handler signal_ev;	 /* signalfd: SIGTERM, SIGINT, SIGHUP */
	struct event_handler stdin_ev;	 /* host input for the serial port */
	struct event_handler rx_room_ev; /* eventfd: the serial FIFO has room again */
	bool stdin_watched;
	uint8_t stdin_buf[VM_STDIN_CHUNK];
	size_t stdin_len, stdin_off; /* read from stdin, not yet taken by the guest */

	bool exiting;
	int exit_code;
};

/* Builds the whole machine from cfg; the vCPUs are not running yet. */
int vm_create(struct vm *vm, const struct vm_config *cfg, uint64_t start_ns, struct err *err);
/* Runs the vCPUs and the event loop until the VM stops; returns the exit code. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Stops the VM from any thread. The first request decides the exit code. */
void vm_request_exit(struct vm *vm, int code, const char *reason);
bool vm_exiting(const struct vm *vm);

#endif
