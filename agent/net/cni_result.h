/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A CNI ADD result (spec 1.0.0, and 0.3.x/0.4.0 with their "version" per
 * IP), parsed and checked: interfaces (name, mac, sandbox), IPs (address
 * with prefix, gateway, interface index in range), routes, DNS. Anything
 * malformed is refused with the field named; the raw JSON is kept, for
 * prevResult and the cache.
 *
 * Threads: a struct cni_result belongs to its caller.
 */
#ifndef KVMLET_AGENT_NET_CNI_RESULT_H
#define KVMLET_AGENT_NET_CNI_RESULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define CNI_MAX_IFACES 8
#define CNI_MAX_IPS    8
#define CNI_MAX_ROUTES 16
#define CNI_MAX_DNS    4

struct cni_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t a[16];
};

struct cni_iface {
	char name[16];
	char mac[18]; /* "" if none */
	char sandbox[4096];
};

struct cni_ip {
	struct cni_addr addr;
	unsigned int prefix;
	bool has_gw;
	struct cni_addr gw;
	int iface; /* index into ifaces, -1 if none */
};

struct cni_route {
	struct cni_addr dst;
	unsigned int prefix;
	bool has_gw;
	struct cni_addr gw;
};

struct cni_result {
	char *json; /* the result as the last plugin printed it (malloc'd) */
	struct cni_iface ifaces[CNI_MAX_IFACES];
	size_t nr_ifaces;
	struct cni_ip ips[CNI_MAX_IPS];
	size_t nr_ips;
	struct cni_route routes[CNI_MAX_ROUTES];
	size_t nr_routes;
	struct cni_addr dns[CNI_MAX_DNS];
	size_t nr_dns;
	char domain[254];
	char search[CNI_MAX_DNS][254];
	size_t nr_search;
};

/* Parses text (len bytes) into out, keeping a copy of text. */
int cni_result_parse(const char *text, size_t len, struct cni_result *out, struct err *err);
/*
 * The result as the runtime needs it: at least one IP, and an interface
 * named ifname whose sandbox is netns, with a MAC.
 */
int cni_result_check(const struct cni_result *r, const char *ifname, const char *netns,
		     struct err *err);
void cni_result_free(struct cni_result *r);

/* a as text, without a prefix length; cap at least 46. */
void cni_addr_text(const struct cni_addr *a, char *out, size_t cap);
/* "10.0.0.1" or "fd00::1" into a. */
bool cni_addr_parse(const char *s, struct cni_addr *a);
/* The IPv4 netmask of prefix, dotted. */
void cni_netmask_text(unsigned int prefix, char *out, size_t cap);

#endif
