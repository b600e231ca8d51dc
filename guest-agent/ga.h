// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-guest-agent: the QEMU guest agent protocol, transport-free.
 *
 * A struct ga is one agent: its configuration, open file handles, started
 * processes and freeze state. ga_dispatch() turns one request (a JSON text)
 * into one reply; ga_stream splits a byte stream into requests the way QEMU's
 * JSON streamer does. The server (main.c) and the fuzz target drive exactly
 * this interface; the fuzz target creates a fresh agent per input.
 *
 * Threading: a struct ga and its streams belong to one thread. The threads
 * that guest-exec starts touch only the process table, under its own lock,
 * and may outlive ga_destroy() (their processes are left running).
 */
#ifndef KVMLET_GA_H
#define KVMLET_GA_H

#include <stdbool.h>
#include <stddef.h>

#define GA_VERSION "0.1.0"

/* A longer request is answered with an error and skipped (up to the next newline). */
#define GA_MAX_REQUEST (4u << 20)

struct ga_config {
	/* Refuse every command that changes the guest: exec, files, fsfreeze, shutdown. */
	bool safe;
	/* guest-shutdown only logs what it would do; for tests. */
	bool no_shutdown;
};

struct ga;

/* NULL when out of memory. */
struct ga *ga_create(const struct ga_config *cfg);
/* Closes the file handles; forgets processes (they run on, unreported). */
void ga_destroy(struct ga *ga);

/*
 * Handles one request. Returns a malloc'd reply ending in '\n' (led by 0xFF
 * for guest-sync-delimited) and its length, or NULL when the command sends no
 * reply (guest-shutdown succeeded).
 */
char *ga_dispatch(struct ga *ga, const char *req, size_t len, size_t *reply_len);

typedef void (*ga_reply_fn)(void *opaque, const char *data, size_t len);

/* Splits one connection's input into requests: balanced {} or [] values. */
struct ga_stream {
	char *buf;
	size_t len, cap;
	int depth;
	bool in_str, esc;
	bool discarding; /* skipping the rest of an over-long request */
};

/* Dispatches each complete request to ga and hands its reply to fn. */
void ga_stream_feed(struct ga_stream *s, struct ga *ga, const char *data, size_t len,
		    ga_reply_fn fn, void *opaque);
void ga_stream_free(struct ga_stream *s);

#endif
