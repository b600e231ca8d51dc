// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvmlet/platform.h"
#include "lib/log.h"
#include "vmm/serial_coalesce.h"
#include "vmm/vm.h"

#define COALESCE_PAGE_SIZE 4096
#define COALESCE_RING_MAX                                                \
	((COALESCE_PAGE_SIZE - sizeof(struct kvm_coalesced_mmio_ring)) / \
	 sizeof(struct kvm_coalesced_mmio))
/* How stale polled output may get when the guest stops exiting (e.g. it halts). */
#define COALESCE_FLUSH_MS 10

static void coalesce_on_timer(struct event_timer *t)
{
	serial_coalesce_drain(container_of(t, struct serial_coalesce, timer));
}

int serial_coalesce_init(struct serial_coalesce *c, struct vm *vm, struct err *err)
{
	memset(c, 0, sizeof(*c));
	c->vm = vm;
	event_timer_init(&c->timer, coalesce_on_timer);
	pthread_mutex_init(&c->lock, NULL);
	if (ioctl(vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0)
		return 0;
	c->zone = (struct kvm_coalesced_mmio_zone){ .addr = PLAT_COM1_PORT, .size = 1, .pio = 1 };
	if (ioctl(vm->fd, KVM_REGISTER_COALESCED_MMIO, &c->zone) < 0) {
		c->zone.size = 0;
		return err_set(err, -errno, "registering coalesced serial output: %s",
			       strerror(errno));
	}
	return 0;
}

int serial_coalesce_start(struct serial_coalesce *c, void *run_area, struct err *err)
{
	int page = ioctl(c->vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO), r;

	if (!c->zone.size || page <= 0)
		return 0;
	r = event_timer_arm(&c->vm->loop, &c->timer, COALESCE_FLUSH_MS, COALESCE_FLUSH_MS);
	if (r)
		return err_set(err, r, "serial flush timer: %s", strerror(-r));
	__atomic_store_n(&c->ring,
			 (struct kvm_coalesced_mmio_ring *)((char *)run_area +
							    (size_t)page * COALESCE_PAGE_SIZE),
			 __ATOMIC_RELEASE);
	return 0;
}

void serial_coalesce_drain(struct serial_coalesce *c)
{
	struct kvm_coalesced_mmio_ring *ring = __atomic_load_n(&c->ring, __ATOMIC_ACQUIRE);

	if (!ring || __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE) == ring->first)
		return;
	pthread_mutex_lock(&c->lock);
	while (ring->first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE)) {
		struct kvm_coalesced_mmio *e =
			&ring->coalesced_mmio[ring->first % COALESCE_RING_MAX];
		uint32_t len = e->len <= sizeof(e->data) ? e->len : sizeof(e->data);

		bus_access(&c->vm->pio, e->phys_addr, e->data, len, true);
		/* The entry is consumed only after it was replayed. */
		__atomic_store_n(&ring->first, (ring->first + 1) % COALESCE_RING_MAX,
				 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&c->lock);
}

void serial_coalesce_stop(struct serial_coalesce *c)
{
	if (!c->zone.size)
		return;
	/*
	 * The vCPU that got here drained the ring before handling its exit; a
	 * write another vCPU slips in meanwhile is replayed at the next exit.
	 */
	if (ioctl(c->vm->fd, KVM_UNREGISTER_COALESCED_MMIO, &c->zone) < 0)
		log_warn("unregistering coalesced serial output: %s", strerror(errno));
	c->zone.size = 0;
	/* From a vCPU thread: a tick already running only drains, which is harmless. */
	event_timer_cancel(&c->vm->loop, &c->timer);
}

void serial_coalesce_fini(struct serial_coalesce *c)
{
	serial_coalesce_drain(c);
	event_timer_cancel(&c->vm->loop, &c->timer);
	c->ring = NULL;
	pthread_mutex_destroy(&c->lock);
}
