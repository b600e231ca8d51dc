// SPDX-License-Identifier: Apache-2.0
/*
 * The counter test, for snapshot and restore: print "counter N" (N = 1, 2,
 * 3, ...) about every kvmlet.counter_ms (default 20 ms, TSC-timed), and
 * after each line verify that a memory area still holds the pattern of the
 * previous step while overwriting it with this step's. A VM restored from a
 * snapshot goes on counting from where it was paused; one whose memory was
 * not restored faithfully prints "counter FAIL (...)" (or crashes).
 *
 * The line is printed before the memory pass, so that after a restore the
 * next line appears as soon as the current wait ends. The TSC may jump
 * across a pause or a restore, forwards or (if the VMM does not restore it)
 * backwards: either way the next line is due at once and the schedule
 * starts over from there, without a burst of catch-up lines.
 *
 * With kvmlet.counter_blk=1 each step also writes a 4 KiB block with the
 * step's pattern to the first virtio-blk disk and reads it back, so that a
 * restored device (its queue indices, its in-flight state) is exercised
 * on every line: a device that lost its place times out or returns the
 * wrong data, and the test prints "counter FAIL (blk ...)". The block read
 * back is checked again at the next step, so memory that only the device
 * wrote must survive a snapshot too.
 *
 * With kvmlet.counter_net=1 (and kvmlet.ip=, kvmlet.peer=) each step also
 * sends "counter N" in a UDP datagram to port 7777 of the peer and waits
 * for it to come back, so a restored virtio-net device must both transmit
 * and receive: "counter FAIL (net ...)" otherwise.
 */
#include <linux/virtio_ids.h>
#include <stdint.h>
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
#include "uart.h"
#include "virtio_blk.h"

#define DEFAULT_PERIOD_MS 20
#define DEFAULT_AREA_MIB  8
#define MAX_PERIOD_MS	  3600000
#define MAX_AREA_MIB	  1024
static inline uint64_t pattern(uint64_t step, uint64_t addr)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ULL ^ step * 0xc2b2ae3d27d4eb4fULL;

	return x ^ (x >> 29) ^ step;
}

struct area {
	volatile uint64_t *base;
	uint64_t words;
	uint64_t sum;	    /* running checksum of every word verified */
	uint64_t bad_value; /* what the first bad word held */
};

/*
 * Checks that the area holds step @prev's pattern (unless @prev is 0: the
 * first fill) and writes step @next's. Returns the first bad word's index
 * plus one, or 0.
 */
static uint64_t pass(struct area *a, uint64_t prev, uint64_t next)
{
	volatile uint64_t *p = a->base;
	uint64_t bad = 0, sum = 0;

	for (uint64_t i = 0; i < a->words; i++) {
		uint64_t addr = (uint64_t)&p[i];

		if (prev) {
			uint64_t v = p[i];

			sum += v;
			if (v != pattern(prev, addr) && !bad) {
				bad = i + 1;
				a->bad_value = v;
			}
		}
		p[i] = pattern(next, addr);
	}
	a->sum += sum;
	return bad;
}

/*
 * Busy-waits in ring 3 (no VM exits) until @due, or until the TSC is found
 * to have gone backwards past @last (a restore that did not carry the TSC).
 */
static void wait_until(uint64_t due, uint64_t last)
{
	for (;;) {
		uint64_t now = rdtsc();

		if ((int64_t)(now - due) >= 0 || (int64_t)(now - last) < 0)
			return;
		cpu_relax();
	}
}

#define BLK_BLOCK 4096
#define BLK_SLOTS 64 /* the step's block goes to slot step % BLK_SLOTS */

struct counter_blk {
	struct vblk b;
	struct vblk_req *req;
	uint64_t *wbuf, *rbuf;
};

static bool counter_blk_open(struct counter_blk *c, char *detail, size_t len)
{
	struct virtio_dev dev;
	char why[96];

	if (!virtio_find(VIRTIO_ID_BLOCK, &dev, 1)) {
		fmt_snprintf(detail, len, "kvmlet.counter_blk=1 but no virtio-blk disk");
		return false;
	}
	if (!vblk_open(&c->b, &dev, VBLK_FEATURES, VIRTQ_MAX_SIZE, why, sizeof(why))) {
		fmt_snprintf(detail, len, "blk: %s", why);
		return false;
	}
	c->req = vblk_reqs(1);
	c->wbuf = dma_alloc(BLK_BLOCK, 4096);
	c->rbuf = dma_alloc(BLK_BLOCK, 4096);
	if (!c->req || !c->wbuf || !c->rbuf || c->b.ro ||
	    c->b.capacity < BLK_SLOTS * (BLK_BLOCK / VBLK_SECTOR)) {
		fmt_snprintf(detail, len, "blk: no DMA memory, or the disk is read-only or small");
		return false;
	}
	return true;
}

/* Writes step n's block and reads it back; false (and a FAIL line) if that fails. */
static bool counter_blk_step(struct counter_blk *c, uint64_t n, char *detail, size_t len)
{
	uint64_t sector = (n % BLK_SLOTS) * (BLK_BLOCK / VBLK_SECTOR);
	int w, r = -1;

	/*
	 * rbuf still holds what the device read for the previous step: memory
	 * the device wrote, which a snapshot (a diff one too) must carry.
	 */
	for (unsigned int i = 0; n > 1 && i < BLK_BLOCK / 8; i++) {
		if (c->rbuf[i] != pattern(n - 1, i)) {
			cons_printf("counter FAIL (blk step %lu: the last read's data is gone)\n",
				    n);
			uart_wait_idle();
			fmt_snprintf(detail, len, "device-written memory lost at counter %lu", n);
			return false;
		}
	}
	/* Only the device writes rbuf: step n's pattern differs from the last one. */
	for (unsigned int i = 0; i < BLK_BLOCK / 8; i++)
		c->wbuf[i] = pattern(n, i);
	w = vblk_sync(&c->b, c->req, VIRTIO_BLK_T_OUT, sector, c->wbuf, BLK_BLOCK, VBLK_FLAT);
	if (w == VIRTIO_BLK_S_OK)
		r = vblk_sync(&c->b, c->req, VIRTIO_BLK_T_IN, sector, c->rbuf, BLK_BLOCK,
			      VBLK_FLAT);
	if (r == VIRTIO_BLK_S_OK && !memcmp(c->wbuf, c->rbuf, BLK_BLOCK))
		return true;
	cons_printf("counter FAIL (blk step %lu: write %d, read %d%s)\n", n, w, r,
		    r == VIRTIO_BLK_S_OK ? ", data differs" : "");
	uart_wait_idle();
	fmt_snprintf(detail, len, "blk broken at counter %lu", n);
	return false;
}

#define NET_PORT	    7777
#define NET_RX_BUF	    1024
#define NET_ARP_TIMEOUT_US  5000000
#define NET_ECHO_TIMEOUT_US 2000000
#define NET_RESEND_US	    500000

struct counter_net {
	struct vnet nic;
	struct netif nif;
	uint64_t echoed; /* the last step whose datagram came back */
};

static void counter_net_udp(struct netif *nif, const uint8_t *from_mac, uint32_t from_ip,
			    uint16_t sport, uint16_t dport, const uint8_t *data, size_t len)
{
	struct counter_net *c = nif->ctx;
	uint64_t n = 0;

	if (dport != NET_PORT || len <= 8 || len > 28 || memcmp(data, "counter ", 8))
		return;
	for (size_t i = 8; i < len; i++) {
		if (data[i] < '0' || data[i] > '9')
			return;
		n = n * 10 + (data[i] - '0');
	}
	/* A late copy of an earlier step's echo (it was sent again) changes nothing. */
	if (n > c->echoed)
		c->echoed = n;
}

static bool counter_net_open(struct counter_net *c, char *detail, size_t len)
{
	struct virtio_dev dev;
	char why[96];

	if (!virtio_find(VIRTIO_ID_NET, &dev, 1)) {
		fmt_snprintf(detail, len, "kvmlet.counter_net=1 but no virtio-net device");
		return false;
	}
	c->nic.dev = dev;
	if (!netif_open(&c->nif, &c->nic, &dev, 0, NET_RX_BUF, why, sizeof(why))) {
		fmt_snprintf(detail, len, "net: %s", why);
		return false;
	}
	c->nif.udp = counter_net_udp;
	c->nif.ctx = c;
	if (!netif_resolve_peer(&c->nif, NET_ARP_TIMEOUT_US)) {
		fmt_snprintf(detail, len, "net: the peer does not answer ARP");
		return false;
	}
	return true;
}

/*
 * Sends step n's datagram and waits for it to come back, sending it again
 * every NET_RESEND_US: UDP may lose one (a live migration drops what
 * reaches the source's TAP after the pause), and the echo is idempotent.
 */
static bool counter_net_step(struct counter_net *c, uint64_t n, char *detail, size_t len)
{
	struct deadline d = deadline_in_us(NET_ECHO_TIMEOUT_US);
	struct deadline resend = deadline_in_us(0);
	char msg[32];
	size_t mlen = fmt_snprintf(msg, sizeof(msg), "counter %lu", n);
	bool sent = false;

	while (c->echoed != n && !deadline_passed(&d)) {
		if (deadline_passed(&resend)) {
			vnet_tx_reclaim(&c->nic);
			sent |= net_udp_send(&c->nif, c->nif.peer_mac, c->nif.peer_ip, NET_PORT,
					     NET_PORT, msg, mlen, false);
			resend = deadline_in_us(NET_RESEND_US);
		}
		if (!net_poll(&c->nif))
			cpu_relax();
	}
	if (sent && c->echoed == n)
		return true;
	cons_printf("counter FAIL (net step %lu: %s)\n", n,
		    sent ? "no echo within 2 s" : "transmit ring full");
	uart_wait_idle();
	fmt_snprintf(detail, len, "net broken at counter %lu", n);
	return false;
}

bool test_counter(char *detail, size_t len)
{
	uint64_t stop = cmdline_get_u64(bootinfo.cmdline, "kvmlet.counter_stop", 0);
	uint64_t ms = cmdline_get_u64(bootinfo.cmdline, "kvmlet.counter_ms", DEFAULT_PERIOD_MS);
	uint64_t mib = cmdline_get_u64(bootinfo.cmdline, "kvmlet.counter_mib", DEFAULT_AREA_MIB);
	uint64_t use_blk = cmdline_get_u64(bootinfo.cmdline, "kvmlet.counter_blk", 0);
	uint64_t use_net = cmdline_get_u64(bootinfo.cmdline, "kvmlet.counter_net", 0);
	uint64_t mark = dma_mark();
	uint64_t period, due, last, t;
	struct counter_blk blk;
	struct counter_net net = { 0 };
	struct area a = { 0 };
	struct deadline d;

	if (!ms || ms > MAX_PERIOD_MS || !mib || mib > MAX_AREA_MIB) {
		fmt_snprintf(detail, len,
			     "kvmlet.counter_ms must be 1..%u, kvmlet.counter_mib 1..%u",
			     MAX_PERIOD_MS, MAX_AREA_MIB);
		return false;
	}
	a.words = (mib << 20) / sizeof(uint64_t);
	a.base = dma_alloc(mib << 20, 4096);
	if (!a.base) {
		fmt_snprintf(detail, len, "no room for a %lu MiB area", mib);
		return false;
	}
	if (use_blk && !counter_blk_open(&blk, detail, len)) {
		dma_release(mark);
		return false;
	}
	if (use_net && !counter_net_open(&net, detail, len)) {
		if (use_blk)
			virtio_reset(&blk.b.dev);
		if (net.nic.dev.device_id)
			virtio_reset(&net.nic.dev);
		dma_release(mark);
		return false;
	}
	clock_init();
	t = rdtsc();
	d = deadline_in_us(ms * 1000);
	period = d.end - t; /* the calibrated period in TSC ticks */
	pass(&a, 0, 1);

	last = rdtsc();
	due = last;
	for (uint64_t n = 1;; n++) {
		uint64_t bad, now;

		wait_until(due, last);
		now = rdtsc();
		cons_printf("counter %lu\n", n);
		/*
		 * Under kvmlet-vmm the line may sit in KVM's coalesced PIO ring
		 * until the next exit; reading LSR is one, so it leaves now.
		 */
		uart_wait_idle();
		bad = pass(&a, n, n + 1);
		if (bad) {
			uint64_t addr = (uint64_t)&a.base[bad - 1];

			cons_printf(
				"counter FAIL (step %lu: 0x%016lx at 0x%lx, expected 0x%016lx)\n",
				n, a.bad_value, addr, pattern(n, addr));
			uart_wait_idle();
			fmt_snprintf(detail, len, "memory lost after counter %lu: 0x%lx", n, addr);
			dma_release(mark);
			return false;
		}
		if ((use_blk && !counter_blk_step(&blk, n, detail, len)) ||
		    (use_net && !counter_net_step(&net, n, detail, len))) {
			if (use_blk)
				virtio_reset(&blk.b.dev);
			if (use_net)
				virtio_reset(&net.nic.dev);
			dma_release(mark);
			return false;
		}
		if (stop && n >= stop)
			break;
		/* On schedule, or start the schedule over after a jump or a late step. */
		if ((int64_t)(now - last) < 0 || now - due > period)
			due = now + period;
		else
			due += period;
		last = now;
	}
	fmt_snprintf(detail, len, "%lu counts, %lu MiB rewritten every %lu ms, checksum 0x%016lx",
		     stop, mib, ms, a.sum);
	if (use_blk)
		virtio_reset(&blk.b.dev);
	if (use_net)
		virtio_reset(&net.nic.dev);
	dma_release(mark);
	return true;
}
