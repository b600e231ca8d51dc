// SPDX-License-Identifier: Apache-2.0
/*
 * vsock tests on the first virtio-vsock device (see README.md):
 *
 * vsock-agent   listen on kvmlet.vsock_port (default 1024), serve the
 *               guest-agent subset (vsock_agent.c) on up to 32 connections
 *               at once until one sends the raw line "quit".
 * vsock-connect connect to CID 2, port kvmlet.vsock_port (default 1234),
 *               send "hello from the guest\n", print the line that comes
 *               back; kvmlet.vsock_expect=refused expects an RST instead.
 * vsock-stream  on the first connection accepted on kvmlet.vsock_port,
 *               send kvmlet.vsock_bytes (default 256M) as fast as the
 *               peer's credit allows, then SHUTDOWN; prints a bench line.
 * vsock-echo    on the first connection accepted, send back every byte
 *               received until the peer shuts down.
 *
 * Everything is polled from ring 3: when there is nothing to do the loop
 * reads the used rings (RAM) and pauses; QueueNotify (a VM exit) is
 * written only after adding buffers and only when the device asked for it.
 * kvmlet.vsock_timeout=S (default 60) bounds every wait for the peer.
 */
#include <linux/virtio_ids.h>
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "dma.h"
#include "exit.h"
#include "fmt.h"
#include "libc.h"
#include "tests.h"
#include "virtio_vsock.h"
#include "vsock_agent.h"
#include "vsock_serve.h"

#define AGENT_PORT	   1024
#define CONNECT_PORT	   1234
#define DEFAULT_BYTES	   (256ULL << 20)
#define DEFAULT_TIMEOUT_S  60
#define LINGER_US	   2000000  /* SHUTDOWN, then RST if the peer does not answer */
#define STREAM_LINGER_US   30000000 /* the host may still be reading what we sent */
#define DRAIN_US	   1000000
#define AGENT_OUT_BUF	   (4 * AGENT_OUT_MAX)
#define HELLO		   "hello from the guest\n"
#define LINE_MAX	   4096
#define STREAM_PATTERN_MOD 251	 /* stream byte at offset i is i % 251 */
#define AGENT_HOOK_US	   10000 /* how often agent_loop runs its caller's hook */
#define AGENT_SPIN_US	   2000	 /* idle this long before the caller's wait */

static uint64_t timeout_us(void)
{
	uint64_t s = cmdline_get_u64(bootinfo.cmdline, "kvmlet.vsock_timeout", DEFAULT_TIMEOUT_S);

	return (s ? s : DEFAULT_TIMEOUT_S) * 1000000;
}

static uint32_t port_arg(uint32_t def)
{
	uint64_t p = cmdline_get_u64(bootinfo.cmdline, "kvmlet.vsock_port", def);

	return p && p <= UINT32_MAX ? (uint32_t)p : def;
}

/* kvmlet.vsock_bytes=N with an optional K, M or G suffix. */
static uint64_t bytes_arg(void)
{
	size_t len;
	const char *v = cmdline_get(bootinfo.cmdline, "kvmlet.vsock_bytes", &len), *end;
	uint64_t x;

	if (!v)
		return DEFAULT_BYTES;
	end = v + len;
	if (!cmdline_parse_u64(&v, end, &x))
		return DEFAULT_BYTES;
	if (v < end && v + 1 == end) {
		switch (*v) {
		case 'k':
		case 'K':
			return x << 10;
		case 'm':
		case 'M':
			return x << 20;
		case 'g':
		case 'G':
			return x << 30;
		}
		return DEFAULT_BYTES;
	}
	return v == end ? x : DEFAULT_BYTES;
}

/*
 * Every mode starts the same way: its DMA allocations (allocated says
 * whether they all succeeded) and the device. On failure the allocations
 * since mark are released and detail says why.
 */
static bool open_dev(struct vsock *v, bool allocated, uint64_t mark, char *detail, size_t len)
{
	struct virtio_dev d;
	char why[120];

	if (!allocated) {
		fmt_snprintf(detail, len, "out of memory");
		goto fail;
	}
	if (!virtio_find(VIRTIO_ID_VSOCK, &d, 1)) {
		fmt_snprintf(detail, len, "no virtio-vsock device");
		goto fail;
	}
	clock_init();
	if (!vsock_open(v, &d, why, sizeof(why))) {
		fmt_snprintf(detail, len, "vsock: %s", why);
		virtio_reset(&v->dev);
		goto fail;
	}
	return true;
fail:
	dma_release(mark);
	return false;
}

/* Polls until no connection is left or @us passes, then lets transmits drain and resets. */
static void finish(struct vsock *v, uint64_t us)
{
	struct deadline dl = deadline_in_us(us);

	while (vsock_active(v) && !deadline_passed(&dl))
		if (!vsock_poll(v))
			cpu_relax();
	vsock_close(v, DRAIN_US);
}

/* Waits for the first accepted connection; NULL (with a reason) on timeout. */
static struct vsock_conn *wait_accept(struct vsock *v, uint32_t port, char *detail, size_t len)
{
	struct deadline dl = deadline_in_us(timeout_us());
	struct vsock_conn *c;

	vsock_listen(v, port);
	cons_printf("vsock: listening on port %u\n", port);
	while (!(c = vsock_accept(v))) {
		if (deadline_passed(&dl)) {
			fmt_snprintf(detail, len, "no connection on port %u within %lu s", port,
				     timeout_us() / 1000000);
			return NULL;
		}
		if (!vsock_poll(v))
			cpu_relax();
	}
	vsock_listen(v, 0); /* one connection: later ones are refused */
	return c;
}

/* ---- vsock-agent ---- */

struct agent_conn {
	struct vsock_conn *c;
	bool discarding; /* the line is too long: skip to its newline */
	size_t line_len, out_off, out_len;
	char line[AGENT_LINE_MAX];
	char out[AGENT_OUT_BUF];
};

struct agent_state {
	struct agent ga;
	struct agent_conn conns[VSOCK_MAX_CONNS];
	uint64_t accepted, requests;
	bool quit;
};

static void agent_line(struct agent_state *s, struct agent_conn *ac)
{
	size_t n = ac->line_len;

	ac->line_len = 0;
	if (n && ac->line[n - 1] == '\r')
		n--;
	if (n == 4 && !memcmp(ac->line, "quit", 4)) {
		s->quit = true;
		return;
	}
	/* Blank lines are ignored, as qemu-ga's parser does. */
	for (size_t i = 0; i < n; i++) {
		char ch = ac->line[i];

		if (ch != ' ' && ch != '\t') {
			ac->out_len += agent_handle(&s->ga, ac->line, n,
						    clock_tsc_to_ns(rdtsc() - clock_boot_tsc),
						    ac->out + ac->out_len);
			s->requests++;
			return;
		}
	}
}

/* Input while there is room for a full response; output as credit allows. */
static unsigned int agent_serve(struct vsock *v, struct agent_state *s, struct agent_conn *ac)
{
	unsigned int work = 0;
	char ch;

	if (ac->out_off == ac->out_len) {
		ac->out_off = ac->out_len = 0;
	} else if (ac->out_off && ac->out_len > AGENT_OUT_BUF - AGENT_OUT_MAX) {
		/* Room for the next response: what is still unsent moves to the front. */
		memmove(ac->out, ac->out + ac->out_off, ac->out_len - ac->out_off);
		ac->out_len -= ac->out_off;
		ac->out_off = 0;
	}
	/* After "quit" or guest-shutdown nothing more is read. */
	while (!s->quit && s->ga.power == AGENT_POWER_NONE &&
	       AGENT_OUT_BUF - ac->out_len >= AGENT_OUT_MAX && vsock_read(v, ac->c, &ch, 1)) {
		work++;
		if ((unsigned char)ch == 0xff) {
			/* qemu-ga's resynchronisation byte: drop the partial line. */
			ac->line_len = 0;
			ac->discarding = false;
		} else if (ch == '\n') {
			if (ac->discarding) {
				ac->discarding = false;
				ac->line_len = 0;
				ac->out_len += agent_too_long(ac->out + ac->out_len);
				s->requests++;
			} else {
				agent_line(s, ac);
			}
		} else if (!ac->discarding) {
			if (ac->line_len < AGENT_LINE_MAX)
				ac->line[ac->line_len++] = ch;
			else
				ac->discarding = true;
		}
	}
	if (ac->out_off < ac->out_len) {
		size_t n = vsock_write(v, ac->c, ac->out + ac->out_off, ac->out_len - ac->out_off);

		ac->out_off += n;
		work += n != 0;
	}
	return work;
}

/* Sends the answers already made (bounded), for a clean end. */
static void agent_linger(struct vsock *v, struct agent_state *s)
{
	struct deadline dl = deadline_in_us(LINGER_US);
	bool pending = true;

	while (pending && !deadline_passed(&dl)) {
		pending = false;
		for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++) {
			struct agent_conn *ac = &s->conns[i];

			if (!ac->c || ac->c->state != VS_ESTABLISHED || ac->out_off == ac->out_len)
				continue;
			ac->out_off += vsock_write(v, ac->c, ac->out + ac->out_off,
						   ac->out_len - ac->out_off);
			pending |= ac->out_off < ac->out_len;
		}
		if (!vsock_poll(v) && pending)
			cpu_relax();
	}
}

/* Serves until "quit", guest-shutdown, the hook says stop, or (idle_us) idleness. */
static enum agent_end agent_loop(struct vsock *v, struct agent_state *s,
				 const struct agent_serve_opts *o)
{
	struct deadline hook_at = deadline_in_us(AGENT_HOOK_US);
	uint64_t busy_tsc = rdtsc(); /* the last turn that did something */

	v->last_rx_tsc = rdtsc();
	for (;;) {
		struct vsock_conn *c;
		unsigned int work = vsock_poll(v);

		while ((c = vsock_accept(v))) {
			struct agent_conn *ac = &s->conns[c - v->conns];

			ac->c = c;
			ac->discarding = false;
			ac->line_len = ac->out_off = ac->out_len = 0;
			s->accepted++;
			work++;
		}
		for (unsigned int i = 0; i < VSOCK_MAX_CONNS && !s->quit; i++) {
			struct agent_conn *ac = &s->conns[i];

			if (!ac->c)
				continue;
			work += agent_serve(v, s, ac);
			/* The peer is gone, or done and answered: close our side. */
			if (ac->c->state == VS_CLOSED ||
			    (vsock_eof(ac->c) && ac->out_off == ac->out_len) ||
			    ac->c->peer_no_rcv) {
				vsock_release(v, ac->c, LINGER_US);
				ac->c = NULL;
			}
		}
		if (s->quit)
			return AGENT_END_QUIT;
		if (s->ga.power != AGENT_POWER_NONE)
			return AGENT_END_SHUTDOWN;
		/* The hook may cost a VM exit: not on every turn of a busy loop. */
		if (o->hook && deadline_passed(&hook_at)) {
			hook_at = deadline_in_us(AGENT_HOOK_US);
			if (o->hook(o->ctx))
				return AGENT_END_HOOK;
		}
		if (work) {
			busy_tsc = rdtsc();
		} else {
			if (o->idle_us && clock_us_since(v->last_rx_tsc) > o->idle_us)
				return AGENT_END_IDLE;
			/* Spin through a burst of requests; sleep once it is over. */
			if (o->wait && clock_us_since(busy_tsc) > AGENT_SPIN_US)
				o->wait(o->ctx);
			else
				cpu_relax();
		}
	}
}

bool agent_serve_vsock(const struct agent_serve_opts *o, struct agent_serve_result *r, char *detail,
		       size_t len)
{
	uint64_t mark = dma_mark();
	uint32_t port = port_arg(AGENT_PORT);
	struct agent_state *s = dma_alloc(sizeof(*s), 64);
	struct vsock *v = dma_alloc(sizeof(*v), 64);

	if (!open_dev(v, s && v, mark, detail, len))
		return false;
	vsock_listen(v, port);
	o->ready(o->ctx, port);
	r->end = agent_loop(v, s, o);
	/* Answers already made still go out, then every connection is closed. */
	if (r->end != AGENT_END_IDLE)
		agent_linger(v, s);
	r->power = s->ga.power;
	r->accepted = s->accepted;
	r->requests = s->requests;
	for (unsigned int i = 0; i < VSOCK_MAX_CONNS; i++)
		if (s->conns[i].c)
			vsock_release(v, s->conns[i].c, LINGER_US);
	vsock_listen(v, 0);
	finish(v, LINGER_US);
	dma_release(mark);
	return true;
}

static void agent_ready(void *ctx, uint32_t port)
{
	cons_printf("vsock: listening on port %u\n", port);
}

bool test_vsock_agent(char *detail, size_t len)
{
	const struct agent_serve_opts o = { .idle_us = timeout_us(), .ready = agent_ready };
	struct agent_serve_result r;

	if (!agent_serve_vsock(&o, &r, detail, len))
		return false;
	if (r.end == AGENT_END_IDLE) {
		fmt_snprintf(detail, len,
			     "no \"quit\" line, idle for %lu s (%lu connections, %lu requests)",
			     o.idle_us / 1000000, r.accepted, r.requests);
		return false;
	}
	fmt_snprintf(detail, len, "%lu connections, %lu requests", r.accepted, r.requests);
	/* guest-shutdown ends the VM here too, once the verdict is out (main.c). */
	if (r.end == AGENT_END_SHUTDOWN)
		fw_power_request(r.power == AGENT_POWER_RESET ? FW_POWER_RESET : FW_POWER_OFF);
	return true;
}

/* ---- vsock-connect ---- */

static bool expect_refused(void)
{
	size_t len;
	const char *v = cmdline_get(bootinfo.cmdline, "kvmlet.vsock_expect", &len);

	return v && len == 7 && !memcmp(v, "refused", 7);
}

bool test_vsock_connect(char *detail, size_t len)
{
	uint64_t mark = dma_mark();
	uint32_t port = port_arg(CONNECT_PORT);
	bool refused_ok = expect_refused(), ok = false, got_line = false;
	struct vsock *v = dma_alloc(sizeof(*v), 64);
	char *line = dma_alloc(LINE_MAX + 1, 64);
	size_t n = 0, sent = 0;
	struct vsock_conn *c;
	struct deadline dl;

	if (!open_dev(v, v && line, mark, detail, len))
		return false;
	c = vsock_connect(v, VSOCK_HOST_CID, port);
	if (!c) {
		fmt_snprintf(detail, len, "no free connection");
		goto out;
	}
	dl = deadline_in_us(timeout_us());
	while (c->state == VS_CONNECTING && !deadline_passed(&dl))
		if (!vsock_poll(v))
			cpu_relax();
	if (c->state == VS_CONNECTING) {
		fmt_snprintf(detail, len, "no answer to REQUEST for port %u within %lu s", port,
			     timeout_us() / 1000000);
		goto release;
	}
	if (c->refused || c->state == VS_CLOSED) {
		cons_printf("vsock: connection refused\n");
		ok = refused_ok;
		fmt_snprintf(detail, len, "connection to 2:%u refused%s", port,
			     refused_ok ? ", as expected" : "");
		goto release;
	}
	/* Send the greeting, then read one line (or what came before the peer's EOF). */
	while (!deadline_passed(&dl)) {
		unsigned int work = vsock_poll(v);

		if (sent < sizeof(HELLO) - 1)
			sent += vsock_write(v, c, HELLO + sent, sizeof(HELLO) - 1 - sent);
		while (n < LINE_MAX && vsock_read(v, c, line + n, 1)) {
			work++;
			if (line[n++] == '\n') {
				got_line = true;
				break;
			}
		}
		if (got_line || n == LINE_MAX || vsock_eof(c))
			break;
		if (!work)
			cpu_relax();
	}
	if (!n && c->state == VS_CLOSED && c->peer_rst && !sent) {
		cons_printf("vsock: connection refused\n");
		ok = refused_ok;
		fmt_snprintf(detail, len, "connection to 2:%u reset", port);
		goto release;
	}
	if (!n) {
		fmt_snprintf(detail, len, "no line back from 2:%u (%s)", port,
			     vsock_eof(c) ? "peer closed" : "timeout");
		goto release;
	}
	if (line[n - 1] == '\n')
		n--;
	if (n && line[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			line[i] = '?';
	line[n] = 0;
	cons_printf("vsock: host said %s\n", line);
	ok = !refused_ok;
	fmt_snprintf(detail, len, "%s, %zu bytes sent, %zu received from 2:%u",
		     refused_ok ? "expected a refusal but connected" : "line received", sent, n,
		     port);
release:
	vsock_release(v, c, LINGER_US);
out:
	finish(v, LINGER_US);
	dma_release(mark);
	return ok;
}

/* ---- vsock-stream and vsock-echo ---- */

bool test_vsock_stream(char *detail, size_t len)
{
	uint64_t mark = dma_mark(), total = bytes_arg(), sent = 0, start, ns, us, tenths, ms;
	uint32_t port = port_arg(AGENT_PORT);
	struct vsock *v = dma_alloc(sizeof(*v), 64);
	uint8_t *pattern = dma_alloc(VSOCK_TX_PAYLOAD + STREAM_PATTERN_MOD, 64);
	uint64_t stall_us = timeout_us(), progress;
	struct vsock_conn *c;
	bool ok = false;

	if (!open_dev(v, v && pattern, mark, detail, len))
		return false;
	for (unsigned int i = 0; i < VSOCK_TX_PAYLOAD + STREAM_PATTERN_MOD; i++)
		pattern[i] = (uint8_t)(i % STREAM_PATTERN_MOD);
	c = wait_accept(v, port, detail, len);
	if (!c)
		goto out;
	start = progress = rdtsc();
	/* Send as credit allows; with none, only the used rings are polled. */
	while (sent < total || vsock_tx_in_flight(v)) {
		unsigned int work = vsock_poll(v);

		if (c->state != VS_ESTABLISHED || c->peer_no_rcv) {
			fmt_snprintf(detail, len, "connection %s after %lu of %lu bytes",
				     c->peer_rst ? "reset by the peer" : "closed", sent, total);
			goto release;
		}
		if (sent < total) {
			size_t n =
				vsock_write(v, c, pattern + sent % STREAM_PATTERN_MOD,
					    (size_t)MIN(total - sent, (uint64_t)VSOCK_TX_PAYLOAD));

			sent += n;
			work += n != 0;
		}
		/* Anything read is discarded (and credited back). */
		while (vsock_readable(c)) {
			char sink[256];

			vsock_read(v, c, sink, sizeof(sink));
		}
		if (work) {
			progress = rdtsc();
		} else {
			if (clock_us_since(progress) > stall_us) {
				fmt_snprintf(
					detail, len,
					"stalled for %lu s after %lu of %lu bytes (credit %lu)",
					stall_us / 1000000, sent, total,
					(uint64_t)vsock_writable(v, c));
				goto release;
			}
			cpu_relax();
		}
	}
	ns = clock_tsc_to_ns(rdtsc() - start);
	us = ns / 1000 ? ns / 1000 : 1;
	ms = us / 1000;
	tenths = sent * 1000000 / us * 10 / (1 << 20); /* within 64 bits up to ~18 TB */
	cons_printf("bench vsock-stream: bytes=%lu seconds=%lu.%03lu mibps=%lu.%lu\n", sent,
		    ms / 1000, ms % 1000, tenths / 10, tenths % 10);
	ok = true;
	fmt_snprintf(detail, len, "%lu bytes sent to %lu:%u, %lu packets, %lu kicks", sent,
		     c->peer_cid, c->peer_port, v->tx_packets, v->txq->kicks + v->rxq->kicks);
release:
	vsock_release(v, c, STREAM_LINGER_US);
	finish(v, STREAM_LINGER_US);
	dma_release(mark);
	return ok;
out:
	vsock_close(v, DRAIN_US);
	dma_release(mark);
	return ok;
}

bool test_vsock_echo(char *detail, size_t len)
{
	uint64_t mark = dma_mark(), echoed = 0, idle_us = timeout_us(), last;
	uint32_t port = port_arg(AGENT_PORT);
	struct vsock *v = dma_alloc(sizeof(*v), 64);
	uint8_t *buf = dma_alloc(VSOCK_TX_PAYLOAD, 64);
	struct vsock_conn *c;
	bool ok = false;

	if (!open_dev(v, v && buf, mark, detail, len))
		return false;
	c = wait_accept(v, port, detail, len);
	if (!c) {
		vsock_close(v, DRAIN_US);
		dma_release(mark);
		return false;
	}
	last = rdtsc();
	for (;;) {
		unsigned int work = vsock_poll(v);
		/* Take only what can go straight back: a slow reader slows the writer. */
		size_t n = MIN((size_t)vsock_readable(c), vsock_writable(v, c));

		n = MIN(n, (size_t)VSOCK_TX_PAYLOAD);
		if (n) {
			vsock_read(v, c, buf, n);
			vsock_write(v, c, buf, n);
			echoed += n;
			work++;
		}
		if (vsock_eof(c) || c->state != VS_ESTABLISHED || c->peer_no_rcv)
			break;
		if (work) {
			last = rdtsc();
		} else {
			if (clock_us_since(last) > idle_us)
				break;
			cpu_relax();
		}
	}
	if (c->peer_rst && vsock_readable(c))
		fmt_snprintf(detail, len, "reset by the peer after %lu bytes echoed", echoed);
	else if (!vsock_eof(c) && c->state == VS_ESTABLISHED && !c->peer_no_rcv)
		fmt_snprintf(detail, len, "idle for %lu s, %lu bytes echoed", idle_us / 1000000,
			     echoed);
	else
		ok = true;
	if (ok)
		fmt_snprintf(detail, len, "%lu bytes echoed, %lu packets, %lu kicks", echoed,
			     v->tx_packets, v->txq->kicks + v->rxq->kicks);
	vsock_release(v, c, LINGER_US);
	finish(v, LINGER_US);
	dma_release(mark);
	return ok;
}
