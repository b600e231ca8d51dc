/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Serial output without a vCPU exit per byte. A guest that writes its
 * console with polling (firmware, Linux's printk console) costs one exit to
 * the VMM per byte, 25-30 us each under nested KVM. While no guest code
 * depends on transmit interrupts, THR writes go to KVM's coalesced PIO ring
 * instead and are replayed, in order, before any other exit is handled, by
 * a periodic timer, and when the VM stops. The first time the guest enables
 * the THRE interrupt or loopback, every write must be seen at once again:
 * coalescing is switched off for good.
 */
#ifndef KVMLET_VMM_SERIAL_COALESCE_H
#define KVMLET_VMM_SERIAL_COALESCE_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "lib/err.h"
#include "lib/event_loop.h"

struct vm;

struct serial_coalesce {
	struct kvm_coalesced_mmio_ring *ring; /* NULL while not coalescing */
	struct kvm_coalesced_mmio_zone zone;
	pthread_mutex_t lock;
	struct event_timer
		timer; /* on the VM's loop: replays output of a guest that stopped exiting */
	struct vm *vm;
};

/* Registers the THR port; not an error if the host lacks KVM_CAP_COALESCED_PIO. */
int serial_coalesce_init(struct serial_coalesce *c, struct vm *vm, struct err *err);
/* Starts coalescing once the vCPU run areas (which hold the ring) are mapped. */
int serial_coalesce_start(struct serial_coalesce *c, void *run_area, struct err *err);
/* Replays what the ring holds; cheap when it is empty. Any thread. */
void serial_coalesce_drain(struct serial_coalesce *c);
/* Stops coalescing for good. Called under the serial lock, so it does not drain. */
void serial_coalesce_stop(struct serial_coalesce *c);
void serial_coalesce_fini(struct serial_coalesce *c);

#endif
