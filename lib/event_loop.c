// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/event_loop.h"

#define EVENT_BATCH 16

/* Sets the timerfd to the earliest deadline, if that changed. Under timer_lock. */
static int timer_sync(struct event_loop *l)
{
	uint64_t want = l->timers ? l->timers->deadline_ms : 0;
	struct itimerspec its = { 0 };

	if (want == l->set_ms)
		return 0;
	its.it_value.tv_sec = (time_t)(want / 1000);
	its.it_value.tv_nsec = (long)(want % 1000) * 1000000;
	if (timerfd_settime(l->timer_ev.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	l->set_ms = want;
	return 0;
}

static void timer_unlink(struct event_loop *l, struct event_timer *t)
{
	struct event_timer **pp;

	for (pp = &l->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	t->next = NULL;
	t->armed = false;
}

/* After the timers due at the same time: those fire in the order they were armed. */
static void timer_insert(struct event_loop *l, struct event_timer *t)
{
	struct event_timer **pp = &l->timers;

	while (*pp && (*pp)->deadline_ms <= t->deadline_ms)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
	t->armed = true;
}

/* The first due timer not armed during this pass; under timer_lock. */
static struct event_timer *timer_due(struct event_loop *l, uint64_t now)
{
	for (struct event_timer *t = l->timers; t && t->deadline_ms <= now; t = t->next) {
		if (t->armed_pass != l->pass)
			return t;
	}
	return NULL;
}

static void timers_dispatch(struct event_handler *h, uint32_t events)
{
	struct event_loop *l = container_of(h, struct event_loop, timer_ev);
	struct event_timer *t;
	uint64_t ticks, now = clock_mono_ms();

	(void)events;
	(void)!read(h->fd, &ticks, sizeof(ticks));
	pthread_mutex_lock(&l->timer_lock);
	l->set_ms = 0; /* an absolute one-shot that fired is disarmed */
	l->pass++;
	l->dispatching = true;
	while ((t = timer_due(l, now))) {
		timer_unlink(l, t);
		if (t->period_ms) {
			t->deadline_ms += t->period_ms;
			if (t->deadline_ms <= now)
				t->deadline_ms = now + t->period_ms;
			timer_insert(l, t);
		}
		/* Unlocked: the callback may arm, cancel, or take locks armers hold. */
		pthread_mutex_unlock(&l->timer_lock);
		t->fn(t);
		pthread_mutex_lock(&l->timer_lock);
	}
	l->dispatching = false;
	(void)timer_sync(l);
	pthread_mutex_unlock(&l->timer_lock);
}

int event_loop_init(struct event_loop *l)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	memset(l, 0, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		return -errno;
	l->timer_ev.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l->timer_ev.fn = timers_dispatch;
	ev.data.ptr = &l->timer_ev;
	if (l->timer_ev.fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->timer_ev.fd, &ev) < 0) {
		r = -errno;
		if (l->timer_ev.fd >= 0)
			close(l->timer_ev.fd);
		close(l->epfd);
		l->epfd = -1;
		return r;
	}
	pthread_mutex_init(&l->timer_lock, NULL);
	return 0;
}

void event_loop_fini(struct event_loop *l)
{
	if (l->epfd < 0)
		return;
	for (struct event_timer *t = l->timers; t; t = t->next)
		t->armed = false;
	close(l->epfd);
	close(l->timer_ev.fd);
	pthread_mutex_destroy(&l->timer_lock);
	l->epfd = l->timer_ev.fd = -1;
	l->timers = NULL;
}

int event_loop_add(struct event_loop *l, struct event_handler *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0 ? -errno : 0;
}

int event_loop_del(struct event_loop *l, struct event_handler *h)
{
	return epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL) < 0 ? -errno : 0;
}

int event_loop_run_once(struct event_loop *l, int timeout_ms)
{
	struct epoll_event ev[EVENT_BATCH];
	int n = epoll_wait(l->epfd, ev, EVENT_BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct event_handler *h = ev[i].data.ptr;

		h->fn(h, ev[i].events);
	}
	return n;
}

void event_timer_init(struct event_timer *t, event_timer_fn fn)
{
	memset(t, 0, sizeof(*t));
	t->fn = fn;
}

int event_timer_arm(struct event_loop *l, struct event_timer *t, unsigned int delay_ms,
		    unsigned int period_ms)
{
	int r;

	pthread_mutex_lock(&l->timer_lock);
	if (t->armed)
		timer_unlink(l, t);
	t->deadline_ms = clock_mono_ms() + delay_ms;
	t->period_ms = period_ms;
	t->armed_pass = l->dispatching ? l->pass : 0;
	timer_insert(l, t);
	r = timer_sync(l);
	pthread_mutex_unlock(&l->timer_lock);
	return r;
}

void event_timer_cancel(struct event_loop *l, struct event_timer *t)
{
	if (l->epfd < 0)
		return; /* never set up, or gone: nothing can be armed */
	pthread_mutex_lock(&l->timer_lock);
	if (t->armed) {
		timer_unlink(l, t);
		(void)timer_sync(l);
	}
	pthread_mutex_unlock(&l->timer_lock);
}

bool event_timer_armed(struct event_loop *l, const struct event_timer *t)
{
	bool armed;

	pthread_mutex_lock(&l->timer_lock);
	armed = t->armed;
	pthread_mutex_unlock(&l->timer_lock);
	return armed;
}
