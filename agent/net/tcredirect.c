// SPDX-License-Identifier: Apache-2.0
#include "agent/net/tcredirect.h"

#include <errno.h>
#include <stdbool.h>

#include "agent/net/netlink.h"

static int one_way(int nlfd, int from, int to, struct err *err)
{
	struct nl_msg m;
	int r;

	nl_build_ingress_qdisc(&m, from, true);
	r = nl_talk(nlfd, &m, "tc ingress qdisc", err);
	if (r)
		return r;
	nl_build_redirect_filter(&m, from, to);
	return nl_talk(nlfd, &m, "tc u32 mirred filter", err);
}

int tcredirect_add(int nlfd, int a, int b, struct err *err)
{
	int r = one_way(nlfd, a, b, err);

	if (!r)
		r = one_way(nlfd, b, a, err);
	if (r) {
		struct err ignored = { 0 };

		tcredirect_remove(nlfd, a, &ignored);
		tcredirect_remove(nlfd, b, &ignored);
	}
	return r;
}

int tcredirect_remove(int nlfd, int ifindex, struct err *err)
{
	struct nl_msg m;
	struct err e = { 0 };

	nl_build_ingress_qdisc(&m, ifindex, false);
	int r = nl_talk(nlfd, &m, "tc ingress qdisc delete", &e);

	/* No qdisc (EINVAL/ENOENT) or no interface (ENODEV): already gone. */
	if (r == -ENOENT || r == -EINVAL || r == -ENODEV)
		return 0;
	if (r)
		return err_set(err, r, "%s", e.msg);
	return 0;
}
