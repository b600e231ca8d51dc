// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/kvm.h"

#define KVM_CPUID_MAX_ENTRIES 256

/* Without these there is no VM as kvmlet builds it. */
static const struct {
	int cap;
	const char *name;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

static int kvm_get_cpuid(struct kvm *kvm, struct err *err)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + KVM_CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return err_set(err, -ENOMEM, "out of memory");
	c->nent = KVM_CPUID_MAX_ENTRIES;
	if (ioctl(kvm->fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int e = errno;

		free(c);
		return err_set(err, -e, "KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
	}
	kvm->supported_cpuid = c;
	return 0;
}

int kvm_open(struct kvm *kvm, const char *path, struct err *err)
{
	int version, n;

	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = open(path, O_RDWR | O_CLOEXEC);
	if (kvm->fd < 0) {
		int e = errno;

		if (e == ENOENT)
			return err_set(err, -e, "%s does not exist: is KVM enabled on this host?",
				       path);
		if (e == EACCES || e == EPERM)
			return err_set(
				err, -e,
				"no permission to open %s: run as root or join the kvm group",
				path);
		return err_set(err, -e, "cannot open %s: %s", path, strerror(e));
	}
	version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		kvm_close(kvm);
		if (version < 0)
			return err_set(err, -ENOTTY, "%s is not a KVM device", path);
		return err_set(err, -EPROTO, "%s speaks KVM API version %d; kvmlet needs %d", path,
			       version, KVM_API_VERSION);
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			kvm_close(kvm);
			return err_set(err, -ENOTSUP, "host KVM lacks %s", required_caps[i].name);
		}
	}
	kvm->run_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (kvm->run_size <= 0) {
		kvm_close(kvm);
		return err_set(err, -ENOTTY, "KVM_GET_VCPU_MMAP_SIZE failed");
	}
	n = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (n <= 0)
		n = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	kvm->max_vcpus = n > 0 ? (unsigned int)n : 1;
	kvm->tsc_deadline = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	kvm->kvmclock_ctrl = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_KVMCLOCK_CTRL) > 0;
	n = kvm_get_cpuid(kvm, err);
	if (n)
		kvm_close(kvm);
	return n;
}

void kvm_close(struct kvm *kvm)
{
	if (kvm->fd >= 0)
		close(kvm->fd);
	free(kvm->supported_cpuid);
	memset(kvm, 0, sizeof(*kvm));
	kvm->fd = -1;
}
