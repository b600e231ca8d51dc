// SPDX-License-Identifier: Apache-2.0
/*
 * lib/http_client against lib/http_server in the same process, over a Unix
 * socket in a temporary directory: statuses, headers and bodies both ways,
 * the response size cap, a total timeout against a handler that never
 * replies, a socket nobody listens on, and streamed lines. No network.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/clock.h"
#include "lib/http_client.h"
#include "lib/http_server.h"

#define STREAM_BODY "{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}"
#define MAX_LINES   8

struct cfx {
	char dir[64], path[128], url[160];
	struct http_server *s;
	struct http_client *c;
	pthread_mutex_t lock;
	struct http_call *held;
	/* Streaming. */
	char lines[MAX_LINES][32];
	unsigned int nr_lines;
	unsigned int stop_at; /* the callback refuses this line (1-based); 0: never */
};

static void handler(void *ctx, struct http_call *call)
{
	struct cfx *f = ctx;
	const struct http_request *r = http_call_request(call);
	const char *hdr;
	char *out;
	int n;

	if (!strcmp(r->path, "/hold")) {
		pthread_mutex_lock(&f->lock);
		f->held = call;
		pthread_mutex_unlock(&f->lock);
	} else if (!strcmp(r->path, "/empty")) {
		http_call_reply(call, 204, NULL, NULL, 0);
	} else if (!strcmp(r->path, "/fault")) {
		http_call_fault(call, 400, "no %s", "thanks");
	} else if (!strcmp(r->path, "/stream")) {
		http_call_reply(call, 200, "application/json", STREAM_BODY, strlen(STREAM_BODY));
	} else if (!strcmp(r->path, "/big")) {
		size_t len = strtoul(r->query, NULL, 10);
		char *b = malloc(len);

		assert_non_null(b);
		memset(b, 'a', len);
		http_call_reply(call, 200, "application/octet-stream", b, len);
		free(b);
	} else {
		hdr = http_request_header(r, "X-Test");
		n = asprintf(&out, "%s %s %.*s hdr=%s", r->method_name, r->path, (int)r->body_len,
			     (const char *)r->body, hdr ? hdr : "");
		assert_true(n >= 0);
		http_call_reply(call, 200, "text/plain", out, (size_t)n);
		free(out);
	}
}

static int setup(void **state)
{
	struct cfx *f = calloc(1, sizeof(*f));
	struct err err = { 0 };
	struct http_server_opts o = { .fn = handler, .ctx = f };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/kvmlet-httpc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
	pthread_mutex_init(&f->lock, NULL);
	o.path = f->path;
	assert_int_equal(http_server_start(&f->s, &o, &err), 0);
	f->c = http_client_new(&err);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct cfx *f = *state;

	struct http_call *held;

	/* Every call must be answered before the server stops. */
	pthread_mutex_lock(&f->lock);
	held = f->held;
	pthread_mutex_unlock(&f->lock);
	if (held)
		http_call_reply(held, 204, NULL, NULL, 0);
	http_client_free(f->c);
	http_server_stop(f->s);
	unlink(f->path);
	rmdir(f->dir);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static struct http_client_req req_for(struct cfx *f, const char *method, const char *path)
{
	snprintf(f->url, sizeof(f->url), "http://localhost%s", path);
	return (struct http_client_req){ .method = method, .url = f->url, .unix_socket = f->path };
}

static void status_body_headers(void **state)
{
	static const char *const hdrs[] = { "X-Test: yes", NULL };
	/* Names match case-insensitively; a header the answer lacks stays NULL. */
	static const char *const want[] = { "server", "X-Missing", "Content-Length", NULL };
	struct cfx *f = *state;
	struct http_client_req req = req_for(f, "GET", "/echo");
	struct http_client_resp resp;
	struct err err = { 0 };

	req.want_headers = want;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, "text/plain");
	assert_string_equal(resp.headers[0], "kvmlet");
	assert_null(resp.headers[1]);
	assert_string_equal(resp.headers[2], "15");
	assert_string_equal(resp.body, "GET /echo  hdr=");
	assert_int_equal(resp.body_len, strlen("GET /echo  hdr="));
	http_client_resp_free(&resp);

	/* A body and a header of ours, on the connection the last call left open. */
	req = req_for(f, "PUT", "/echo");
	req.headers = hdrs;
	req.body = "hello";
	req.body_len = 5;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "PUT /echo hello hdr=yes");
	http_client_resp_free(&resp);

	req = req_for(f, "GET", "/empty");
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 204);
	assert_null(resp.body);
	assert_int_equal(resp.body_len, 0);
	http_client_resp_free(&resp);

	/* An error status is an answer, not an error. */
	req = req_for(f, "GET", "/fault");
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 400);
	assert_string_equal(resp.content_type, "text/plain");
	assert_string_equal(resp.body, "no thanks\n");
	http_client_resp_free(&resp);
	req = req_for(f, "DELETE", "/x");
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 405);
	http_client_resp_free(&resp);
	assert_int_equal(err.code, 0);
}

/* A raw server for one exchange: answers with the header X-Dup twice. */
static void *dup_server(void *arg)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nX-Dup: first\r\nX-Dup: last\r\n"
				   "Content-Length: 0\r\nConnection: close\r\n\r\n";
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
	char buf[4096];
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return NULL;
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	(void)!write(fd, resp, sizeof(resp) - 1);
	close(fd);
	return NULL;
}

/* A wanted header the answer repeats: the last one wins, as http_client.h says. */
static void repeated_header_last_wins(void **state)
{
	static const char *const want[] = { "X-Dup", NULL };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cfx *f = *state;
	struct http_client_req req;
	struct http_client_resp resp;
	struct err err = { 0 };
	char path[96];
	pthread_t t;
	int lfd;

	snprintf(path, sizeof(path), "%s/raw.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(pthread_create(&t, NULL, dup_server, &lfd), 0);

	req = req_for(f, "GET", "/dup");
	req.unix_socket = path;
	req.want_headers = want;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.headers[0], "last");
	http_client_resp_free(&resp);
	pthread_join(t, NULL);
	close(lfd);
	unlink(path);
}

static void size_cap(void **state)
{
	struct cfx *f = *state;
	struct http_client_req req = req_for(f, "GET", "/big?100000");
	struct http_client_resp resp;
	struct err err = { 0 };

	req.max_response = 65536;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "larger than 65536 bytes"));
	http_client_resp_free(&resp);

	req.max_response = 100000; /* exactly enough */
	memset(&err, 0, sizeof(err));
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(resp.body_len, 100000);
	assert_int_equal(resp.body[99999], 'a');
	assert_int_equal(resp.body[100000], '\0');
	http_client_resp_free(&resp);
}

static void timeout_without_reply(void **state)
{
	struct cfx *f = *state;
	struct http_client_req req = req_for(f, "GET", "/hold");
	struct http_client_resp resp;
	struct err err = { 0 };
	uint64_t t0 = clock_mono_ms();

	req.timeout_ms = 200;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), -ETIMEDOUT);
	assert_true(clock_mono_ms() - t0 >= 200);
	assert_true(clock_mono_ms() - t0 < 3000);
	http_client_resp_free(&resp);
}

static void connection_refused(void **state)
{
	struct cfx *f = *state;
	struct http_client_req req = req_for(f, "GET", "/");
	struct http_client_resp resp;
	struct err err = { 0 };
	char nowhere[160];

	snprintf(nowhere, sizeof(nowhere), "%s/nobody.sock", f->dir);
	req.unix_socket = nowhere;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), -ECONNREFUSED);
	assert_non_null(strstr(err.msg, "GET http://localhost/"));
	http_client_resp_free(&resp);

	memset(&err, 0, sizeof(err));
	req.method = NULL;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), -EINVAL);
	http_client_resp_free(&resp);
}

static int on_line(void *ctx, const char *line, size_t len)
{
	struct cfx *f = ctx;

	assert_int_equal(strlen(line), len);
	assert_true(f->nr_lines < MAX_LINES && len < sizeof(f->lines[0]));
	memcpy(f->lines[f->nr_lines++], line, len + 1);
	return f->nr_lines == f->stop_at ? -ECANCELED : 0;
}

static void streamed_lines(void **state)
{
	struct cfx *f = *state;
	struct http_client_req req = req_for(f, "GET", "/stream");
	struct http_client_resp resp;
	struct err err = { 0 };

	req.on_line = on_line;
	req.ctx = f;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.content_type, "application/json");
	assert_null(resp.body);
	http_client_resp_free(&resp);
	assert_int_equal(f->nr_lines, 3);
	assert_string_equal(f->lines[0], "{\"a\":1}");
	assert_string_equal(f->lines[1], "{\"b\":2}");
	assert_string_equal(f->lines[2], "{\"c\":3}");

	/* The callback's error stops the stream and is the call's. */
	f->nr_lines = 0;
	f->stop_at = 2;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), -ECANCELED);
	assert_int_equal(f->nr_lines, 2);
	http_client_resp_free(&resp);

	/* The cap is per line: 7-byte lines pass a cap of 7, not one of 6. */
	f->nr_lines = 0;
	f->stop_at = 0;
	req.max_response = 7;
	memset(&err, 0, sizeof(err));
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), 0);
	assert_int_equal(f->nr_lines, 3);
	http_client_resp_free(&resp);
	req.max_response = 6;
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "line is larger than 6 bytes"));
	http_client_resp_free(&resp);
}

struct data_sink {
	long status;
	size_t len, calls;
	int refuse; /* errno to stop with; 0: never */
};

static int on_data(void *ctx, long status, const void *data, size_t len)
{
	struct data_sink *d = ctx;

	d->status = status;
	d->calls++;
	for (size_t i = 0; i < len; i++)
		assert_int_equal(((const char *)data)[i], 'a');
	d->len += len;
	return d->refuse ? -d->refuse : 0;
}

static void streamed_data(void **state)
{
	struct cfx *f = *state;
	struct http_client_req req = req_for(f, "GET", "/big?100000");
	struct http_client_resp resp;
	struct data_sink d = { 0 };
	struct err err = { 0 };

	/* Past max_response, in pieces, with its status, never in resp->body. */
	req.on_data = on_data;
	req.ctx = &d;
	req.max_response = 10;
	if (http_client_do(f->c, &req, &resp, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(resp.status, 200);
	assert_null(resp.body);
	assert_int_equal(d.status, 200);
	assert_int_equal(d.len, 100000);
	assert_true(d.calls > 1);
	http_client_resp_free(&resp);

	d = (struct data_sink){ .refuse = EIO };
	assert_int_equal(http_client_do(f->c, &req, &resp, &err), -EIO);
	assert_int_equal(d.calls, 1);
	http_client_resp_free(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(status_body_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(repeated_header_last_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(size_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(timeout_without_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(streamed_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(streamed_data, setup, teardown),
	};
	struct err err = { 0 };

	assert_int_equal(http_client_global_init(&err), 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
