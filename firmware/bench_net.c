// SPDX-License-Identifier: Apache-2.0
/*
 * net benchmarks on the first virtio-net device, with kvmlet.ip= and
 * kvmlet.peer= from the command line. Bytes are UDP payload bytes; ops
 * are datagrams.
 *
 * net-tx: the peer's MAC is resolved, then 1472-byte datagrams go to the
 * peer's port 9 as fast as the transmit ring takes them; what counts is
 * what the device completed within the interval.
 *
 * net-rx: prints "net-rx: waiting", then counts datagrams arriving on port
 * 9 for the interval, which starts at the first one (at most 30 s away).
 *
 * Both keep answering ARP (and ICMP echo) meanwhile.
 */
#include <linux/virtio_ids.h>
#include "bench.h"
#include "clock.h"
#include "console.h"
#include "cpu.h"
#include "fmt.h"
#include "libc.h"
#include "net.h"

#define DISCARD_PORT   9
#define SOURCE_PORT    9
#define RX_BUF_SIZE    2048 /* a full frame per buffer, merged or not */
#define ARP_TIMEOUT_US 5000000
#define FIRST_RX_US    30000000
#define DRAIN_US       1000000

struct rx_count {
	bool counting;
	uint64_t packets, bytes;
};

static void count_discard(struct netif *nif, const uint8_t *from_mac, uint32_t from_ip,
			  uint16_t sport, uint16_t dport, const uint8_t *data, size_t len)
{
	struct rx_count *c = nif->ctx;

	if (dport != DISCARD_PORT)
		return;
	c->counting = true;
	c->packets++;
	c->bytes += len;
}

static bool net_rx_run(struct netif *nif, uint64_t seconds, struct bench_result *r, char *why,
		       size_t len)
{
	struct rx_count c = { 0 };
	struct deadline first = deadline_in_us(FIRST_RX_US), end;
	uint64_t start, now;

	nif->udp = count_discard;
	nif->ctx = &c;
	cons_printf("net-rx: waiting\n");
	while (!c.counting) {
		if (deadline_passed(&first)) {
			fmt_snprintf(why, len, "no datagram on UDP port %u within %u s",
				     DISCARD_PORT, FIRST_RX_US / 1000000);
			return false;
		}
		if (!net_poll(nif))
			cpu_relax();
	}
	/* The interval starts with the first datagram, which is counted. */
	start = rdtsc();
	end = deadline_in_us(seconds * 1000000);
	while (!deadline_passed(&end))
		if (!net_poll(nif))
			cpu_relax();
	now = rdtsc();
	r->ops = c.packets;
	r->bytes = c.bytes;
	r->ns = clock_tsc_to_ns(now - start);
	return true;
}

static bool net_tx_run(struct netif *nif, uint64_t seconds, struct bench_result *r, char *why,
		       size_t len)
{
	struct vnet *nic = nif->nic;
	uint8_t payload[UDP_MAX_PAYLOAD];
	struct deadline end, drain;
	uint64_t start, done;
	char ip[16];

	if (!netif_resolve_peer(nif, ARP_TIMEOUT_US)) {
		fmt_snprintf(why, len, "no ARP reply from %s", net_ip_str(nif->peer_ip, ip));
		return false;
	}
	for (unsigned int i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	vnet_tx_reclaim(nic);
	start = rdtsc();
	end = deadline_in_us(seconds * 1000000);
	while (!deadline_passed(&end)) {
		/* Fill every free slot; each send kicks only if the device asked for it. */
		while (nic->nr_tx_free &&
		       net_udp_send(nif, nif->peer_mac, nif->peer_ip, SOURCE_PORT, DISCARD_PORT,
				    payload, sizeof(payload), false))
			;
		net_poll(nif);
		if (!vnet_tx_reclaim(nic))
			cpu_relax();
	}
	r->ns = clock_tsc_to_ns(rdtsc() - start);
	/* Completed = sent minus still in flight at the deadline. */
	done = nic->tx_frames - (nic->txq->size - nic->nr_tx_free);
	r->ops = done;
	r->bytes = done * sizeof(payload);
	/* Let the ring empty before the device is reset. */
	drain = deadline_in_us(DRAIN_US);
	while (vnet_tx_reclaim(nic) < nic->txq->size && !deadline_passed(&drain))
		cpu_relax();
	return true;
}

bool bench_net(const struct bench_mode *m, uint64_t seconds, struct bench_result *r, char *why,
	       size_t len)
{
	struct virtio_dev d;
	struct vnet nic = { 0 };
	struct netif nif;
	char e[120];
	bool ok;

	if (!virtio_find(VIRTIO_ID_NET, &d, 1)) {
		fmt_snprintf(why, len, "no virtio-net device");
		return false;
	}
	nic.dev = d;
	if (!netif_open(&nif, &nic, &d, 0, RX_BUF_SIZE, e, sizeof(e))) {
		fmt_snprintf(why, len, "net0: %s", e);
		virtio_reset(&nic.dev);
		return false;
	}
	ok = m->tx ? net_tx_run(&nif, seconds, r, why, len)
		   : net_rx_run(&nif, seconds, r, why, len);
	virtio_reset(&nic.dev);
	return ok;
}
