// SPDX-License-Identifier: Apache-2.0
#include "agent/net/vmnet.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/net/netlink.h"
#include "agent/net/nsrun.h"
#include "agent/net/tap.h"
#include "agent/net/tcredirect.h"

struct vmnet_call {
	const struct vmnet_spec *spec;
	const char *ifname, *tap;
	struct vmnet_info *info;
};

static void mac_text(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

static int link_in_ns(void *arg, struct err *err)
{
	struct vmnet_call *c = arg;
	struct nl_link l;
	int fd = nl_open(err);

	if (fd < 0)
		return fd;
	int r = nl_link_get(fd, c->ifname, &l, err);

	close(fd);
	if (r)
		return r;
	if (!l.has_mac)
		return err_set(err, -EINVAL, "interface %s has no Ethernet address", c->ifname);
	mac_text(l.mac, c->info->mac);
	c->info->mtu = l.mtu;
	return 0;
}

static int delete_tap(int fd, const char *tap, struct err *err)
{
	struct nl_link l;
	struct nl_msg m;
	struct err e = { 0 };
	int r = nl_link_get(fd, tap, &l, &e);

	if (r == -ENODEV)
		return 0;
	if (r)
		return err_set(err, r, "%s", e.msg);
	nl_build_link_del(&m, l.ifindex);
	r = nl_talk(fd, &m, "delete TAP", err);
	return r == -ENODEV ? 0 : r;
}

static int attach_in_ns(void *arg, struct err *err)
{
	struct vmnet_call *c = arg;
	const struct vmnet_spec *s = c->spec;
	struct nl_link eth, tap;
	struct nl_msg m;
	int fd = nl_open(err);

	if (fd < 0)
		return fd;
	int r = nl_link_get(fd, s->ifname, &eth, err);

	if (!r && !eth.has_mac)
		r = err_set(err, -EINVAL, "interface %s has no Ethernet address", s->ifname);
	if (r)
		goto out;
	r = tap_create(s->tap, s->uid, s->gid, err);
	if (r)
		goto out;
	r = nl_link_get(fd, s->tap, &tap, err);
	if (!r) {
		nl_build_link_up(&m, tap.ifindex, eth.mtu);
		r = nl_talk(fd, &m, "TAP mtu and up", err);
	}
	if (!r)
		r = tcredirect_add(fd, eth.ifindex, tap.ifindex, err);
	if (r) {
		struct err ignored = { 0 };

		delete_tap(fd, s->tap, &ignored);
		goto out;
	}
	mac_text(eth.mac, c->info->mac);
	c->info->mtu = eth.mtu;
out:
	close(fd);
	return r;
}

static int detach_in_ns(void *arg, struct err *err)
{
	struct vmnet_call *c = arg;
	struct nl_link eth;
	struct err e = { 0 };
	int fd = nl_open(err);

	if (fd < 0)
		return fd;
	/* The TAP's own qdisc goes with it; eth0's must be removed, or it keeps redirecting. */
	int r = delete_tap(fd, c->tap, err);

	if (!r && nl_link_get(fd, c->ifname, &eth, &e) == 0)
		r = tcredirect_remove(fd, eth.ifindex, err);
	close(fd);
	return r;
}

int vmnet_attach(const struct vmnet_spec *s, struct vmnet_info *out, struct err *err)
{
	struct vmnet_call c = { .spec = s, .info = out };
	int r = nsrun(s->netns, attach_in_ns, &c, err);

	if (r)
		err_prefix(err, r, "VM network in %s: ", s->netns);
	return r;
}

int vmnet_detach(const char *netns, const char *ifname, const char *tap, struct err *err)
{
	struct vmnet_call c = { .ifname = ifname, .tap = tap };

	if (access(netns, F_OK) < 0 && errno == ENOENT)
		return 0;
	int r = nsrun(netns, detach_in_ns, &c, err);

	/* A file that is no namespace any more (the pod's netns unmounted): nothing to undo. */
	if (r == -EINVAL || r == -ENOENT)
		return 0;
	return r;
}

int vmnet_link(const char *netns, const char *ifname, struct vmnet_info *out, struct err *err)
{
	struct vmnet_call c = { .ifname = ifname, .info = out };

	return nsrun(netns, link_in_ns, &c, err);
}
