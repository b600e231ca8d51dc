// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP server's thread; the contract is in lib/http_server.h.
 *
 * Ownership, the part that must hold for every interleaving:
 *  - connections and their buffers belong to the server thread; no other thread
 *    touches them, except that http_call_reply() reads the request of its own
 *    call and formats the response, which is safe because the server thread
 *    leaves a connection's parser alone while its call is outstanding;
 *  - a connection with an outstanding call is never freed: if the client
 *    goes, its socket is closed and the connection marked dead, and whoever
 *    takes the reply frees it (the server thread, or after stop the replier);
 *  - replies travel to the server thread on a list under s->lock, with an
 *    eventfd to wake it, so the handler may reply from inside itself too;
 *  - on the server thread, memory of closed connections is freed only after
 *    each epoll batch, since later events of the batch may still point to it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/event_loop.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/http_server.h"

#define HTTP_SERVER_BACKLOG	      128
#define HTTP_SERVER_IN_BUF	      (16 * 1024)
#define HTTP_SERVER_TICK_MAX_MS	      250
#define HTTP_SERVER_TICK_MIN_MS	      5
/* Reads per readiness event: keeps one busy client from starving the rest. */
#define HTTP_SERVER_READS_PER_EVENT   4
/* Accepts per readiness event, for the same reason. */
#define HTTP_SERVER_ACCEPTS_PER_EVENT 32
/* After a final answer: how long and how much of the client's rest we swallow. */
#define HTTP_SERVER_LINGER_MS	      1000
#define HTTP_SERVER_LINGER_BYTES      (1024 * 1024)

struct http_conn;

struct http_call {
	struct http_conn *conn;
	struct http_call *next; /* on s->done */
	char *resp;		/* the formatted response; NULL if formatting ran out of memory */
	size_t resp_len;
	unsigned int status;
	bool keep_alive;
};

struct http_conn {
	struct event_handler ev;
	struct http_server *s;
	struct http_conn *prev, *next; /* s->conns while open */
	struct http_conn *next_free;   /* s->graveyard */
	struct http_parser parser;
	struct http_call call; /* at most one outstanding per connection */
	char *out;	       /* unsent response bytes at out[out_off..out_len) */
	size_t out_off, out_len, out_cap;
	size_t in_off, in_len; /* unparsed bytes at in[in_off..in_len) */
	uint64_t req_start_ms; /* first byte of the request being parsed */
	uint64_t last_active_ms;
	uint64_t active_seq; /* orders last activity where ms ties: eviction takes the lowest */
	uint32_t events;     /* current epoll interest */
	bool in_request;     /* some bytes of a request parsed, it is not complete */
	bool outstanding;
	bool closing; /* close once out is flushed; read nothing more */
	bool read_eof;
	bool heard;		  /* some byte has come from the client */
	unsigned int evict_round; /* found busy in this eviction round */
	bool lingering; /* answered and shut for writing; draining what the client still sends */
	uint64_t linger_start_ms;
	size_t linger_bytes;
	bool dead; /* socket closed; memory waits for the graveyard or the reply */
	uint8_t in[HTTP_SERVER_IN_BUF];
};

struct http_server {
	struct http_server_limits lim;
	struct http_limits http_lim;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct http_fault_fmt fault;
	char name[16], thread_name[16];
	http_handler_fn fn;
	void *ctx;
	int (*thread_init)(void *ctx);
	pthread_t thread;

	/* Server thread only (and stop, after the join). */
	struct event_loop loop;
	struct event_handler listen_ev, wake_ev;
	struct event_timer tick;
	struct http_conn *conns, *graveyard;
	unsigned int nr_conns;
	unsigned int tick_ms;
	unsigned int evict_round; /* marks candidates found busy during one eviction */
	uint64_t active_seq;	  /* last one given to a connection */
	bool listen_paused;

	/* Under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct http_call *done, **done_tail;
	unsigned int outstanding; /* handler calls not yet replied */
	bool stopped;		  /* replies are freed by their replier from now on */
	bool init_done;
	int init_rc;

	bool stopping;			      /* atomic: tells the thread to leave its loop */
	uint64_t nr_requests, nr_4xx, nr_5xx; /* atomic */
};

static void count_response(struct http_server *s, unsigned int status)
{
	__atomic_add_fetch(&s->nr_requests, 1, __ATOMIC_RELAXED);
	if (status >= 400 && status < 500)
		__atomic_add_fetch(&s->nr_4xx, 1, __ATOMIC_RELAXED);
	else if (status >= 500)
		__atomic_add_fetch(&s->nr_5xx, 1, __ATOMIC_RELAXED);
}

void http_server_counts(const struct http_server *s, uint64_t *requests, uint64_t *errors_4xx,
			uint64_t *errors_5xx)
{
	if (requests)
		*requests = __atomic_load_n(&s->nr_requests, __ATOMIC_RELAXED);
	if (errors_4xx)
		*errors_4xx = __atomic_load_n(&s->nr_4xx, __ATOMIC_RELAXED);
	if (errors_5xx)
		*errors_5xx = __atomic_load_n(&s->nr_5xx, __ATOMIC_RELAXED);
}

static void conn_free(struct http_conn *c)
{
	http_parser_fini(&c->parser);
	free(c->call.resp);
	free(c->out);
	free(c);
}

/* The sweep ticks only while there is something to time out: an idle server sleeps. */
static void tick_arm(struct http_server *s, bool on)
{
	if (event_timer_armed(&s->loop, &s->tick) == on)
		return;
	if (on)
		(void)event_timer_arm(&s->loop, &s->tick, s->tick_ms, s->tick_ms);
	else
		event_timer_cancel(&s->loop, &s->tick);
}

/* The user's fault body for msg, or for "" if msg's does not fit in cap. */
static ssize_t fault_body(const struct http_server *s, char *buf, size_t cap, const char *msg)
{
	ssize_t n = s->fault.format(buf, cap, msg);

	return n >= 0 ? n : s->fault.format(buf, cap, "");
}

/* A whole error response; -ENOSPC or -EINVAL as http_response_format_hdrs(). */
static ssize_t fault_response(const struct http_server *s, char *buf, size_t cap,
			      unsigned int status, const char *msg, bool keep_alive,
			      const struct http_header *extra, unsigned int nr_extra)
{
	char body[256];
	ssize_t blen = fault_body(s, body, sizeof(body), msg);

	if (blen < 0)
		return blen;
	return http_response_format_hdrs(buf, cap, status, s->fault.content_type, extra, nr_extra,
					 body, (size_t)blen, keep_alive);
}

/* Without a formatter: the message as text, on a line of its own. */
static ssize_t plain_fault(char *buf, size_t cap, const char *msg)
{
	int n = snprintf(buf, cap, "%s\n", msg ? msg : "");

	if (n < 0)
		return -EINVAL;
	if (!buf && !cap)
		return n;
	return (size_t)n < cap ? n : -ENOSPC;
}

static void conn_touch(struct http_conn *c)
{
	c->last_active_ms = clock_mono_ms();
	c->active_seq = ++c->s->active_seq;
}

static size_t conn_unsent(const struct http_conn *c)
{
	return c->out_len - c->out_off;
}

static void conn_close(struct http_conn *c)
{
	struct http_server *s = c->s;

	if (c->dead)
		return;
	event_loop_del(&s->loop, &c->ev);
	close(c->ev.fd);
	c->ev.fd = -1;
	c->dead = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nr_conns--;
	/* An outstanding call owns the connection now; its reply frees it. */
	if (!c->outstanding) {
		c->next_free = s->graveyard;
		s->graveyard = c;
	}
}

/* What the connection should hear about next; epoll is told only of changes. */
static void conn_update_interest(struct http_conn *c)
{
	uint32_t want = 0;
	struct epoll_event ev;

	if (c->dead)
		return;
	if (c->lingering)
		want = EPOLLIN;
	else if (conn_unsent(c))
		want |= EPOLLOUT;
	/*
	 * Read only into an empty buffer, never while a call is outstanding
	 * (requests are answered in order and unread bytes are the client's
	 * queue, not ours), nor between requests while a response is unsent
	 * (a client that does not read cannot make us answer more).
	 */
	if (!c->lingering && !c->closing && !c->outstanding && !c->read_eof &&
	    c->in_off == c->in_len && (c->in_request || !conn_unsent(c)))
		want |= EPOLLIN;
	if (want == c->events)
		return;
	ev.events = want;
	ev.data.ptr = &c->ev;
	if (epoll_ctl(c->s->loop.epfd, EPOLL_CTL_MOD, c->ev.fd, &ev) < 0) {
		conn_close(c);
		return;
	}
	c->events = want;
}

/*
 * The answer is sent and nothing more will be: but the client may still be
 * sending (a body refused with 413, say), and closing a socket with unread
 * bytes makes the kernel reset the connection, which can destroy the answer
 * before the client reads it. So shut down our side only, swallow what still
 * arrives, and close on the client's EOF or after HTTP_SERVER_LINGER_MS.
 */
static void conn_linger(struct http_conn *c)
{
	if (c->dead || c->lingering)
		return;
	if (c->read_eof || shutdown(c->ev.fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	c->lingering = true;
	c->linger_start_ms = clock_mono_ms();
	conn_update_interest(c);
}

static void conn_drain(struct http_conn *c)
{
	for (;;) {
		ssize_t n = read(c->ev.fd, c->in, sizeof(c->in));

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0 || (c->linger_bytes += (size_t)n) > HTTP_SERVER_LINGER_BYTES) {
			conn_close(c);
			return;
		}
	}
}

/* Sends what it can at once and keeps the rest; false if the connection was closed. */
static bool conn_queue(struct http_conn *c, const void *data, size_t len)
{
	const char *p = data;

	if (c->dead)
		return false;
	if (!conn_unsent(c)) {
		ssize_t n;

		c->out_off = c->out_len = 0;
		n = send(c->ev.fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(c);
			return false;
		}
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			conn_touch(c);
		}
	}
	if (!len)
		return true;
	if (len > c->s->lim.max_out - conn_unsent(c)) {
		conn_close(c);
		return false;
	}
	if (c->out_cap - c->out_len < len) {
		size_t unsent = conn_unsent(c), cap = c->out_cap ? c->out_cap : 4096;
		char *nb;

		if (unsent && c->out_off)
			memmove(c->out, c->out + c->out_off, unsent);
		c->out_off = 0;
		c->out_len = unsent;
		while (cap - unsent < len)
			cap *= 2;
		if (cap > c->out_cap) {
			nb = realloc(c->out, cap);
			if (!nb) {
				conn_close(c);
				return false;
			}
			c->out = nb;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, p, len);
	c->out_len += len;
	return true;
}

static bool conn_respond(struct http_conn *c, unsigned int status, const void *data, size_t len)
{
	count_response(c->s, status);
	return conn_queue(c, data, len);
}

/* A response of the server's own, with the user's fault body. */
static void conn_fault(struct http_conn *c, unsigned int status, const char *msg, bool keep_alive,
		       const struct http_header *extra, unsigned int nr_extra)
{
	char buf[768];
	ssize_t n =
		fault_response(c->s, buf, sizeof(buf), status, msg, keep_alive, extra, nr_extra);

	if (n < 0) {
		conn_close(c); /* our own bug; nothing sensible to send */
		return;
	}
	conn_respond(c, status, buf, (size_t)n);
	if (!keep_alive)
		c->closing = true;
}

static void conn_dispatch(struct http_conn *c)
{
	struct http_server *s = c->s;
	const struct http_request *r = &c->parser.req;

	if (r->method == HTTP_METHOD_OTHER) {
		static const struct http_header allow = { "Allow", "GET, PUT, PATCH" };
		char msg[128];

		snprintf(msg, sizeof(msg), "Method %.64s is not allowed", r->method_name);
		conn_fault(c, 405, msg, r->keep_alive, &allow, 1);
		http_parser_reset(&c->parser);
		return;
	}
	c->outstanding = true;
	c->call = (struct http_call){ .conn = c };
	pthread_mutex_lock(&s->lock);
	s->outstanding++;
	pthread_mutex_unlock(&s->lock);
	s->fn(s->ctx, &c->call);
}

/* Parses what is buffered, reading more while it may; answers what it can itself. */
static void conn_process(struct http_conn *c)
{
	unsigned int reads = 0;

	while (!c->dead && !c->closing && !c->outstanding) {
		struct http_parser *p = &c->parser;
		size_t used;

		if (c->in_off == c->in_len) {
			ssize_t n;

			if (c->read_eof) {
				/* No more requests can come; a partial one never completes. */
				c->closing = true;
				break;
			}
			if (!c->in_request && conn_unsent(c))
				break;
			if (reads++ == HTTP_SERVER_READS_PER_EVENT)
				break;
			n = read(c->ev.fd, c->in, sizeof(c->in));
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				conn_close(c);
				return;
			}
			if (!n) {
				c->read_eof = true;
				continue;
			}
			c->in_off = 0;
			c->in_len = (size_t)n;
			conn_touch(c);
			c->heard = true;
			continue;
		}
		if (!c->in_request) {
			if (conn_unsent(c))
				break;
			c->in_request = true;
			c->req_start_ms = clock_mono_ms();
		}
		used = http_parse(p, c->in + c->in_off, c->in_len - c->in_off);
		c->in_off += used;
		switch (p->state) {
		case HTTP_PARSE_MORE:
			break;
		case HTTP_PARSE_EXPECT_CONTINUE:
			conn_queue(c, http_continue, strlen(http_continue));
			break;
		case HTTP_PARSE_ERROR:
			log_debug("api: malformed request, answered %u", p->status);
			conn_fault(c, p->status, http_reason(p->status), false, NULL, 0);
			c->closing = true;
			break;
		case HTTP_PARSE_DONE:
			c->in_request = false;
			conn_dispatch(c);
			break;
		}
	}
	if (c->dead)
		return;
	if (c->closing && !conn_unsent(c))
		conn_linger(c);
	else
		conn_update_interest(c);
}

static void conn_flush(struct http_conn *c)
{
	while (conn_unsent(c)) {
		ssize_t n = send(c->ev.fd, c->out + c->out_off, conn_unsent(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN)
				return;
			if (errno == EINTR)
				continue;
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
		conn_touch(c);
	}
	c->out_off = c->out_len = 0;
}

static void conn_event(struct event_handler *h, uint32_t events)
{
	struct http_conn *c = container_of(h, struct http_conn, ev);

	if (c->dead)
		return; /* closed earlier in this batch */
	if (events & EPOLLERR) {
		conn_close(c);
		return;
	}
	if (c->lingering) {
		conn_drain(c);
		return;
	}
	/*
	 * The peer has closed both ways: nobody will read a reply. Requests
	 * it left behind are still served (their effects may be wanted).
	 */
	if ((events & EPOLLHUP) && (c->outstanding || conn_unsent(c))) {
		conn_close(c);
		return;
	}
	if (events & EPOLLOUT) {
		conn_flush(c);
		if (c->dead)
			return;
	}
	/* On EPOLLHUP without a call, reading runs into EOF or an error and closes. */
	conn_process(c);
}

/* Too many clients, or no memory for another: say so and hang up at once. */
static void server_refuse(struct http_server *s, int fd, const char *why)
{
	char buf[512];
	ssize_t n = fault_response(s, buf, sizeof(buf), 503, why, false, NULL, 0);

	if (n > 0) {
		count_response(s, 503);
		/* A new socket's buffer is empty: the whole response fits. */
		(void)send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	close(fd);
}

/*
 * Nothing in progress, queued or unsent: closing it loses no work. Not a
 * lingering one either: closing that early could reset the answer it was
 * given before its client reads it, and lingering ends within a second.
 */
static bool conn_idle(const struct http_conn *c)
{
	return !c->outstanding && !conn_unsent(c) && !c->lingering && !c->closing &&
	       !c->in_request && c->in_off == c->in_len;
}

/* Bytes the client sent that we have not read yet are a request on its way. */
static bool conn_has_input(const struct http_conn *c)
{
	char b;

	return recv(c->ev.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/*
 * The table is full: frees the slot of the connection idle the longest, if
 * any is. One that never spoke hears the 503 the newcomer would have heard
 * (so a client that connects early and sends late still gets an answer); a
 * kept-alive one is closed without a word, as the idle timeout would.
 */
static bool server_evict(struct http_server *s)
{
	unsigned int round = ++s->evict_round;

	for (;;) {
		struct http_conn *c, *victim = NULL;

		for (c = s->conns; c; c = c->next) {
			if (c->evict_round != round && conn_idle(c) &&
			    (!victim || c->active_seq < victim->active_seq))
				victim = c;
		}
		if (!victim)
			return false;
		victim->evict_round = round;
		if (conn_has_input(victim))
			continue;
		if (!victim->heard) {
			char msg[64];

			snprintf(msg, sizeof(msg), "Too many %s clients", s->name);
			conn_fault(victim, 503, msg, false, NULL, 0);
		}
		conn_close(victim);
		return true;
	}
}

static void server_accept(struct event_handler *h, uint32_t events)
{
	struct http_server *s = container_of(h, struct http_server, listen_ev);

	for (int i = 0; i < HTTP_SERVER_ACCEPTS_PER_EVENT; i++) {
		int fd = accept4(s->listen_ev.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct http_conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct epoll_event ev = { .events = 0, .data.ptr = &s->listen_ev };

				/*
				 * The pending connection stays queued and the socket stays
				 * readable: stop listening until the next tick rather than
				 * spin on it.
				 */
				if (!epoll_ctl(s->loop.epfd, EPOLL_CTL_MOD, s->listen_ev.fd, &ev)) {
					s->listen_paused = true;
					tick_arm(s, true);
				}
			}
			return;
		}
		if (s->nr_conns >= s->lim.max_clients && !server_evict(s)) {
			char msg[64];

			snprintf(msg, sizeof(msg), "Too many %s clients", s->name);
			server_refuse(s, fd, msg);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || http_parser_init(&c->parser, &s->http_lim)) {
			free(c);
			server_refuse(s, fd, "Out of memory");
			continue;
		}
		c->s = s;
		c->ev.fd = fd;
		c->ev.fn = conn_event;
		c->events = EPOLLIN;
		conn_touch(c);
		if (event_loop_add(&s->loop, &c->ev, c->events)) {
			conn_free(c);
			server_refuse(s, fd, "Out of memory");
			continue;
		}
		c->next = s->conns;
		if (c->next)
			c->next->prev = c;
		s->conns = c;
		s->nr_conns++;
		tick_arm(s, true);
	}
}

/* Takes the replies made since the last wake-up and sends them. */
static void server_wake(struct event_handler *h, uint32_t events)
{
	struct http_server *s = container_of(h, struct http_server, wake_ev);
	struct http_call *call, *next;
	uint64_t v;

	(void)!read(s->wake_ev.fd, &v, sizeof(v));
	pthread_mutex_lock(&s->lock);
	call = s->done;
	s->done = NULL;
	s->done_tail = &s->done;
	pthread_mutex_unlock(&s->lock);

	for (; call; call = next) {
		struct http_conn *c = call->conn;

		next = call->next;
		c->outstanding = false;
		if (c->dead) {
			c->next_free = s->graveyard;
			s->graveyard = c;
			continue;
		}
		conn_touch(c);
		if (call->resp) {
			conn_respond(c, call->status, call->resp, call->resp_len);
		} else {
			conn_fault(c, 500, "Out of memory", call->keep_alive, NULL, 0);
		}
		free(call->resp);
		call->resp = NULL;
		if (!call->keep_alive)
			c->closing = true;
		http_parser_reset(&c->parser);
		conn_process(c);
	}
}

static void server_sweep(struct http_conn *c, uint64_t now)
{
	const struct http_server_limits *l = &c->s->lim;

	if (c->outstanding)
		return; /* the handler is working on it; the client waits */
	if (c->lingering) {
		if (now - c->linger_start_ms >= HTTP_SERVER_LINGER_MS)
			conn_close(c);
		return;
	}
	if (c->in_request && !c->closing) {
		if (now - c->req_start_ms >= l->request_timeout_ms) {
			conn_fault(c, 408, "Request not complete in time", false, NULL, 0);
			if (!c->dead && !conn_unsent(c))
				conn_linger(c);
			else
				conn_update_interest(c);
		}
		return;
	}
	/* Connected and silent: it may not hold a slot for the whole idle timeout. */
	if (!c->heard && now - c->last_active_ms >= l->first_byte_timeout_ms) {
		conn_close(c);
		return;
	}
	/* Idle between requests, or not reading what it is owed. */
	if (now - c->last_active_ms >= l->idle_timeout_ms)
		conn_close(c);
}

static void server_tick(struct event_timer *t)
{
	struct http_server *s = container_of(t, struct http_server, tick);
	struct http_conn *c, *next;
	uint64_t now = clock_mono_ms();

	for (c = s->conns; c; c = next) {
		next = c->next;
		server_sweep(c, now);
	}
	if (s->listen_paused) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->listen_ev };

		if (!epoll_ctl(s->loop.epfd, EPOLL_CTL_MOD, s->listen_ev.fd, &ev))
			s->listen_paused = false;
	}
	if (!s->nr_conns && !s->listen_paused)
		tick_arm(s, false);
}

static void *server_thread(void *arg)
{
	struct http_server *s = arg;
	int rc;

	/* Before thread_init: naming may need system calls the filter forbids. */
	pthread_setname_np(pthread_self(), s->thread_name);
	rc = s->thread_init ? s->thread_init(s->ctx) : 0;
	pthread_mutex_lock(&s->lock);
	s->init_done = true;
	s->init_rc = rc;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return NULL;

	while (!__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE)) {
		rc = event_loop_run_once(&s->loop, -1);
		while (s->graveyard) {
			struct http_conn *c = s->graveyard;

			s->graveyard = c->next_free;
			conn_free(c);
		}
		if (rc < 0) {
			log_error("%s server: epoll: %s", s->name, strerror(-rc));
			break;
		}
	}
	return NULL;
}

static void server_free(struct http_server *s)
{
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

/* Everything but the thread and the connections; safe on a half-built server. */
static void server_close_fds(struct http_server *s)
{
	if (s->listen_ev.fd >= 0) {
		close(s->listen_ev.fd);
		unlink(s->path);
	}
	event_loop_fini(&s->loop);
	s->listen_ev.fd = -1;
}

static int server_listen(struct http_server *s, const char *path, struct err *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(addr.sun_path))
		return err_set(err, -ENAMETOOLONG, "%s socket path %s is empty or too long",
			       s->name, path ? path : "(null)");
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, -errno, "%s socket: %s", s->name, strerror(errno));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;

		close(fd);
		if (e == EADDRINUSE)
			return err_set(err, -e,
				       "%s socket %s already exists (another server, or a stale "
				       "socket to remove)",
				       s->name, path);
		return err_set(err, -e, "binding %s socket %s: %s", s->name, path, strerror(e));
	}
	/*
	 * Owner only, before listen(): until then connect() is refused, so no
	 * one gets in through the umask's wider mode in between.
	 */
	if (chmod(path, 0600) < 0 || listen(fd, HTTP_SERVER_BACKLOG) < 0) {
		int e = errno;

		close(fd);
		unlink(path);
		return err_set(err, -e, "setting up %s socket %s: %s", s->name, path, strerror(e));
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->listen_ev.fd = fd;
	return 0;
}

static void limits_fill(struct http_server_limits *l, const struct http_server_limits *in)
{
	*l = in ? *in : (struct http_server_limits){ 0 };
	if (!l->max_clients)
		l->max_clients = HTTP_SERVER_MAX_CLIENTS;
	if (!l->idle_timeout_ms)
		l->idle_timeout_ms = HTTP_SERVER_IDLE_TIMEOUT_MS;
	if (!l->first_byte_timeout_ms)
		l->first_byte_timeout_ms = HTTP_SERVER_FIRST_BYTE_TIMEOUT_MS;
	if (!l->request_timeout_ms)
		l->request_timeout_ms = HTTP_SERVER_REQUEST_TIMEOUT_MS;
	if (!l->max_body)
		l->max_body = HTTP_SERVER_MAX_BODY;
	if (!l->max_out)
		l->max_out = HTTP_SERVER_MAX_OUT;
}

static unsigned int min3(unsigned int a, unsigned int b, unsigned int c)
{
	unsigned int m = a < b ? a : b;

	return m < c ? m : c;
}

int http_server_start(struct http_server **out, const struct http_server_opts *o, struct err *err)
{
	struct http_server *s;
	int rc;

	*out = NULL;
	if (!o->fn)
		return err_set(err, -EINVAL, "HTTP server: no handler");
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, -ENOMEM, "HTTP server: out of memory");
	snprintf(s->name, sizeof(s->name), "%s", o->name ? o->name : "HTTP");
	snprintf(s->thread_name, sizeof(s->thread_name), "%s",
		 o->thread_name ? o->thread_name : "http");
	s->fault = o->fault ? *o->fault
			    : (struct http_fault_fmt){ .content_type = "text/plain",
						       .format = plain_fault };
	limits_fill(&s->lim, o->limits);
	s->http_lim.max_body = s->lim.max_body;
	s->tick_ms = min3(s->lim.idle_timeout_ms, s->lim.request_timeout_ms,
			  s->lim.first_byte_timeout_ms) /
		     4;
	if (s->tick_ms > HTTP_SERVER_TICK_MAX_MS)
		s->tick_ms = HTTP_SERVER_TICK_MAX_MS;
	if (s->tick_ms < HTTP_SERVER_TICK_MIN_MS)
		s->tick_ms = HTTP_SERVER_TICK_MIN_MS;
	s->fn = o->fn;
	s->ctx = o->ctx;
	s->thread_init = o->thread_init;
	s->done_tail = &s->done;
	s->loop.epfd = s->listen_ev.fd = s->wake_ev.fd = -1;
	event_timer_init(&s->tick, server_tick);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);

	rc = server_listen(s, o->path, err);
	if (rc)
		goto fail;
	/* Every descriptor the thread needs exists before thread_init can forbid making one. */
	rc = event_loop_init(&s->loop);
	if (rc) {
		err_set(err, rc, "%s server epoll: %s", s->name, strerror(-rc));
		goto fail;
	}
	s->wake_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_ev.fd < 0) {
		rc = err_set(err, -errno, "%s server eventfd: %s", s->name, strerror(errno));
		goto fail;
	}
	s->listen_ev.fn = server_accept;
	s->wake_ev.fn = server_wake;
	rc = event_loop_add(&s->loop, &s->listen_ev, EPOLLIN);
	if (!rc)
		rc = event_loop_add(&s->loop, &s->wake_ev, EPOLLIN);
	if (rc) {
		err_set(err, rc, "%s server epoll: %s", s->name, strerror(-rc));
		goto fail;
	}

	rc = -pthread_create(&s->thread, NULL, server_thread, s);
	if (rc) {
		err_set(err, rc, "%s server thread: %s", s->name, strerror(-rc));
		goto fail;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->init_done)
		pthread_cond_wait(&s->cond, &s->lock);
	rc = s->init_rc;
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		pthread_join(s->thread, NULL);
		rc = rc < 0 ? rc : -EINVAL;
		err_set(err, rc, "%s thread set-up failed: %s", s->name, strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;

fail:
	server_close_fds(s);
	if (s->wake_ev.fd >= 0)
		close(s->wake_ev.fd);
	server_free(s);
	return rc;
}

void http_server_stop(struct http_server *s)
{
	struct http_conn *c, *next;
	struct http_call *call;
	uint64_t one = 1;
	bool last;
	int wake_fd;

	if (!s)
		return;
	__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
	(void)!write(s->wake_ev.fd, &one, sizeof(one));
	pthread_join(s->thread, NULL);

	/* The thread is gone: its state is ours. */
	for (c = s->conns; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	while (s->graveyard) {
		c = s->graveyard;
		s->graveyard = c->next_free;
		conn_free(c);
	}
	server_close_fds(s);

	pthread_mutex_lock(&s->lock);
	s->stopped = true;
	call = s->done;
	s->done = NULL;
	last = !s->outstanding;
	/*
	 * Read under the lock: once it is dropped, the last outstanding call's
	 * replier may free s at any moment.
	 */
	wake_fd = s->wake_ev.fd;
	pthread_mutex_unlock(&s->lock);
	/* No replier writes the eventfd once stopped is set. */
	close(wake_fd);
	while (call) {
		struct http_call *n = call->next;

		conn_free(call->conn); /* dead: conn_close() above left it to its call */
		call = n;
	}
	if (last)
		server_free(s);
}

const struct http_request *http_call_request(const struct http_call *call)
{
	return &call->conn->parser.req;
}

void http_call_reply(struct http_call *call, unsigned int status, const char *content_type,
		     const void *body, size_t len)
{
	struct http_conn *c = call->conn;
	struct http_server *s = c->s;
	size_t cap = len + (content_type ? strlen(content_type) : 0) + 512;
	bool keep_alive = c->parser.req.keep_alive, last;
	ssize_t n = -ENOMEM;
	char *buf = malloc(cap);
	uint64_t one = 1;

	/* Formatted here, off the server thread, and never failing in a way the client can't see. */
	if (buf) {
		n = http_response_format(buf, cap, status, content_type, body, len, keep_alive);
		if (n < 0) {
			status = 500;
			n = fault_response(s, buf, cap, status, "Invalid response", keep_alive,
					   NULL, 0);
		}
	}
	if (n < 0) {
		free(buf);
		buf = NULL;
		n = 0;
	}
	call->resp = buf;
	call->resp_len = (size_t)n;
	call->status = status;
	call->keep_alive = keep_alive;
	call->next = NULL;

	pthread_mutex_lock(&s->lock);
	s->outstanding--;
	if (s->stopped) {
		last = !s->outstanding;
		pthread_mutex_unlock(&s->lock);
		conn_free(c);
		if (last)
			server_free(s);
		return;
	}
	*s->done_tail = call;
	s->done_tail = &call->next;
	/* Under the lock: stop closes the eventfd only after setting stopped. */
	(void)!write(s->wake_ev.fd, &one, sizeof(one));
	pthread_mutex_unlock(&s->lock);
}

void http_call_fault(struct http_call *call, unsigned int status, const char *fmt, ...)
{
	const struct http_fault_fmt *f = &call->conn->s->fault;
	char *msg = NULL, *body = NULL, empty[256];
	ssize_t blen = -1;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (msg) {
		blen = f->format(NULL, 0, msg);
		body = blen >= 0 ? malloc((size_t)blen + 1) : NULL;
		if (body)
			blen = f->format(body, (size_t)blen + 1, msg);
	}
	if (body && blen >= 0) {
		http_call_reply(call, status, f->content_type, body, (size_t)blen);
	} else {
		/* Out of memory: the formatter's empty body still tells a client what failed. */
		blen = f->format(empty, sizeof(empty), "");
		http_call_reply(call, status, f->content_type, empty, blen > 0 ? (size_t)blen : 0);
	}
	free(body);
	free(msg);
}
