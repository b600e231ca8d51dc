// SPDX-License-Identifier: Apache-2.0
#include "agent/net/dhcpd_start.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "agent/net/guestnet.h"

#define MAX_ARGS 40

struct args {
	char *v[MAX_ARGS + 1];
	char buf[MAX_ARGS][320];
	size_t n;
};

static void add(struct args *a, const char *opt, const char *val)
{
	if (a->n + 2 > MAX_ARGS)
		return;
	snprintf(a->buf[a->n], sizeof(a->buf[0]), "%s", opt);
	a->v[a->n] = a->buf[a->n];
	a->n++;
	if (val) {
		snprintf(a->buf[a->n], sizeof(a->buf[0]), "%s", val);
		a->v[a->n] = a->buf[a->n];
		a->n++;
	}
	a->v[a->n] = NULL;
}

int dhcpd_start(const char *dhcpd_path, const char *netns, const char *tap, const char *mac,
		uint32_t mtu, const struct cni_result *r, struct err *err)
{
	struct args a; /* 15 KiB of stack, for one short call */
	int i = guestnet_ipv4(r), status, rc;
	char t[64], v[160];
	pid_t pid;

	if (i < 0)
		return err_set(err, -ENOENT, "DHCP: the CNI result has no IPv4 address");
	memset(&a, 0, sizeof(a));
	add(&a, dhcpd_path, NULL);
	add(&a, "--daemon", NULL);
	add(&a, "--netns", netns);
	add(&a, "--if", tap);
	add(&a, "--client-mac", mac);
	cni_addr_text(&r->ips[i].addr, t, sizeof(t));
	snprintf(v, sizeof(v), "%s/%u", t, r->ips[i].prefix);
	add(&a, "--ip", v);
	if (r->ips[i].has_gw) {
		cni_addr_text(&r->ips[i].gw, t, sizeof(t));
		add(&a, "--router", t);
	}
	for (size_t k = 0, n = 0; k < r->nr_dns && n < 4; k++)
		if (r->dns[k].family == AF_INET) {
			cni_addr_text(&r->dns[k], t, sizeof(t));
			add(&a, "--dns", t);
			n++;
		}
	for (size_t k = 0, n = 0; k < r->nr_routes && n < 8; k++) {
		const struct cni_route *rt = &r->routes[k];
		char g[64];

		/* The default route is option 3's; others need a gateway of their own. */
		if (rt->dst.family != AF_INET || !rt->has_gw || !rt->prefix)
			continue;
		cni_addr_text(&rt->dst, t, sizeof(t));
		cni_addr_text(&rt->gw, g, sizeof(g));
		snprintf(v, sizeof(v), "%s/%u,%s", t, rt->prefix, g);
		add(&a, "--route", v);
		n++;
	}
	if (r->nr_search && strlen(r->search[0]) < 64)
		add(&a, "--domain", r->search[0]);
	if (mtu >= 68 && mtu <= 65535) {
		snprintf(v, sizeof(v), "%u", mtu);
		add(&a, "--mtu", v);
	}
	rc = posix_spawn(&pid, dhcpd_path, NULL, NULL, a.v, (char *const[]){ NULL });
	if (rc)
		return err_set(err, -rc, "%s: %s", dhcpd_path, strerror(rc));
	/* It exits at once: 0 when its child serves, else its own error on stderr. */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(err, -errno, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return err_set(err, -EIO, "kvmlet-dhcpd for %s did not start (status %d)", tap,
			       status);
	return 0;
}
