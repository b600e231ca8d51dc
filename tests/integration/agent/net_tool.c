// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-net-tool: agent/net driven from the command line, for the
 * integration tests (test_cni.py, test_vmnet.py).
 *
 *	add|del --conf-dir D --bin-dirs B --cache C --id ID --netns NS
 *		[--timeout-ms N] [--port HOST:CONTAINER/PROTO]... [--ingress Q] [--egress Q]
 *		[--pod-name N] [--pod-namespace NS] [--pod-uid U]
 *	cached --cache C --id ID [--mac M --mtu N]   (kernel args and network-config)
 *	attach|detach --netns NS --tap T [--uid U --gid G]
 *
 * Prints a JSON line on success (add: the result's pod IPs and the raw
 * result; attach: mac and mtu); on failure the error on stderr, exit 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/net/cni.h"
#include "agent/net/guestnet.h"
#include "agent/net/vmnet.h"

#define MAX_PORTS 8

struct args {
	struct cni_options o;
	struct cni_pod pod;
	struct cni_port ports[MAX_PORTS];
	char protos[MAX_PORTS][8];
	const char *tap, *mac;
	unsigned long uid, gid, mtu;
};

static int fail(const struct err *e)
{
	fprintf(stderr, "error: %s\n", e->msg);
	return 1;
}

static void parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "conf-dir", 1, NULL, 'c' },	   { "bin-dirs", 1, NULL, 'b' },
		{ "cache", 1, NULL, 'C' },	   { "id", 1, NULL, 'i' },
		{ "netns", 1, NULL, 'n' },	   { "timeout-ms", 1, NULL, 't' },
		{ "port", 1, NULL, 'p' },	   { "ingress", 1, NULL, 'I' },
		{ "egress", 1, NULL, 'E' },	   { "pod-name", 1, NULL, 'N' },
		{ "pod-namespace", 1, NULL, 'S' }, { "pod-uid", 1, NULL, 'U' },
		{ "tap", 1, NULL, 'T' },	   { "uid", 1, NULL, 'u' },
		{ "gid", 1, NULL, 'g' },	   { "mac", 1, NULL, 'm' },
		{ "mtu", 1, NULL, 'M' },	   { NULL, 0, NULL, 0 },
	};
	struct err e = { 0 };
	int c;

	a->pod.ifname = "eth0";
	a->pod.ports = a->ports;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->o.conf_dir = optarg;
			break;
		case 'b':
			a->o.bin_dirs = optarg;
			break;
		case 'C':
			a->o.cache_dir = optarg;
			break;
		case 'i':
			a->pod.sandbox_id = optarg;
			break;
		case 'n':
			a->pod.netns = optarg;
			break;
		case 't':
			a->o.timeout_ms = atoi(optarg);
			break;
		case 'N':
			a->pod.k8s_name = optarg;
			break;
		case 'S':
			a->pod.k8s_namespace = optarg;
			break;
		case 'U':
			a->pod.k8s_uid = optarg;
			break;
		case 'T':
			a->tap = optarg;
			break;
		case 'u':
			a->uid = strtoul(optarg, NULL, 10);
			break;
		case 'g':
			a->gid = strtoul(optarg, NULL, 10);
			break;
		case 'm':
			a->mac = optarg;
			break;
		case 'M':
			a->mtu = strtoul(optarg, NULL, 10);
			break;
		case 'p': {
			struct cni_port *p = &a->ports[a->pod.nr_ports];
			char *proto = a->protos[a->pod.nr_ports];

			if (a->pod.nr_ports == MAX_PORTS ||
			    sscanf(optarg, "%d:%d/%7s", &p->host_port, &p->container_port, proto) !=
				    3) {
				fprintf(stderr, "error: --port HOST:CONTAINER/PROTO\n");
				exit(2);
			}
			p->protocol = proto;
			p->host_ip = "";
			a->pod.nr_ports++;
			break;
		}
		case 'I':
		case 'E':
			if (cni_bandwidth_parse(optarg,
						c == 'I' ? &a->pod.ingress_bps : &a->pod.egress_bps,
						&e))
				exit(fail(&e));
			break;
		default:
			exit(2);
		}
	}
}

static int print_result(const struct cni_result *r)
{
	char ip[64];

	printf("{\"ips\":[");
	for (size_t i = 0; i < r->nr_ips; i++) {
		cni_addr_text(&r->ips[i].addr, ip, sizeof(ip));
		printf("%s\"%s\"", i ? "," : "", ip);
	}
	printf("],\"result\":%s}\n", r->json);
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct err e = { 0 };
	struct cni_result res;
	struct vmnet_info info;

	if (argc < 2)
		return 2;
	const char *cmd = argv[1];

	parse(argc - 1, argv + 1, &a);
	if (!strcmp(cmd, "add")) {
		if (cni_add(&a.o, &a.pod, &res, &e))
			return fail(&e);
		print_result(&res);
		cni_result_free(&res);
		return 0;
	}
	if (!strcmp(cmd, "del"))
		return cni_del(&a.o, &a.pod, &e) ? fail(&e) : 0;
	if (!strcmp(cmd, "cached")) {
		char kargs[512], yaml[4096];

		if (cni_cached(&a.o, a.pod.sandbox_id, a.pod.ifname, &res, &e) ||
		    guestnet_kernel_args(&res, "vm", kargs, sizeof(kargs), &e) ||
		    guestnet_cloud_init(&res, a.mac ? a.mac : "", (uint32_t)a.mtu, yaml,
					sizeof(yaml), &e))
			return fail(&e);
		printf("%s\n---\n%s", kargs, yaml);
		cni_result_free(&res);
		return 0;
	}
	if (!strcmp(cmd, "attach")) {
		struct vmnet_spec s = { .netns = a.pod.netns,
					.ifname = "eth0",
					.tap = a.tap,
					.uid = (uid_t)a.uid,
					.gid = (gid_t)a.gid };

		if (vmnet_attach(&s, &info, &e))
			return fail(&e);
		printf("{\"mac\":\"%s\",\"mtu\":%u}\n", info.mac, info.mtu);
		return 0;
	}
	if (!strcmp(cmd, "detach"))
		return vmnet_detach(a.pod.netns, "eth0", a.tap, &e) ? fail(&e) : 0;
	fprintf(stderr, "error: unknown command %s\n", cmd);
	return 2;
}
