/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal epoll loop: file descriptors with callbacks, run on one thread. */
#ifndef KVMLET_EVENT_LOOP_H
#define KVMLET_EVENT_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct event_handler;
typedef void (*event_fn)(struct event_handler *h, uint32_t events);

/* Embed one in the object that owns the fd; container_of() gets back to it. */
struct event_handler {
	int fd;
	event_fn fn;
};

struct event_loop {
	int epfd;
};

int event_loop_init(struct event_loop *l);
void event_loop_fini(struct event_loop *l);
int event_loop_add(struct event_loop *l, struct event_handler *h, uint32_t events);
int event_loop_del(struct event_loop *l, struct event_handler *h);
/* Waits up to timeout_ms (-1: forever) and dispatches what is ready. */
int event_loop_run_once(struct event_loop *l, int timeout_ms);

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#endif
