// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-udpflood: sends UDP datagrams to one address as fast as the kernel
 * takes them, for a bounded time, so that a guest's receive path can be
 * measured. Only for the benchmarks' own network namespaces.
 *
 * usage: kvmlet-udpflood DST_IP PORT SECONDS [PAYLOAD_BYTES]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/parse.h"

#define BATCH	    64
#define MAX_PAYLOAD 1472 /* one Ethernet frame */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static char payload[MAX_PAYLOAD];
	struct sockaddr_in dst = { .sin_family = AF_INET };
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { payload, MAX_PAYLOAD };
	uint64_t port, seconds, size = MAX_PAYLOAD, sent = 0;
	double end;
	int fd;

	if (argc < 4 || inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1 ||
	    parse_u64(argv[2], 1, 65535, &port) || parse_u64(argv[3], 1, 3600, &seconds) ||
	    (argc > 4 && parse_u64(argv[4], 1, MAX_PAYLOAD, &size))) {
		fprintf(stderr, "usage: kvmlet-udpflood DST_IP PORT SECONDS [PAYLOAD_BYTES<=%d]\n",
			MAX_PAYLOAD);
		return 2;
	}
	dst.sin_port = htons((uint16_t)port);
	iov.iov_len = size;
	memset(payload, 0x5a, sizeof(payload));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		perror("kvmlet-udpflood: socket");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	end = now() + (double)seconds;
	while (now() < end) {
		int n = sendmmsg(fd, msgs, BATCH, 0);

		/* A full queue or an ICMP error from a slow receiver: keep going. */
		if (n < 0 && errno != ENOBUFS && errno != ECONNREFUSED && errno != EAGAIN) {
			perror("kvmlet-udpflood: sendmmsg");
			return 1;
		}
		if (n > 0)
			sent += (uint64_t)n;
	}
	printf("sent %llu datagrams of %llu bytes\n", (unsigned long long)sent,
	       (unsigned long long)size);
	return 0;
}
