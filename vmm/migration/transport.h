/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a migration stream goes: "tcp:HOST:PORT" or "unix:PATH", parsed,
 * listened on and connected to. Sockets are blocking, with a receive and
 * send timeout so that a silent peer cannot hold a thread forever.
 *
 * Threading: none of its own; any thread.
 */
#ifndef KVMLET_VMM_MIGRATION_TRANSPORT_H
#define KVMLET_VMM_MIGRATION_TRANSPORT_H

#include <stdbool.h>
#include <sys/socket.h>

#define MIG_LISTEN_BACKLOG 16

#include "lib/err.h"

struct mig_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	bool is_unix;
	char text[160]; /* as given, for messages */
};

/* Parses "tcp:ADDR:PORT" (a numeric IPv4 or [IPv6] address) or "unix:PATH". */
int mig_addr_parse(const char *s, struct mig_addr *a, struct err *err);
/* A listening socket (an old Unix socket file is replaced). */
int mig_listen(const struct mig_addr *a, struct err *err);
/* Accepts one connection, waiting at most timeout_ms; -ETIMEDOUT then. */
int mig_accept(int lfd, int timeout_ms, struct err *err);
/* Connects, waiting at most timeout_ms. */
int mig_connect(const struct mig_addr *a, int timeout_ms, struct err *err);
/* Bounds every later blocking read and write on fd. */
int mig_set_timeout(int fd, int ms);

#endif
