// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net against a real TAP. The test moves into a network namespace
 * of its own (unshare), where the device creates its TAPs. A raw AF_PACKET
 * socket with virtio-net headers on the TAP sees what the guest transmits
 * and injects what it receives; the guest is vdriver, and a real event loop
 * is run with bounded waits.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio/net/hdr.h"
#include "devices/virtio/net/net.h"
#include "tests/unit/vdriver.h"

#define MEM_SIZE   (64ULL << 20)
#define QSIZE	   256
#define RXQ	   0
#define TXQ	   1
#define WAIT_MS	   2000
#define ETH_P_TEST 0x88b5 /* IEEE local experimental */
#define HDR	   12	  /* sizeof(struct virtio_net_hdr_v1), spelled out */
#define F(x)	   (1ULL << VIRTIO_NET_F_##x)

#define CFG_OFF 0x100 /* device configuration space in the MMIO window */

struct netns {
	bool ok;
	char why[160];
};

struct fx {
	struct guest_memory gm;
	struct event_loop loop;
	struct virtio_net *net;
	struct virtio_dev *vdev;
	struct vdriver d;
	int kick[2];
	int pkt;	     /* AF_PACKET on the TAP, with virtio-net headers */
	uint64_t gpa[QSIZE]; /* guest address of the chain with each head */
};

static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

/* --- Environment ------------------------------------------------------------------------ */

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, s, strlen(s)) < 0) {
		/* IPv6 may be absent; then it sends nothing to disable anyway. */
	}
	close(fd);
}

static int group_setup(void **state)
{
	struct netns *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return -1;
	*state = ns;
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(ns->why, sizeof(ns->why), "unshare(CLONE_NEWNET): %s", strerror(errno));
		return 0;
	}
	if (access("/dev/net/tun", R_OK | W_OK) < 0) {
		snprintf(ns->why, sizeof(ns->why), "/dev/net/tun: %s", strerror(errno));
		return 0;
	}
	/* Keep IPv6 autoconfiguration from sending frames to the guest unasked. */
	write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	ns->ok = true;
	return 0;
}

static int group_teardown(void **state)
{
	free(*state);
	return 0;
}

static void need_netns(void **state)
{
	struct netns *ns = *state;

	if (!ns->ok) {
		printf("SKIPPED: %s\n", ns->why);
		skip();
	}
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void link_up(const char *ifname, int mtu)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (mtu) {
		ifr.ifr_mtu = mtu;
		assert_int_equal(ioctl(s, SIOCSIFMTU, &ifr), 0);
	}
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static int pkt_open(const char *ifname)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	int one = 1;

	assert_true(s >= 0);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

/* --- Fixture: device, driver, loop, packet socket ---------------------------------------- */

static struct net_params params(const char *tap)
{
	return (struct net_params){ .id = (char *)"n0", .tap = (char *)tap };
}

static void fx_run(struct fx *f, int ms);

static void fx_start_p(struct fx *f, const struct net_params *p, uint64_t features, int mtu)
{
	struct err err = { 0 };
	int kick[2], irq;

	memset(f, 0, sizeof(*f));
	assert_int_equal(gm_alloc(&f->gm, MEM_SIZE, MEM_BACKEND_ANON, &err), 0);
	assert_int_equal(event_loop_init(&f->loop), 0);
	f->net = virtio_net_create(p, &f->gm, &err);
	if (!f->net)
		fail_msg("virtio_net_create: %s", err.msg);
	f->vdev = virtio_net_dev(f->net);
	irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	kick[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	kick[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(irq >= 0 && kick[0] >= 0 && kick[1] >= 0);
	assert_int_equal(virtio_dev_attach(f->vdev, &f->loop, irq, kick, &err), 0);
	f->kick[0] = kick[0];
	f->kick[1] = kick[1];
	assert_true(vdriver_init(&f->d, &f->gm, f->vdev, features, 2, QSIZE) &
		    VIRTIO_CONFIG_S_DRIVER_OK);
	link_up(p->tap, mtu);
	f->pkt = pkt_open(p->tap);
	fx_run(f, 20); /* the activation's wake-up */
}

static void fx_start(struct fx *f, const char *tap, uint64_t features)
{
	struct net_params p = params(tap);

	fx_start_p(f, &p, features, 0);
}

static void fx_stop(struct fx *f)
{
	close(f->pkt);
	virtio_net_destroy(f->net); /* closes the kick and irq eventfds */
	event_loop_fini(&f->loop);
	gm_free(&f->gm);
}

/* Runs the event loop for `ms`; returns how many events it dispatched. */
static int fx_events(struct fx *f, int ms)
{
	long end = now_ms() + ms;
	int n = 0;

	for (long left = ms; left > 0; left = end - now_ms()) {
		int r = event_loop_run_once(&f->loop, (int)left);

		assert_true(r >= 0);
		n += r;
	}
	return n;
}

static void fx_run(struct fx *f, int ms)
{
	fx_events(f, ms);
}

static void fx_kick(struct fx *f, unsigned int q)
{
	uint64_t one = 1;

	assert_int_equal(write(f->kick[q], &one, sizeof(one)), sizeof(one));
}

/* Runs the loop until queue q has a used element, for WAIT_MS at most. */
static bool fx_used(struct fx *f, unsigned int q, uint32_t *id, uint32_t *len)
{
	long end = now_ms() + WAIT_MS;

	while (!vdriver_used(&f->d, q, id, len)) {
		if (now_ms() >= end)
			return false;
		event_loop_run_once(&f->loop, 10);
	}
	return true;
}

static uint32_t fx_status(struct fx *f)
{
	return vdriver_reg_read(&f->d, VIRTIO_MMIO_STATUS);
}

static bool fx_wait_reset(struct fx *f)
{
	long end = now_ms() + WAIT_MS;

	while (!(fx_status(f) & VIRTIO_CONFIG_S_NEEDS_RESET)) {
		if (now_ms() >= end)
			return false;
		event_loop_run_once(&f->loop, 10);
	}
	return true;
}

/* The metrics counters and the TAP-side ones, under the names the tests use. */
struct counts {
	uint64_t rx_packets, rx_dropped, rx_reads;
	uint64_t tx_packets, tx_dropped, tx_errors, tx_full;
};

static struct counts fx_stats(struct fx *f)
{
	const struct net_stats *st = virtio_net_stats(f->net);
	struct virtio_net_io io;

	virtio_net_get_io(f->net, &io);
	return (struct counts){
		.rx_packets = stats_get(st->rx_packets),
		.rx_dropped = stats_get(st->rx_drops),
		.rx_reads = io.rx_reads,
		.tx_packets = stats_get(st->tx_packets),
		.tx_dropped = stats_get(st->tx_drops),
		/* TAP failures (malformed chains count as errors too). */
		.tx_errors = stats_get(st->errors) - stats_get(st->tx_drops),
		.tx_full = io.tx_full,
	};
}

static uint16_t used_flags(struct fx *f, unsigned int q)
{
	return __atomic_load_n(&f->d.q[q].used->flags, __ATOMIC_ACQUIRE);
}

/* --- Frames ------------------------------------------------------------------------------ */

static size_t frame_raw(uint8_t *buf, const uint8_t *dst, size_t len, uint8_t seed)
{
	memcpy(buf, dst, 6);
	memcpy(buf + 6, peer_mac, 6);
	buf[12] = ETH_P_TEST >> 8;
	buf[13] = ETH_P_TEST & 0xff;
	for (size_t i = 14; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7);
	return len;
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet, IPv4 and TCP (proto 6) or UDP (17) headers, then `payload` bytes. */
static size_t frame_ip4(uint8_t *buf, const uint8_t *dst, uint8_t proto, size_t payload)
{
	size_t l4 = proto == 6 ? 20 : 8, len = 14 + 20 + l4 + payload;
	uint8_t *ip = buf + 14, *th = ip + 20;
	uint16_t c;

	memset(buf, 0, len);
	memcpy(buf, dst, 6);
	memcpy(buf + 6, peer_mac, 6);
	buf[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, (uint8_t[]){ 10, 0, 0, 1, 10, 0, 0, 2 }, 8);
	c = ip_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	th[0] = 0x30;
	th[1] = 0x39; /* source port 12345 */
	th[2] = 0x00;
	th[3] = 0x50; /* destination port 80 */
	if (proto == 6) {
		th[12] = 5 << 4; /* data offset */
		th[13] = 0x18;	 /* PSH, ACK */
		th[14] = 0xff;
		th[15] = 0xff;
	} else {
		th[4] = (uint8_t)((l4 + payload) >> 8);
		th[5] = (uint8_t)(l4 + payload);
	}
	for (size_t i = 0; i < payload; i++)
		th[l4 + i] = (uint8_t)i;
	return len;
}

/* Injects a frame towards the guest, with a 10-byte virtio_net_hdr in front. */
static void pkt_send(struct fx *f, const struct virtio_net_hdr *h, const void *frame, size_t len)
{
	struct virtio_net_hdr zero = { 0 };
	struct iovec iov[2] = { { h ? (void *)h : &zero, sizeof(zero) }, { (void *)frame, len } };

	assert_int_equal(writev(f->pkt, iov, 2), (ssize_t)(sizeof(zero) + len));
}

/* The next frame the guest sent, 10-byte header first; -1 if none in timeout_ms. */
static ssize_t pkt_recv(struct fx *f, void *buf, size_t len, int timeout_ms)
{
	long end = now_ms() + timeout_ms;

	for (;;) {
		struct sockaddr_ll sll;
		socklen_t sl = sizeof(sll);
		struct pollfd p = { f->pkt, POLLIN, 0 };
		ssize_t n = recvfrom(f->pkt, buf, len, 0, (struct sockaddr *)&sll, &sl);
		long left = end - now_ms();

		if (n >= 0 && sll.sll_pkttype != PACKET_OUTGOING)
			return n;
		if (n >= 0)
			continue;
		if (left <= 0)
			return -1;
		poll(&p, 1, (int)left);
	}
}

/*
 * Queues hdr + frame for transmission, cut into buffers of the given sizes
 * (the last takes the rest). Returns the chain's head.
 */
static uint16_t tx_add(struct fx *f, const struct virtio_net_hdr_v1 *h, const void *frame,
		       size_t len, const uint32_t *cuts, unsigned int ncuts)
{
	struct vdriver_buf bufs[8];
	uint64_t gpa = vdriver_alloc(&f->d, HDR + len);
	uint8_t *host = vdriver_host(&f->d, gpa, HDR + len);
	size_t off = 0, total = HDR + len;
	unsigned int n = 0;

	assert_true(ncuts < 8);
	memcpy(host, h, HDR);
	memcpy(host + HDR, frame, len);
	for (unsigned int i = 0; i < ncuts && off < total; i++) {
		bufs[n++] = (struct vdriver_buf){ gpa + off, cuts[i], false };
		off += cuts[i];
	}
	if (off < total)
		bufs[n++] = (struct vdriver_buf){ gpa + off, (uint32_t)(total - off), false };
	return vdriver_add(&f->d, TXQ, bufs, n);
}

/* Posts n receive chains of `size` writable bytes each. */
static void rx_post(struct fx *f, unsigned int n, uint32_t size)
{
	for (unsigned int i = 0; i < n; i++) {
		uint64_t gpa = vdriver_alloc(&f->d, size);
		struct vdriver_buf b = { gpa, size, true };
		uint16_t head = vdriver_add(&f->d, RXQ, &b, 1);

		f->gpa[head] = gpa;
	}
}

/*
 * Collects one received packet: header and frame reassembled into `out`
 * from as many used chains as num_buffers says. Returns its length (header
 * included), or -1 if nothing arrived.
 */
static ssize_t rx_take(struct fx *f, uint8_t *out, size_t cap, uint16_t *nbufs)
{
	struct virtio_net_hdr_v1 h;
	uint32_t id, len;
	size_t total = 0;
	uint16_t n;

	if (!fx_used(f, RXQ, &id, &len))
		return -1;
	assert_true(len >= HDR && len <= cap);
	memcpy(out, vdriver_host(&f->d, f->gpa[id], len), len);
	total = len;
	memcpy(&h, out, HDR);
	n = h.num_buffers;
	assert_true(n >= 1);
	for (uint16_t i = 1; i < n; i++) {
		assert_true(vdriver_used(&f->d, RXQ, &id, &len));
		assert_true(total + len <= cap);
		memcpy(out + total, vdriver_host(&f->d, f->gpa[id], len), len);
		total += len;
	}
	if (nbufs)
		*nbufs = n;
	return (ssize_t)total;
}

/* --- Pure header logic ------------------------------------------------------------------- */

static void test_tx_prepare(void **state)
{
	static uint8_t mem[4096];
	struct net_tx_frame *f = malloc(sizeof(*f));
	struct virtio_net_hdr_v1 h = {
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID | 0x80,
		.csum_start = 14,
		.csum_offset = 6,
		.hdr_len = 9999, /* a wrong hint is clamped */
		.num_buffers = 7,
	};
	struct vq_chain *c = calloc(1, sizeof(*c));
	size_t flen = 100;

	assert_non_null(f);
	assert_non_null(c);
	/* Header cut 5 + 7, the last header byte sharing nothing; frame in two pieces. */
	memcpy(mem, &h, HDR);
	frame_raw(mem + HDR, peer_mac, flen, 3);
	c->buf[0] = (struct vq_buf){ mem, 5 };
	c->buf[1] = (struct vq_buf){ mem + 5, 7 };
	c->buf[2] = (struct vq_buf){ mem + 12, 0 };
	c->buf[3] = (struct vq_buf){ mem + 12, 40 };
	c->buf[4] = (struct vq_buf){ mem + 52, 60 };
	c->nr_out = 5;
	c->out_len = HDR + flen;
	assert_int_equal(net_tx_prepare(c, F(CSUM), f), NET_TX_OK);
	assert_int_equal(f->len, flen);
	assert_int_equal(f->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(f->hdr.hdr_len, flen);
	assert_int_equal(f->hdr.num_buffers, 0);
	assert_int_equal(f->niov, 3);
	assert_ptr_equal(f->iov[0].iov_base, &f->hdr);
	assert_int_equal(f->iov[0].iov_len, HDR);
	assert_ptr_equal(f->iov[1].iov_base, mem + 12);
	assert_int_equal(f->iov[1].iov_len, 40);
	assert_ptr_equal(f->iov[2].iov_base, mem + 52);

	/* Header and frame in one buffer. */
	c->buf[0] = (struct vq_buf){ mem, HDR + (uint32_t)flen };
	c->nr_out = 1;
	assert_int_equal(net_tx_prepare(c, F(CSUM), f), NET_TX_OK);
	assert_int_equal(f->niov, 2);
	assert_ptr_equal(f->iov[1].iov_base, mem + HDR);
	assert_int_equal(f->iov[1].iov_len, flen);

	/* What each refusal is for. */
	assert_int_equal(net_tx_prepare(c, 0, f), NET_TX_CSUM);
	memcpy(mem, &(struct virtio_net_hdr_v1){ .flags = 1, .csum_start = 95, .csum_offset = 4 },
	       HDR);
	assert_int_equal(net_tx_prepare(c, F(CSUM), f), NET_TX_CSUM);
	memcpy(mem, &(struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 }, HDR);
	assert_int_equal(net_tx_prepare(c, F(HOST_TSO4), f), NET_TX_GSO); /* gso_size 0 */
	memcpy(mem,
	       &(struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 50 },
	       HDR);
	assert_int_equal(net_tx_prepare(c, F(HOST_TSO4), f), NET_TX_OK);
	assert_int_equal(net_tx_prepare(c, F(HOST_TSO6), f), NET_TX_GSO);
	memcpy(mem,
	       &(struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 |
							VIRTIO_NET_HDR_GSO_ECN,
					    .gso_size = 50 },
	       HDR);
	assert_int_equal(net_tx_prepare(c, F(HOST_TSO4), f), NET_TX_GSO);
	memset(mem, 0, HDR);
	c->out_len = HDR + 13;
	c->buf[0].len = HDR + 13;
	assert_int_equal(net_tx_prepare(c, 0, f), NET_TX_SHORT);
	c->out_len = NET_MAX_PACKET + 1;
	assert_int_equal(net_tx_prepare(c, 0, f), NET_TX_LONG);
	c->out_len = HDR + flen;
	c->buf[0].len = HDR + (uint32_t)flen;
	c->nr_in = 1;
	c->buf[1] = (struct vq_buf){ mem + 2048, 64 };
	c->in_len = 64;
	assert_int_equal(net_tx_prepare(c, 0, f), NET_TX_WRITABLE);
	free(c);
	free(f);
}

static void test_rx_fixup(void **state)
{
	struct virtio_net_hdr_v1 h = {
		.flags = 3 | 4, .gso_type = 0, .gso_size = 9, .num_buffers = 0
	};

	assert_true(net_rx_fixup(&h, 0));
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.gso_size, 0);
	assert_int_equal(h.num_buffers, 1);
	h.flags = 3 | 4;
	assert_true(net_rx_fixup(&h, F(GUEST_CSUM)));
	assert_int_equal(h.flags, 3);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	assert_false(net_rx_fixup(&h, F(GUEST_CSUM)));
	assert_true(net_rx_fixup(&h, F(GUEST_CSUM) | F(GUEST_TSO4)));
	assert_false(net_rx_fixup(&h, F(GUEST_TSO4))); /* TSO needs GUEST_CSUM */
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	assert_false(net_rx_fixup(&h, F(GUEST_CSUM) | F(GUEST_TSO4)));
	h.gso_type = 0x42;
	assert_false(net_rx_fixup(&h, ~0ULL));
}

/* --- Creation and configuration space ---------------------------------------------------- */

static void cfg_read(struct virtio_dev *vdev, uint64_t off, void *buf, uint32_t len)
{
	virtio_mmio_bus_ops.read(vdev, CFG_OFF + off, buf, len);
}

static uint64_t offered(struct virtio_dev *vdev)
{
	uint64_t f = 0;

	for (uint32_t sel = 0; sel < 2; sel++) {
		uint32_t v;

		virtio_mmio_bus_ops.write(vdev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, &sel, 4);
		virtio_mmio_bus_ops.read(vdev, VIRTIO_MMIO_DEVICE_FEATURES, &v, 4);
		f |= (uint64_t)v << (32 * sel);
	}
	return f;
}

static void test_config_space(void **state)
{
	struct net_params p = params("kvn-cfg");
	struct guest_memory gm;
	struct err err = { 0 };
	struct virtio_net *a, *b;
	uint8_t mac[8], mac2[6], one;
	uint16_t status;
	uint32_t word;
	uint64_t f;

	need_netns(state);
	assert_int_equal(gm_alloc(&gm, 1 << 20, MEM_BACKEND_ANON, &err), 0);

	/* A derived MAC: locally administered, unicast, the same for the same id. */
	a = virtio_net_create(&p, &gm, &err);
	if (!a)
		fail_msg("%s", err.msg);
	cfg_read(virtio_net_dev(a), 0, mac, 6);
	assert_int_equal(mac[0] & 3, 2);
	virtio_net_destroy(a);
	a = virtio_net_create(&p, &gm, &err);
	assert_non_null(a);
	cfg_read(virtio_net_dev(a), 0, mac2, 6);
	assert_memory_equal(mac, mac2, 6);
	virtio_net_destroy(a);
	p.id = (char *)"n1";
	a = virtio_net_create(&p, &gm, &err);
	assert_non_null(a);
	cfg_read(virtio_net_dev(a), 0, mac2, 6);
	assert_memory_not_equal(mac, mac2, 6);
	virtio_net_destroy(a);

	/* A given MAC, read in pieces of every size. */
	memcpy(p.mac, (uint8_t[]){ 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, 6);
	p.has_mac = true;
	b = virtio_net_create(&p, &gm, &err);
	assert_non_null(b);
	memset(mac, 0xee, sizeof(mac));
	cfg_read(virtio_net_dev(b), 0, &word, 4);
	memcpy(mac, &word, 4);
	cfg_read(virtio_net_dev(b), 4, mac + 4, 2);
	assert_memory_equal(mac, p.mac, 6);
	cfg_read(virtio_net_dev(b), 5, &one, 1);
	assert_int_equal(one, 0x56);
	cfg_read(virtio_net_dev(b), 6, &status, 2);
	assert_int_equal(status, VIRTIO_NET_S_LINK_UP);
	/* Past the structure: zeros. Writes change nothing. */
	cfg_read(virtio_net_dev(b), 0x80, &word, 4);
	assert_int_equal(word, 0);
	word = 0xffffffff;
	virtio_mmio_bus_ops.write(virtio_net_dev(b), CFG_OFF, &word, 4);
	cfg_read(virtio_net_dev(b), 0, mac2, 6);
	assert_memory_equal(mac2, p.mac, 6);

	f = offered(virtio_net_dev(b));
	assert_int_equal(
		f & (F(MAC) | F(STATUS) | F(MRG_RXBUF) | F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6) |
		     F(HOST_UFO) | F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_UFO)),
		F(MAC) | F(STATUS) | F(MRG_RXBUF) | F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6) |
			F(HOST_UFO) | F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6) | F(GUEST_UFO));
	/* One queue pair, no control queue, no multiqueue. */
	assert_int_equal(f & (F(CTRL_VQ) | F(MQ)), 0);
	assert_true(f & (1ULL << VIRTIO_F_VERSION_1));
	virtio_net_destroy(b);
	gm_free(&gm);
}

static void test_create_errors(void **state)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	struct net_params p = params("lo");
	struct guest_memory gm;
	struct err err = { 0 };
	int fd;

	need_netns(state);
	assert_int_equal(gm_alloc(&gm, 1 << 20, MEM_BACKEND_ANON, &err), 0);

	/* An interface of that name that is not a TAP. */
	assert_null(virtio_net_create(&p, &gm, &err));
	assert_int_equal(err.code, -EINVAL);
	assert_non_null(strstr(err.msg, "n0"));
	assert_non_null(strstr(err.msg, "'lo'"));
	assert_non_null(strstr(err.msg, "not a TAP"));

	/* A TAP another process holds. */
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "kvn-busy");
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	p = params("kvn-busy");
	err = (struct err){ 0 };
	assert_null(virtio_net_create(&p, &gm, &err));
	assert_int_equal(err.code, -EBUSY);
	assert_non_null(strstr(err.msg, "kvn-busy"));
	assert_non_null(strstr(err.msg, "busy"));
	close(fd);
	/* Let go of, it can be had. */
	err = (struct err){ 0 };
	virtio_net_destroy(virtio_net_create(&p, &gm, &err));
	assert_int_equal(err.code, 0);
	gm_free(&gm);
}

/* --- Transmit ---------------------------------------------------------------------------- */

static void expect_tx(struct fx *f, const struct virtio_net_hdr *want_hdr, const uint8_t *frame,
		      size_t len)
{
	static uint8_t buf[NET_MAX_PACKET];
	struct virtio_net_hdr got;
	ssize_t n = pkt_recv(f, buf, sizeof(buf), WAIT_MS);

	assert_int_equal(n, (ssize_t)(sizeof(got) + len));
	memcpy(&got, buf, sizeof(got));
	assert_int_equal(got.flags, want_hdr->flags);
	assert_int_equal(got.gso_type, want_hdr->gso_type);
	assert_int_equal(got.gso_size, want_hdr->gso_size);
	if (want_hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		assert_int_equal(got.csum_start, want_hdr->csum_start);
		assert_int_equal(got.csum_offset, want_hdr->csum_offset);
	}
	assert_memory_equal(buf + sizeof(got), frame, len);
}

static void test_tx(void **state)
{
	static uint8_t frame[4096];
	struct virtio_net_hdr_v1 h = { 0 };
	struct counts s;
	struct fx f;
	uint32_t id, len;
	uint16_t head;
	size_t n;

	need_netns(state);
	fx_start(&f, "kvn-tx", F(CSUM) | F(HOST_TSO4) | F(HOST_TSO6) | F(HOST_UFO));

	/* A plain frame, the header cut over three buffers and the frame over two. */
	n = frame_raw(frame, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 100, 1);
	head = tx_add(&f, &h, frame, n, (const uint32_t[]){ 5, 4, 30 }, 3);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	expect_tx(&f, &(struct virtio_net_hdr){ 0 }, frame, n);

	/* Header and frame in one buffer; a minimum-size frame. */
	n = frame_raw(frame, peer_mac, 14, 2);
	tx_add(&f, &h, frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	expect_tx(&f, &(struct virtio_net_hdr){ 0 }, frame, n);

	/* TSO: one 3000-byte TCP segment, checksum left to the host. */
	n = frame_ip4(frame, peer_mac, 6, 3000);
	h = (struct virtio_net_hdr_v1){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		.hdr_len = 54,
		.gso_size = 1000,
		.csum_start = 34,
		.csum_offset = 16,
	};
	tx_add(&f, &h, frame, n, (const uint32_t[]){ HDR + 54, 1500 }, 2);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	expect_tx(&f,
		  &(struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					    .gso_size = 1000,
					    .csum_start = 34,
					    .csum_offset = 16 },
		  frame, n);

	/* UFO is taken by the TAP (the packet socket cannot show its header). */
	n = frame_ip4(frame, peer_mac, 17, 3000);
	h = (struct virtio_net_hdr_v1){
		.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		.gso_type = VIRTIO_NET_HDR_GSO_UDP,
		.hdr_len = 42,
		.gso_size = 1000,
		.csum_start = 34,
		.csum_offset = 6,
	};
	tx_add(&f, &h, frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	s = fx_stats(&f);
	assert_int_equal(s.tx_packets, 4);
	assert_int_equal(s.tx_errors, 0);
	assert_int_equal(s.tx_dropped, 0);
	/* The batch is done: kicks are wanted again. */
	assert_int_equal(used_flags(&f, TXQ) & VRING_USED_F_NO_NOTIFY, 0);
	fx_stop(&f);
}

static void test_tx_hostile(void **state)
{
	static uint8_t frame[256];
	struct virtio_net_hdr_v1 h = { 0 };
	struct fx f;
	uint32_t id, len;
	uint64_t gpa;
	size_t n;
	unsigned int i;

	need_netns(state);
	fx_start(&f, "kvn-txbad", F(CSUM) | F(HOST_TSO4));
	n = frame_raw(frame, peer_mac, 100, 9);

	/* Shorter than the header; the header alone. */
	gpa = vdriver_alloc(&f.d, 4096);
	vdriver_add(&f.d, TXQ, (const struct vdriver_buf[]){ { gpa, 8, false } }, 1);
	vdriver_add(&f.d, TXQ, (const struct vdriver_buf[]){ { gpa, HDR, false } }, 1);
	/* Longer than 64 KiB plus headers. */
	gpa = vdriver_alloc(&f.d, 3 * 30000);
	vdriver_add(&f.d, TXQ,
		    (const struct vdriver_buf[]){ { gpa, 30000, false },
						  { gpa + 30000, 30000, false },
						  { gpa + 60000, 30000, false } },
		    3);
	/* A device-writable buffer after the frame. */
	gpa = vdriver_alloc(&f.d, 4096);
	memcpy(vdriver_host(&f.d, gpa, HDR + n), &h, HDR);
	memcpy(vdriver_host(&f.d, gpa + HDR, n), frame, n);
	vdriver_add(&f.d, TXQ,
		    (const struct vdriver_buf[]){ { gpa, HDR + (uint32_t)n, false },
						  { gpa + 2048, 64, true } },
		    2);
	/* TSO6 not negotiated; an unknown GSO type; checksum offsets past the frame. */
	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .gso_size = 100 };
	tx_add(&f, &h, frame, n, NULL, 0);
	h = (struct virtio_net_hdr_v1){ .gso_type = 5, .gso_size = 100 };
	tx_add(&f, &h, frame, n, NULL, 0);
	h = (struct virtio_net_hdr_v1){ .flags = 1, .csum_start = 90, .csum_offset = 9 };
	tx_add(&f, &h, frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	for (i = 0; i < 7; i++) {
		assert_true(fx_used(&f, TXQ, &id, &len));
		assert_int_equal(len, 0);
	}
	assert_int_equal(pkt_recv(&f, frame, sizeof(frame), 100), -1);
	assert_int_equal(fx_stats(&f).tx_dropped, 7);
	assert_int_equal(fx_status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);

	/* The queue goes on. */
	h = (struct virtio_net_hdr_v1){ 0 };
	tx_add(&f, &h, frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	expect_tx(&f, &(struct virtio_net_hdr){ 0 }, frame, n);

	/* A malformed ring is another matter: the device needs a reset. */
	vdriver_publish(&f.d, TXQ, QSIZE + 5);
	fx_kick(&f, TXQ);
	assert_true(fx_wait_reset(&f));
	fx_stop(&f);
}

/*
 * Shrinks the send buffer of the device's own queue on `tap`. The device
 * lives in this process, so its fd is found through /proc/self/fd and
 * TUNGETIFF rather than through a hook in the device.
 */
static void tap_shrink_sndbuf(const char *tap, int sndbuf)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int found = 0;

	assert_non_null(dir);
	while ((de = readdir(dir))) {
		char path[300], target[64];
		struct ifreq ifr = { 0 };
		int fd = atoi(de->d_name);
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strcmp(target, "/dev/net/tun") || ioctl(fd, TUNGETIFF, &ifr) < 0 ||
		    strcmp(ifr.ifr_name, tap))
			continue;
		assert_int_equal(ioctl(fd, TUNSETSNDBUF, &sndbuf), 0);
		found++;
	}
	closedir(dir);
	assert_int_equal(found, 1);
}

/*
 * Makes writes to the device's TAP soon fail with EAGAIN: its send buffer
 * is made tiny, and what the guest sends is redirected into veth `veth`
 * whose qdisc lets out one frame a second or so, holding the rest.
 */
static bool tap_make_full(struct fx *f, const char *tap, const char *veth)
{
	char cmd[512];

	tap_shrink_sndbuf(tap, 4096);
	snprintf(cmd, sizeof(cmd),
		 "ip link add %1$s type veth peer name %1$sp && ip link set %1$s up && "
		 "ip link set %1$sp up && "
		 "tc qdisc add dev %1$s root tbf rate 8kbit burst 1600 limit 1000000 && "
		 "tc qdisc add dev %2$s ingress && "
		 "tc filter add dev %2$s parent ffff: protocol all u32 match u32 0 0 "
		 "action mirred egress redirect dev %1$s >/dev/null 2>&1",
		 veth, tap);
	if (system(cmd)) {
		fx_stop(f);
		printf("SKIPPED: cannot shape the TAP's traffic with ip/tc\n");
		return false;
	}
	return true;
}

/* Lets the held frames go: the qdisc is replaced by veth's default, which holds none. */
static void tap_unblock(const char *veth)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "tc qdisc del dev %s root", veth);
	assert_int_equal(system(cmd), 0);
}

static void veth_del(const char *veth)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link del %s", veth);
	assert_int_equal(system(cmd), 0);
}

/*
 * A full TAP: the device must keep the chains, wait (without spinning) for
 * POLLOUT and send them in order once there is room.
 */
static void test_tx_full(void **state)
{
	static uint8_t frame[1600], buf[2048];
	struct virtio_net_hdr_v1 h = { 0 };
	struct counts s;
	struct fx f;
	uint32_t id, len;
	unsigned int used = 0, i;
	int events;

	need_netns(state);
	fx_start(&f, "kvn-full", 0);
	if (!tap_make_full(&f, "kvn-full", "kvn-v0"))
		skip();
	for (i = 0; i < 8; i++) {
		size_t n = frame_raw(frame, peer_mac, 1500, (uint8_t)i);

		tx_add(&f, &h, frame, n, NULL, 0);
	}
	fx_kick(&f, TXQ);
	fx_run(&f, 100);
	while (vdriver_used(&f.d, TXQ, &id, &len))
		used++;
	s = fx_stats(&f);
	assert_true(used < 8);
	assert_true(s.tx_full >= 1);
	assert_int_equal(s.tx_errors, 0);
	/* Waiting for POLLOUT: no kicks wanted, and the loop is quiet. */
	assert_true(used_flags(&f, TXQ) & VRING_USED_F_NO_NOTIFY);
	events = fx_events(&f, 300);
	assert_true(events <= 2); /* the qdisc may let one frame out meanwhile */

	tap_unblock("kvn-v0");
	while (used < 8) {
		assert_true(fx_used(&f, TXQ, &id, &len));
		used++;
	}
	s = fx_stats(&f);
	assert_int_equal(s.tx_packets, 8);
	assert_int_equal(s.tx_errors, 0);
	assert_int_equal(used_flags(&f, TXQ) & VRING_USED_F_NO_NOTIFY, 0);
	/* In order, each once. */
	for (i = 0; i < 8; i++) {
		ssize_t n = pkt_recv(&f, buf, sizeof(buf), WAIT_MS);

		assert_int_equal(n, 10 + 1500);
		frame_raw(frame, peer_mac, 1500, (uint8_t)i);
		assert_memory_equal(buf + 10, frame, 1500);
	}
	fx_stop(&f);
	veth_del("kvn-v0");
}

/*
 * A snapshot while frames wait for POLLOUT: quiesce hands every chain back
 * (the waiting ones as drops), and the device goes on afterwards.
 */
static void test_quiesce_tx_full(void **state)
{
	static uint8_t frame[1600], buf[2048];
	struct virtio_net_hdr_v1 h = { 0 };
	const struct net_stats *st;
	struct fx f;
	uint32_t id, len;
	unsigned int used = 0;
	size_t n;

	need_netns(state);
	fx_start(&f, "kvn-quiesce", 0);
	st = virtio_net_stats(f.net);
	assert_string_equal(virtio_net_id(f.net), "n0");
	if (!tap_make_full(&f, "kvn-quiesce", "kvn-q0"))
		skip();
	for (unsigned int i = 0; i < 8; i++) {
		n = frame_raw(frame, peer_mac, 1500, (uint8_t)i);
		tx_add(&f, &h, frame, n, NULL, 0);
	}
	fx_kick(&f, TXQ);
	fx_run(&f, 100);
	assert_true(fx_stats(&f).tx_full >= 1);
	assert_int_equal(virtio_dev_quiesce(f.vdev), 0);
	while (vdriver_used(&f.d, TXQ, &id, &len))
		used++;
	assert_int_equal(used, 8);
	assert_int_equal(stats_get(st->tx_packets) + stats_get(st->tx_drops), 8);
	assert_true(stats_get(st->tx_drops) >= 1);

	tap_unblock("kvn-q0");
	while (pkt_recv(&f, buf, sizeof(buf), 50) >= 0)
		; /* what went out before the TAP filled up */
	n = frame_raw(frame, peer_mac, 1500, 0x55);
	tx_add(&f, &h, frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	assert_int_equal(pkt_recv(&f, buf, sizeof(buf), WAIT_MS), 10 + 1500);
	assert_memory_equal(buf + 10, frame, 1500);
	fx_stop(&f);
	veth_del("kvn-q0");
}

/*
 * Restored into a new device on the same TAP: it reads the TAP again into
 * the receive buffers posted before the snapshot, and transmits.
 */
static void test_snapshot_restore(void **state)
{
	static uint8_t frame[1600], got[2048];
	struct virtio_net_hdr_v1 h = { 0 };
	struct state_writer w;
	struct state_reader r;
	struct err err = { 0 };
	struct net_params p = params("kvn-snap");
	struct fx f;
	uint32_t id, len;
	int kick[2], irq;
	size_t n;

	need_netns(state);
	fx_start(&f, "kvn-snap", 0);
	rx_post(&f, 8, HDR + 1514);
	fx_kick(&f, RXQ);
	fx_run(&f, 20);
	state_writer_init(&w);
	virtio_dev_save(f.vdev, &w);
	assert_int_equal(state_writer_status(&w), 0);
	virtio_net_destroy(f.net);

	f.net = virtio_net_create(&p, &f.gm, &err);
	assert_non_null(f.net);
	f.vdev = f.d.vdev = virtio_net_dev(f.net);
	irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	kick[0] = f.kick[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	kick[1] = f.kick[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(virtio_dev_attach(f.vdev, &f.loop, irq, kick, &err), 0);
	state_reader_init(&r, w.data, w.len);
	assert_int_equal(virtio_dev_restore(f.vdev, &r, &err), 0);
	assert_int_equal(fx_status(&f) & VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
	/* The TAP went with the old device: a new interface, a new socket on it. */
	link_up("kvn-snap", 0);
	close(f.pkt);
	f.pkt = pkt_open("kvn-snap");
	fx_run(&f, 20);
	/* No kick from the guest: the restore itself resumed reading. */
	n = frame_raw(frame, peer_mac, 60, 9);
	pkt_send(&f, NULL, frame, n);
	assert_int_equal(rx_take(&f, got, sizeof(got), NULL), HDR + 60);
	assert_memory_equal(got + HDR, frame, n);
	n = frame_raw(frame, peer_mac, 100, 10);
	tx_add(&f, &h, frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	state_writer_fini(&w);
	fx_stop(&f);
}

/*
 * The driver resets the device while frames wait for POLLOUT: they belong
 * to the old rings and must never show up in the new ones, and the stale
 * wait must not hold up what the new driver sends.
 */
static void test_tx_full_reset(void **state)
{
	static uint8_t frame[1600], buf[2048];
	struct virtio_net_hdr_v1 h = { 0 };
	struct fx f;
	uint32_t id, len;
	uint16_t head;
	size_t n;

	need_netns(state);
	fx_start(&f, "kvn-full2", 0);
	if (!tap_make_full(&f, "kvn-full2", "kvn-w0"))
		skip();
	for (unsigned int i = 0; i < 8; i++) {
		n = frame_raw(frame, peer_mac, 1500, (uint8_t)i);
		tx_add(&f, &h, frame, n, NULL, 0);
	}
	fx_kick(&f, TXQ);
	fx_run(&f, 100);
	assert_true(fx_stats(&f).tx_full >= 1);
	while (pkt_recv(&f, buf, sizeof(buf), 10) >= 0)
		; /* the ones that went out before the TAP filled up */

	assert_true(vdriver_init(&f.d, &f.gm, f.vdev, 0, 2, QSIZE) & VIRTIO_CONFIG_S_DRIVER_OK);
	fx_run(&f, 50);
	n = frame_raw(frame, peer_mac, 1500, 0x77);
	head = tx_add(&f, &h, frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	fx_run(&f, 50);
	tap_unblock("kvn-w0");
	assert_true(fx_used(&f, TXQ, &id, &len));
	assert_int_equal(id, head);
	fx_run(&f, 100);
	assert_false(vdriver_used(&f.d, TXQ, &id, &len));
	assert_int_equal(pkt_recv(&f, buf, sizeof(buf), WAIT_MS), 10 + 1500);
	assert_memory_equal(buf + 10, frame, 1500);
	assert_int_equal(pkt_recv(&f, buf, sizeof(buf), 100), -1);
	fx_stop(&f);
	veth_del("kvn-w0");
}

/* --- Receive ----------------------------------------------------------------------------- */

static void test_rx(void **state)
{
	static uint8_t frame[4096], got[4096];
	struct virtio_net_hdr_v1 h;
	struct fx f;
	uint32_t id, len;
	uint16_t nb;
	size_t n;

	need_netns(state);
	/* No MRG_RXBUF, no offloads: one chain per packet, finished packets. */
	fx_start(&f, "kvn-rx", 0);
	assert_int_equal(fx_stats(&f).rx_reads, 0); /* no buffers yet: the TAP is not read */
	rx_post(&f, 8, HDR + 1514);
	fx_kick(&f, RXQ);

	n = frame_raw(frame, peer_mac, 60, 4);
	pkt_send(&f, NULL, frame, n);
	assert_int_equal(rx_take(&f, got, sizeof(got), &nb), HDR + 60);
	assert_int_equal(nb, 1);
	memcpy(&h, got, HDR);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_memory_equal(got + HDR, frame, n);

	/* A full-size frame fills a 1526-byte buffer exactly. */
	n = frame_raw(frame, peer_mac, 1514, 5);
	pkt_send(&f, NULL, frame, n);
	assert_int_equal(rx_take(&f, got, sizeof(got), &nb), HDR + 1514);
	assert_memory_equal(got + HDR, frame, n);

	/* A TSO packet from the host is cut up by the kernel: no TSO was accepted. */
	n = frame_ip4(frame, peer_mac, 6, 3000);
	pkt_send(&f,
		 &(struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					   .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					   .hdr_len = 54,
					   .gso_size = 1000,
					   .csum_start = 34,
					   .csum_offset = 16 },
		 frame, n);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rx_take(&f, got, sizeof(got), &nb), HDR + 54 + 1000);
		memcpy(&h, got, HDR);
		assert_int_equal(h.flags, 0);
		assert_int_equal(h.gso_type, 0);
		assert_int_equal(h.num_buffers, 1);
	}
	assert_int_equal(fx_stats(&f).rx_packets, 5);

	/* A chain too small for the packet: the packet is dropped, the chain kept for the next. */
	fx_stop(&f);
	fx_start(&f, "kvn-rx", 0);
	rx_post(&f, 1, 100);
	fx_kick(&f, RXQ);
	n = frame_raw(frame, peer_mac, 500, 6);
	pkt_send(&f, NULL, frame, n);
	n = frame_raw(frame, peer_mac, 80, 7);
	pkt_send(&f, NULL, frame, n);
	assert_true(fx_used(&f, RXQ, &id, &len));
	assert_int_equal(id, 0);
	assert_int_equal(len, HDR + 80);
	assert_memory_equal(vdriver_host(&f.d, f.gpa[0] + HDR, 80), frame, 80);
	assert_int_equal(fx_stats(&f).rx_dropped, 1);

	/* NEEDS_CSUM without VIRTIO_NET_F_CSUM is refused on transmit. */
	n = frame_raw(frame, peer_mac, 80, 8);
	tx_add(&f, &(struct virtio_net_hdr_v1){ .flags = 1, .csum_start = 14, .csum_offset = 2 },
	       frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	assert_int_equal(fx_stats(&f).tx_dropped, 1);
	fx_stop(&f);
}

static void test_rx_mergeable(void **state)
{
	static uint8_t frame[65536], got[70000];
	struct virtio_net_hdr_v1 h;
	struct fx f;
	uint16_t nb;
	size_t n;

	need_netns(state);
	fx_start(&f, "kvn-mrg", F(MRG_RXBUF) | F(GUEST_CSUM) | F(GUEST_TSO4));

	/* 1000 bytes over 256-byte chains: four of them, num_buffers 4. */
	rx_post(&f, 8, 256);
	fx_kick(&f, RXQ);
	n = frame_raw(frame, peer_mac, 1000, 10);
	pkt_send(&f, NULL, frame, n);
	assert_int_equal(rx_take(&f, got, sizeof(got), &nb), HDR + 1000);
	assert_int_equal(nb, 4);
	assert_memory_equal(got + HDR, frame, n);
	/* A small one takes one chain. */
	n = frame_raw(frame, peer_mac, 100, 11);
	pkt_send(&f, NULL, frame, n);
	assert_int_equal(rx_take(&f, got, sizeof(got), &nb), HDR + 100);
	assert_int_equal(nb, 1);
	assert_memory_equal(got + HDR, frame, n);

	/* TSO accepted: the 3000-byte segment arrives whole, checksum partial. */
	rx_post(&f, 8, 1024);
	fx_kick(&f, RXQ);
	n = frame_ip4(frame, peer_mac, 6, 3000);
	pkt_send(&f,
		 &(struct virtio_net_hdr){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					   .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					   .hdr_len = 54,
					   .gso_size = 1000,
					   .csum_start = 34,
					   .csum_offset = 16 },
		 frame, n);
	/* Three 256-byte chains are left first, then 1024-byte ones. */
	assert_int_equal(rx_take(&f, got, sizeof(got), &nb), (ssize_t)(HDR + n));
	assert_int_equal(nb, 6);
	memcpy(&h, got, HDR);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(h.gso_size, 1000);
	assert_true(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.csum_start, 34);
	assert_int_equal(h.csum_offset, 16);
	/* Byte for byte but the TCP checksum, which is the host's to fill in. */
	assert_memory_equal(got + HDR, frame, 50);
	assert_memory_equal(got + HDR + 52, frame + 52, n - 52);
	fx_stop(&f);
}

/*
 * No buffers, no reads: frames wait in the TAP and the loop is idle. Posting
 * buffers and kicking delivers them, in order. A packet that needs more
 * chains than are posted waits, with kicks enabled, for the rest.
 */
static void test_rx_backpressure(void **state)
{
	static uint8_t frame[2048], got[4096];
	struct fx f;
	uint16_t nb;
	size_t n;

	need_netns(state);
	fx_start(&f, "kvn-bp", F(MRG_RXBUF));
	fx_run(&f, 50);
	for (int i = 0; i < 3; i++) {
		n = frame_raw(frame, peer_mac, 100 + 100 * i, (uint8_t)i);
		pkt_send(&f, NULL, frame, n);
	}
	assert_int_equal(fx_events(&f, 200), 0);
	assert_int_equal(fx_stats(&f).rx_reads, 0);
	assert_int_equal(used_flags(&f, RXQ) & VRING_USED_F_NO_NOTIFY, 0);

	rx_post(&f, 2, 2048);
	fx_kick(&f, RXQ);
	for (int i = 0; i < 2; i++) {
		n = frame_raw(frame, peer_mac, 100 + 100 * i, (uint8_t)i);
		assert_int_equal(rx_take(&f, got, sizeof(got), &nb), (ssize_t)(HDR + n));
		assert_memory_equal(got + HDR, frame, n);
	}
	fx_run(&f, 50);
	assert_int_equal(fx_stats(&f).rx_reads, 2); /* the third frame is still in the TAP */
	assert_int_equal(fx_events(&f, 200), 0);
	rx_post(&f, 1, 2048);
	fx_kick(&f, RXQ);
	n = frame_raw(frame, peer_mac, 300, 2);
	assert_int_equal(rx_take(&f, got, sizeof(got), &nb), (ssize_t)(HDR + n));
	assert_memory_equal(got + HDR, frame, n);

	/* 1000 bytes, one 256-byte chain posted: parked, the chain held, the loop idle. */
	n = frame_raw(frame, peer_mac, 1000, 12);
	pkt_send(&f, NULL, frame, n);
	rx_post(&f, 1, 256);
	fx_kick(&f, RXQ);
	fx_run(&f, 50);
	assert_int_equal(fx_events(&f, 200), 0);
	assert_int_equal(fx_stats(&f).rx_packets, 3);
	assert_int_equal(used_flags(&f, RXQ) & VRING_USED_F_NO_NOTIFY, 0);
	rx_post(&f, 3, 256);
	fx_kick(&f, RXQ);
	assert_int_equal(rx_take(&f, got, sizeof(got), &nb), HDR + 1000);
	assert_int_equal(nb, 4);
	assert_memory_equal(got + HDR, frame, n);
	assert_int_equal(fx_stats(&f).rx_dropped, 0);
	fx_stop(&f);
}

/*
 * A TAP with a backlog is read in bursts of several reads per submission;
 * the packets still reach the guest whole and in the order they were sent,
 * and no more are taken than the guest has chains for.
 */
static void test_rx_burst(void **state)
{
	static uint8_t frame[2048], got[4096];
	struct fx f;
	uint16_t nb;
	size_t n;

	need_netns(state);
	fx_start(&f, "kvn-burst", F(MRG_RXBUF));
	for (int i = 0; i < 12; i++) {
		n = frame_raw(frame, peer_mac, 100 + 10 * i, (uint8_t)i);
		pkt_send(&f, NULL, frame, n);
	}
	/* Eight chains for twelve frames: one probe read, then a burst up to the chains left. */
	rx_post(&f, 8, 2048);
	fx_kick(&f, RXQ);
	for (int i = 0; i < 8; i++) {
		n = frame_raw(frame, peer_mac, 100 + 10 * i, (uint8_t)i);
		assert_int_equal(rx_take(&f, got, sizeof(got), &nb), (ssize_t)(HDR + n));
		assert_int_equal(nb, 1);
		assert_memory_equal(got + HDR, frame, n);
	}
	fx_run(&f, 50);
	assert_int_equal(fx_stats(&f).rx_reads, 8); /* four frames are still in the TAP */
	rx_post(&f, 8, 2048);
	fx_kick(&f, RXQ);
	for (int i = 8; i < 12; i++) {
		n = frame_raw(frame, peer_mac, 100 + 10 * i, (uint8_t)i);
		assert_int_equal(rx_take(&f, got, sizeof(got), &nb), (ssize_t)(HDR + n));
		assert_memory_equal(got + HDR, frame, n);
	}
	assert_int_equal(fx_stats(&f).rx_packets, 12);
	assert_int_equal(fx_stats(&f).rx_dropped, 0);
	fx_stop(&f);
}

static void test_rx_hostile(void **state)
{
	static uint8_t frame[256], got[4096];
	struct fx f;
	uint64_t gpa;
	uint16_t nb;
	size_t n = frame_raw(frame, peer_mac, 100, 13);

	need_netns(state);
	fx_start(&f, "kvn-rxbad", F(MRG_RXBUF));

	/* A device-readable buffer in a receive chain. */
	gpa = vdriver_alloc(&f.d, 4096);
	vdriver_add(&f.d, RXQ,
		    (const struct vdriver_buf[]){ { gpa, 64, false }, { gpa + 64, 2048, true } },
		    2);
	fx_kick(&f, RXQ);
	pkt_send(&f, NULL, frame, n);
	assert_true(fx_wait_reset(&f));

	/* The driver resets and starts over: the device works again. */
	assert_true(vdriver_init(&f.d, &f.gm, f.vdev, F(MRG_RXBUF), 2, QSIZE) &
		    VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(fx_status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	rx_post(&f, 1, 2048);
	fx_kick(&f, RXQ);
	pkt_send(&f, NULL, frame, n);
	assert_int_equal(rx_take(&f, got, sizeof(got), &nb), (ssize_t)(HDR + n));
	assert_memory_equal(got + HDR, frame, n);

	/* A receive buffer smaller than the header. */
	gpa = vdriver_alloc(&f.d, 4096);
	vdriver_add(&f.d, RXQ, (const struct vdriver_buf[]){ { gpa, 8, true } }, 1);
	fx_kick(&f, RXQ);
	pkt_send(&f, NULL, frame, n);
	assert_true(fx_wait_reset(&f));
	fx_stop(&f);
}

/*
 * The interface is deleted under a running device: the queued read fails,
 * receive stops instead of polling an fd in error, and frames sent from then
 * on are returned as failed writes. Nothing spins, nothing needs a reset.
 */
static void test_tap_deleted(void **state)
{
	static uint8_t frame[256];
	struct counts s;
	struct fx f;
	uint32_t id, len;
	size_t n = frame_raw(frame, peer_mac, 100, 14);

	need_netns(state);
	fx_start(&f, "kvn-gone", 0);
	rx_post(&f, 4, 2048);
	fx_kick(&f, RXQ);
	fx_run(&f, 50);
	assert_int_equal(fx_stats(&f).rx_reads, 1);
	assert_int_equal(system("ip link del kvn-gone"), 0);
	assert_true(fx_events(&f, 300) <= 3);
	s = fx_stats(&f);
	assert_true(s.rx_reads <= 2);
	assert_int_equal(s.rx_packets, 0);

	tx_add(&f, &(struct virtio_net_hdr_v1){ 0 }, frame, n, NULL, 0);
	fx_kick(&f, TXQ);
	assert_true(fx_used(&f, TXQ, &id, &len));
	s = fx_stats(&f);
	assert_int_equal(s.tx_errors, 2); /* the failed read, then the failed write */
	assert_int_equal(s.tx_packets, 0);
	fx_kick(&f, RXQ);
	assert_true(fx_events(&f, 300) <= 3);
	assert_int_equal(fx_status(&f) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	fx_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_prepare),
		cmocka_unit_test(test_rx_fixup),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_tx),
		cmocka_unit_test(test_tx_hostile),
		cmocka_unit_test(test_tx_full),
		cmocka_unit_test(test_tx_full_reset),
		cmocka_unit_test(test_rx),
		cmocka_unit_test(test_rx_mergeable),
		cmocka_unit_test(test_rx_backpressure),
		cmocka_unit_test(test_rx_burst),
		cmocka_unit_test(test_rx_hostile),
		cmocka_unit_test(test_tap_deleted),
		cmocka_unit_test(test_quiesce_tx_full),
		cmocka_unit_test(test_snapshot_restore),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
