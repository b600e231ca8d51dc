// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/event_loop.h"

#define EVENT_BATCH 16

int event_loop_init(struct event_loop *l)
{
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	return l->epfd < 0 ? -errno : 0;
}

void event_loop_fini(struct event_loop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	l->epfd = -1;
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
