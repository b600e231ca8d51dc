// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-guest-agent: the QEMU guest agent protocol, transport-free.
 *
 * ga_dispatch() turns one request (a JSON text) into one reply; ga_stream
 * splits a byte stream into requests the way QEMU's JSON streamer does. The
 * server (main.c) and the fuzz target drive exactly this interface.
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

void ga_init(const struct ga_config *cfg);

/*
 * Handles one request. Returns a malloc'd reply ending in '\n' (led by 0xFF
 * for guest-sync-delimited) and its length, or NULL when the command sends no
 * reply (guest-shutdown succeeded).
 */
char *ga_dispatch(const char *req, size_t len, size_t *reply_len);

typedef void (*ga_reply_fn)(void *opaque, const char *data, size_t len);

/* Splits one connection's input into requests: balanced {} or [] values. */
struct ga_stream {
	char *buf;
	size_t len, cap;
	int depth;
	bool in_str, esc;
	bool discarding; /* skipping the rest of an over-long request */
};

void ga_stream_feed(struct ga_stream *s, const char *data, size_t len, ga_reply_fn fn,
		    void *opaque);
void ga_stream_free(struct ga_stream *s);

#endif
