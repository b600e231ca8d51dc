// SPDX-License-Identifier: Apache-2.0
#include "agent/net/cni_result.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/net/cni_exec.h"
#include "lib/json.h"

bool cni_addr_parse(const char *s, struct cni_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->a) == 1) {
		a->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, a->a) == 1) {
		a->family = AF_INET6;
		return true;
	}
	return false;
}

void cni_addr_text(const struct cni_addr *a, char *out, size_t cap)
{
	if (!inet_ntop(a->family, a->a, out, (socklen_t)cap))
		snprintf(out, cap, "?");
}

void cni_netmask_text(unsigned int prefix, char *out, size_t cap)
{
	uint32_t m = prefix ? ~0u << (32 - (prefix > 32 ? 32 : prefix)) : 0;

	snprintf(out, cap, "%u.%u.%u.%u", m >> 24, (m >> 16) & 255, (m >> 8) & 255, m & 255);
}

/* "addr/len" into a and *prefix. */
static bool cidr_parse(const char *s, struct cni_addr *a, unsigned int *prefix)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	char *end;

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return false;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	if (!cni_addr_parse(buf, a) || !slash[1] || slash[1] == '-' || slash[1] == '+')
		return false;
	errno = 0;
	unsigned long p = strtoul(slash + 1, &end, 10);

	if (errno || *end || p > (a->family == AF_INET ? 32u : 128u))
		return false;
	*prefix = (unsigned int)p;
	return true;
}

static bool mac_ok(const char *s)
{
	unsigned int b[6];
	char tail;

	return strlen(s) == 17 && sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
					 &b[4], &b[5], &tail) == 6;
}

static const char *str_member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An IP's "gateway" or a route's "gw". */
static int gw_parse(const cJSON *o, const char *key, const char *what, bool *has,
		    struct cni_addr *gw, struct err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*has = false;
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || !cni_addr_parse(v->valuestring, gw))
		return err_set(err, -EINVAL, "CNI result: %s: %s is not an IP address", what, key);
	*has = true;
	return 0;
}

static int ifaces_parse(const cJSON *arr, struct cni_result *r, struct err *err)
{
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CNI_MAX_IFACES)
		return err_set(err, -EINVAL, "CNI result: interfaces: an array of at most %d",
			       CNI_MAX_IFACES);
	for (const cJSON *o = arr->child; o; o = o->next) {
		struct cni_iface *f = &r->ifaces[r->nr_ifaces++];
		const char *name = str_member(o, "name"), *mac = str_member(o, "mac"),
			   *sb = str_member(o, "sandbox");

		if (!cJSON_IsObject(o) || !name || !*name || strlen(name) >= sizeof(f->name))
			return err_set(
				err, -EINVAL,
				"CNI result: interfaces[%zu]: name must be 1 to 15 characters",
				r->nr_ifaces - 1);
		if (mac && *mac && !mac_ok(mac))
			return err_set(err, -EINVAL,
				       "CNI result: interface %s: mac '%.32s' is not a MAC", name,
				       mac);
		if (sb && strlen(sb) >= sizeof(f->sandbox))
			return err_set(err, -EINVAL, "CNI result: interface %s: sandbox too long",
				       name);
		snprintf(f->name, sizeof(f->name), "%s", name);
		snprintf(f->mac, sizeof(f->mac), "%s", mac ? mac : "");
		snprintf(f->sandbox, sizeof(f->sandbox), "%s", sb ? sb : "");
	}
	return 0;
}

static int ips_parse(const cJSON *arr, struct cni_result *r, struct err *err)
{
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CNI_MAX_IPS)
		return err_set(err, -EINVAL, "CNI result: ips: an array of at most %d",
			       CNI_MAX_IPS);
	for (const cJSON *o = arr->child; o; o = o->next) {
		struct cni_ip *ip = &r->ips[r->nr_ips++];
		const char *addr = str_member(o, "address"), *ver = str_member(o, "version");
		const cJSON *idx = cJSON_GetObjectItemCaseSensitive(o, "interface");
		uint64_t i;
		char what[32];

		snprintf(what, sizeof(what), "ips[%zu]", r->nr_ips - 1);
		if (!cJSON_IsObject(o) || !addr || !cidr_parse(addr, &ip->addr, &ip->prefix))
			return err_set(
				err, -EINVAL,
				"CNI result: %s: address is not an IP address with a prefix length",
				what);
		/* 0.3.x and 0.4.0 name the family; it must be the address's. */
		if (ver && strcmp(ver, ip->addr.family == AF_INET ? "4" : "6"))
			return err_set(err, -EINVAL,
				       "CNI result: %s: version %.8s but address %.64s", what, ver,
				       addr);
		int rr = gw_parse(o, "gateway", what, &ip->has_gw, &ip->gw, err);

		if (rr)
			return rr;
		if (ip->has_gw && ip->gw.family != ip->addr.family)
			return err_set(err, -EINVAL, "CNI result: %s: gateway of another family",
				       what);
		ip->iface = -1;
		if (idx) {
			if (!json_uint_value(idx, 0, CNI_MAX_IFACES, &i) || i >= r->nr_ifaces)
				return err_set(
					err, -EINVAL,
					"CNI result: %s: interface is not an index into interfaces",
					what);
			ip->iface = (int)i;
		}
	}
	return 0;
}

static int routes_parse(const cJSON *arr, struct cni_result *r, struct err *err)
{
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > CNI_MAX_ROUTES)
		return err_set(err, -EINVAL, "CNI result: routes: an array of at most %d",
			       CNI_MAX_ROUTES);
	for (const cJSON *o = arr->child; o; o = o->next) {
		struct cni_route *rt = &r->routes[r->nr_routes++];
		const char *dst = str_member(o, "dst");
		char what[32];

		snprintf(what, sizeof(what), "routes[%zu]", r->nr_routes - 1);
		if (!cJSON_IsObject(o) || !dst || !cidr_parse(dst, &rt->dst, &rt->prefix))
			return err_set(err, -EINVAL, "CNI result: %s: dst is not a network", what);
		int rr = gw_parse(o, "gw", what, &rt->has_gw, &rt->gw, err);

		if (rr)
			return rr;
		if (rt->has_gw && rt->gw.family != rt->dst.family)
			return err_set(err, -EINVAL, "CNI result: %s: gw of another family", what);
	}
	return 0;
}

static int dns_parse(const cJSON *o, struct cni_result *r, struct err *err)
{
	if (!o)
		return 0;
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(o, "nameservers");
	const cJSON *search = cJSON_GetObjectItemCaseSensitive(o, "search");
	const char *domain = str_member(o, "domain");

	if (!cJSON_IsObject(o))
		return err_set(err, -EINVAL, "CNI result: dns: not an object");
	/* More nameservers than a resolver uses are dropped, not refused. */
	for (const cJSON *v = cJSON_IsArray(ns) ? ns->child : NULL; v; v = v->next) {
		if (!cJSON_IsString(v) || !cni_addr_parse(v->valuestring, &r->dns[r->nr_dns]))
			return err_set(err, -EINVAL,
				       "CNI result: dns: a nameserver is not an IP address");
		if (r->nr_dns < CNI_MAX_DNS - 1)
			r->nr_dns++;
	}
	for (const cJSON *v = cJSON_IsArray(search) ? search->child : NULL; v; v = v->next) {
		if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof(r->search[0]) ||
		    strpbrk(v->valuestring, " \t\n,;\"'\\"))
			return err_set(err, -EINVAL,
				       "CNI result: dns: a search domain is not a name");
		if (r->nr_search < CNI_MAX_DNS)
			snprintf(r->search[r->nr_search++], sizeof(r->search[0]), "%s",
				 v->valuestring);
	}
	if (domain) {
		if (strlen(domain) >= sizeof(r->domain) || strpbrk(domain, " \t\n,;\"'\\"))
			return err_set(err, -EINVAL, "CNI result: dns: domain is not a name");
		snprintf(r->domain, sizeof(r->domain), "%s", domain);
	}
	return 0;
}

int cni_result_parse(const char *text, size_t len, struct cni_result *out, struct err *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (len > CNI_OUTPUT_MAX)
		return err_set(err, -EINVAL, "CNI result: more than %u bytes", CNI_OUTPUT_MAX);
	cJSON *root = json_parse(text, len, err);

	if (!root)
		return err_prefix(err, -EINVAL, "CNI result is not JSON: ");
	if (!cJSON_IsObject(root)) {
		r = err_set(err, -EINVAL, "CNI result: not a JSON object");
		goto out;
	}
	r = ifaces_parse(cJSON_GetObjectItemCaseSensitive(root, "interfaces"), out, err);
	if (!r)
		r = ips_parse(cJSON_GetObjectItemCaseSensitive(root, "ips"), out, err);
	if (!r)
		r = routes_parse(cJSON_GetObjectItemCaseSensitive(root, "routes"), out, err);
	if (!r)
		r = dns_parse(cJSON_GetObjectItemCaseSensitive(root, "dns"), out, err);
	if (!r) {
		out->json = strndup(text, len);
		if (!out->json)
			r = err_set(err, -ENOMEM, "CNI result: out of memory");
	}
out:
	cJSON_Delete(root);
	return r;
}

int cni_result_check(const struct cni_result *r, const char *ifname, const char *netns,
		     struct err *err)
{
	if (!r->nr_ips)
		return err_set(err, -EINVAL, "CNI result: no IP address");
	for (size_t i = 0; i < r->nr_ifaces; i++) {
		const struct cni_iface *f = &r->ifaces[i];

		if (strcmp(f->name, ifname) || strcmp(f->sandbox, netns))
			continue;
		if (!f->mac[0])
			return err_set(err, -EINVAL, "CNI result: interface %s has no mac", ifname);
		return 0;
	}
	return err_set(err, -EINVAL, "CNI result: no interface %s in sandbox %s", ifname, netns);
}

void cni_result_free(struct cni_result *r)
{
	free(r->json);
	r->json = NULL;
}
