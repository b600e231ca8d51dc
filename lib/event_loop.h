/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal epoll loop: file descriptors with callbacks, and timers, run on
 * one thread.
 *
 * Threading: event_loop_run_once() and every callback run on the loop's
 * thread; event_loop_add()/_del() may be called from any thread (epoll is
 * thread-safe). Timers may be armed and cancelled from any thread (a mutex
 * in the loop guards the timer list; it is never held while a callback
 * runs, so a callback may take its own locks and arm or cancel any timer).
 * event_timer_cancel() on the loop's thread, inside a callback included,
 * guarantees the timer does not fire afterwards; from another thread it
 * cannot stop a callback that is already running, so such callbacks must
 * tolerate one late call (check their own state under their own lock).
 *
 * Timers: one timerfd per loop, made by event_loop_init() (so before any
 * seccomp filter that forbids making one), always set to the earliest
 * deadline of a list kept sorted by deadline. A loop holds a handful of
 * timers (a device's tick, a flush, a metrics period), so a sorted list is
 * simpler than a heap and as fast; one fd per loop instead of one per timer
 * keeps the fd count and the syscalls flat (timerfd_settime, and only when
 * the earliest deadline changes). Deadlines are CLOCK_MONOTONIC
 * milliseconds. A periodic timer that falls behind skips the periods it
 * missed rather than firing in a burst. A timer armed (or re-armed) inside
 * a callback never fires in the same dispatch, so re-arming with delay 0
 * cannot spin inside one call of event_loop_run_once().
 */
#ifndef KVMLET_EVENT_LOOP_H
#define KVMLET_EVENT_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_handler;
typedef void (*event_fn)(struct event_handler *h, uint32_t events);

/* Embed one in the object that owns the fd; container_of() gets back to it. */
struct event_handler {
	int fd;
	event_fn fn;
};

struct event_timer;
typedef void (*event_timer_fn)(struct event_timer *t);

/* Embed one in its owner too; fields are private to the loop. */
struct event_timer {
	event_timer_fn fn;
	struct event_timer *next;
	uint64_t deadline_ms;
	unsigned int period_ms; /* 0: one-shot */
	uint64_t armed_pass;	/* the loop's dispatch pass it was armed in */
	bool armed;
};

struct event_loop {
	int epfd; /* -1 until init: fini on such a loop does nothing */

	/* Private. */
	struct event_handler timer_ev;
	pthread_mutex_t timer_lock;
	struct event_timer *timers; /* armed, earliest deadline first */
	uint64_t set_ms;	    /* what timer_ev.fd is set to; 0: disarmed */
	uint64_t pass;		    /* dispatch passes so far */
	bool dispatching;
};

int event_loop_init(struct event_loop *l);
/* Closes the loop's fds; armed timers are forgotten. */
void event_loop_fini(struct event_loop *l);
int event_loop_add(struct event_loop *l, struct event_handler *h, uint32_t events);
int event_loop_del(struct event_loop *l, struct event_handler *h);
/* Waits up to timeout_ms (-1: forever) and dispatches what is ready. */
int event_loop_run_once(struct event_loop *l, int timeout_ms);

/* Before first use; a timer belongs to no loop until armed on one. */
void event_timer_init(struct event_timer *t, event_timer_fn fn);
/*
 * Arms t to fire after delay_ms, then every period_ms if that is not 0.
 * Arming an armed timer moves it (add and modify are the same call). A
 * timer must stay on one loop. Fails only if timerfd_settime does (-errno;
 * the timer then stays armed and fires at the next dispatch of the loop).
 */
int event_timer_arm(struct event_loop *l, struct event_timer *t, unsigned int delay_ms,
		    unsigned int period_ms);
/* Disarms t; harmless if it is not armed. */
void event_timer_cancel(struct event_loop *l, struct event_timer *t);
bool event_timer_armed(struct event_loop *l, const struct event_timer *t);

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#endif
