// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "devices/virtio/net/hdr.h"
#include "devices/virtio/net/tap.h"

#define TUN_DEV "/dev/net/tun"

static const char *tap_open_reason(int e)
{
	switch (e) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return TUN_DEV " is missing (is the tun module loaded?)";
	case EACCES:
	case EPERM:
		return "permission denied: creating or attaching a TAP needs CAP_NET_ADMIN or "
		       "ownership of the device";
	case EBUSY:
		return "busy: another process has it open";
	case EINVAL:
		return "an interface of that name exists and is not a TAP device";
	default:
		return strerror(e);
	}
}

static int tap_fail(struct err *err, int fd, const char *id, const char *name, const char *what,
		    int e)
{
	if (fd >= 0)
		close(fd);
	return err_set(err, -e, "--net id=%s: TAP '%s': %s%s%s", id, name, what ? what : "",
		       what ? ": " : "", tap_open_reason(e));
}

/*
 * Which receive offloads the kernel lets us enable. TUNSETOFFLOAD refuses
 * flags it does not know with EINVAL, so try from the richest set down; UFO
 * and TSO need CSUM (drivers/net/tun.c, set_offload()).
 */
static unsigned int tap_probe_offloads(int fd)
{
	static const unsigned int tries[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		TUN_F_CSUM,
	};

	for (unsigned int i = 0; i < sizeof(tries) / sizeof(tries[0]); i++)
		if (ioctl(fd, TUNSETOFFLOAD, tries[i]) == 0)
			return tries[i];
	return 0;
}

int tap_open(const char *id, const char *name, unsigned int *offloads, struct err *err)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	unsigned int features = 0;
	int hdr_len = NET_HDR_LEN, fd;

	if (strlen(name) >= IFNAMSIZ)
		return err_set(err, -EINVAL, "--net id=%s: TAP name '%s' is too long", id, name);
	fd = open(TUN_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return tap_fail(err, -1, id, name, NULL, errno);
	if (ioctl(fd, TUNGETFEATURES, &features) < 0)
		return tap_fail(err, fd, id, name, "TUNGETFEATURES", errno);
	if ((features & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) !=
	    (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
		return tap_fail(err, fd, id, name,
				"the kernel's TUN driver lacks virtio-net headers", EOPNOTSUPP);
	memcpy(ifr.ifr_name, name, strlen(name) + 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return tap_fail(err, fd, id, name, NULL, errno);
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
		return tap_fail(err, fd, id, name, "TUNSETVNETHDRSZ", errno);
	*offloads = tap_probe_offloads(fd);
	/* Nothing is enabled until a driver accepts features: the kernel finishes packets. */
	if (tap_set_offloads(fd, 0) < 0)
		return tap_fail(err, fd, id, name, "TUNSETOFFLOAD", errno);
	return fd;
}

unsigned int tap_offloads_for(uint64_t features, unsigned int supported)
{
	unsigned int o = 0;

	/*
	 * TUNSETOFFLOAD describes what the reader of the TAP (the guest) can
	 * take, so it follows the GUEST_* features. Segmentation needs
	 * partial checksums on both sides of the interface.
	 */
	if (!(features & (1ULL << VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	o |= TUN_F_CSUM;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_TSO4))
		o |= TUN_F_TSO4;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_TSO6))
		o |= TUN_F_TSO6;
	if (features & (1ULL << VIRTIO_NET_F_GUEST_UFO))
		o |= TUN_F_UFO;
	return o & supported;
}

int tap_set_offloads(int fd, unsigned int offloads)
{
	return ioctl(fd, TUNSETOFFLOAD, offloads) < 0 ? -errno : 0;
}
