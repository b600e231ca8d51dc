// SPDX-License-Identifier: Apache-2.0
#include "agent/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>

static int tap_fail(int fd, const char *name, const char *op, struct err *err)
{
	int e = -errno;

	close(fd);
	return err_set(err, e, "TAP %s: %s: %s", name, op, strerror(-e));
}

int tap_create(const char *name, uid_t uid, gid_t gid, struct err *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL };

	if (!*name || strlen(name) >= IFNAMSIZ)
		return err_set(err, -EINVAL, "TAP name '%s': 1 to %d characters", name,
			       IFNAMSIZ - 1);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return err_set(err, -errno, "/dev/net/tun: %s", strerror(errno));
	/* IFF_TUN_EXCL: a name already in use is an error, never someone else's TAP reused. */
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return tap_fail(fd, name, "TUNSETIFF", err);
	if (ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0)
		return tap_fail(fd, name, "TUNSETOWNER", err);
	if (ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0)
		return tap_fail(fd, name, "TUNSETGROUP", err);
	if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
		return tap_fail(fd, name, "TUNSETPERSIST", err);
	close(fd);
	return 0;
}
