// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm/migration/transport.h"

static int parse_tcp(const char *s, struct mig_addr *a, struct err *err)
{
	/* Numeric only: resolving names would read files the API thread may not open. */
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV },
			*res = NULL;
	char host[128];
	const char *port;
	size_t hl;
	int r;

	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return err_set(err, -EINVAL, "'%s': expected tcp:[ADDR]:PORT", a->text);
		hl = (size_t)(end - s - 1);
		s++;
		port = end + 2;
	} else {
		port = strrchr(s, ':');
		if (!port)
			return err_set(err, -EINVAL, "'%s': expected tcp:HOST:PORT", a->text);
		hl = (size_t)(port - s);
		port++;
	}
	if (hl == 0 || hl >= sizeof(host) || !*port || strspn(port, "0123456789") != strlen(port) ||
	    atoi(port) < 1 || atoi(port) > 65535)
		return err_set(err, -EINVAL, "'%s': bad host or port", a->text);
	memcpy(host, s, hl);
	host[hl] = '\0';
	r = getaddrinfo(host, port, &hints, &res);
	if (r || !res)
		return err_set(err, -EINVAL, "'%s': %s", a->text, gai_strerror(r));
	memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int mig_addr_parse(const char *s, struct mig_addr *a, struct err *err)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->text, sizeof(a->text), "%s", s ? s : "");
	if (s && !strncmp(s, "tcp:", 4))
		return parse_tcp(s + 4, a, err);
	if (s && !strncmp(s, "unix:", 5)) {
		struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
		size_t n = strlen(s + 5);

		if (!n || n >= sizeof(un->sun_path))
			return err_set(err, -EINVAL, "'%s': the path is empty or too long",
				       a->text);
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, s + 5, n + 1);
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		a->is_unix = true;
		return 0;
	}
	return err_set(err, -EINVAL, "'%s': expected tcp:HOST:PORT or unix:PATH", a->text);
}

int mig_set_timeout(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static void tune(int fd, bool is_unix)
{
	int one = 1;

	/* Small control frames (ACCEPT, COMPLETE, RUNNING) must not wait for Nagle. */
	if (!is_unix)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int mig_listen(const struct mig_addr *a, struct err *err)
{
	int one = 1, fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return err_set(err, -errno, "%s: socket: %s", a->text, strerror(errno));
	if (a->is_unix)
		unlink(((const struct sockaddr_un *)&a->sa)->sun_path);
	else
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0 ||
	    listen(fd, MIG_LISTEN_BACKLOG) < 0) {
		int e = errno;

		close(fd);
		return err_set(err, -e, "%s: %s", a->text, strerror(e));
	}
	return fd;
}

int mig_accept(int lfd, int timeout_ms, struct err *err)
{
	struct pollfd p = { lfd, POLLIN, 0 };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int r, fd;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return err_set(err, -ETIMEDOUT, "no connection within %d ms", timeout_ms);
	if (r < 0)
		return err_set(err, -errno, "poll: %s", strerror(errno));
	fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0)
		return err_set(err, -errno, "accept: %s", strerror(errno));
	tune(fd, ss.ss_family == AF_UNIX);
	return fd;
}

int mig_connect(const struct mig_addr *a, int timeout_ms, struct err *err)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return err_set(err, -errno, "%s: socket: %s", a->text, strerror(errno));
	/* connect() honours the send timeout. */
	mig_set_timeout(fd, timeout_ms);
	do
		r = connect(fd, (const struct sockaddr *)&a->sa, a->len);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		int e = errno;

		close(fd);
		return err_set(err, -e, "connecting to %s: %s", a->text, strerror(e));
	}
	tune(fd, a->is_unix);
	return fd;
}
