// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <linux/virtio_mmio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvmlet/platform.h"
#include "vmm/virtio_slot.h"
#include "vmm/vm.h"

static int slot_eventfd(struct virtio_dev *vdev, struct err *err)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		return err_set(err, -errno, "%s: eventfd: %s", vdev->name, strerror(errno));
	return fd;
}

/* Appends " virtio_mmio.device=4K@0x...:irq" to the VM's command line. */
static int slot_announce(struct vm *vm, uint64_t base, unsigned int gsi, struct err *err)
{
	size_t old = vm->cmdline ? strlen(vm->cmdline) : 0;
	char entry[64];
	int n = snprintf(entry, sizeof(entry), "%svirtio_mmio.device=%lluK@0x%llx:%u",
			 old ? " " : "", (unsigned long long)(PLAT_VIRTIO_MMIO_SIZE >> 10),
			 (unsigned long long)base, gsi);
	char *s = realloc(vm->cmdline, old + n + 1);

	if (!s)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(s + old, entry, n + 1);
	vm->cmdline = s;
	return 0;
}

int virtio_slot_add(struct vm *vm, struct virtio_dev *vdev, struct err *err)
{
	unsigned int slot = vm->nr_virtio, gsi = PLAT_VIRTIO_IRQ_BASE + slot;
	uint64_t base = PLAT_VIRTIO_MMIO_BASE + slot * PLAT_VIRTIO_MMIO_SIZE;
	int kick[VIRTIO_MMIO_MAX_QUEUES], irq, r;
	unsigned int q;

	if (slot == PLAT_VIRTIO_MAX_DEVICES)
		return err_set(err, -ENOSPC, "%s: at most %u virtio devices fit the board",
			       vdev->name, PLAT_VIRTIO_MAX_DEVICES);
	irq = slot_eventfd(vdev, err);
	if (irq < 0)
		return irq;
	struct kvm_irqfd irqfd = { .fd = (uint32_t)irq, .gsi = gsi };
	if (ioctl(vm->fd, KVM_IRQFD, &irqfd) < 0) {
		r = err_set(err, -errno, "%s: KVM_IRQFD on GSI %u: %s", vdev->name, gsi,
			    strerror(errno));
		close(irq);
		return r;
	}
	for (q = 0; q < vdev->nr_queues; q++) {
		struct kvm_ioeventfd io = {
			.datamatch = q,
			.addr = base + VIRTIO_MMIO_QUEUE_NOTIFY,
			.len = 4,
			.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};

		kick[q] = slot_eventfd(vdev, err);
		if (kick[q] < 0)
			break;
		io.fd = kick[q];
		if (ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0) {
			err_set(err, -errno, "%s: KVM_IOEVENTFD for queue %u: %s", vdev->name, q,
				strerror(errno));
			close(kick[q]);
			break;
		}
	}
	if (q < vdev->nr_queues) {
		while (q--)
			close(kick[q]);
		close(irq);
		return err->code;
	}
	/* From here on the device owns the descriptors. */
	r = virtio_dev_attach(vdev, &vm->loop, irq, kick, err);
	if (!r) {
		r = bus_register(&vm->mmio, base, PLAT_VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, vdev,
				 vdev->name);
		if (r)
			err_set(err, r, "%s: claiming MMIO at 0x%llx: %s", vdev->name,
				(unsigned long long)base, strerror(-r));
	}
	if (!r)
		r = slot_announce(vm, base, gsi, err);
	if (!r)
		vm->nr_virtio++;
	return r;
}
