// SPDX-License-Identifier: Apache-2.0
/*
 * agent/net's pure parts of CNI: the configuration's checks, the result's
 * parse and checks (0.4.0 and 1.0.0, garbage and lies), bandwidth
 * quantities, and what the guest is told (ip=, cloud-init network-config).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/net/cni.h"
#include "agent/net/cni_conf.h"
#include "agent/net/guestnet.h"

static const char good[] =
	"{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"cni0\",\"mac\":\"aa:bb:cc:dd:ee:"
	"01\"},"
	"{\"name\":\"eth0\",\"mac\":\"02:42:0a:d6:00:05\",\"sandbox\":\"/run/netns/p\"}],"
	"\"ips\":[{\"interface\":1,\"address\":\"10.214.0.5/24\",\"gateway\":\"10.214.0.1\"},"
	"{\"interface\":1,\"address\":\"fd00::5/64\",\"gateway\":\"fd00::1\"}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\"},{\"dst\":\"10.96.0.0/12\",\"gw\":\"10.214.0.254\"}],"
	"\"dns\":{\"nameservers\":[\"10.214.0.53\"],\"search\":[\"default.svc\"]}}";

static int parse(const char *text, struct cni_result *r, struct err *e)
{
	memset(e, 0, sizeof(*e));
	return cni_result_parse(text, strlen(text), r, e);
}

static void test_result_good(void **state)
{
	struct cni_result r;
	struct err e;
	char t[64];

	(void)state;
	assert_int_equal(parse(good, &r, &e), 0);
	assert_int_equal(r.nr_ips, 2);
	cni_addr_text(&r.ips[1].addr, t, sizeof(t));
	assert_string_equal(t, "fd00::5");
	assert_int_equal(r.ips[0].prefix, 24);
	assert_int_equal(r.ips[0].iface, 1);
	assert_int_equal(cni_result_check(&r, "eth0", "/run/netns/p", &e), 0);
	assert_int_equal(cni_result_check(&r, "eth0", "/run/netns/q", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "no interface eth0 in sandbox"));
	cni_result_free(&r);
}

static void test_result_refused(void **state)
{
	static const struct {
		const char *json, *want;
	} bad[] = {
		{ "not json", "not JSON" },
		{ "[1]", "not a JSON object" },
		{ "{\"ips\":[{\"address\":\"999.1.2.3/24\"}]}", "not an IP address" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1\"}]}", "with a prefix length" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1/33\"}]}", "with a prefix length" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1/-1\"}]}", "with a prefix length" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1/24\",\"interface\":0}]}", "not an index" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1/24\",\"version\":\"6\"}]}", "version 6" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1/24\",\"gateway\":\"fd00::1\"}]}",
		  "another family" },
		{ "{\"ips\":[{\"address\":\"10.0.0.1/24\",\"gateway\":\"x\"}]}", "gateway" },
		{ "{\"interfaces\":[{\"name\":\"a-very-long-interface-name\"}]}", "1 to 15" },
		{ "{\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"zz\"}]}", "not a MAC" },
		{ "{\"routes\":[{\"dst\":\"nowhere\"}]}", "dst" },
		{ "{\"dns\":{\"nameservers\":[\"ns.example\"]}}", "nameserver" },
		{ "{\"dns\":{\"search\":[\"a b\"]}}", "search domain" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cni_result r;
		struct err e;

		assert_int_not_equal(parse(bad[i].json, &r, &e), 0);
		if (!strstr(e.msg, bad[i].want))
			fail_msg("%s: '%s' lacks '%s'", bad[i].json, e.msg, bad[i].want);
	}
	/* Valid but useless: no IP, or the interface without a MAC. */
	struct cni_result r;
	struct err e;

	assert_int_equal(parse("{\"cniVersion\":\"1.0.0\"}", &r, &e), 0);
	assert_int_equal(cni_result_check(&r, "eth0", "/n", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "no IP address"));
	cni_result_free(&r);
}

static void test_conf(void **state)
{
	static const struct {
		const char *json;
		int list;
		const char *want;
	} bad[] = {
		{ "{\"cniVersion\":\"2.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"b\"}]}", 1,
		  "cniVersion" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"a b\",\"plugins\":[{\"type\":\"b\"}]}", 1,
		  "\"name\"" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":{}}", 1, "plugins" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"/bin/sh\"}]}",
		  1, "type" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"..\"}]}", 1,
		  "type" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[7]}", 1, "not an object" },
		{ "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"b\",\"capabilities\":[]}", 0,
		  "capabilities" },
	};
	struct cni_net n;
	struct err e = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_not_equal(
			cni_net_parse(bad[i].json, strlen(bad[i].json), bad[i].list, "f", &n, &e),
			0);
		if (!strstr(e.msg, bad[i].want))
			fail_msg("%s: '%s' lacks '%s'", bad[i].json, e.msg, bad[i].want);
	}
	const char *ok =
		"{\"cniVersion\":\"0.4.0\",\"name\":\"kvmlet\",\"plugins\":[{\"type\":\"bridge\"},"
		"{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true,\"bandwidth\":false}"
		"}]}";

	assert_int_equal(cni_net_parse(ok, strlen(ok), 1, "f", &n, &e), 0);
	assert_int_equal(n.nr_plugins, 2);
	assert_string_equal(n.plugins[1].type, "portmap");
	assert_int_equal(n.plugins[1].caps, CNI_CAP_PORT_MAPPINGS);
	cni_net_free(&n);
}

static void test_bandwidth(void **state)
{
	uint64_t v;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(cni_bandwidth_parse("10M", &v, &e), 0);
	assert_int_equal(v, 10000000);
	assert_int_equal(cni_bandwidth_parse("1Gi", &v, &e), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_not_equal(cni_bandwidth_parse("10", &v, &e), 0); /* below 1 kbit/s */
	assert_int_not_equal(cni_bandwidth_parse("-1M", &v, &e), 0);
	assert_int_not_equal(cni_bandwidth_parse("10X", &v, &e), 0);
	assert_int_not_equal(cni_bandwidth_parse("99999999999999999999T", &v, &e), 0);
}

static void test_guest(void **state)
{
	struct cni_result r;
	struct err e;
	char out[2048];

	(void)state;
	assert_int_equal(parse(good, &r, &e), 0);
	assert_int_equal(guestnet_kernel_args(&r, "web-0", out, sizeof(out), &e), 0);
	assert_string_equal(out,
			    "ip=10.214.0.5::10.214.0.1:255.255.255.0:web-0:eth0:off:10.214.0.53 "
			    "kvmlet.ip=10.214.0.5");
	assert_int_equal(guestnet_kernel_args(&r, "bad name;", out, sizeof(out), &e), 0);
	assert_non_null(strstr(out, ":255.255.255.0::eth0:off"));
	assert_int_equal(guestnet_kernel_args(&r, "x", out, 20, &e), -ENOSPC);
	assert_int_equal(guestnet_cloud_init(&r, "02:42:0a:d6:00:05", 1400, out, sizeof(out), &e),
			 0);
	assert_string_equal(
		out, "version: 2\nethernets:\n  eth0:\n    match:\n"
		     "      macaddress: \"02:42:0a:d6:00:05\"\n    set-name: eth0\n"
		     "    mtu: 1400\n    addresses:\n      - \"10.214.0.5/24\"\n"
		     "      - \"fd00::5/64\"\n    routes:\n      - to: \"0.0.0.0/0\"\n"
		     "        via: \"10.214.0.1\"\n      - to: \"10.96.0.0/12\"\n"
		     "        via: \"10.214.0.254\"\n    nameservers:\n      addresses:\n"
		     "        - \"10.214.0.53\"\n      search:\n        - \"default.svc\"\n");
	assert_int_equal(guestnet_cloud_init(&r, "m", 0, out, 40, &e), -ENOSPC);
	cni_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_good), cmocka_unit_test(test_result_refused),
		cmocka_unit_test(test_conf),	    cmocka_unit_test(test_bandwidth),
		cmocka_unit_test(test_guest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
