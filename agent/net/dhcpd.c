// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-dhcpd: the DHCP responder of one VM (dhcp.h), a process of its own
 * in the pod's network namespace, on the VM's TAP. It is not the agent's:
 * started once the TAP exists, it answers the guest for as long as the TAP
 * lives, through agent restarts, and ends when the TAP is deleted (the
 * packet socket reports the device gone) or on SIGTERM.
 *
 *	kvmlet-dhcpd --netns PATH --if TAP --client-mac MAC --ip A.B.C.D/N
 *		[--router IP] [--dns IP]... [--route DST/N,GW]... [--domain D]
 *		[--hostname H] [--mtu N] [--lease SECONDS] [--daemon]
 *
 * --daemon: once the socket is bound, the process forks; the parent exits 0
 * (so the starter knows it serves, and reaps it at once), the child, in a
 * session of its own, serves with stdio on /dev/null.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "agent/net/dhcp.h"

static void usage_exit(const char *why)
{
	fprintf(stderr, "kvmlet-dhcpd: %s\n", why);
	exit(2);
}

static bool mac_parse(const char *s, uint8_t out[6])
{
	unsigned int b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)b[i];
	return true;
}

static bool cidr4(const char *s, uint8_t ip[4], unsigned int *prefix)
{
	char buf[32];
	char *slash, *end;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (!slash)
		return false;
	*slash = 0;
	unsigned long p = strtoul(slash + 1, &end, 10);

	if (*end || !slash[1] || p > 32 || inet_pton(AF_INET, buf, ip) != 1)
		return false;
	*prefix = (unsigned int)p;
	return true;
}

static bool daemonize;

static void parse(int argc, char **argv, struct dhcp_lease *l, const char **netns,
		  const char **ifname)
{
	static const struct option opts[] = {
		{ "netns", 1, NULL, 'n' },	{ "if", 1, NULL, 'i' },
		{ "client-mac", 1, NULL, 'm' }, { "ip", 1, NULL, 'a' },
		{ "router", 1, NULL, 'r' },	{ "dns", 1, NULL, 'd' },
		{ "route", 1, NULL, 'R' },	{ "domain", 1, NULL, 'D' },
		{ "hostname", 1, NULL, 'h' },	{ "mtu", 1, NULL, 'M' },
		{ "lease", 1, NULL, 'l' },	{ "daemon", 0, NULL, 'z' },
		{ NULL, 0, NULL, 0 },
	};
	bool has_ip = false, has_mac = false;
	int c;

	l->lease_s = 0xffffffffu;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'n':
			*netns = optarg;
			break;
		case 'z':
			daemonize = true;
			break;
		case 'i':
			*ifname = optarg;
			break;
		case 'm':
			if (!(has_mac = mac_parse(optarg, l->client_mac)))
				usage_exit("--client-mac: not a MAC");
			break;
		case 'a':
			if (!(has_ip = cidr4(optarg, l->ip, &l->prefix)))
				usage_exit("--ip: not A.B.C.D/N");
			break;
		case 'r':
			if (inet_pton(AF_INET, optarg, l->router) != 1)
				usage_exit("--router: not an IPv4 address");
			break;
		case 'd':
			if (l->nr_dns == DHCP_MAX_DNS ||
			    inet_pton(AF_INET, optarg, l->dns[l->nr_dns++]) != 1)
				usage_exit("--dns: at most 4 IPv4 addresses");
			break;
		case 'R': {
			struct dhcp_route *r = &l->routes[l->nr_routes];
			char *comma = strchr(optarg, ',');

			if (l->nr_routes == DHCP_MAX_ROUTES || !comma)
				usage_exit("--route: at most 8 DST/N,GW");
			*comma = 0;
			if (!cidr4(optarg, r->dst, &r->prefix) ||
			    inet_pton(AF_INET, comma + 1, r->gw) != 1)
				usage_exit("--route: not DST/N,GW");
			l->nr_routes++;
			break;
		}
		case 'D':
		case 'h': {
			char *dst = c == 'D' ? l->domain : l->hostname;

			if (strlen(optarg) >= sizeof(l->domain))
				usage_exit("--domain/--hostname: at most 63 characters");
			strcpy(dst, optarg);
			break;
		}
		case 'M':
		case 'l': {
			unsigned long v = strtoul(optarg, &end, 10);

			if (*end || !*optarg || (c == 'M' && (v < 68 || v > 65535)) ||
			    v > 0xffffffffu)
				usage_exit("--mtu 68..65535, --lease seconds");
			if (c == 'M')
				l->mtu = (uint16_t)v;
			else
				l->lease_s = (uint32_t)v;
			break;
		}
		default:
			usage_exit("unknown option");
		}
	}
	if (!*ifname || !has_ip || !has_mac || optind != argc)
		usage_exit("needs --if, --client-mac and --ip");
	/* The router answers for the server; without one, a link-local name. */
	static const uint8_t zero[4], local[4] = { 169, 254, 1, 1 };

	memcpy(l->server_id, memcmp(l->router, zero, 4) ? l->router : local, 4);
}

int main(int argc, char **argv)
{
	struct dhcp_lease l = { 0 };
	const char *netns = NULL, *ifname = NULL;
	uint8_t in[2048], out[DHCP_FRAME_MAX];

	parse(argc, argv, &l, &netns, &ifname);
	if (netns) {
		int fd = open(netns, O_RDONLY | O_CLOEXEC);

		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
			fprintf(stderr, "kvmlet-dhcpd: network namespace %s: %s\n", netns,
				strerror(errno));
			return 1;
		}
		close(fd);
	}
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (s < 0 || ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
		fprintf(stderr, "kvmlet-dhcpd: %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_IP),
				   .sll_ifindex = ifr.ifr_ifindex };

	if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0)
		memcpy(l.server_mac, ifr.ifr_hwaddr.sa_data, 6);
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "kvmlet-dhcpd: bind %s: %s\n", ifname, strerror(errno));
		return 1;
	}
	fprintf(stderr, "kvmlet-dhcpd: serving on %s\n", ifname);
	if (daemonize) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, "kvmlet-dhcpd: fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid > 0)
			_exit(0);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
		}
	}
	for (;;) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ENETDOWN also when it was only set down: it comes back when set up. */
			if (errno == ENETDOWN &&
			    if_nametoindex(ifname) == (unsigned int)sll.sll_ifindex)
				continue;
			/* Otherwise the TAP is gone, and with it this VM's network. */
			fprintf(stderr, "kvmlet-dhcpd: %s: %s, ending\n", ifname, strerror(errno));
			return 0;
		}
		/* Only what arrives from the guest, never our own answers seen going out. */
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		size_t len = dhcp_answer(&l, in, (size_t)n, out);

		if (len && sendto(s, out, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
			fprintf(stderr, "kvmlet-dhcpd: send: %s\n", strerror(errno));
	}
}
