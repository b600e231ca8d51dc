// SPDX-License-Identifier: Apache-2.0
/*
 * LD_PRELOAD shim for the bad-input test: makes /dev/kvm report a KVM API
 * version other than 12, which no real host can be made to do.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>

int ioctl(int fd, unsigned long req, ...)
{
	int (*real)(int, unsigned long, void *) = dlsym(RTLD_NEXT, "ioctl");
	va_list ap;
	void *arg;

	if (req == KVM_GET_API_VERSION)
		return KVM_API_VERSION + 1;
	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	return real(fd, req, arg);
}
