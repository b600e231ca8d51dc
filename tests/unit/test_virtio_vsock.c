// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-vsock against real Unix sockets in a temporary directory. The
 * guest is vdriver: it posts receive buffers, writes packets on the
 * transmit queue and reads what the device sends, kicking through the
 * queues' eventfds; the event loop is run with bounded waits, and the
 * host side is plain sockets, as socat or an agent would use them.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio/vsock/packet.h"
#include "devices/virtio/vsock/vsock.h"
#include "tests/unit/vdriver.h"

#define MEM_SIZE  (64ULL << 20)
#define QSIZE	  256
#define RXQ	  0
#define TXQ	  1
#define EVQ	  2
#define NR_RX	  32
#define RX_BUF	  (VSOCK_HDR_LEN + 4096)
#define GUEST_CID 3
#define WAIT_MS	  2000
#define DEV_BUF	  (64 * 1024) /* the buf_alloc the device advertises */

struct fx {
	struct guest_memory gm;
	struct event_loop loop;
	struct virtio_vsock *vs;
	struct virtio_dev *vdev;
	struct vdriver d;
	int kick[3];
	char dir[64];
	char uds[96];
	uint64_t rx_gpa[QSIZE];
	bool no_repost;
};

/* A received packet. */
struct rpkt {
	struct vsock_pkt h;
	uint8_t data[4096];
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

static void run(struct fx *f, int ms)
{
	long end = now_ms() + ms;

	for (long left = ms; left > 0; left = end - now_ms())
		assert_true(event_loop_run_once(&f->loop, left < 10 ? (int)left : 10) >= 0);
}

/* Events the loop dispatches in ms: a device waiting for the guest dispatches (almost) none. */
static int count_events(struct fx *f, int ms)
{
	long t0 = now_ms();
	int n = 0;

	while (now_ms() - t0 < ms) {
		int k = event_loop_run_once(&f->loop, 20);

		assert_true(k >= 0);
		n += k;
	}
	return n;
}

static void kick(struct fx *f, unsigned int q)
{
	uint64_t one = 1;

	assert_int_equal(write(f->kick[q], &one, sizeof(one)), sizeof(one));
}

static void post_rx(struct fx *f, uint64_t gpa)
{
	struct vdriver_buf b = { gpa, RX_BUF, true };
	uint16_t head = vdriver_add(&f->d, RXQ, &b, 1);

	f->rx_gpa[head] = gpa;
}

static void post_rx_n(struct fx *f, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		post_rx(f, vdriver_alloc(&f->d, RX_BUF));
	kick(f, RXQ);
}

static void fx_start(struct fx *f)
{
	struct err err = { 0 };
	struct vsock_params p = { .guest_cid = GUEST_CID };
	int irq;

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/kvmlet-vsock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
	p.uds_path = f->uds;
	assert_int_equal(gm_alloc(&f->gm, MEM_SIZE, MEM_BACKEND_ANON, &err), 0);
	assert_int_equal(event_loop_init(&f->loop), 0);
	f->vs = virtio_vsock_create(&p, &f->gm, &err);
	if (!f->vs)
		fail_msg("virtio_vsock_create: %s", err.msg);
	f->vdev = virtio_vsock_dev(f->vs);
	irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	for (int q = 0; q < 3; q++)
		f->kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(virtio_dev_attach(f->vdev, &f->loop, irq, f->kick, &err), 0);
	assert_true(vdriver_init(&f->d, &f->gm, f->vdev, 0, 3, QSIZE) & VIRTIO_CONFIG_S_DRIVER_OK);
	post_rx_n(f, NR_RX);
	run(f, 5);
}

static void rm_dir(struct fx *f)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
}

static void fx_stop(struct fx *f)
{
	struct stat st;

	virtio_vsock_destroy(f->vs);
	/* The listening socket goes with the device. */
	assert_int_equal(stat(f->uds, &st), -1);
	event_loop_fini(&f->loop);
	gm_free(&f->gm);
	rm_dir(f);
}

/* --- Guest side -------------------------------------------------------------------------- */

static void g_send_raw(struct fx *f, const struct vsock_pkt *p, const void *data, uint32_t len,
		       uint32_t chain_len)
{
	uint64_t gpa = vdriver_alloc(&f->d, chain_len ? chain_len : 1);
	uint8_t *host = vdriver_host(&f->d, gpa, chain_len ? chain_len : 1);
	struct vdriver_buf b = { gpa, chain_len, false };
	uint32_t id, used;
	long end = now_ms() + WAIT_MS;
	uint16_t head;

	if (chain_len >= VSOCK_HDR_LEN) {
		vsock_hdr_build(host, p);
		if (len)
			memcpy(host + VSOCK_HDR_LEN, data,
			       len < chain_len - VSOCK_HDR_LEN ? len : chain_len - VSOCK_HDR_LEN);
	} else if (chain_len) {
		memset(host, 0xab, chain_len);
	}
	head = vdriver_add(&f->d, TXQ, &b, 1);
	kick(f, TXQ);
	while (!vdriver_used(&f->d, TXQ, &id, &used)) {
		assert_true(now_ms() < end);
		run(f, 1);
	}
	assert_int_equal(id, head);
	assert_int_equal(used, 0);
}

static struct vsock_pkt gpkt(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
	return (struct vsock_pkt){ .src_cid = GUEST_CID,
				   .dst_cid = VSOCK_HOST_CID,
				   .src_port = src_port,
				   .dst_port = dst_port,
				   .len = len,
				   .type = VIRTIO_VSOCK_TYPE_STREAM,
				   .op = op,
				   .buf_alloc = DEV_BUF,
				   .fwd_cnt = 0 };
}

static void g_send(struct fx *f, uint16_t op, uint32_t src_port, uint32_t dst_port,
		   const void *data, uint32_t len)
{
	struct vsock_pkt p = gpkt(op, src_port, dst_port, len);

	g_send_raw(f, &p, data, len, VSOCK_HDR_LEN + len);
}

/* Waits up to ms for a packet from the device; false if none came. */
static bool g_recv_wait(struct fx *f, struct rpkt *r, int ms)
{
	long end = now_ms() + ms;
	uint32_t id, len;
	uint8_t *host;

	while (!vdriver_used(&f->d, RXQ, &id, &len)) {
		if (now_ms() >= end)
			return false;
		run(f, 1);
	}
	assert_true(id < QSIZE);
	assert_true(len >= VSOCK_HDR_LEN && len <= RX_BUF);
	host = vdriver_host(&f->d, f->rx_gpa[id], RX_BUF);
	{
		struct virtio_vsock_hdr h;

		memcpy(&h, host, sizeof(h));
		r->h = (struct vsock_pkt){
			.src_cid = le64toh(h.src_cid),
			.dst_cid = le64toh(h.dst_cid),
			.src_port = le32toh(h.src_port),
			.dst_port = le32toh(h.dst_port),
			.len = le32toh(h.len),
			.type = le16toh(h.type),
			.op = le16toh(h.op),
			.flags = le32toh(h.flags),
			.buf_alloc = le32toh(h.buf_alloc),
			.fwd_cnt = le32toh(h.fwd_cnt),
		};
	}
	assert_int_equal(r->h.dst_cid, GUEST_CID);
	assert_int_equal(r->h.type, VIRTIO_VSOCK_TYPE_STREAM);
	assert_int_equal(len, VSOCK_HDR_LEN + r->h.len);
	memcpy(r->data, host + VSOCK_HDR_LEN, r->h.len);
	if (!f->no_repost) {
		post_rx(f, f->rx_gpa[id]);
		kick(f, RXQ);
	}
	return true;
}

static void g_recv(struct fx *f, struct rpkt *r)
{
	if (!g_recv_wait(f, r, WAIT_MS))
		fail_msg("no packet from the device");
}

static void g_expect(struct fx *f, struct rpkt *r, uint16_t op, uint32_t src_port,
		     uint32_t dst_port)
{
	g_recv(f, r);
	assert_int_equal(r->h.op, op);
	assert_int_equal(r->h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(r->h.src_port, src_port);
	assert_int_equal(r->h.dst_port, dst_port);
}

/* A REQUEST for guest port `port`; returns the host side's port. */
static uint32_t g_expect_request(struct fx *f, struct rpkt *r, uint32_t port)
{
	g_recv(f, r);
	assert_int_equal(r->h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(r->h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(r->h.dst_port, port);
	return r->h.src_port;
}

static void g_nothing(struct fx *f, int ms)
{
	struct rpkt r;

	if (g_recv_wait(f, &r, ms))
		fail_msg("unexpected packet op %u", r.h.op);
}

/* --- Host side --------------------------------------------------------------------------- */

static int h_socket_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int h_connect(struct fx *f, uint32_t port)
{
	int fd = h_socket_to(f->uds);
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);

	assert_int_equal(write(fd, line, n), n);
	return fd;
}

/* Reads what is there within ms while the loop runs: >0 bytes, 0 EOF, -1 nothing. */
static ssize_t h_read(struct fx *f, int fd, void *buf, size_t len, int ms)
{
	long end = now_ms() + ms;

	for (;;) {
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

		if (n >= 0)
			return n;
		if (errno != EAGAIN)
			return 0; /* reset counts as closed */
		if (now_ms() >= end)
			return -1;
		run(f, 1);
	}
}

/* Reads exactly len bytes. */
static void h_read_all(struct fx *f, int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = h_read(f, fd, (uint8_t *)buf + done, len - done, WAIT_MS);

		assert_true(n > 0);
		done += n;
	}
}

static void h_expect_eof(struct fx *f, int fd)
{
	char c;

	assert_int_equal(h_read(f, fd, &c, 1, WAIT_MS + 1000), 0);
}

static int h_listen(struct fx *f, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->uds, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 128), 0);
	return fd;
}

static int h_accept(struct fx *f, int lfd)
{
	long end = now_ms() + WAIT_MS;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		assert_int_equal(errno, EAGAIN);
		assert_true(now_ms() < end);
		run(f, 1);
	}
	return fd;
}

/* A host-initiated connection to guest port `port`, accepted; returns the host fd. */
static int open_host_conn(struct fx *f, uint32_t port, uint32_t *local)
{
	struct rpkt r;
	char want[32], got[32] = { 0 };
	int fd = h_connect(f, port);

	g_recv(f, &r);
	assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_REQUEST);
	assert_int_equal(r.h.dst_port, port);
	assert_true(r.h.src_port >= (1U << 30));
	assert_int_equal(r.h.buf_alloc, DEV_BUF);
	*local = r.h.src_port;
	g_send(f, VIRTIO_VSOCK_OP_RESPONSE, port, *local, NULL, 0);
	snprintf(want, sizeof(want), "OK %u\n", *local);
	h_read_all(f, fd, got, strlen(want));
	assert_string_equal(got, want);
	return fd;
}

/* --- Tests ------------------------------------------------------------------------------- */

static void identity(void **state)
{
	struct fx f;
	uint64_t cid = 0;
	uint8_t b[8];

	fx_start(&f);
	assert_int_equal(vdriver_reg_read(&f.d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
	vdriver_reg_write(&f.d, VIRTIO_MMIO_QUEUE_SEL, 2);
	assert_int_equal(vdriver_reg_read(&f.d, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	vdriver_reg_write(&f.d, VIRTIO_MMIO_QUEUE_SEL, 3);
	assert_int_equal(vdriver_reg_read(&f.d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	virtio_mmio_bus_ops.read(f.vdev, 0x100, b, 8);
	memcpy(&cid, b, 8);
	assert_int_equal(le64toh(cid), GUEST_CID);
	/* Read-only. */
	memset(b, 0xff, 8);
	virtio_mmio_bus_ops.write(f.vdev, 0x100, b, 8);
	virtio_mmio_bus_ops.read(f.vdev, 0x104, b, 4);
	assert_int_equal(b[0] | b[1] | b[2] | b[3], 0);
	fx_stop(&f);
}

static void create_errors(void **state)
{
	struct fx f;
	struct err err = { 0 };
	struct vsock_params p = { .guest_cid = GUEST_CID };

	fx_start(&f);
	/* The path is taken by f's device. */
	p.uds_path = f.uds;
	assert_null(virtio_vsock_create(&p, &f.gm, &err));
	assert_int_equal(err.code, -EEXIST);
	assert_non_null(strstr(err.msg, f.uds));
	/* A directory that does not exist. */
	memset(&err, 0, sizeof(err));
	p.uds_path = (char *)"/nonexistent-kvmlet/v.sock";
	assert_null(virtio_vsock_create(&p, &f.gm, &err));
	assert_int_equal(err.code, -ENOENT);
	memset(&err, 0, sizeof(err));
	p.guest_cid = 2;
	p.uds_path = f.uds;
	assert_null(virtio_vsock_create(&p, &f.gm, &err));
	assert_int_equal(err.code, -EINVAL);
	fx_stop(&f);
}

static void host_initiated(void **state)
{
	struct fx f;
	struct rpkt r;
	uint32_t local;
	char buf[16] = { 0 };
	int fd;

	fx_start(&f);
	fd = open_host_conn(&f, 1024, &local);
	/* Host to guest. */
	assert_int_equal(write(fd, "hello", 5), 5);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 1024);
	assert_int_equal(r.h.len, 5);
	assert_memory_equal(r.data, "hello", 5);
	/* Guest to host. */
	g_send(&f, VIRTIO_VSOCK_OP_RW, 1024, local, "world!", 6);
	h_read_all(&f, fd, buf, 6);
	assert_string_equal(buf, "world!");
	/* The guest closes: it gets the RST it waits for, the host its EOF. */
	{
		struct vsock_pkt p = gpkt(VIRTIO_VSOCK_OP_SHUTDOWN, 1024, local, 0);

		p.flags = VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
		g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	}
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, local, 1024);
	h_expect_eof(&f, fd);
	close(fd);
	fx_stop(&f);
}

/* Bytes the client writes right behind its CONNECT line belong to the stream. */
static void data_behind_connect_line(void **state)
{
	struct fx f;
	struct rpkt r;
	uint32_t local;
	char got[32] = { 0 }, want[32];
	int fd;

	fx_start(&f);
	fd = h_socket_to(f.uds);
	assert_int_equal(write(fd, "CONNECT 77\nearly", 16), 16);
	local = g_expect_request(&f, &r, 77);
	g_send(&f, VIRTIO_VSOCK_OP_RESPONSE, 77, local, NULL, 0);
	snprintf(want, sizeof(want), "OK %u\n", local);
	h_read_all(&f, fd, got, strlen(want));
	assert_string_equal(got, want);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 77);
	assert_int_equal(r.h.len, 5);
	assert_memory_equal(r.data, "early", 5);
	close(fd);
	fx_stop(&f);
}

static void host_connect_refused(void **state)
{
	struct fx f;
	struct rpkt r;
	int fd, fd2, fd3;
	uint32_t local;

	fx_start(&f);
	/* The guest answers RST: the host socket is closed. */
	fd = h_connect(&f, 80);
	local = g_expect_request(&f, &r, 80);
	g_send(&f, VIRTIO_VSOCK_OP_RST, 80, local, NULL, 0);
	h_expect_eof(&f, fd);
	close(fd);
	/* A malformed line: closed at once. */
	fd2 = h_socket_to(f.uds);
	assert_int_equal(write(fd2, "HELLO 80\n", 9), 9);
	h_expect_eof(&f, fd2);
	close(fd2);
	/* No answer at all: closed after the timeout, and the guest gets an RST. */
	fd3 = h_connect(&f, 81);
	local = g_expect_request(&f, &r, 81);
	h_expect_eof(&f, fd3);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, local, 81);
	close(fd3);
	fx_stop(&f);
}

static void guest_initiated(void **state)
{
	struct fx f;
	struct rpkt r;
	char buf[16] = { 0 };
	int lfd, fd;

	fx_start(&f);
	lfd = h_listen(&f, 5000);
	g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 7000, 5000, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RESPONSE, 5000, 7000);
	assert_int_equal(r.h.buf_alloc, DEV_BUF);
	fd = h_accept(&f, lfd);
	g_send(&f, VIRTIO_VSOCK_OP_RW, 7000, 5000, "ping", 4);
	h_read_all(&f, fd, buf, 4);
	assert_string_equal(buf, "ping");
	assert_int_equal(write(fd, "pong", 4), 4);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, 5000, 7000);
	assert_memory_equal(r.data, "pong", 4);
	/* A second connection to the same port from another guest port. */
	g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 7001, 5000, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RESPONSE, 5000, 7001);
	close(h_accept(&f, lfd));
	/* The host closes: the guest hears SHUTDOWN, then its data gets an RST. */
	g_expect(&f, &r, VIRTIO_VSOCK_OP_SHUTDOWN, 5000, 7001);
	assert_int_equal(r.h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	g_send(&f, VIRTIO_VSOCK_OP_RW, 7001, 5000, "x", 1);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 5000, 7001);
	/* RST: nobody listens at port 5001. */
	g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 7002, 5001, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 5001, 7002);
	/* Packets for no connection are answered with RST, an RST is not. */
	g_send(&f, VIRTIO_VSOCK_OP_RW, 7003, 5000, "y", 1);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 5000, 7003);
	g_send(&f, VIRTIO_VSOCK_OP_RST, 7003, 5000, NULL, 0);
	g_nothing(&f, 50);
	close(fd);
	close(lfd);
	fx_stop(&f);
}

/* The guest's small buf_alloc paces the device, and a stalled device stops the host writer. */
static void credit_toward_guest(void **state)
{
	struct fx f;
	struct rpkt r;
	struct vsock_pkt p;
	uint8_t big[64 * 1024];
	uint32_t local, got = 0;
	size_t written = 0;
	int fd;

	fx_start(&f);
	fd = h_connect(&f, 2000);
	local = g_expect_request(&f, &r, 2000);
	p = gpkt(VIRTIO_VSOCK_OP_RESPONSE, 2000, local, 0);
	p.buf_alloc = 8;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	h_read_all(&f, fd, big, strlen("OK 1073741824\n"));
	assert_int_equal(write(fd, "0123456789abcdefghij", 20), 20);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 2000);
	assert_int_equal(r.h.len, 8);
	assert_memory_equal(r.data, "01234567", 8);
	/* No credit left: nothing more until the guest frees some, and no spinning meanwhile. */
	g_nothing(&f, 100);
	assert_true(count_events(&f, 200) < 10);
	p = gpkt(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 2000, local, 0);
	p.buf_alloc = 8;
	p.fwd_cnt = 5;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 2000);
	assert_int_equal(r.h.len, 5);
	assert_memory_equal(r.data, "89abc", 5);
	g_nothing(&f, 50);
	/* Any packet carries credit: a larger buffer lets the rest through. */
	p = gpkt(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 2000, local, 0);
	p.buf_alloc = 4096;
	p.fwd_cnt = 13;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 2000);
	assert_int_equal(r.h.len, 7);
	assert_memory_equal(r.data, "defghij", 7);
	got = 20;

	/* Back-pressure: with its credit used up the device leaves the socket alone. */
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	memset(big, 'z', sizeof(big));
	for (int i = 0; i < 1000; i++) {
		ssize_t n = write(fd, big, sizeof(big));

		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			run(&f, 20);
			if (write(fd, big, 1) < 0)
				break;
			written++;
			continue;
		}
		written += n;
		run(&f, 1);
	}
	/* The socket buffer filled: far less than the 64 MB offered went anywhere. */
	assert_true(written < 16 * 1024 * 1024);
	/* The guest received what its 4096-byte buffer allowed and nothing more. */
	{
		uint32_t sent = 0;

		while (g_recv_wait(&f, &r, 50)) {
			assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_RW);
			sent += r.h.len;
		}
		assert_int_equal(sent, 4096 - 7);
		got += sent;
	}
	/* Asking for credit is answered with the device's counters. */
	g_send(&f, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 2000, local, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_CREDIT_UPDATE, local, 2000);
	assert_int_equal(r.h.buf_alloc, DEV_BUF);
	assert_int_equal(r.h.fwd_cnt, 0);
	close(fd);
	fx_stop(&f);
}

/* A host that does not read stops the guest through credit; reading lets it go on. */
static void credit_toward_host(void **state)
{
	struct fx f;
	struct rpkt r;
	static uint8_t chunk[4096], in[8 << 20];
	uint32_t local, peer_fwd = 0, tx = 0, total;
	size_t got = 0;
	int fd;

	fx_start(&f);
	fd = open_host_conn(&f, 3000, &local);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)i;
	/* Send as the credit allows until it runs out. */
	for (;;) {
		uint32_t credit = DEV_BUF - (tx - peer_fwd);

		while (g_recv_wait(&f, &r, 0)) {
			assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
			peer_fwd = r.h.fwd_cnt;
		}
		credit = DEV_BUF - (tx - peer_fwd);
		if (credit < sizeof(chunk)) {
			/* Out of credit (or nearly): ask, and stop if nothing is freed. */
			g_send(&f, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 3000, local, NULL, 0);
			g_expect(&f, &r, VIRTIO_VSOCK_OP_CREDIT_UPDATE, local, 3000);
			if (r.h.fwd_cnt == peer_fwd)
				break;
			peer_fwd = r.h.fwd_cnt;
			continue;
		}
		g_send(&f, VIRTIO_VSOCK_OP_RW, 3000, local, chunk, sizeof(chunk));
		tx += sizeof(chunk);
		assert_true(tx < sizeof(in) / 2);
	}
	/* The device holds at most its buffer beyond what the socket took. */
	assert_true(tx - peer_fwd <= DEV_BUF);
	total = tx;
	/* The host drains: the device forwards the rest and returns credit unasked. */
	while (got < total) {
		ssize_t n = h_read(&f, fd, in + got, total - got, WAIT_MS);

		assert_true(n > 0);
		got += n;
	}
	for (size_t i = 0; i < got; i++)
		if (in[i] != (uint8_t)(i % sizeof(chunk)))
			fail_msg("byte %zu differs", i);
	g_recv(&f, &r);
	assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	while (g_recv_wait(&f, &r, 50))
		assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(r.h.fwd_cnt, total);
	close(fd);
	fx_stop(&f);
}

static void half_close(void **state)
{
	struct fx f;
	struct rpkt r;
	struct vsock_pkt p;
	uint32_t local, local2;
	char buf[8] = { 0 };
	int fd, fd2;

	fx_start(&f);
	/* The guest stops sending: the host reads EOF, and can still write. */
	fd = open_host_conn(&f, 4000, &local);
	p = gpkt(VIRTIO_VSOCK_OP_SHUTDOWN, 4000, local, 0);
	p.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	h_expect_eof(&f, fd);
	assert_int_equal(write(fd, "late", 4), 4);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 4000);
	assert_memory_equal(r.data, "late", 4);
	/* Data after its own SHUTDOWN is a protocol error. */
	g_send(&f, VIRTIO_VSOCK_OP_RW, 4000, local, "no", 2);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, local, 4000);

	/* The host stops sending: the guest hears SHUTDOWN, and can still send. */
	fd2 = open_host_conn(&f, 4001, &local2);
	assert_int_equal(shutdown(fd2, SHUT_WR), 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_SHUTDOWN, local2, 4001);
	assert_int_equal(r.h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	g_send(&f, VIRTIO_VSOCK_OP_RW, 4001, local2, "still", 5);
	h_read_all(&f, fd2, buf, 5);
	assert_string_equal(buf, "still");
	/* Then the guest closes as well. */
	p = gpkt(VIRTIO_VSOCK_OP_SHUTDOWN, 4001, local2, 0);
	p.flags = VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, local2, 4001);
	h_expect_eof(&f, fd2);
	close(fd);
	close(fd2);
	fx_stop(&f);
}

#define NPAR 64

static void many_connections(void **state)
{
	struct fx f;
	struct rpkt r;
	int hfd[NPAR], gfd[NPAR], lfd;
	uint32_t local[NPAR];
	bool seen[NPAR] = { false };

	fx_start(&f);
	/* Host-initiated: all REQUESTs first, then the RESPONSEs. */
	for (int i = 0; i < NPAR; i++)
		hfd[i] = h_connect(&f, 10000 + i);
	for (int i = 0; i < NPAR; i++) {
		int k;

		g_recv(&f, &r);
		assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_REQUEST);
		k = (int)r.h.dst_port - 10000;
		assert_true(k >= 0 && k < NPAR && !seen[k]);
		seen[k] = true;
		local[k] = r.h.src_port;
	}
	for (int i = 0; i < NPAR; i++) {
		char want[32], got[32] = { 0 };

		g_send(&f, VIRTIO_VSOCK_OP_RESPONSE, 10000 + i, local[i], NULL, 0);
		snprintf(want, sizeof(want), "OK %u\n", local[i]);
		h_read_all(&f, hfd[i], got, strlen(want));
		assert_string_equal(got, want);
	}
	/* Guest-initiated to one listener. */
	lfd = h_listen(&f, 6000);
	for (int i = 0; i < NPAR; i++) {
		g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 20000 + i, 6000, NULL, 0);
		g_expect(&f, &r, VIRTIO_VSOCK_OP_RESPONSE, 6000, 20000 + i);
		gfd[i] = h_accept(&f, lfd);
	}
	/* Every connection carries its own bytes both ways. */
	for (int i = 0; i < NPAR; i++) {
		char msg[16], buf[16] = { 0 };
		int n = snprintf(msg, sizeof(msg), "h%d", i);

		assert_int_equal(write(hfd[i], msg, n), n);
		g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local[i], 10000 + i);
		assert_memory_equal(r.data, msg, n);
		n = snprintf(msg, sizeof(msg), "g%d", i);
		g_send(&f, VIRTIO_VSOCK_OP_RW, 20000 + i, 6000, msg, n);
		h_read_all(&f, gfd[i], buf, n);
		assert_string_equal(buf, msg);
	}
	/* All host sockets write at once: each message arrives whole, on its connection. */
	for (int i = 0; i < NPAR; i++)
		assert_int_equal(write(gfd[i], "x", 1), 1);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < NPAR; i++) {
		int k;

		g_recv(&f, &r);
		assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_RW);
		k = (int)r.h.dst_port - 20000;
		assert_true(k >= 0 && k < NPAR && !seen[k]);
		seen[k] = true;
	}
	for (int i = 0; i < NPAR; i++) {
		close(hfd[i]);
		close(gfd[i]);
	}
	close(lfd);
	fx_stop(&f);
}

/* Every kind of bad packet is answered with RST or dropped, and the device goes on. */
static void hostile_packets(void **state)
{
	struct fx f;
	struct rpkt r;
	struct vsock_pkt p;
	uint32_t local;
	int fd, lfd, afd;
	uint8_t big[VSOCK_MAX_PKT + 16] = { 0 };

	fx_start(&f);
	/* Too short for a header, or from another CID: dropped, nothing to answer. */
	p = gpkt(VIRTIO_VSOCK_OP_REQUEST, 1, 2, 0);
	g_send_raw(&f, &p, NULL, 0, 10);
	g_send_raw(&f, &p, NULL, 0, 0);
	p.src_cid = 4;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_nothing(&f, 30);
	/* For another CID: RST from that address. */
	p = gpkt(VIRTIO_VSOCK_OP_REQUEST, 1, 2, 0);
	p.dst_cid = 7;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_recv(&f, &r);
	assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_RST);
	assert_int_equal(r.h.src_cid, 7);
	/* Not a stream, an unknown op, an oversized or missing payload: RST. */
	p = gpkt(VIRTIO_VSOCK_OP_REQUEST, 1, 2, 0);
	p.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 2, 1);
	p = gpkt(99, 1, 2, 0);
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 2, 1);
	p = gpkt(0, 1, 2, 0);
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 2, 1);
	p = gpkt(VIRTIO_VSOCK_OP_RW, 1, 2, VSOCK_MAX_PKT + 1);
	g_send_raw(&f, &p, big, sizeof(big), VSOCK_HDR_LEN + VSOCK_MAX_PKT + 1);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 2, 1);
	p = gpkt(VIRTIO_VSOCK_OP_RW, 1, 2, 100);
	g_send_raw(&f, &p, big, 50, VSOCK_HDR_LEN + 50);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 2, 1);
	/* A malformed RST is never answered. */
	p = gpkt(VIRTIO_VSOCK_OP_RST, 1, 2, 0);
	p.type = 9;
	g_send_raw(&f, &p, NULL, 0, VSOCK_HDR_LEN);
	g_nothing(&f, 30);

	/* On an open connection the bad packet ends it: RST, host socket closed. */
	fd = open_host_conn(&f, 8000, &local);
	p = gpkt(VIRTIO_VSOCK_OP_RW, 8000, local, 10);
	p.type = 5;
	g_send_raw(&f, &p, "0123456789", 10, VSOCK_HDR_LEN + 10);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, local, 8000);
	h_expect_eof(&f, fd);
	close(fd);
	/* A RESPONSE where none is due, a second REQUEST: protocol errors. */
	fd = open_host_conn(&f, 8001, &local);
	g_send(&f, VIRTIO_VSOCK_OP_RESPONSE, 8001, local, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, local, 8001);
	h_expect_eof(&f, fd);
	close(fd);

	/* Credit overrun: the host does not read, the guest ignores its credit. */
	lfd = h_listen(&f, 8002);
	g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 9000, 8002, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RESPONSE, 8002, 9000);
	afd = h_accept(&f, lfd);
	{
		bool reset = false;

		for (int i = 0; i < 4096 && !reset; i++) {
			g_send(&f, VIRTIO_VSOCK_OP_RW, 9000, 8002, big, VSOCK_MAX_PKT);
			while (g_recv_wait(&f, &r, 0)) {
				if (r.h.op == VIRTIO_VSOCK_OP_RST) {
					assert_int_equal(r.h.dst_port, 9000);
					reset = true;
				} else {
					assert_int_equal(r.h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
				}
			}
		}
		assert_true(reset);
	}
	/* The host socket was closed under the unread data. */
	{
		static uint8_t sink[1 << 20];
		ssize_t n;

		while ((n = h_read(&f, afd, sink, sizeof(sink), WAIT_MS)) > 0)
			;
		assert_int_equal(n, 0);
	}
	close(afd);

	/* Still working. */
	g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 9001, 8002, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RESPONSE, 8002, 9001);
	close(h_accept(&f, lfd));
	close(lfd);
	assert_false(vdriver_reg_read(&f.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	fx_stop(&f);
}

static void malformed_ring(void **state)
{
	struct fx f;
	uint32_t local;
	int fd;

	fx_start(&f);
	fd = open_host_conn(&f, 1, &local);
	/* A head index past the ring: the device stops and closes its host sockets. */
	vdriver_publish(&f.d, TXQ, 4000);
	kick(&f, TXQ);
	run(&f, 20);
	assert_true(vdriver_reg_read(&f.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	h_expect_eof(&f, fd);
	close(fd);
	fx_stop(&f);

	/* A receive chain with a readable buffer. */
	fx_start(&f);
	{
		uint64_t gpa = vdriver_alloc(&f.d, RX_BUF);
		struct vdriver_buf b = { gpa, RX_BUF, false };

		/* Consume the good buffers first, with REQUESTs that stay unanswered. */
		f.no_repost = true;
		for (int i = 0; i < NR_RX; i++) {
			struct rpkt r;

			fd = h_connect(&f, 100 + i);
			g_recv(&f, &r);
			close(fd);
		}
		vdriver_add(&f.d, RXQ, &b, 1);
		kick(&f, RXQ);
		fd = h_connect(&f, 200);
		run(&f, 50);
		close(fd);
	}
	assert_true(vdriver_reg_read(&f.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	fx_stop(&f);
}

static void reset_closes(void **state)
{
	struct fx f;
	struct rpkt r;
	uint32_t local;
	int fd, lfd, gfd, pending;

	fx_start(&f);
	fd = open_host_conn(&f, 1234, &local);
	lfd = h_listen(&f, 5555);
	g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 4444, 5555, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RESPONSE, 5555, 4444);
	gfd = h_accept(&f, lfd);
	pending = h_connect(&f, 99); /* REQUEST sent, never answered */
	run(&f, 20);
	vdriver_reg_write(&f.d, VIRTIO_MMIO_STATUS, 0);
	h_expect_eof(&f, fd);
	h_expect_eof(&f, gfd);
	h_expect_eof(&f, pending);
	close(fd);
	close(gfd);
	close(pending);
	/* A new driver starts afresh. */
	assert_true(vdriver_init(&f.d, &f.gm, f.vdev, 0, 3, QSIZE) & VIRTIO_CONFIG_S_DRIVER_OK);
	post_rx_n(&f, NR_RX);
	fd = open_host_conn(&f, 1234, &local);
	assert_int_equal(write(fd, "again", 5), 5);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 1234);
	assert_memory_equal(r.data, "again", 5);
	close(fd);
	close(lfd);
	fx_stop(&f);
}

/* Without receive buffers nothing is read, and the device does not spin. */
static void no_rx_buffers(void **state)
{
	struct fx f;
	struct rpkt r;
	uint32_t local;
	int fd;

	fx_start(&f);
	fd = open_host_conn(&f, 1500, &local);
	f.no_repost = true;
	/* Use up the receive buffers. */
	for (int i = 0; i < NR_RX; i++) {
		assert_int_equal(write(fd, "a", 1), 1);
		g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 1500);
	}
	assert_int_equal(write(fd, "bcd", 3), 3);
	g_nothing(&f, 50);
	/* The loop sleeps: few events in 200 ms. */
	assert_true(count_events(&f, 200) < 10);
	f.no_repost = false;
	post_rx_n(&f, 4);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 1500);
	assert_int_equal(r.h.len, 3);
	assert_memory_equal(r.data, "bcd", 3);
	close(fd);
	fx_stop(&f);
}

#define MAX_CONNS 1024

/* The table is bounded: one past it is refused both ways, and a freed slot is used again. */
static void connection_limit(void **state)
{
	static int gfd[MAX_CONNS];
	struct rlimit rl;
	struct fx f;
	struct rpkt r;
	int lfd, fd;

	/* Two fds per connection, the device's and ours. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2 * MAX_CONNS + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < 2 * MAX_CONNS + 64) {
			printf("SKIPPED: RLIMIT_NOFILE below %d\n", 2 * MAX_CONNS + 64);
			skip();
		}
	}
	fx_start(&f);
	lfd = h_listen(&f, 7777);
	for (int i = 0; i < MAX_CONNS; i++) {
		g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 30000 + i, 7777, NULL, 0);
		g_expect(&f, &r, VIRTIO_VSOCK_OP_RESPONSE, 7777, 30000 + i);
		gfd[i] = h_accept(&f, lfd);
	}
	g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 29999, 7777, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RST, 7777, 29999);
	fd = h_connect(&f, 1);
	h_expect_eof(&f, fd);
	close(fd);
	/* The guest resets one: there is room again. */
	g_send(&f, VIRTIO_VSOCK_OP_RST, 30000, 7777, NULL, 0);
	h_expect_eof(&f, gfd[0]);
	g_send(&f, VIRTIO_VSOCK_OP_REQUEST, 29999, 7777, NULL, 0);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RESPONSE, 7777, 29999);
	close(gfd[0]);
	gfd[0] = h_accept(&f, lfd);
	for (int i = 0; i < MAX_CONNS; i++)
		close(gfd[i]);
	close(lfd);
	fx_stop(&f);
}

static void parse_connect_line(void **state)
{
	uint32_t port = 0;

	assert_true(vsock_parse_connect("CONNECT 1024\n", 13, &port));
	assert_int_equal(port, 1024);
	assert_true(vsock_parse_connect("CONNECT 4294967295\r\n", 20, &port));
	assert_int_equal(port, 4294967295u);
	assert_false(vsock_parse_connect("CONNECT 4294967296\n", 19, &port));
	assert_false(vsock_parse_connect("CONNECT \n", 9, &port));
	assert_false(vsock_parse_connect("connect 1\n", 10, &port));
	assert_false(vsock_parse_connect("CONNECT 1 \n", 11, &port));
	assert_false(vsock_parse_connect("CONNECT 1", 9, &port));
}

/*
 * A snapshot keeps no connection: the restored device starts with none and
 * tells the guest with TRANSPORT_RESET once it has an event buffer.
 */
static void snapshot_transport_reset(void **state)
{
	struct fx f;
	struct rpkt r;
	struct state_writer w;
	struct state_reader rd;
	struct err err = { 0 };
	struct vsock_params p = { .guest_cid = GUEST_CID };
	const struct vsock_stats *st;
	uint64_t ev_gpa;
	uint32_t local, id, len;
	char buf[8] = { 0 };
	int fd, irq;

	fx_start(&f);
	fd = open_host_conn(&f, 1024, &local);
	assert_int_equal(write(fd, "hello", 5), 5);
	g_expect(&f, &r, VIRTIO_VSOCK_OP_RW, local, 1024);
	g_send(&f, VIRTIO_VSOCK_OP_RW, 1024, local, "world!", 6);
	h_read_all(&f, fd, buf, 6);
	st = virtio_vsock_stats(f.vs);
	assert_int_equal(stats_get(st->conns_opened), 1);
	assert_int_equal(stats_get(st->rx_bytes), 5);
	assert_int_equal(stats_get(st->tx_bytes), 6);

	state_writer_init(&w);
	virtio_dev_save(f.vdev, &w);
	assert_int_equal(state_writer_status(&w), 0);
	/* The VMM goes away, and the host end with it. */
	virtio_vsock_destroy(f.vs);
	h_expect_eof(&f, fd);
	close(fd);

	/* A new VMM, the same configuration. */
	p.uds_path = f.uds;
	f.vs = virtio_vsock_create(&p, &f.gm, &err);
	assert_non_null(f.vs);
	f.vdev = f.d.vdev = virtio_vsock_dev(f.vs);
	irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	for (int q = 0; q < 3; q++)
		f.kick[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(virtio_dev_attach(f.vdev, &f.loop, irq, f.kick, &err), 0);
	state_reader_init(&rd, w.data, w.len);
	assert_int_equal(virtio_dev_restore(f.vdev, &rd, &err), 0);
	run(&f, 5);
	/* No event buffer yet: the reset waits for one. */
	assert_false(vdriver_used(&f.d, EVQ, &id, &len));
	ev_gpa = vdriver_alloc(&f.d, 8);
	memset(vdriver_host(&f.d, ev_gpa, 8), 0xff, 8);
	vdriver_add(&f.d, EVQ, &(struct vdriver_buf){ ev_gpa, 8, true }, 1);
	kick(&f, EVQ);
	run(&f, 5);
	assert_true(vdriver_used(&f.d, EVQ, &id, &len));
	assert_int_equal(len, 4);
	assert_int_equal(le32toh(*(uint32_t *)vdriver_host(&f.d, ev_gpa, 4)),
			 VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	/* Once only. */
	vdriver_add(&f.d, EVQ, &(struct vdriver_buf){ ev_gpa, 8, true }, 1);
	kick(&f, EVQ);
	run(&f, 5);
	assert_false(vdriver_used(&f.d, EVQ, &id, &len));
	/* New connections work on the receive buffers posted before the snapshot. */
	fd = open_host_conn(&f, 1025, &local);
	close(fd);
	state_writer_fini(&w);
	fx_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test(fn)
		T(parse_connect_line),
		T(identity),
		T(create_errors),
		T(host_initiated),
		T(data_behind_connect_line),
		T(host_connect_refused),
		T(guest_initiated),
		T(credit_toward_guest),
		T(credit_toward_host),
		T(half_close),
		T(many_connections),
		T(hostile_packets),
		T(malformed_ring),
		T(reset_closes),
		T(no_rx_buffers),
		T(connection_limit),
		T(snapshot_transport_reset),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
