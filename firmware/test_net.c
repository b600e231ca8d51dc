// SPDX-License-Identifier: Apache-2.0
/*
 * The net test, needing kvmlet.ip= and kvmlet.peer= on the command line.
 * For each virtio-net device: ARP for the peer (the first request's
 * transmit completion must raise an interrupt), three ICMP echo requests
 * that must all be answered; meanwhile ARP and echo requests for our
 * address are answered. Then "net: ready", and every interface serves ARP,
 * ICMP echo and UDP echo on port 7 until a datagram "quit" arrives there
 * (answered too), for at most kvmlet.net_serve_s seconds (default 30; 0:
 * until "quit", for pods that must stay reachable for a whole test).
 *
 * Receive buffers are 1 KiB when MRG_RXBUF is negotiated, so a full-size
 * datagram arrives in two buffers and exercises the merge; UDP echo
 * replies leave their checksum to the device when it offers CSUM.
 */
#include <linux/virtio_ids.h>
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "dma.h"
#include "fmt.h"
#include "libc.h"
#include "net.h"
#include "tests.h"
#include "virtio_irq.h"

#define MAX_NICS	4
#define RX_BUF_SIZE	1024
#define ARP_TIMEOUT_US	5000000
#define PING_COUNT	3
#define PING_TIMEOUT_US 2000000
#define PING_ID		0x6b76 /* "kv" */
#define SERVE_TIMEOUT_S 30
#define ECHO_PORT	7

struct serve_state {
	bool quit;
	uint64_t echoed;
};

static void udp_echo(struct netif *nif, const uint8_t *from_mac, uint32_t from_ip, uint16_t sport,
		     uint16_t dport, const uint8_t *data, size_t len)
{
	struct serve_state *st = nif->ctx;

	if (dport != ECHO_PORT)
		return;
	if (net_udp_send(nif, from_mac, from_ip, ECHO_PORT, sport, data, len, true))
		st->echoed++;
	/* "quit", also with the newline `echo quit | nc -u` adds. */
	if ((len == 4 || (len == 5 && data[4] == '\n')) && !memcmp(data, "quit", 4))
		st->quit = true;
}

static void arp_submit(void *opaque)
{
	net_arp_request(opaque);
}

static bool ping_peer(struct netif *nif, char *detail, size_t len)
{
	char ip[16];

	nif->echo_id = PING_ID;
	for (uint16_t seq = 0; seq < PING_COUNT; seq++) {
		struct deadline d = deadline_in_us(PING_TIMEOUT_US);

		net_icmp_echo(nif, PING_ID, seq);
		while (!(nif->echo_replies & (1ULL << seq))) {
			if (deadline_passed(&d)) {
				fmt_snprintf(detail, len,
					     "net%u: no echo reply %u from %s within %u ms",
					     nif->idx, seq, net_ip_str(nif->peer_ip, ip),
					     PING_TIMEOUT_US / 1000);
				return false;
			}
			if (!net_poll(nif))
				cpu_relax();
		}
	}
	return true;
}

static bool bring_up(struct netif *nif, struct vnet *nic, struct virtio_dev *d, unsigned int idx,
		     struct serve_state *st, char *detail, size_t len)
{
	char why[120], ip[16];
	const uint8_t *m;

	if (!netif_open(nif, nic, d, idx, RX_BUF_SIZE, why, sizeof(why))) {
		fmt_snprintf(detail, len, "net%u: %s", idx, why);
		return false;
	}
	nif->csum_offload = true;
	nif->udp = udp_echo;
	nif->ctx = st;
	m = nic->mac;
	cons_printf("net%u: mac %02x:%02x:%02x:%02x:%02x:%02x, link %s, mrg_rxbuf %s, tx csum %s\n",
		    idx, m[0], m[1], m[2], m[3], m[4], m[5], nic->link_up ? "up" : "down",
		    nic->mrg ? "on" : "off", nic->tx_csum ? "offload" : "computed");

	/* The first ARP request's transmit completion proves the interrupt path. */
	if (!virtio_irq_roundtrip(nic->txq, arp_submit, nif, why, sizeof(why))) {
		fmt_snprintf(detail, len, "net%u: %s", idx, why);
		return false;
	}
	if (!netif_resolve_peer(nif, ARP_TIMEOUT_US)) {
		fmt_snprintf(detail, len, "net%u: no ARP reply from %s within %u ms", idx,
			     net_ip_str(nif->peer_ip, ip), ARP_TIMEOUT_US / 1000);
		return false;
	}
	return ping_peer(nif, detail, len);
}

static bool serve(struct netif *nifs, unsigned int n, struct serve_state *st, char *detail,
		  size_t len)
{
	uint64_t secs = cmdline_get_u64(bootinfo.cmdline, "kvmlet.net_serve_s", SERVE_TIMEOUT_S);
	struct deadline d;

	if (secs > 86400) /* so that the microsecond count cannot wrap */
		secs = 86400;
	d = deadline_in_us(secs * 1000000);

	while (!st->quit) {
		unsigned int got = 0;

		if (secs && deadline_passed(&d)) {
			fmt_snprintf(detail, len,
				     "no \"quit\" on UDP port %u within %lu s (%lu echoed)",
				     ECHO_PORT, secs, st->echoed);
			return false;
		}
		for (unsigned int i = 0; i < n; i++)
			got += net_poll(&nifs[i]);
		if (!got)
			cpu_relax();
	}
	/* Let the last echo leave before the device is reset. */
	for (unsigned int i = 0; i < n; i++) {
		struct deadline t = deadline_in_us(100000);

		while (vnet_tx_reclaim(nifs[i].nic) < nifs[i].nic->txq->size &&
		       !deadline_passed(&t))
			cpu_relax();
	}
	return true;
}

bool test_net(char *detail, size_t len)
{
	struct virtio_dev devs[MAX_NICS];
	struct vnet nics[MAX_NICS];
	struct netif nifs[MAX_NICS];
	struct serve_state st = { 0 };
	unsigned int n = virtio_find(VIRTIO_ID_NET, devs, MAX_NICS), up = 0;
	uint64_t mark = dma_mark(), arp = 0, icmp = 0, bad = 0;
	bool ok = true;

	if (!n) {
		fmt_snprintf(detail, len, "no virtio-net device");
		return false;
	}
	for (; up < n && ok; up++) {
		nics[up].dev = devs[up]; /* for the reset below, whatever bring_up() reaches */
		ok = bring_up(&nifs[up], &nics[up], &devs[up], up, &st, detail, len);
	}
	if (ok) {
		cons_printf("net: ready\n");
		ok = serve(nifs, n, &st, detail, len);
	}
	for (unsigned int i = 0; i < up; i++) {
		arp += nifs[i].arp_answered;
		icmp += nifs[i].icmp_answered;
		bad += nifs[i].bad_csum;
		virtio_reset(&nics[i].dev);
	}
	dma_release(mark);
	if (ok)
		fmt_snprintf(
			detail, len,
			"%u interface(s): peer resolved, %u/%u echo replies each, answered %lu "
			"arp, %lu icmp echo, %lu udp echo; %lu bad checksums; interrupt ok",
			n, PING_COUNT, PING_COUNT, arp, icmp, st.echoed, bad);
	return ok;
}
