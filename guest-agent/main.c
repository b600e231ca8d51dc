// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-guest-agent: serves the QEMU guest agent protocol on a vsock or
 * Unix stream socket. One poll() loop, each connection with its own input
 * framing and output queue, so a client that sends garbage, stalls or stops
 * reading affects only itself. Commands run to completion in the loop;
 * processes started by guest-exec run on their own threads (cmd_exec.c).
 */
#include <errno.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ga.h"

#define DEFAULT_VSOCK_PORT 1024
#define MAX_CONNS	   64
/* Past this much unsent output a connection is not read until its client catches up. */
#define OUT_HIGH_WATER	   (1u << 20)

struct conn {
	int fd;
	struct ga_stream in;
	char *out;
	size_t out_len, out_off, out_cap;
	bool eof; /* the client stopped sending: close once its replies are out */
	bool dead;
};

/* The listening socket and its connections, owned by main(). */
struct server {
	struct ga *ga;
	int lfd;
	struct conn conns[MAX_CONNS];
	unsigned int nr_conns;
};

/* Set by the SIGTERM/SIGINT handler, which can reach nothing else. */
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void queue_reply(void *opaque, const char *data, size_t len)
{
	struct conn *c = opaque;

	if (c->dead)
		return;
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *n;

		while (cap < c->out_len + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n) {
			c->dead = true;
			return;
		}
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
}

static void flush_out(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->dead = true;
			return;
		}
		c->out_off += n;
	}
	c->out_off = c->out_len = 0;
	/* A finished multi-megabyte reply should not pin its buffer for the connection's life. */
	if (c->out_cap > OUT_HIGH_WATER) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

static int listen_on(const char *spec)
{
	int fd;

	if (!strncmp(spec, "unix:", 5)) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		const char *path = spec + 5;

		if (!*path || strlen(path) >= sizeof(a.sun_path)) {
			fprintf(stderr, "kvmlet-guest-agent: error: bad socket path '%s'\n", path);
			return -1;
		}
		strcpy(a.sun_path, path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		unlink(path); /* a stale socket from an earlier run */
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(fd, SOMAXCONN) < 0)
			goto fail;
		return fd;
	}
	if (!strncmp(spec, "vsock:", 6)) {
		struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };
		char *end;
		unsigned long port = strtoul(spec + 6, &end, 10);

		if (!spec[6] || *end || port > 0xffffffffUL) {
			fprintf(stderr, "kvmlet-guest-agent: error: bad vsock port in '%s'\n",
				spec);
			return -1;
		}
		a.svm_port = port;
		fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    listen(fd, SOMAXCONN) < 0)
			goto fail;
		return fd;
	}
	fprintf(stderr, "kvmlet-guest-agent: error: --listen takes unix:PATH or vsock:PORT\n");
	return -1;
fail:
	fprintf(stderr, "kvmlet-guest-agent: error: cannot listen on %s: %s\n", spec,
		strerror(errno));
	return -1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvmlet-guest-agent [--listen unix:PATH|vsock:PORT] [--no-shutdown]\n"
		"  --listen      where to serve (default vsock:%d)\n"
		"  --no-shutdown guest-shutdown only logs what it would do\n",
		DEFAULT_VSOCK_PORT);
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct ga_config *cfg, const char **spec)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "no-shutdown", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("KVMLET_GA_NO_SHUTDOWN");
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			*spec = optarg;
			break;
		case 'n':
			cfg->no_shutdown = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (env && *env && strcmp(env, "0"))
		cfg->no_shutdown = true;
	return -1;
}

/* What to wait for: new clients while there is room, and each connection's I/O. */
static nfds_t poll_set(const struct server *srv, struct pollfd *p)
{
	p[0] = (struct pollfd){ .fd = srv->nr_conns < MAX_CONNS ? srv->lfd : -1, .events = POLLIN };
	for (unsigned int i = 0; i < srv->nr_conns; i++) {
		const struct conn *c = &srv->conns[i];
		short ev = 0;

		if (!c->eof && c->out_len - c->out_off < OUT_HIGH_WATER)
			ev |= POLLIN;
		if (c->out_off < c->out_len)
			ev |= POLLOUT;
		p[i + 1] = (struct pollfd){ .fd = c->fd, .events = ev };
	}
	return srv->nr_conns + 1;
}

static void conn_service(struct ga *ga, struct conn *c, const struct pollfd *p)
{
	if (p->revents & POLLIN) {
		char buf[65536];
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0)
			ga_stream_feed(&c->in, ga, buf, n, queue_reply, c);
		else if (n == 0)
			c->eof = true;
		else if (errno != EAGAIN && errno != EINTR)
			c->dead = true;
	} else if (p->revents & (POLLERR | POLLNVAL) ||
		   ((p->revents & POLLHUP) && !(p->events & POLLIN))) {
		c->dead = true;
	}
	if (!c->dead)
		flush_out(c);
	if (c->eof && c->out_off == c->out_len)
		c->dead = true;
}

/* Drops closed connections; the array stays dense for the next poll. */
static void reap_conns(struct server *srv)
{
	for (unsigned int i = 0; i < srv->nr_conns;) {
		struct conn *c = &srv->conns[i];

		if (!c->dead) {
			i++;
			continue;
		}
		close(c->fd);
		ga_stream_free(&c->in);
		free(c->out);
		*c = srv->conns[--srv->nr_conns];
		memset(&srv->conns[srv->nr_conns], 0, sizeof(*c));
	}
}

/* Takes every waiting client (the listening socket is non-blocking). */
static void accept_conns(struct server *srv)
{
	while (srv->nr_conns < MAX_CONNS) {
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			break;
		memset(&srv->conns[srv->nr_conns], 0, sizeof(srv->conns[0]));
		srv->conns[srv->nr_conns++].fd = fd;
	}
}

static int serve(struct server *srv)
{
	while (!stop) {
		struct pollfd p[MAX_CONNS + 1];
		unsigned int i;

		if (poll(p, poll_set(srv, p), -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("kvmlet-guest-agent: poll");
			return 1;
		}
		for (i = 0; i < srv->nr_conns; i++)
			conn_service(srv->ga, &srv->conns[i], &p[i + 1]);
		reap_conns(srv);
		if (p[0].revents & POLLIN)
			accept_conns(srv);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct server srv = { 0 };
	struct ga_config cfg = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *spec = NULL;
	char def_spec[32];
	int rc = parse_args(argc, argv, &cfg, &spec);

	if (rc >= 0)
		return rc;
	if (!spec) {
		snprintf(def_spec, sizeof(def_spec), "vsock:%d", DEFAULT_VSOCK_PORT);
		spec = def_spec;
	}
	srv.ga = ga_create(&cfg);
	if (!srv.ga) {
		fprintf(stderr, "kvmlet-guest-agent: error: out of memory\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	srv.lfd = listen_on(spec);
	if (srv.lfd < 0) {
		ga_destroy(srv.ga);
		return 1;
	}
	rc = serve(&srv);
	if (rc == 0 && !strncmp(spec, "unix:", 5))
		unlink(spec + 5);
	for (unsigned int i = 0; i < srv.nr_conns; i++)
		srv.conns[i].dead = true;
	reap_conns(&srv);
	close(srv.lfd);
	ga_destroy(srv.ga);
	return rc;
}
