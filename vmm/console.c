// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/legacy/serial.h"
#include "devices/stats.h"
#include "lib/clock.h"
#include "lib/cri_log.h"
#include "lib/log.h"
#include "vmm/console.h"

#define CONSOLE_READ_CHUNK  4096
#define CONSOLE_INPUT_CHUNK 64 /* like stdin's: the FIFO takes 64 bytes at most */
#define CONSOLE_BACKLOG	    8

struct console_client {
	struct event_handler ev; /* fd -1: free slot */
	struct console *c;
	bool watched;
};

struct console {
	struct event_loop *loop;
	struct event_handler pipe_ev; /* the read end */
	int tx_fd;		      /* the write end, the UART's out_fd */
	int raw_fd;

	char *cri_path;
	int cri_fd;
	bool cri_failing; /* logged once until a write succeeds again */
	bool cri_torn;	  /* a record without its newline ends the file */
	struct cri_log *log;
	uint64_t hold_since_ms; /* CLOCK_MONOTONIC when the held part line began; 0: none */
	struct event_timer partial_timer;

	char *sock_path;
	struct event_handler listen_ev;
	struct console_client clients[CONSOLE_MAX_CLIENTS];
	bool input_paused; /* the FIFO is full: no client is read */
	uint8_t in[CONSOLE_INPUT_CHUNK];
	size_t in_len, in_off;

	struct serial *serial;
	struct console_stats stats;
	uint8_t buf[CONSOLE_READ_CHUNK];
};

/* ---- the CRI log ---- */

/*
 * The agent creates the file (owned by the VM's uid) before the jailed VMM
 * starts, in a directory the VMM may not write: open it as it is, never
 * truncated; create it only when it is missing.
 */
static int console_open_log(const char *path, struct err *err)
{
	int fd = -1;

	/* Again if the file appeared (EEXIST) or went (ENOENT) in between. */
	for (int tries = 0; tries < 3 && fd < 0; tries++) {
		fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 && errno == ENOENT)
			fd = open(path,
				  O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_CREAT | O_EXCL,
				  0640);
		if (fd < 0 && errno != ENOENT && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return err_set(err, -errno, "CRI log '%s': %s", path, strerror(errno));
	return fd;
}

/*
 * A short write (ENOSPC, EFBIG mid-record) leaves a record without its
 * '\n', and kubelet would read the next one glued to it: cut the file back
 * to where the record began, or, if that fails, end the torn record with a
 * '\n' before the next one (one garbled line rather than two).
 */
static void console_log_untear(struct console *c, size_t written)
{
	off_t end = lseek(c->cri_fd, 0, SEEK_END);

	if (end >= (off_t)written && ftruncate(c->cri_fd, end - (off_t)written) == 0)
		return;
	c->cri_torn = true;
}

static void console_log_write(void *ctx, const char *rec, size_t len)
{
	struct console *c = ctx;
	ssize_t n;

	if (c->cri_torn && write(c->cri_fd, "\n", 1) == 1)
		c->cri_torn = false;
	n = c->cri_torn ? -1 : write(c->cri_fd, rec, len);
	c->hold_since_ms = 0;
	if (n > 0 && n < (ssize_t)len)
		console_log_untear(c, (size_t)n);
	if (n == (ssize_t)len) {
		stats_add(c->stats.log_records, 1);
		if (c->cri_failing)
			log_info("CRI log %s: writable again", c->cri_path);
		c->cri_failing = false;
		return;
	}
	/* ENOSPC, EFBIG (RLIMIT_FSIZE): the guest goes on, its lines are counted as lost. */
	stats_add(c->stats.log_errors, 1);
	if (!c->cri_failing)
		log_warn("CRI log %s: %s; lines are lost until it is writable again", c->cri_path,
			 n < 0 ? strerror(errno) : "short write");
	c->cri_failing = true;
}

/* A part line shows up after CONSOLE_PARTIAL_MS, even without its newline. */
static void console_hold_check(struct console *c)
{
	if (!cri_log_holding(c->log)) {
		c->hold_since_ms = 0;
		return;
	}
	if (!c->hold_since_ms)
		c->hold_since_ms = clock_mono_ms();
	if (!event_timer_armed(c->loop, &c->partial_timer) &&
	    event_timer_arm(c->loop, &c->partial_timer, CONSOLE_PARTIAL_MS, 0))
		log_debug("console: arming the part-line timer failed");
}

static void console_on_partial(struct event_timer *t)
{
	struct console *c = container_of(t, struct console, partial_timer);
	uint64_t age;

	if (!c->hold_since_ms)
		return;
	age = clock_mono_ms() - c->hold_since_ms;
	if (age < CONSOLE_PARTIAL_MS) {
		event_timer_arm(c->loop, t, (unsigned int)(CONSOLE_PARTIAL_MS - age), 0);
		return;
	}
	cri_log_flush_partial(c->log, clock_ns(CLOCK_REALTIME));
	/* A '\r' may still be held: it is not shown until the next byte says what it is. */
	c->hold_since_ms = 0;
}

/* ---- clients ---- */

static void console_drop_client(struct console_client *cl, const char *why)
{
	struct console *c = cl->c;

	if (cl->watched)
		event_loop_del(c->loop, &cl->ev);
	close(cl->ev.fd);
	cl->ev.fd = -1;
	cl->watched = false;
	__atomic_store_n(&c->stats.clients, c->stats.clients - 1, __ATOMIC_RELAXED);
	if (why) {
		stats_add(c->stats.clients_cut, 1);
		log_info("console client dropped: %s", why);
	}
}

static void console_watch_clients(struct console *c, bool on)
{
	for (unsigned int i = 0; i < CONSOLE_MAX_CLIENTS; i++) {
		struct console_client *cl = &c->clients[i];

		if (cl->ev.fd < 0 || cl->watched == on)
			continue;
		if (on)
			cl->watched = event_loop_add(c->loop, &cl->ev, EPOLLIN) == 0;
		else
			cl->watched = event_loop_del(c->loop, &cl->ev) != 0;
	}
	c->input_paused = !on;
}

/* Hands held input to the UART; while it does not fit, no client is read. */
static void console_feed_input(struct console *c)
{
	size_t n = c->in_len - c->in_off;

	if (c->serial)
		n = serial_receive(c->serial, c->in + c->in_off, n);
	c->in_off += n;
	if (c->in_off < c->in_len) {
		if (!c->input_paused)
			console_watch_clients(c, false);
		return;
	}
	c->in_off = c->in_len = 0;
	if (c->input_paused)
		console_watch_clients(c, true);
}

static void console_on_client(struct event_handler *h, uint32_t events)
{
	struct console_client *cl = container_of(h, struct console_client, ev);
	struct console *c = cl->c;
	ssize_t n;

	/* Input still waits for the FIFO: leave this client's bytes in its socket. */
	if (c->in_len)
		return;
	n = read(h->fd, c->in, sizeof(c->in));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		console_drop_client(cl, NULL);
		return;
	}
	c->in_len = (size_t)n;
	c->in_off = 0;
	console_feed_input(c);
}

static void console_on_accept(struct event_handler *h, uint32_t events)
{
	struct console *c = container_of(h, struct console, listen_ev);

	/* Bounded: a flood of connections waits for the next turn. */
	for (unsigned int k = 0; k <= CONSOLE_MAX_CLIENTS; k++) {
		int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct console_client *cl = NULL;

		if (fd < 0)
			return;
		for (unsigned int i = 0; i < CONSOLE_MAX_CLIENTS && !cl; i++)
			if (c->clients[i].ev.fd < 0)
				cl = &c->clients[i];
		if (!cl) {
			close(fd);
			stats_add(c->stats.clients_cut, 1);
			log_info("console client refused: %u already connected",
				 CONSOLE_MAX_CLIENTS);
			continue;
		}
		cl->ev = (struct event_handler){ fd, console_on_client };
		cl->watched = !c->input_paused && event_loop_add(c->loop, &cl->ev, EPOLLIN) == 0;
		stats_add(c->stats.clients_seen, 1);
		__atomic_store_n(&c->stats.clients, c->stats.clients + 1, __ATOMIC_RELAXED);
	}
}

static int console_listen(struct console *c, const char *path, struct err *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return err_set(err, -ENAMETOOLONG, "--console-sock '%s' is too long", path);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, -errno, "console socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;

		close(fd);
		return err_set(err, -e, "binding console socket %s: %s%s", path, strerror(e),
			       e == EADDRINUSE ? " (another VMM, or a stale socket to remove)"
					       : "");
	}
	/* Owner only before listen(): the console is a root shell on many guests. */
	if (chmod(path, 0600) < 0 || listen(fd, CONSOLE_BACKLOG) < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return err_set(err, -e, "setting up console socket %s: %s", path, strerror(e));
	}
	c->listen_ev = (struct event_handler){ fd, console_on_accept };
	c->sock_path = strdup(path);
	if (!c->sock_path)
		return err_set(err, -ENOMEM, "out of memory");
	if (event_loop_add(c->loop, &c->listen_ev, EPOLLIN))
		return err_set(err, -errno, "epoll_ctl: %s", strerror(errno));
	return 0;
}

/* ---- output ---- */

static void console_write_raw(int fd, const uint8_t *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

static void console_output(struct console *c, const uint8_t *buf, size_t n)
{
	if (c->log) {
		cri_log_feed(c->log, buf, n, clock_ns(CLOCK_REALTIME));
		console_hold_check(c);
	}
	if (c->raw_fd >= 0)
		console_write_raw(c->raw_fd, buf, n);
	for (unsigned int i = 0; i < CONSOLE_MAX_CLIENTS; i++) {
		struct console_client *cl = &c->clients[i];

		if (cl->ev.fd >= 0 &&
		    send(cl->ev.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n)
			console_drop_client(cl, "it does not keep up with the output");
	}
}

/* Moves up to budget bytes from the pipe to the outputs; returns how many. */
static size_t console_pump(struct console *c, size_t budget)
{
	size_t total = 0;

	while (total < budget) {
		size_t want = budget - total < sizeof(c->buf) ? budget - total : sizeof(c->buf);
		ssize_t n = read(c->pipe_ev.fd, c->buf, want);

		if (n <= 0)
			break; /* EAGAIN: empty (the write end stays open while c exists) */
		console_output(c, c->buf, (size_t)n);
		total += (size_t)n;
	}
	return total;
}

static void console_on_pipe(struct event_handler *h, uint32_t events)
{
	console_pump(container_of(h, struct console, pipe_ev), CONSOLE_TURN_BYTES);
}

/* ---- the whole ---- */

static int console_setup(struct console *c, const struct console_opts *o, struct err *err)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return err_set(err, -errno, "console pipe: %s", strerror(errno));
	c->pipe_ev = (struct event_handler){ p[0], console_on_pipe };
	c->tx_fd = p[1];
	/* Room for bursts while the main loop is busy; the default stays if the host caps it. */
	if (fcntl(p[1], F_SETPIPE_SZ, CONSOLE_PIPE_BYTES) < 0)
		log_debug("console pipe: F_SETPIPE_SZ: %s", strerror(errno));
	if (event_loop_add(c->loop, &c->pipe_ev, EPOLLIN))
		return err_set(err, -errno, "epoll_ctl: %s", strerror(errno));
	if (o->cri_path) {
		c->cri_path = strdup(o->cri_path);
		c->log = malloc(sizeof(*c->log));
		if (!c->cri_path || !c->log)
			return err_set(err, -ENOMEM, "out of memory");
		cri_log_init(c->log, console_log_write, c);
		c->cri_fd = console_open_log(o->cri_path, err);
		if (c->cri_fd < 0)
			return c->cri_fd;
		/* Past RLIMIT_FSIZE a write fails with EFBIG, as long as SIGXFSZ does not kill us. */
		signal(SIGXFSZ, SIG_IGN);
	}
	return o->sock_path ? console_listen(c, o->sock_path, err) : 0;
}

struct console *console_open(struct event_loop *loop, const struct console_opts *o, struct err *err)
{
	struct console *c = calloc(1, sizeof(*c));

	if (!c) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	c->loop = loop;
	c->pipe_ev.fd = c->tx_fd = c->cri_fd = c->listen_ev.fd = -1;
	c->raw_fd = o->raw_fd;
	event_timer_init(&c->partial_timer, console_on_partial);
	for (unsigned int i = 0; i < CONSOLE_MAX_CLIENTS; i++)
		c->clients[i] = (struct console_client){ { -1, console_on_client }, c, false };
	if (console_setup(c, o, err)) {
		console_close(c);
		return NULL;
	}
	return c;
}

int console_tx_fd(const struct console *c)
{
	return c->tx_fd;
}

void console_set_serial(struct console *c, struct serial *s)
{
	c->serial = s;
}

void console_on_rx_room(struct console *c)
{
	if (c->in_len)
		console_feed_input(c);
}

int console_reopen(struct console *c, struct err *err)
{
	int fd;

	if (!c->log)
		return err_set(err, -ENOENT, "the VM has no CRI log (--serial cri:PATH)");
	/* What the guest wrote before the rename belongs in the old file. */
	console_pump(c, CONSOLE_PIPE_BYTES);
	fd = console_open_log(c->cri_path, err);
	if (fd < 0)
		return fd;
	close(c->cri_fd);
	c->cri_fd = fd;
	c->cri_torn = false; /* a new file */
	c->cri_failing = false;
	stats_add(c->stats.reopens, 1);
	log_info("CRI log %s reopened", c->cri_path);
	return 0;
}

void console_flush(struct console *c)
{
	if (c->pipe_ev.fd >= 0)
		console_pump(c, SIZE_MAX);
	if (c->log && c->cri_fd >= 0)
		cri_log_finish(c->log, clock_ns(CLOCK_REALTIME));
	c->hold_since_ms = 0;
	event_timer_cancel(c->loop, &c->partial_timer);
}

void console_stats(const struct console *c, struct console_stats *out)
{
	out->log_records = stats_get(c->stats.log_records);
	out->log_errors = stats_get(c->stats.log_errors);
	out->reopens = stats_get(c->stats.reopens);
	out->clients = stats_get(c->stats.clients);
	out->clients_seen = stats_get(c->stats.clients_seen);
	out->clients_cut = stats_get(c->stats.clients_cut);
	out->dropped = c->serial ? serial_tx_lost(c->serial) : 0;
}

void console_close(struct console *c)
{
	if (!c)
		return;
	console_flush(c);
	for (unsigned int i = 0; i < CONSOLE_MAX_CLIENTS; i++)
		if (c->clients[i].ev.fd >= 0)
			console_drop_client(&c->clients[i], NULL);
	if (c->listen_ev.fd >= 0) {
		event_loop_del(c->loop, &c->listen_ev);
		close(c->listen_ev.fd);
		unlink(c->sock_path);
	}
	if (c->pipe_ev.fd >= 0) {
		event_loop_del(c->loop, &c->pipe_ev);
		close(c->pipe_ev.fd);
	}
	if (c->tx_fd >= 0)
		close(c->tx_fd);
	if (c->cri_fd >= 0)
		close(c->cri_fd);
	free(c->sock_path);
	free(c->cri_path);
	free(c->log);
	free(c);
}
