/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest's console on the host, when COM1's output needs more than one
 * plain fd: a CRI container log (--serial cri:PATH, lib/cri_log.h) and/or
 * a Unix socket for interactive clients (--console-sock PATH).
 *
 * The UART writes each byte into a pipe (non-blocking: a vCPU never waits
 * for the host's disk or a client). The main loop reads the pipe, at most
 * CONSOLE_TURN_BYTES per turn, and hands what it read to the CRI log
 * (O_APPEND), the raw output fd (stdio or file:, when a socket is added)
 * and every socket client. A part line is flushed as a P piece after
 * CONSOLE_PARTIAL_MS. Bytes the pipe cannot take (the main loop more than
 * CONSOLE_PIPE_BYTES behind) are dropped and counted, never waited for.
 * The raw output fd is written blocking, as the UART wrote it before: a
 * stdout that nobody reads stalls the main loop instead of a vCPU.
 *
 * Clients (at most CONSOLE_MAX_CLIENTS) get the raw output and their bytes
 * go to the UART's receive FIFO, as fast as the guest takes them: while
 * the FIFO is full no client is read. A client that cannot take output at
 * once is dropped rather than stalling everyone.
 *
 * Threading: everything on the VM's main loop thread, except
 * console_stats() (any thread) and the pipe's write end (the UART, on
 * vCPU threads and the coalescing replay).
 */
#ifndef KVMLET_VMM_CONSOLE_H
#define KVMLET_VMM_CONSOLE_H

#include <stdint.h>

#include "lib/err.h"
#include "lib/event_loop.h"

#define CONSOLE_MAX_CLIENTS 4
#define CONSOLE_PARTIAL_MS  1000
#define CONSOLE_TURN_BYTES  65536
#define CONSOLE_PIPE_BYTES  (1 << 20)

struct console;
struct serial;

struct console_opts {
	const char *cri_path;  /* NULL: no CRI log */
	int raw_fd;	       /* raw output besides the clients (not owned); -1: none */
	const char *sock_path; /* NULL: no console socket */
};

/* Counters, for metrics; written on the main thread, read anywhere. */
struct console_stats {
	uint64_t log_records;  /* CRI records written whole */
	uint64_t log_errors;   /* CRI records lost to a failed or short write */
	uint64_t reopens;      /* successful PUT /kvmlet/console/reopen */
	uint64_t dropped;      /* output bytes the pipe could not take */
	uint64_t clients;      /* clients connected now */
	uint64_t clients_seen; /* accepted, ever */
	uint64_t clients_cut;  /* dropped: slow, or over the limit */
};

/* Opens the log and the socket and watches the pipe on loop; NULL and err on failure. */
struct console *console_open(struct event_loop *loop, const struct console_opts *o,
			     struct err *err);
/* The fd the UART writes to. */
int console_tx_fd(const struct console *c);
/* Where client input goes; set once the UART exists. */
void console_set_serial(struct console *c, struct serial *s);
/* The UART's receive FIFO has room again (its rx-ready eventfd fired). */
void console_on_rx_room(struct console *c);
/*
 * kubelet's log rotation: what the guest wrote so far goes to the old
 * file, then PATH is opened again (created if absent). A line in progress
 * continues in the new file. On failure the old file stays in use.
 */
int console_reopen(struct console *c, struct err *err);
/* The guest stopped: everything left in the pipe is written, a part line ends as F. */
void console_flush(struct console *c);
void console_stats(const struct console *c, struct console_stats *out);
/* Flushes, closes every fd and removes the socket. NULL is fine. */
void console_close(struct console *c);

#endif
