// SPDX-License-Identifier: Apache-2.0
#include "agent/net/guestnet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int guestnet_ipv4(const struct cni_result *r)
{
	for (size_t i = 0; i < r->nr_ips; i++)
		if (r->ips[i].addr.family == AF_INET)
			return (int)i;
	return -1;
}

/* A hostname as ip= and YAML take it: letters, digits, '-', '.'; else none. */
static bool hostname_ok(const char *h)
{
	if (!h || !*h || strlen(h) > 63)
		return false;
	for (const char *p = h; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			return false;
	return true;
}

int guestnet_kernel_args(const struct cni_result *r, const char *hostname, char *out, size_t cap,
			 struct err *err)
{
	int i = guestnet_ipv4(r);
	char ip[64], gw[64] = "", mask[16], dns[2][64] = { "", "" };
	size_t nd = 0;

	if (i < 0)
		return err_set(err, -ENOENT, "CNI result: no IPv4 address for the kernel's ip=");
	const struct cni_ip *a = &r->ips[i];

	cni_addr_text(&a->addr, ip, sizeof(ip));
	if (a->has_gw)
		cni_addr_text(&a->gw, gw, sizeof(gw));
	cni_netmask_text(a->prefix, mask, sizeof(mask));
	for (size_t k = 0; k < r->nr_dns && nd < 2; k++)
		if (r->dns[k].family == AF_INET)
			cni_addr_text(&r->dns[k], dns[nd++], sizeof(dns[0]));
	/* Documentation/admin-guide/nfs/nfsroot.rst: client:server:gw:netmask:hostname:device:autoconf:dns0:dns1 */
	int n = snprintf(out, cap, "ip=%s::%s:%s:%s:eth0:off%s%s%s%s kvmlet.ip=%s", ip, gw, mask,
			 hostname_ok(hostname) ? hostname : "", nd ? ":" : "", dns[0],
			 nd > 1 ? ":" : "", dns[1], ip);

	if (n < 0 || (size_t)n >= cap)
		return err_set(err, -ENOSPC, "kernel ip= argument: too long");
	return 0;
}

struct buf {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->full)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);

	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		b->full = true;
	else
		b->len += (size_t)n;
}

int guestnet_cloud_init(const struct cni_result *r, const char *mac, uint32_t mtu, char *out,
			size_t cap, struct err *err)
{
	struct buf b = { .p = out, .cap = cap };
	char t[64], g[64];

	if (!r->nr_ips)
		return err_set(err, -ENOENT, "CNI result: no address for network-config");
	put(&b,
	    "version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: \"%s\"\n"
	    "    set-name: eth0\n",
	    mac);
	if (mtu)
		put(&b, "    mtu: %u\n", mtu);
	put(&b, "    addresses:\n");
	for (size_t i = 0; i < r->nr_ips; i++) {
		cni_addr_text(&r->ips[i].addr, t, sizeof(t));
		put(&b, "      - \"%s/%u\"\n", t, r->ips[i].prefix);
	}
	bool routes = false;

	for (size_t i = 0; i < r->nr_routes; i++) {
		const struct cni_route *rt = &r->routes[i];
		const struct cni_ip *via = NULL;

		/* A route without a gateway goes through the address family's gateway. */
		for (size_t k = 0; !rt->has_gw && k < r->nr_ips; k++)
			if (r->ips[k].has_gw && r->ips[k].addr.family == rt->dst.family)
				via = &r->ips[k];
		if (!rt->has_gw && !via)
			continue;
		if (!routes)
			put(&b, "    routes:\n");
		routes = true;
		cni_addr_text(&rt->dst, t, sizeof(t));
		cni_addr_text(rt->has_gw ? &rt->gw : &via->gw, g, sizeof(g));
		put(&b, "      - to: \"%s/%u\"\n        via: \"%s\"\n", t, rt->prefix, g);
	}
	if (r->nr_dns || r->nr_search) {
		put(&b, "    nameservers:\n");
		if (r->nr_dns) {
			put(&b, "      addresses:\n");
			for (size_t i = 0; i < r->nr_dns; i++) {
				cni_addr_text(&r->dns[i], t, sizeof(t));
				put(&b, "        - \"%s\"\n", t);
			}
		}
		if (r->nr_search) {
			put(&b, "      search:\n");
			for (size_t i = 0; i < r->nr_search; i++)
				put(&b, "        - \"%s\"\n", r->search[i]);
		}
	}
	if (b.full)
		return err_set(err, -ENOSPC, "network-config: more than %zu bytes", cap);
	return 0;
}
