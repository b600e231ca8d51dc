// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI gRPC server (server.h), after the gRPC C core's unary pattern:
 * request a call, read its one message, answer with one batch of
 * {message, status, close}. A call's batches are started by one thread at a
 * time (the queue thread, then the worker that answers it), as grpc.h asks.
 *
 * A call moves through three states, each ended by one completion-queue
 * event, and the table call_steps[] says what each event does.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "agent/cri/methods.h"
#include "agent/cri/metrics.h"
#include "agent/cri/server.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"

_Static_assert(CRI_UNIMPLEMENTED == (int)GRPC_STATUS_UNIMPLEMENTED, "gRPC codes");
_Static_assert(CRI_RESOURCE_EXHAUSTED == (int)GRPC_STATUS_RESOURCE_EXHAUSTED, "gRPC codes");
_Static_assert(CRI_UNAUTHENTICATED == (int)GRPC_STATUS_UNAUTHENTICATED, "gRPC codes");

#define SOCKET_DIR_MODE 0750
#define SOCKET_MODE	0660

enum call_state {
	CALL_NEW,   /* waiting for a client to start a call */
	CALL_RECV,  /* reading its request */
	CALL_REPLY, /* the reply batch is out */
	NR_CALL_STATES
};

struct call {
	struct cri_server *s;
	enum call_state state;
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	grpc_byte_buffer *recv;
	grpc_byte_buffer *send;
	grpc_slice status_details;
	int cancelled;
	const struct cri_method *method; /* NULL: not in the table */
	uint64_t start_ns;
	struct cri_status status;
	struct call *next; /* in the worker queue */
};

struct cri_server {
	grpc_server *srv;
	grpc_completion_queue *cq;
	pthread_t cq_thread;
	pthread_t *workers;
	unsigned int nr_workers;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct cri_runtime *rt;
	struct cri_metrics *metrics; /* may be NULL */
	const struct cri_method *methods;
	size_t nr_methods;
	cri_route_fn *route;
	void *route_ctx;
	int shutdown_tag; /* its address tags the shutdown event */

	pthread_mutex_t lock; /* the queue, stop and shut_down */
	pthread_cond_t work;  /* queue not empty, or stop */
	pthread_cond_t done;  /* shut_down */
	struct call *head, *tail;
	unsigned int queued, queue_max;
	bool stop;	   /* workers exit when the queue is empty */
	bool cancelled;	   /* the grace is over: queued calls are answered, not run */
	bool shut_down;	   /* the server has no call left */
	unsigned int live; /* struct calls allocated: the queue is shut down at none */
	bool cq_shut;

	bool cq_started;
	bool bound; /* the socket file is ours to remove */
	atomic_bool stopping;
	atomic_uint_fast64_t in_flight, rejected;
};

typedef void (*call_step_fn)(struct call *c, bool ok);

static void call_step_new(struct call *c, bool ok);
static void call_step_recv(struct call *c, bool ok);
static void call_step_reply(struct call *c, bool ok);

static const call_step_fn call_steps[NR_CALL_STATES] = {
	[CALL_NEW] = call_step_new,
	[CALL_RECV] = call_step_recv,
	[CALL_REPLY] = call_step_reply,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *cri_listen_path(const char *listen)
{
	if (!strncmp(listen, "unix://", 7))
		listen += 7;
	else if (!strncmp(listen, "unix:", 5))
		listen += 5;
	if (listen[0] != '/' || strlen(listen) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return NULL;
	return listen;
}

/*
 * The C core publishes the shutdown tag once its calls are cancelled or
 * closed, even while a worker still holds one and will start its reply
 * batch; a batch on a shut-down queue aborts the process. So the queue is
 * shut down by whoever sees both: the tag arrived and no call is left.
 */
static void cq_maybe_shutdown(struct cri_server *s, bool tag, bool gone)
{
	bool shut = false;

	pthread_mutex_lock(&s->lock);
	if (tag) {
		s->shut_down = true;
		pthread_cond_broadcast(&s->done);
	}
	if (gone)
		s->live--;
	if (s->shut_down && !s->live && !s->cq_shut)
		shut = s->cq_shut = true;
	pthread_mutex_unlock(&s->lock);
	if (shut)
		grpc_completion_queue_shutdown(s->cq);
}

static void call_free(struct call *c)
{
	struct cri_server *s = c->s;

	if (c->recv)
		grpc_byte_buffer_destroy(c->recv);
	if (c->send)
		grpc_byte_buffer_destroy(c->send);
	grpc_slice_unref(c->status_details);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
	cq_maybe_shutdown(s, false, true);
}

/* Keeps one request for a new call outstanding, as the C core wants. */
static void call_request(struct cri_server *s)
{
	struct call *c;

	if (atomic_load(&s->stopping))
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_error("CRI server: out of memory; no longer accepting calls");
		return;
	}
	c->s = s;
	pthread_mutex_lock(&s->lock);
	s->live++;
	pthread_mutex_unlock(&s->lock);
	c->state = CALL_NEW;
	c->status_details = grpc_empty_slice();
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_call(s->srv, &c->call, &c->details, &c->md, s->cq, s->cq, c) !=
	    GRPC_CALL_OK) {
		log_error("CRI server: cannot request a call");
		call_free(c);
	}
}

static void call_log(const struct call *c, uint64_t ns)
{
	char ms[32];
	const char *name = c->method ? c->method->name : "unknown";
	const char *code = cri_code_name(c->status.code);

	snprintf(ms, sizeof(ms), "%.3f", (double)ns / 1e6);
	if (c->status.code == CRI_OK)
		log_fields(LOG_INFO, "CRI call", "method", name, "code", code, "ms", ms, NULL);
	else
		log_fields(LOG_INFO, "CRI call", "method", name, "code", code, "ms", ms, "error",
			   c->status.message, NULL);
}

/*
 * Counted and logged as the reply is committed, not when it has gone out:
 * a client that has its answer sees the call in the metrics.
 */
static void call_account(const struct call *c)
{
	struct cri_server *s = c->s;
	uint64_t ns = now_ns() - c->start_ns;

	if (s->metrics)
		cri_metrics_record(s->metrics,
				   c->method ? (size_t)(c->method - s->methods) : SIZE_MAX,
				   c->status.code, ns);
	call_log(c, ns);
}

/* Answers c with its status (and, when OK, the packed response in c->send). */
static void call_reply(struct call *c)
{
	grpc_op ops[3];
	size_t n = 0;

	memset(ops, 0, sizeof(ops));
	if (c->status.code == CRI_OK) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send;
	}
	c->status_details = grpc_slice_from_copied_string(c->status.message);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)c->status.code;
	ops[n++].data.send_status_from_server.status_details = &c->status_details;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
	c->state = CALL_REPLY;
	call_account(c);
	if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
		log_error("CRI server: cannot answer a %s call",
			  c->method ? c->method->name : "unknown");
		atomic_fetch_sub(&c->s->in_flight, 1);
		call_free(c);
	}
}

static void call_fail(struct call *c, enum cri_code code, const char *msg)
{
	cri_status_set(&c->status, code, "%s", msg);
	call_reply(c);
}

static void call_step_new(struct call *c, bool ok)
{
	struct cri_server *s = c->s;
	grpc_op ops[2];
	char *path;

	if (!ok) { /* the server is shutting down */
		call_free(c);
		return;
	}
	call_request(s);
	atomic_fetch_add(&s->in_flight, 1);
	c->start_ns = now_ns();
	path = grpc_slice_to_c_string(c->details.method);
	c->method = NULL;
	for (size_t i = 0; i < s->nr_methods && !c->method; i++)
		if (!strcmp(s->methods[i].path, path))
			c->method = &s->methods[i];
	gpr_free(path);

	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &c->recv;
	c->state = CALL_RECV;
	if (grpc_call_start_batch(c->call, ops, 2, c, NULL) != GRPC_CALL_OK) {
		log_error("CRI server: cannot read a call");
		atomic_fetch_sub(&s->in_flight, 1);
		call_free(c);
	}
}

/* Queues c for a worker; false if the queue is full. */
static bool call_enqueue(struct call *c)
{
	struct cri_server *s = c->s;
	bool ok;

	pthread_mutex_lock(&s->lock);
	/*
	 * No worker (a start that failed at the first one, its queue drained
	 * by cri_server_stop): nobody would answer, and the queue would wait
	 * for that call forever.
	 */
	ok = s->queued < s->queue_max && s->nr_workers;
	if (ok) {
		c->next = NULL;
		if (s->tail)
			s->tail->next = c;
		else
			s->head = c;
		s->tail = c;
		s->queued++;
		pthread_cond_signal(&s->work);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static void call_step_recv(struct call *c, bool ok)
{
	char *path;

	if (!ok || !c->recv) {
		/* No message: the client went away, or gRPC refused it (too large). */
		call_fail(c, CRI_INVALID_ARGUMENT,
			  "no request message (none sent, or over 16 MiB)");
		return;
	}
	if (!c->method) {
		path = grpc_slice_to_c_string(c->details.method);
		cri_status_set(&c->status, CRI_UNIMPLEMENTED, "unknown method %s", path);
		gpr_free(path);
		call_reply(c);
		return;
	}
	if (!call_enqueue(c)) {
		atomic_fetch_add(&c->s->rejected, 1);
		cri_status_set(&c->status, CRI_RESOURCE_EXHAUSTED,
			       "%s: too many CRI calls in progress", c->method->name);
		call_reply(c);
	}
}

static void call_step_reply(struct call *c, bool ok)
{
	atomic_fetch_sub(&c->s->in_flight, 1);
	call_free(c);
}

/* What is left of the caller's deadline, for the router to pass on; 0: none. */
static uint64_t call_timeout_ns(const struct call *c)
{
	gpr_timespec d = c->details.deadline, now, left;

	if (!gpr_time_cmp(d, gpr_inf_future(d.clock_type)))
		return 0;
	now = gpr_now(d.clock_type);
	if (gpr_time_cmp(d, now) <= 0)
		return 1; /* already past: the forwarded call ends at once */
	left = gpr_time_sub(d, now);
	return (uint64_t)left.tv_sec * 1000000000u + (uint64_t)left.tv_nsec;
}

/* Runs c's handler on a worker and starts its reply there. */
static void call_handle(struct call *c)
{
	grpc_byte_buffer_reader reader;
	grpc_slice in, out;
	uint8_t *resp = NULL;
	size_t len = 0;

	if (!grpc_byte_buffer_reader_init(&reader, c->recv)) {
		call_fail(c, CRI_INVALID_ARGUMENT, "cannot read the request (compression?)");
		return;
	}
	in = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	if (c->s->route)
		c->s->route(c->s->route_ctx, c->method, GRPC_SLICE_START_PTR(in),
			    GRPC_SLICE_LENGTH(in), call_timeout_ns(c), &resp, &len, &c->status);
	else
		cri_method_invoke(c->method, c->s->rt, GRPC_SLICE_START_PTR(in),
				  GRPC_SLICE_LENGTH(in), &resp, &len, &c->status);
	grpc_slice_unref(in);
	if (c->status.code == CRI_OK) {
		out = len ? grpc_slice_new(resp, len, free) : grpc_empty_slice();
		if (!len)
			free(resp);
		c->send = grpc_raw_byte_buffer_create(&out, 1);
		grpc_slice_unref(out);
	}
	call_reply(c);
}

static void *worker_main(void *arg)
{
	struct cri_server *s = arg;

	for (;;) {
		struct call *c;
		bool cancelled;

		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->stop)
			pthread_cond_wait(&s->work, &s->lock);
		c = s->head;
		if (c) {
			s->head = c->next;
			if (!s->head)
				s->tail = NULL;
			s->queued--;
		}
		cancelled = s->cancelled;
		pthread_mutex_unlock(&s->lock);
		if (!c)
			return NULL;
		/* Its client has been told CANCELLED: running it now would act unasked. */
		if (cancelled)
			call_fail(c, CRI_CANCELLED, "the CRI server is shutting down");
		else
			call_handle(c);
	}
}

static void *cq_main(void *arg)
{
	struct cri_server *s = arg;

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		if (ev.tag == &s->shutdown_tag) {
			cq_maybe_shutdown(s, true, false);
			continue;
		}
		struct call *c = ev.tag;

		call_steps[c->state](c, ev.success);
	}
}

/* Whether a server answers on path; a stale socket file is no reason to refuse. */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return alive;
}

static int listen_socket(struct cri_server *s, struct err *err)
{
	char addr[sizeof(s->path) + 8];
	grpc_server_credentials *creds;
	mode_t old;
	int port, r;

	r = mkdir_parents(s->path, SOCKET_DIR_MODE);
	if (r)
		return err_set(err, r, "CRI socket %s: cannot create its directory: %s", s->path,
			       strerror(-r));
	if (socket_alive(s->path))
		return err_set(err, -EADDRINUSE, "CRI socket %s: another server is listening",
			       s->path);
	snprintf(addr, sizeof(addr), "unix:%s", s->path);
	creds = grpc_insecure_server_credentials_create();
	/* The socket is born with its final mode: no window where others may connect. */
	old = umask(0777 & ~SOCKET_MODE);
	port = grpc_server_add_http2_port(s->srv, addr, creds);
	umask(old);
	grpc_server_credentials_release(creds);
	if (!port)
		return err_set(err, -EADDRNOTAVAIL, "CRI socket %s: cannot listen", s->path);
	s->bound = true;
	if (chmod(s->path, SOCKET_MODE))
		return err_set(err, -errno, "CRI socket %s: chmod: %m", s->path);
	if (geteuid() == 0 && chown(s->path, 0, 0))
		return err_set(err, -errno, "CRI socket %s: chown: %m", s->path);
	return 0;
}

static int server_create(struct cri_server *s, struct err *err)
{
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = CRI_MAX_MESSAGE },
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		  .value.integer = CRI_MAX_MESSAGE },
	};
	grpc_channel_args ca = { .num_args = 2, .args = args };

	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->srv = grpc_server_create(&ca, NULL);
	if (!s->cq || !s->srv)
		return err_set(err, -ENOMEM, "CRI server: cannot create the gRPC server");
	grpc_server_register_completion_queue(s->srv, s->cq, NULL);
	return 0;
}

static int start_threads(struct cri_server *s, struct err *err)
{
	unsigned int n = s->nr_workers;
	int r;

	s->nr_workers = 0; /* those started, for stop_workers() */
	s->workers = calloc(n, sizeof(*s->workers));
	if (!s->workers)
		return err_set(err, -ENOMEM, "CRI server: out of memory");
	for (unsigned int i = 0; i < n; i++, s->nr_workers++) {
		r = pthread_create(&s->workers[i], NULL, worker_main, s);
		if (r)
			return err_set(err, -r, "CRI server: cannot start a worker: %s",
				       strerror(r));
	}
	r = pthread_create(&s->cq_thread, NULL, cq_main, s);
	if (r)
		return err_set(err, -r, "CRI server: cannot start its thread: %s", strerror(r));
	s->cq_started = true;
	return 0;
}

static void stop_workers(struct cri_server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->lock);
	for (unsigned int i = 0; i < s->nr_workers; i++)
		pthread_join(s->workers[i], NULL);
	free(s->workers);
}

static void server_free(struct cri_server *s)
{
	if (s->srv)
		grpc_server_destroy(s->srv);
	if (s->cq)
		grpc_completion_queue_destroy(s->cq);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->done);
	free(s);
	grpc_shutdown();
}

int cri_server_start(struct cri_server **out, const struct cri_server_opts *o, struct err *err)
{
	const char *path = cri_listen_path(o->listen);
	struct cri_server *s;
	pthread_condattr_t ca;
	int r;

	*out = NULL;
	if (!path)
		return err_set(err, -EINVAL,
			       "CRI listen address '%s': want unix:///absolute/path or a path",
			       o->listen);
	if (!o->workers || !o->queue)
		return err_set(err, -EINVAL, "CRI server: workers and queue must be at least 1");
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, -ENOMEM, "CRI server: out of memory");
	grpc_init();
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->rt = o->rt;
	s->metrics = o->metrics;
	s->methods = o->methods ? o->methods : cri_methods;
	s->nr_methods = o->methods ? o->nr_methods : cri_nr_methods;
	s->route = o->route;
	s->route_ctx = o->route_ctx;
	s->nr_workers = o->workers;
	s->queue_max = o->queue;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->done, &ca);
	pthread_condattr_destroy(&ca);

	r = server_create(s, err);
	if (!r)
		r = listen_socket(s, err);
	if (r) {
		if (s->bound)
			unlink(s->path);
		server_free(s);
		return r;
	}
	grpc_server_start(s->srv);
	call_request(s);
	r = start_threads(s, err);
	if (r) {
		cri_server_stop(s, 0);
		return r;
	}
	*out = s;
	return 0;
}

static bool wait_shut_down(struct cri_server *s, unsigned int ms)
{
	struct timespec dl;
	bool done;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->shut_down)
		if (pthread_cond_timedwait(&s->done, &s->lock, &dl) == ETIMEDOUT)
			break;
	done = s->shut_down;
	pthread_mutex_unlock(&s->lock);
	return done;
}

void cri_server_stop(struct cri_server *s, unsigned int grace_ms)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	grpc_server_shutdown_and_notify(s->srv, s->cq, &s->shutdown_tag);
	if (!s->cq_started) { /* a failed start: drain the queue here */
		grpc_server_cancel_all_calls(s->srv);
		cq_main(s);
	} else {
		if (!wait_shut_down(s, grace_ms)) {
			log_warn("CRI server: calls still running after %u ms; cancelling them",
				 grace_ms);
			pthread_mutex_lock(&s->lock);
			s->cancelled = true;
			pthread_mutex_unlock(&s->lock);
			grpc_server_cancel_all_calls(s->srv);
		}
		pthread_join(s->cq_thread, NULL);
	}
	stop_workers(s);
	unlink(s->path);
	server_free(s);
}

void cri_server_stats(struct cri_server *s, struct cri_server_stats *st)
{
	pthread_mutex_lock(&s->lock);
	st->queued = s->queued;
	pthread_mutex_unlock(&s->lock);
	st->in_flight = atomic_load(&s->in_flight);
	st->rejected = atomic_load(&s->rejected);
}
