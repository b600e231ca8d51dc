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

static struct conn conns[MAX_CONNS];
static unsigned int nr_conns;
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "no-shutdown", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ga_config cfg = { 0 };
	char def_spec[32];
	const char *spec = NULL, *env = getenv("KVMLET_GA_NO_SHUTDOWN");
	struct sigaction sa = { .sa_handler = on_signal };
	int opt, lfd;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			spec = optarg;
			break;
		case 'n':
			cfg.no_shutdown = true;
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
		cfg.no_shutdown = true;
	if (!spec) {
		snprintf(def_spec, sizeof(def_spec), "vsock:%d", DEFAULT_VSOCK_PORT);
		spec = def_spec;
	}
	ga_init(&cfg);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	lfd = listen_on(spec);
	if (lfd < 0)
		return 1;

	while (!stop) {
		struct pollfd p[MAX_CONNS + 1];
		unsigned int i;

		p[0] = (struct pollfd){ .fd = nr_conns < MAX_CONNS ? lfd : -1, .events = POLLIN };
		for (i = 0; i < nr_conns; i++) {
			struct conn *c = &conns[i];
			short ev = 0;

			if (!c->eof && c->out_len - c->out_off < OUT_HIGH_WATER)
				ev |= POLLIN;
			if (c->out_off < c->out_len)
				ev |= POLLOUT;
			p[i + 1] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (poll(p, nr_conns + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("kvmlet-guest-agent: poll");
			return 1;
		}
		for (i = 0; i < nr_conns; i++) {
			struct conn *c = &conns[i];
			short re = p[i + 1].revents;

			if (re & POLLIN) {
				char buf[65536];
				ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

				if (n > 0)
					ga_stream_feed(&c->in, buf, n, queue_reply, c);
				else if (n == 0)
					c->eof = true;
				else if (errno != EAGAIN && errno != EINTR)
					c->dead = true;
			} else if (re & (POLLERR | POLLNVAL) ||
				   ((re & POLLHUP) && !(p[i + 1].events & POLLIN))) {
				c->dead = true;
			}
			if (!c->dead)
				flush_out(c);
			if (c->eof && c->out_off == c->out_len)
				c->dead = true;
		}
		/* Drop closed connections; the array stays dense for the next poll. */
		for (i = 0; i < nr_conns;) {
			if (conns[i].dead) {
				close(conns[i].fd);
				ga_stream_free(&conns[i].in);
				free(conns[i].out);
				conns[i] = conns[--nr_conns];
				memset(&conns[nr_conns], 0, sizeof(conns[0]));
			} else {
				i++;
			}
		}
		/* Take every waiting client (the listening socket is non-blocking). */
		while ((p[0].revents & POLLIN) && nr_conns < MAX_CONNS) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd < 0)
				break;
			memset(&conns[nr_conns], 0, sizeof(conns[0]));
			conns[nr_conns++].fd = fd;
		}
	}
	if (!strncmp(spec, "unix:", 5))
		unlink(spec + 5);
	return 0;
}
