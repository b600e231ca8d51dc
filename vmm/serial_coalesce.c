// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "kvmlet/platform.h"
#include "lib/log.h"
#include "vmm/serial_coalesce.h"
#include "vmm/vm.h"

#define COALESCE_PAGE_SIZE 4096
#define COALESCE_RING_MAX                                                \
	((COALESCE_PAGE_SIZE - sizeof(struct kvm_coalesced_mmio_ring)) / \
	 sizeof(struct kvm_coalesced_mmio))
/* How stale polled output may get when the guest stops exiting (e.g. it halts). */
#define COALESCE_FLUSH_NS (10 * 1000 * 1000)

static void coalesce_on_timer(struct event_handler *h, uint32_t events)
{
	struct serial_coalesce *c = container_of(h, struct serial_coalesce, timer);
	uint64_t ticks;

	if (read(h->fd, &ticks, sizeof(ticks)) < 0)
		return;
	serial_coalesce_drain(c);
}

int serial_coalesce_init(struct serial_coalesce *c, struct vm *vm, struct err *err)
{
	memset(c, 0, sizeof(*c));
	c->vm = vm;
	c->timer.fd = -1;
	c->timer.fn = coalesce_on_timer;
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
	struct itimerspec its = {
		.it_interval = { 0, COALESCE_FLUSH_NS },
		.it_value = { 0, COALESCE_FLUSH_NS },
	};
	int page = ioctl(c->vm->kvm.fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);

	if (!c->zone.size || page <= 0)
		return 0;
	c->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (c->timer.fd < 0 || timerfd_settime(c->timer.fd, 0, &its, NULL) < 0 ||
	    event_loop_add(&c->vm->loop, &c->timer, EPOLLIN) < 0)
		return err_set(err, -errno, "serial flush timer: %s", strerror(errno));
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
	if (c->timer.fd >= 0) {
		struct itimerspec off = { { 0, 0 }, { 0, 0 } };

		timerfd_settime(c->timer.fd, 0, &off, NULL);
	}
}

void serial_coalesce_fini(struct serial_coalesce *c)
{
	serial_coalesce_drain(c);
	if (c->timer.fd >= 0) {
		if (c->vm->loop.epfd >= 0)
			event_loop_del(&c->vm->loop, &c->timer);
		close(c->timer.fd);
	}
	c->timer.fd = -1;
	c->ring = NULL;
	pthread_mutex_destroy(&c->lock);
}
