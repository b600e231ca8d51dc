// SPDX-License-Identifier: Apache-2.0
/* guest-network-get-interfaces: one getifaddrs() walk; AF_PACKET entries carry MAC and counters. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <netpacket/packet.h>
#include <stdio.h>
#include <string.h>

#include "ga_internal.h"

static int prefix_len(const unsigned char *mask, size_t n)
{
	int bits = 0;

	for (size_t i = 0; i < n; i++)
		bits += __builtin_popcount(mask[i]);
	return bits;
}

static json_object *find_iface(json_object *list, const char *name)
{
	size_t n = json_object_array_length(list);
	json_object *e, *v;

	for (size_t i = 0; i < n; i++) {
		e = json_object_array_get_idx(list, i);
		json_object_object_get_ex(e, "name", &v);
		if (!strcmp(json_object_get_string(v), name))
			return e;
	}
	e = json_object_new_object();
	json_object_object_add(e, "name", json_object_new_string(name));
	json_object_array_add(list, e);
	return e;
}

static void add_stat(json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

json_object *cmd_network_get_interfaces(struct ga *ga, json_object *args, char **err)
{
	struct ifaddrs *ifa, *p;
	json_object *list;

	if (getifaddrs(&ifa) < 0)
		return ga_fail(err, "getifaddrs failed: %m");
	list = json_object_new_array();
	for (p = ifa; p; p = p->ifa_next) {
		json_object *e, *addrs, *a;
		char buf[INET6_ADDRSTRLEN];
		int family = p->ifa_addr ? p->ifa_addr->sa_family : AF_UNSPEC;

		if (!p->ifa_name)
			continue;
		e = find_iface(list, p->ifa_name);
		if (family == AF_PACKET) {
			const struct sockaddr_ll *ll = (const void *)p->ifa_addr;
			char mac[3 * 8] = "";

			for (int i = 0, off = 0; i < ll->sll_halen && i < 8; i++)
				off += snprintf(mac + off, sizeof(mac) - off, i ? ":%02x" : "%02x",
						ll->sll_addr[i]);
			/* an interface without a link-layer address (tun) reports zeros, as QGA does */
			json_object_object_add(
				e, "hardware-address",
				json_object_new_string(ll->sll_halen ? mac : "00:00:00:00:00:00"));
			if (p->ifa_data) {
				const struct rtnl_link_stats *st = p->ifa_data;
				json_object *s = json_object_new_object();

				add_stat(s, "rx-bytes", st->rx_bytes);
				add_stat(s, "rx-packets", st->rx_packets);
				add_stat(s, "rx-errs", st->rx_errors);
				add_stat(s, "rx-dropped", st->rx_dropped);
				add_stat(s, "tx-bytes", st->tx_bytes);
				add_stat(s, "tx-packets", st->tx_packets);
				add_stat(s, "tx-errs", st->tx_errors);
				add_stat(s, "tx-dropped", st->tx_dropped);
				json_object_object_add(e, "statistics", s);
			}
			continue;
		}
		if (family != AF_INET && family != AF_INET6)
			continue;
		a = json_object_new_object();
		if (family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)p->ifa_addr;
			const struct sockaddr_in *m = (const void *)p->ifa_netmask;

			inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
			json_object_object_add(a, "ip-address-type",
					       json_object_new_string("ipv4"));
			json_object_object_add(a, "ip-address", json_object_new_string(buf));
			json_object_object_add(
				a, "prefix",
				json_object_new_int(m ? prefix_len((const void *)&m->sin_addr, 4)
						      : 32));
		} else {
			const struct sockaddr_in6 *sin6 = (const void *)p->ifa_addr;
			const struct sockaddr_in6 *m = (const void *)p->ifa_netmask;

			inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
			json_object_object_add(a, "ip-address-type",
					       json_object_new_string("ipv6"));
			json_object_object_add(a, "ip-address", json_object_new_string(buf));
			json_object_object_add(
				a, "prefix",
				json_object_new_int(m ? prefix_len((const void *)&m->sin6_addr, 16)
						      : 128));
		}
		if (!json_object_object_get_ex(e, "ip-addresses", &addrs)) {
			addrs = json_object_new_array();
			json_object_object_add(e, "ip-addresses", addrs);
		}
		json_object_array_add(addrs, a);
	}
	freeifaddrs(ifa);
	return list;
}
