// SPDX-License-Identifier: Apache-2.0
/*
 * lib/http_server over a real Unix socket in a temporary
 * directory: a handler that echoes each request (or holds it for the test to
 * answer later, from the test's own thread), and clients that speak raw
 * HTTP so every framing, limit and timeout path can be driven. Waiting is
 * done with poll() timeouts and condition variables, never with sleeps.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/http_server.h"
#include "vmm/api/fault.h"

#define WAIT_MS	  5000 /* for anything that should happen: generous, only a failing test waits */
#define QUIET_MS  100  /* for checking that nothing happens */
#define MAX_HELD  8
#define BIG_REPLY (4 * 1024 * 1024)
#define MID_REPLY (768 * 1024) /* over a socket buffer, under HTTP_SERVER_MAX_OUT */

struct fx {
	char dir[64], path[128];
	struct http_server *s;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct http_call *held[MAX_HELD];
	unsigned int nr_held;
	unsigned int handled;
	unsigned int bigs; /* big replies made: the server has been woken for them */
	pthread_t init_thread;
	bool init_ran;
	int init_rc;
};

struct resp {
	unsigned int status;
	char head[2048];
	char *body;
	size_t body_len;
	bool close;
};

struct client {
	int fd;
	char buf[64 * 1024];
	size_t len;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void handler(void *ctx, struct http_call *call)
{
	struct fx *fx = ctx;
	const struct http_request *r = http_call_request(call);
	char *out;
	int n;

	pthread_mutex_lock(&fx->lock);
	fx->handled++;
	if (!strncmp(r->path, "/delay", 6)) {
		assert_true(fx->nr_held < MAX_HELD);
		fx->held[fx->nr_held++] = call;
		pthread_cond_broadcast(&fx->cond);
		pthread_mutex_unlock(&fx->lock);
		return;
	}
	pthread_mutex_unlock(&fx->lock);

	if (!strcmp(r->path, "/big") || !strcmp(r->path, "/mid")) {
		size_t len = r->path[1] == 'b' ? BIG_REPLY : MID_REPLY;
		char *b = malloc(len);

		assert_non_null(b);
		for (size_t i = 0; i < len; i++)
			b[i] = (char)('a' + i % 26);
		http_call_reply(call, 200, "application/octet-stream", b, len);
		free(b);
		pthread_mutex_lock(&fx->lock);
		fx->bigs++;
		pthread_cond_broadcast(&fx->cond);
		pthread_mutex_unlock(&fx->lock);
	} else if (!strcmp(r->path, "/fault")) {
		http_call_fault(call, 400, "bad \"%s\"", "thing");
	} else if (!strcmp(r->path, "/nocontent")) {
		http_call_reply(call, 204, NULL, NULL, 0);
	} else if (!strcmp(r->path, "/badstatus")) {
		http_call_reply(call, 299, NULL, NULL, 0);
	} else {
		n = asprintf(&out, "%s %s %.*s", r->method_name, r->path, (int)r->body_len,
			     (const char *)r->body);
		assert_true(n >= 0);
		http_call_reply(call, 200, "text/plain", out, (size_t)n);
		free(out);
	}
}

static int thread_init(void *ctx)
{
	struct fx *fx = ctx;

	fx->init_thread = pthread_self();
	fx->init_ran = true;
	return fx->init_rc;
}

static int fx_start(struct fx *fx, const struct http_server_limits *lim)
{
	/* With the VMM's fault bodies: the bytes asserted below are the API's. */
	const struct http_server_opts o = { .path = fx->path,
					    .fn = handler,
					    .ctx = fx,
					    .thread_init = thread_init,
					    .fault = &api_fault_fmt,
					    .limits = lim,
					    .name = "API" };
	struct err err = { 0 };
	int rc = http_server_start(&fx->s, &o, &err);

	if (rc)
		print_message("start: %s\n", err.msg);
	return rc;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/kvmlet-api-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/api.sock", fx->dir);
	pthread_mutex_init(&fx->lock, NULL);
	pthread_cond_init(&fx->cond, NULL);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	http_server_stop(fx->s);
	unlink(fx->path);
	rmdir(fx->dir);
	pthread_mutex_destroy(&fx->lock);
	pthread_cond_destroy(&fx->cond);
	free(fx);
	return 0;
}

/* Waits for the handler to hold n calls; returns the nth. */
static struct http_call *wait_held(struct fx *fx, unsigned int n)
{
	struct timespec dl;
	struct http_call *call = NULL;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&fx->lock);
	while (fx->nr_held < n) {
		if (pthread_cond_timedwait(&fx->cond, &fx->lock, &dl) == ETIMEDOUT)
			break;
	}
	if (fx->nr_held >= n)
		call = fx->held[n - 1];
	pthread_mutex_unlock(&fx->lock);
	assert_non_null(call);
	return call;
}

static void wait_bigs(struct fx *fx, unsigned int n)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_MS / 1000;
	pthread_mutex_lock(&fx->lock);
	while (fx->bigs < n) {
		if (pthread_cond_timedwait(&fx->cond, &fx->lock, &dl) == ETIMEDOUT)
			break;
	}
	assert_true(fx->bigs >= n);
	pthread_mutex_unlock(&fx->lock);
}

static unsigned int handled(struct fx *fx)
{
	unsigned int n;

	pthread_mutex_lock(&fx->lock);
	n = fx->handled;
	pthread_mutex_unlock(&fx->lock);
	return n;
}

static int sock_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	return fd;
}

static struct client *client_new(struct fx *fx)
{
	struct client *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->fd = sock_connect(fx->path);
	return c;
}

static void client_free(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void send_len(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		assert_true(n > 0);
		p = (const char *)p + n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_len(fd, s, strlen(s));
}

/* For bytes the server may already have hung up on. */
static void send_racing_close(int fd, const char *s)
{
	(void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

/* Reads more into c->buf; 0 on EOF (or reset), -ETIMEDOUT if nothing came in time. */
static ssize_t client_fill(struct client *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	assert_true(c->len < sizeof(c->buf));
	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 && errno == ECONNRESET)
		return 0; /* the server closed with our bytes unread: EOF after its data */
	assert_true(n >= 0);
	c->len += (size_t)n;
	return n;
}

/*
 * One response (a 100 Continue counts as one, without a body) from the
 * stream; 0, -ETIMEDOUT, or -EPIPE if the connection ended first. The body
 * is copied into r->body (malloc, NUL-terminated), freed by the caller.
 */
static int client_response(struct client *c, struct resp *r, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	size_t hlen, clen = 0, total;
	const char *end, *cl;

	memset(r, 0, sizeof(*r));
	for (;;) {
		end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (end) {
			hlen = (size_t)(end - c->buf) + 4;
			assert_true(hlen < sizeof(r->head));
			memcpy(r->head, c->buf, hlen);
			r->head[hlen] = '\0';
			cl = strcasestr(r->head, "\r\nContent-Length: ");
			if (cl)
				clen = strtoul(cl + 18, NULL, 10);
			total = hlen + clen;
			if (c->len >= total)
				break;
		}
		int left = (int)(deadline - now_ms());
		ssize_t n = client_fill(c, left > 0 ? left : 0);

		if (n < 0)
			return (int)n;
		if (!n)
			return -EPIPE;
	}
	assert_int_equal(sscanf(r->head, "HTTP/1.1 %u ", &r->status), 1);
	r->close = strcasestr(r->head, "\r\nConnection: close\r\n") != NULL;
	r->body = malloc(clen + 1);
	assert_non_null(r->body);
	memcpy(r->body, c->buf + hlen, clen);
	r->body[clen] = '\0';
	r->body_len = clen;
	memmove(c->buf, c->buf + total, c->len - total);
	c->len -= total;
	return 0;
}

/* The next response must have this status (and body, if not NULL). */
static void expect(struct client *c, unsigned int status, const char *body)
{
	struct resp r;
	int rc = client_response(c, &r, WAIT_MS);

	if (rc)
		fail_msg("no response (%d), wanted %u", rc, status);
	if (r.status != status)
		fail_msg("status %u, wanted %u: %s%s", r.status, status, r.head, r.body);
	if (body)
		assert_string_equal(r.body, body);
	free(r.body);
}

/* The server closes the connection (after whatever it still sends). */
static void expect_eof(struct client *c, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		int left = (int)(deadline - now_ms());
		ssize_t n = client_fill(c, left > 0 ? left : 0);

		if (!n)
			return;
		if (n < 0)
			fail_msg("connection still open");
		c->len = 0; /* what came before the end does not matter here */
	}
}

static void expect_quiet(struct client *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, QUIET_MS), 0);
}

static void get_and_put(void **state)
{
	struct fx *fx = *state;
	struct client *c;
	struct resp r;
	struct stat st;

	assert_int_equal(fx_start(fx, NULL), 0);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(fx->init_ran);
	assert_false(pthread_equal(fx->init_thread, pthread_self()));

	c = client_new(fx);
	send_str(c->fd, "GET /hello?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
	assert_int_equal(client_response(c, &r, WAIT_MS), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "GET /hello ");
	assert_false(r.close);
	assert_non_null(strstr(r.head, "Content-Type: text/plain\r\n"));
	free(r.body);

	/* The same connection again: kept alive. */
	send_str(c->fd, "PUT /drives/rootfs HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
	expect(c, 200, "PUT /drives/rootfs abc");
	send_str(c->fd, "PATCH /vm HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	expect(c, 200, "PATCH /vm ");

	send_str(c->fd, "GET /fault HTTP/1.1\r\n\r\n");
	expect(c, 400, "{\"fault_message\": \"bad \\\"thing\\\"\"}");
	send_str(c->fd, "GET /nocontent HTTP/1.1\r\n\r\n");
	assert_int_equal(client_response(c, &r, WAIT_MS), 0);
	assert_int_equal(r.status, 204);
	assert_null(strstr(r.head, "Content-Length"));
	free(r.body);
	/* A status the writer does not know becomes a 500, not a broken response. */
	send_str(c->fd, "GET /badstatus HTTP/1.1\r\n\r\n");
	expect(c, 500, NULL);
	send_str(c->fd, "GET /again HTTP/1.1\r\n\r\n");
	expect(c, 200, "GET /again ");
	client_free(c);
}

static void connection_close(void **state)
{
	struct fx *fx = *state;
	struct client *c;
	struct resp r;

	assert_int_equal(fx_start(fx, NULL), 0);
	c = client_new(fx);
	send_str(c->fd, "GET /old HTTP/1.0\r\n\r\n");
	assert_int_equal(client_response(c, &r, WAIT_MS), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.close);
	free(r.body);
	expect_eof(c, WAIT_MS);
	client_free(c);

	c = client_new(fx);
	send_str(c->fd, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(client_response(c, &r, WAIT_MS), 0);
	assert_false(r.close);
	free(r.body);
	send_str(c->fd, "GET /new HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_int_equal(client_response(c, &r, WAIT_MS), 0);
	assert_true(r.close);
	assert_string_equal(r.body, "GET /new ");
	free(r.body);
	expect_eof(c, WAIT_MS);
	client_free(c);

	/* A client that half-closes after its request still gets the answer. */
	c = client_new(fx);
	send_str(c->fd, "GET /half HTTP/1.1\r\n\r\n");
	shutdown(c->fd, SHUT_WR);
	expect(c, 200, "GET /half ");
	expect_eof(c, WAIT_MS);
	client_free(c);
}

static void *reply_later(void *arg)
{
	struct http_call *call = arg;

	http_call_reply(call, 200, "text/plain", "late", 4);
	return NULL;
}

static void delayed_reply_keeps_order(void **state)
{
	struct fx *fx = *state;
	struct http_call *call;
	struct client *c, *other;
	pthread_t t;

	assert_int_equal(fx_start(fx, NULL), 0);
	c = client_new(fx);
	other = client_new(fx);
	/* The second request is pipelined behind a call the "VMM" is still working on. */
	send_str(c->fd, "GET /delay HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
	call = wait_held(fx, 1);
	assert_string_equal(http_call_request(call)->path, "/delay");
	expect_quiet(c);
	assert_int_equal(handled(fx), 1);

	/* Meanwhile, another client is not held up. */
	send_str(other->fd, "GET /other HTTP/1.1\r\n\r\n");
	expect(other, 200, "GET /other ");

	assert_int_equal(pthread_create(&t, NULL, reply_later, call), 0);
	expect(c, 200, "late");
	expect(c, 200, "GET /after ");
	pthread_join(t, NULL);
	client_free(c);
	client_free(other);
}

static void pipelined(void **state)
{
	struct fx *fx = *state;
	struct client *c;

	assert_int_equal(fx_start(fx, NULL), 0);
	c = client_new(fx);
	send_str(c->fd, "GET /1 HTTP/1.1\r\n\r\n"
			"PUT /2 HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
			"DELETE /3 HTTP/1.1\r\n\r\n"
			"\r\nGET /4 HTTP/1.1\r\nConnection: close\r\n\r\n"
			"GET /never HTTP/1.1\r\n\r\n");
	expect(c, 200, "GET /1 ");
	expect(c, 200, "PUT /2 body");
	expect(c, 405, NULL);
	expect(c, 200, "GET /4 ");
	expect_eof(c, WAIT_MS);
	assert_int_equal(handled(fx), 3);
	client_free(c);
}

static void expect_continue(void **state)
{
	struct fx *fx = *state;
	struct client *c;

	assert_int_equal(fx_start(fx, NULL), 0);
	c = client_new(fx);
	send_str(c->fd, "PUT /c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
	expect(c, 100, "");
	send_str(c->fd, "hello");
	expect(c, 200, "PUT /c hello");

	/* Too large: refused at once, the body never sent. */
	send_str(c->fd,
		 "PUT /c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n");
	expect(c, 413, NULL);
	expect_eof(c, WAIT_MS);
	client_free(c);
}

static void method_not_allowed(void **state)
{
	struct fx *fx = *state;
	struct client *c;
	struct resp r;

	assert_int_equal(fx_start(fx, NULL), 0);
	c = client_new(fx);
	send_str(c->fd, "DELETE /drives/x HTTP/1.1\r\n\r\n");
	assert_int_equal(client_response(c, &r, WAIT_MS), 0);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.head, "\r\nAllow: GET, PUT, PATCH\r\n"));
	assert_non_null(strstr(r.body, "fault_message"));
	assert_non_null(strstr(r.body, "DELETE"));
	assert_false(r.close);
	free(r.body);
	send_str(c->fd, "GET /still HTTP/1.1\r\n\r\n");
	expect(c, 200, "GET /still ");
	assert_int_equal(handled(fx), 1);
	client_free(c);
}

static void parse_errors(void **state)
{
	static const struct {
		const char *req;
		unsigned int status;
	} cases[] = {
		{ "GET /x HTTP/1.1\nHost: a\n\n", 400 },
		{ "NOT A REQUEST\r\n\r\n", 400 },
		{ "PUT /x HTTP/1.1\r\nContent-Length: 70000\r\n\r\n", 413 },
		{ "PUT /x HTTP/1.1\r\n\r\n", 411 },
		{ "GET /x HTTP/2.0\r\n\r\n", 505 },
		{ "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501 },
	};
	struct fx *fx = *state;
	char *big;
	struct client *c;
	struct resp r;

	assert_int_equal(fx_start(fx, NULL), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = client_new(fx);
		send_str(c->fd, cases[i].req);
		/* Bytes after the error are never looked at. */
		send_racing_close(c->fd, "GET /ignored HTTP/1.1\r\n\r\n");
		assert_int_equal(client_response(c, &r, WAIT_MS), 0);
		assert_int_equal(r.status, cases[i].status);
		assert_true(r.close);
		assert_non_null(strstr(r.head, "Content-Type: application/json\r\n"));
		assert_non_null(strstr(r.body, "{\"fault_message\": "));
		free(r.body);
		expect_eof(c, WAIT_MS);
		client_free(c);
	}

	/* A header section over the default 16 KiB. */
	big = malloc(20000);
	assert_non_null(big);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	memcpy(big, "GET /x HTTP/1.1\r\nX-Big: ", 24);
	c = client_new(fx);
	send_racing_close(c->fd, big);
	expect(c, 431, NULL);
	expect_eof(c, WAIT_MS);
	client_free(c);
	free(big);
	assert_int_equal(handled(fx), 0);
}

static void request_timeout(void **state)
{
	struct http_server_limits lim = { .request_timeout_ms = 200 };
	struct fx *fx = *state;
	struct client *c, *slow_body;
	uint64_t t0;
	struct resp r;

	assert_int_equal(fx_start(fx, &lim), 0);
	c = client_new(fx);
	slow_body = client_new(fx);
	t0 = now_ms();
	send_str(c->fd, "GET / HT");
	send_str(slow_body->fd, "PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	assert_int_equal(client_response(c, &r, WAIT_MS), 0);
	assert_int_equal(r.status, 408);
	assert_true(r.close);
	free(r.body);
	assert_true(now_ms() - t0 >= 200);
	assert_true(now_ms() - t0 < 2000);
	expect_eof(c, WAIT_MS);
	expect(slow_body, 408, NULL);
	expect_eof(slow_body, WAIT_MS);
	client_free(c);
	client_free(slow_body);

	/* A complete request is not timed out while the VMM works on it. */
	c = client_new(fx);
	send_str(c->fd, "GET /delay HTTP/1.1\r\n\r\n");
	http_call_reply(wait_held(fx, 1), 200, NULL, NULL, 0);
	expect(c, 200, "");
	client_free(c);
}

static void idle_timeout(void **state)
{
	struct http_server_limits lim = { .idle_timeout_ms = 200 };
	struct fx *fx = *state;
	struct client *c, *never;
	uint64_t t0;

	assert_int_equal(fx_start(fx, &lim), 0);
	never = client_new(fx);
	c = client_new(fx);
	send_str(c->fd, "GET /a HTTP/1.1\r\n\r\n");
	expect(c, 200, "GET /a ");
	t0 = now_ms();
	expect_eof(c, WAIT_MS);
	assert_true(now_ms() - t0 >= 150);
	assert_int_equal(c->len, 0);
	expect_eof(never, WAIT_MS);
	client_free(c);
	client_free(never);
}

/* The server closed the connection without sending a byte. */
static void expect_silent_eof(struct client *c)
{
	assert_int_equal(client_fill(c, WAIT_MS), 0);
	assert_int_equal(c->len, 0);
}

static void many_clients(void **state)
{
	enum { N = 200 };
	/* The last ones must still be there when they speak, however slow the machine. */
	struct http_server_limits lim = { .first_byte_timeout_ms = 60000 };
	struct fx *fx = *state;
	struct client *c[N], *late;
	uint64_t reqs, e4, e5;
	int tries;

	assert_int_equal(fx_start(fx, &lim), 0);
	for (int i = 0; i < N; i++)
		c[i] = client_new(fx);
	/*
	 * Accepted in order, each past HTTP_SERVER_MAX_CLIENTS evicting the
	 * oldest silent one: the first N - HTTP_SERVER_MAX_CLIENTS are told
	 * why and hung up on...
	 */
	for (int i = 0; i < N - HTTP_SERVER_MAX_CLIENTS; i++) {
		expect(c[i], 503, "{\"fault_message\": \"Too many API clients\"}");
		expect_eof(c[i], WAIT_MS);
	}
	/* ...the last ones are served. */
	for (int i = N - HTTP_SERVER_MAX_CLIENTS; i < N; i++) {
		send_str(c[i]->fd, "GET /n HTTP/1.1\r\n\r\n");
		expect(c[i], 200, "GET /n ");
	}
	http_server_counts(fx->s, &reqs, &e4, &e5);
	assert_int_equal(reqs, N);
	assert_int_equal(e4, 0);
	assert_int_equal(e5, N - HTTP_SERVER_MAX_CLIENTS);
	for (int i = 0; i < N; i++)
		client_free(c[i]);

	/* Room again once the server has seen them go: a bounded retry, no sleep. */
	for (tries = 0; tries < 10000; tries++) {
		struct resp r;

		late = client_new(fx);
		send_str(late->fd, "GET /late HTTP/1.1\r\n\r\n");
		assert_int_equal(client_response(late, &r, WAIT_MS), 0);
		free(r.body);
		client_free(late);
		if (r.status == 200)
			break;
		assert_int_equal(r.status, 503);
	}
	assert_true(tries < 10000);
}

/* The idle lockout: a full table of clients that never speak must not starve a new one. */
static void silent_clients_do_not_lock_out(void **state)
{
	struct fx *fx = *state;
	/* No timeout will free a slot during the test: only eviction can. */
	struct http_server_limits lim = { .first_byte_timeout_ms = 60000,
					  .idle_timeout_ms = 60000 };
	struct client *silent[HTTP_SERVER_MAX_CLIENTS], *c;

	assert_int_equal(fx_start(fx, &lim), 0);
	for (int i = 0; i < HTTP_SERVER_MAX_CLIENTS; i++)
		silent[i] = client_new(fx);
	c = client_new(fx);
	send_str(c->fd, "GET /new HTTP/1.1\r\n\r\n");
	expect(c, 200, "GET /new ");
	/* The oldest silent one made room, and heard why. */
	expect(silent[0], 503, "{\"fault_message\": \"Too many API clients\"}");
	expect_eof(silent[0], WAIT_MS);
	/* The others keep their slots. */
	for (int i = 1; i < HTTP_SERVER_MAX_CLIENTS; i++) {
		struct pollfd pfd = { .fd = silent[i]->fd, .events = POLLIN };

		assert_int_equal(poll(&pfd, 1, 0), 0);
	}
	expect_quiet(silent[HTTP_SERVER_MAX_CLIENTS - 1]);
	client_free(c);
	for (int i = 0; i < HTTP_SERVER_MAX_CLIENTS; i++)
		client_free(silent[i]);
}

/* A connection that has sent nothing gets the short first-byte deadline, not the idle one. */
static void first_byte_timeout(void **state)
{
	struct http_server_limits lim = { .first_byte_timeout_ms = 200 };
	struct fx *fx = *state;
	struct client *silent, *kept;
	uint64_t t0;

	assert_int_equal(fx_start(fx, &lim), 0);
	kept = client_new(fx);
	send_str(kept->fd, "GET /k HTTP/1.1\r\n\r\n");
	expect(kept, 200, "GET /k ");
	t0 = now_ms();
	silent = client_new(fx);
	expect_silent_eof(silent);
	assert_true(now_ms() - t0 >= 150);
	assert_true(now_ms() - t0 < 2000);
	/* The kept-alive one is under the 30 s idle timeout still. */
	send_str(kept->fd, "GET /k2 HTTP/1.1\r\n\r\n");
	expect(kept, 200, "GET /k2 ");
	client_free(silent);
	client_free(kept);
}

/* Only when every slot holds real work is a newcomer turned away. */
static void busy_table_refuses(void **state)
{
	struct http_server_limits lim = { .max_clients = 3 };
	struct fx *fx = *state;
	struct client *held1, *held2, *partial, *c;

	assert_int_equal(fx_start(fx, &lim), 0);
	held1 = client_new(fx);
	held2 = client_new(fx);
	partial = client_new(fx);
	send_str(held1->fd, "GET /delay1 HTTP/1.1\r\n\r\n");
	send_str(held2->fd, "GET /delay2 HTTP/1.1\r\n\r\n");
	wait_held(fx, 2);
	send_str(partial->fd, "GET /half HTTP/1.1\r\n");
	/*
	 * Whether or not the server has read the partial request yet (if not,
	 * its peek finds the bytes waiting), no slot is idle: 503.
	 */
	c = client_new(fx);
	expect(c, 503, "{\"fault_message\": \"Too many API clients\"}");
	expect_eof(c, WAIT_MS);
	client_free(c);
	/* Had the partial one been evicted, it would have heard of it. */
	expect_quiet(partial);
	expect_quiet(held1);
	expect_quiet(held2);
	/* Every slot still works. */
	send_str(partial->fd, "\r\n");
	expect(partial, 200, "GET /half ");
	http_call_reply(fx->held[0], 200, "text/plain", "one", 3);
	http_call_reply(fx->held[1], 200, "text/plain", "two", 3);
	expect(held1, 200, "one");
	expect(held2, 200, "two");
	client_free(held1);
	client_free(held2);
	client_free(partial);
}

/* Kept-alive connections idle between requests make room, the longest idle first. */
static void keepalive_evicted_oldest_first(void **state)
{
	struct http_server_limits lim = { .max_clients = 3 };
	struct fx *fx = *state;
	struct client *a, *b, *c, *d, *e;

	assert_int_equal(fx_start(fx, &lim), 0);
	a = client_new(fx);
	b = client_new(fx);
	c = client_new(fx);
	send_str(a->fd, "GET /a HTTP/1.1\r\n\r\n");
	expect(a, 200, "GET /a ");
	send_str(b->fd, "GET /b HTTP/1.1\r\n\r\n");
	expect(b, 200, "GET /b ");
	send_str(c->fd, "GET /c HTTP/1.1\r\n\r\n");
	expect(c, 200, "GET /c ");

	/* d takes a's slot: a was idle the longest; it is closed without a word. */
	d = client_new(fx);
	send_str(d->fd, "GET /d HTTP/1.1\r\n\r\n");
	expect(d, 200, "GET /d ");
	expect_silent_eof(a);
	expect_quiet(b);
	/* b speaks again, so c is now the longest idle, and e takes c's slot. */
	send_str(b->fd, "GET /b2 HTTP/1.1\r\n\r\n");
	expect(b, 200, "GET /b2 ");
	e = client_new(fx);
	send_str(e->fd, "GET /e HTTP/1.1\r\n\r\n");
	expect(e, 200, "GET /e ");
	expect_silent_eof(c);
	send_str(b->fd, "GET /b3 HTTP/1.1\r\n\r\n");
	expect(b, 200, "GET /b3 ");
	client_free(a);
	client_free(b);
	client_free(c);
	client_free(d);
	client_free(e);
}

/* Without a formatter the server's own answers are plain text. */
static void plain_faults(void **state)
{
	struct fx *fx = *state;
	const struct http_server_opts o = { .path = fx->path, .fn = handler, .ctx = fx };
	struct err err = { 0 };
	struct client *c;
	struct resp r;

	assert_int_equal(http_server_start(&fx->s, &o, &err), 0);
	c = client_new(fx);
	send_str(c->fd, "DELETE /x HTTP/1.1\r\n\r\n");
	assert_int_equal(client_response(c, &r, WAIT_MS), 0);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.head, "\r\nContent-Type: text/plain\r\n"));
	assert_string_equal(r.body, "Method DELETE is not allowed\n");
	free(r.body);
	send_str(c->fd, "GET /fault HTTP/1.1\r\n\r\n");
	expect(c, 400, "bad \"thing\"\n");
	client_free(c);
}

static void disconnect_with_call_pending(void **state)
{
	struct fx *fx = *state;
	struct client *c, *other;
	struct http_call *call;

	assert_int_equal(fx_start(fx, NULL), 0);
	other = client_new(fx);

	/* The server sees the client go first (the other client's round trip orders it). */
	c = client_new(fx);
	send_str(c->fd, "PUT /delay HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody");
	call = wait_held(fx, 1);
	client_free(c);
	send_str(other->fd, "GET /sync HTTP/1.1\r\n\r\n");
	expect(other, 200, "GET /sync ");
	/* The request stays readable until the reply. */
	assert_memory_equal(http_call_request(call)->body, "body", 4);
	http_call_fault(call, 400, "nobody hears this");

	/* The reply races the server noticing. */
	c = client_new(fx);
	send_str(c->fd, "GET /delay HTTP/1.1\r\n\r\n");
	call = wait_held(fx, 2);
	client_free(c);
	http_call_reply(call, 200, NULL, NULL, 0);

	send_str(other->fd, "GET /alive HTTP/1.1\r\n\r\n");
	expect(other, 200, "GET /alive ");
	client_free(other);
}

static void stop_with_clients(void **state)
{
	struct fx *fx = *state;
	struct client *pending, *idle, *partial;
	struct http_call *call;

	assert_int_equal(fx_start(fx, NULL), 0);
	pending = client_new(fx);
	idle = client_new(fx);
	partial = client_new(fx);
	send_str(pending->fd, "GET /delay HTTP/1.1\r\n\r\n");
	call = wait_held(fx, 1);
	send_str(idle->fd, "GET /i HTTP/1.1\r\n\r\n");
	expect(idle, 200, "GET /i ");
	send_str(partial->fd, "GET /p HTTP/1.1\r\nHost:");

	http_server_stop(fx->s);
	fx->s = NULL;
	expect_eof(pending, WAIT_MS);
	expect_eof(idle, WAIT_MS);
	expect_eof(partial, WAIT_MS);
	assert_int_equal(access(fx->path, F_OK), -1);

	/* Defensive: a reply after stop is dropped and frees what is left (ASan checks). */
	assert_string_equal(http_call_request(call)->path, "/delay");
	http_call_reply(call, 200, NULL, NULL, 0);
	client_free(pending);
	client_free(idle);
	client_free(partial);

	/* A stop with nothing pending frees everything at once; the path is free again. */
	assert_int_equal(fx_start(fx, NULL), 0);
	idle = client_new(fx);
	send_str(idle->fd, "GET /i HTTP/1.1\r\n\r\n");
	expect(idle, 200, "GET /i ");
	http_server_stop(fx->s);
	fx->s = NULL;
	expect_eof(idle, WAIT_MS);
	client_free(idle);
}

/* A reply racing stop: it is sent, or dropped and freed; never lost memory or a crash. */
static void reply_racing_stop(void **state)
{
	struct fx *fx = *state;

	for (int i = 0; i < 50; i++) {
		struct client *c;
		struct http_call *call;

		fx->nr_held = 0;
		assert_int_equal(fx_start(fx, NULL), 0);
		c = client_new(fx);
		send_str(c->fd, "GET /delay HTTP/1.1\r\n\r\n");
		call = wait_held(fx, 1);
		http_call_reply(call, 200, NULL, NULL, 0);
		http_server_stop(fx->s);
		fx->s = NULL;
		expect_eof(c, WAIT_MS);
		client_free(c);
	}
}

static void *reply_thread(void *arg)
{
	http_call_reply(arg, 200, NULL, NULL, 0);
	return NULL;
}

/*
 * A reply from another thread while stop runs: whichever side is last frees
 * the server, and stop must not touch it after its lock is dropped (ASan).
 */
static void reply_during_stop(void **state)
{
	struct fx *fx = *state;

	for (int i = 0; i < 200; i++) {
		struct client *c;
		struct http_call *call;
		pthread_t t;

		fx->nr_held = 0;
		assert_int_equal(fx_start(fx, NULL), 0);
		c = client_new(fx);
		send_str(c->fd, "GET /delay HTTP/1.1\r\n\r\n");
		call = wait_held(fx, 1);
		assert_int_equal(pthread_create(&t, NULL, reply_thread, call), 0);
		http_server_stop(fx->s);
		fx->s = NULL;
		pthread_join(t, NULL);
		expect_eof(c, WAIT_MS);
		client_free(c);
	}
}

static void unread_responses_are_capped(void **state)
{
	struct http_server_limits lim = { .max_out = 4096 };
	struct fx *fx = *state;
	struct client *c, *other;
	size_t total = 0;

	assert_int_equal(fx_start(fx, &lim), 0);
	c = client_new(fx);
	other = client_new(fx);
	/* More than any socket buffer takes: the server may hold only max_out of the rest. */
	send_str(c->fd, "GET /big HTTP/1.1\r\n\r\nGET /big HTTP/1.1\r\n\r\n");
	wait_bigs(fx, 1);
	/* This round trip comes after the big reply on the API thread: c is closed by now. */
	send_str(other->fd, "GET /ok HTTP/1.1\r\n\r\n");
	expect(other, 200, "GET /ok ");
	for (;;) {
		ssize_t n = client_fill(c, WAIT_MS);

		assert_true(n >= 0);
		if (!n)
			break;
		total += c->len;
		c->len = 0;
	}
	assert_true(total < BIG_REPLY);
	assert_int_equal(handled(fx), 2);
	client_free(c);
	client_free(other);
}

static void slow_reader(void **state)
{
	struct fx *fx = *state;
	struct client *c, *other;
	size_t got = 0, hlen = 0;
	char *end;

	assert_int_equal(fx_start(fx, NULL), 0);
	c = client_new(fx);
	other = client_new(fx);
	send_str(c->fd, "GET /mid HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
	wait_bigs(fx, 1);
	send_str(other->fd, "GET /sync HTTP/1.1\r\n\r\n");
	expect(other, 200, "GET /sync ");
	/* Its response is not all out: the pipelined request waits. */
	assert_int_equal(handled(fx), 2);

	/* Read it all, checking every byte, while the server writes the rest as room appears. */
	for (;;) {
		if (!hlen) {
			end = memmem(c->buf, c->len, "\r\n\r\n", 4);
			if (end) {
				hlen = (size_t)(end - c->buf) + 4;
				assert_non_null(strstr(c->buf, "Content-Length: 786432\r\n"));
				memmove(c->buf, c->buf + hlen, c->len - hlen);
				c->len -= hlen;
			}
		}
		if (hlen) {
			size_t take = c->len < MID_REPLY - got ? c->len : MID_REPLY - got;

			for (size_t i = 0; i < take; i++)
				assert_int_equal(c->buf[i], 'a' + (got + i) % 26);
			got += take;
			memmove(c->buf, c->buf + take, c->len - take);
			c->len -= take;
			if (got == MID_REPLY)
				break;
		}
		assert_true(client_fill(c, WAIT_MS) > 0);
	}
	expect(c, 200, "GET /after ");
	client_free(c);
	client_free(other);
}

static void counts(void **state)
{
	struct fx *fx = *state;
	struct client *c;
	uint64_t reqs, e4, e5;

	assert_int_equal(fx_start(fx, NULL), 0);
	c = client_new(fx);
	send_str(c->fd, "GET /a HTTP/1.1\r\n\r\nDELETE /b HTTP/1.1\r\n\r\n"
			"GET /fault HTTP/1.1\r\n\r\nGET /badstatus HTTP/1.1\r\n\r\n"
			"PUT /x HTTP/1.1\r\n\r\n");
	expect(c, 200, NULL);
	expect(c, 405, NULL);
	expect(c, 400, NULL);
	expect(c, 500, NULL);
	expect(c, 411, NULL);
	expect_eof(c, WAIT_MS);
	http_server_counts(fx->s, &reqs, &e4, &e5);
	assert_int_equal(reqs, 5);
	assert_int_equal(e4, 3);
	assert_int_equal(e5, 1);
	client_free(c);
}

static void start_errors(void **state)
{
	struct fx *fx = *state;
	struct http_server *s2 = NULL;
	struct err err = { 0 };
	char longpath[200];

	/* An existing path is refused, and left alone. */
	assert_int_equal(fx_start(fx, NULL), 0);
	assert_int_equal(http_server_start(&s2,
					   &(struct http_server_opts){
						   .path = fx->path, .fn = handler, .ctx = fx },
					   &err),
			 -EADDRINUSE);
	assert_null(s2);
	assert_non_null(strstr(err.msg, "already exists"));
	assert_int_equal(access(fx->path, F_OK), 0);
	http_server_stop(fx->s);
	fx->s = NULL;

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	memset(&err, 0, sizeof(err));
	assert_int_equal(http_server_start(&s2,
					   &(struct http_server_opts){
						   .path = longpath, .fn = handler, .ctx = fx },
					   &err),
			 -ENAMETOOLONG);
	assert_int_equal(
		http_server_start(&s2, &(struct http_server_opts){ .path = longpath }, &err),
		-EINVAL);

	/* thread_init's failure is start's, and nothing is left behind. */
	fx->init_rc = -EPERM;
	assert_int_equal(fx_start(fx, NULL), -EPERM);
	assert_null(fx->s);
	assert_int_equal(access(fx->path, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(get_and_put, setup, teardown),
		cmocka_unit_test_setup_teardown(connection_close, setup, teardown),
		cmocka_unit_test_setup_teardown(delayed_reply_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(expect_continue, setup, teardown),
		cmocka_unit_test_setup_teardown(method_not_allowed, setup, teardown),
		cmocka_unit_test_setup_teardown(parse_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(request_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(many_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(silent_clients_do_not_lock_out, setup, teardown),
		cmocka_unit_test_setup_teardown(first_byte_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(busy_table_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(keepalive_evicted_oldest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(plain_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(disconnect_with_call_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(stop_with_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(reply_racing_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(reply_during_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(unread_responses_are_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_reader, setup, teardown),
		cmocka_unit_test_setup_teardown(counts, setup, teardown),
		cmocka_unit_test_setup_teardown(start_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
