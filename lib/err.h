/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An error with a human-readable reason. Functions that can fail for
 * reasons a user must see (bad images, bad options) fill one in and return
 * its negative errno; the caller at the boundary prints err.msg once.
 * A struct err belongs to one thread at a time; these functions keep no state.
 */
#ifndef KVMLET_ERR_H
#define KVMLET_ERR_H

struct err {
	int code; /* negative errno */
	char msg[256];
};

/* Records the first error only; returns code so callers can `return err_set(...)`. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * Puts context in front of an error an inner layer already set ("snapshot
 * 'x': " + its message), keeping its code; the message is cut to fit. Does
 * nothing when no error is set, so a caller may follow it with its own
 * err_set() for the failures that set none. Returns code, like err_set().
 */
int err_prefix(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
