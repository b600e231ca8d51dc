// SPDX-License-Identifier: Apache-2.0
/*
 * The guest agent client against a fake agent: a thread on the other end of
 * a socketpair (or of a Unix socket, for the vsock handshake) that answers
 * each request line through a per-test handler. The handlers misbehave on
 * purpose: garbage, stale ids, silence, huge or malformed replies.
 *
 * cmocka's asserts must run on the main thread, so the fake only records
 * what it saw and the test checks it after joining.
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
#include <unistd.h>

#include <cmocka.h>

#include "agent/ga_client.h"
#include "lib/base64.h"

struct fake;
/* Answers one request; sync requests come with their id. */
typedef void (*fake_handler)(struct fake *f, const char *cmd, const cJSON *args, int64_t sync_id);

struct fake {
	int fd;                 /* the agent's end */
	int client_fd;          /* the client's end, until ga_conn_from_fd() takes it */
	pthread_t thread;
	fake_handler handler;
	/* Listener for the vsock tests, and what to answer to CONNECT. */
	int listen_fd;
	const char *connect_answer; /* NULL: close at once; "": say nothing */
	char connect_line[64];
	/* What the handlers saw. */
	int calls, syncs, polls;
	char exec_path[64], exec_arg0[64], exec_input[64];
	bool exec_capture;
};

static void fake_send(struct fake *f, const char *data, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(f->fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			return; /* the client left: nothing to do */
		data += n;
		len -= (size_t)n;
	}
}

static void fake_printf(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fake_printf(struct fake *f, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fake_send(f, buf, (size_t)n);
}

static void default_sync(struct fake *f, int64_t id)
{
	fake_printf(f, "\xff{\"return\": %lld}\n", (long long)id);
}

/* Reads request lines until the client closes; 0xFF bytes are dropped like a real agent does. */
static void serve(struct fake *f)
{
	static char buf[1 << 16];
	size_t len = 0;
	ssize_t n;
	char *nl;

	for (;;) {
		n = read(f->fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		while ((nl = memchr(buf, '\n', len))) {
			char line[sizeof(buf)];
			size_t ll = (size_t)(nl - buf), i, o = 0;
			cJSON *req, *cmd, *args;

			for (i = 0; i < ll; i++)
				if ((unsigned char)buf[i] != 0xff)
					line[o++] = buf[i];
			line[o] = '\0';
			memmove(buf, nl + 1, len - ll - 1);
			len -= ll + 1;
			req = cJSON_Parse(line);
			cmd = cJSON_GetObjectItemCaseSensitive(req, "execute");
			args = cJSON_GetObjectItemCaseSensitive(req, "arguments");
			if (cJSON_IsString(cmd) && !strcmp(cmd->valuestring, "guest-sync-delimited")) {
				f->syncs++;
				f->handler(f, cmd->valuestring, args,
					   (int64_t)cJSON_GetObjectItem(args, "id")->valuedouble);
			} else if (cJSON_IsString(cmd)) {
				f->calls++;
				f->handler(f, cmd->valuestring, args, -1);
			}
			cJSON_Delete(req);
		}
	}
}

static void *fake_main(void *arg)
{
	serve(arg);
	return NULL;
}

static void fake_start(struct fake *f, fake_handler h)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f->fd = sv[0];
	f->client_fd = sv[1];
	f->listen_fd = -1;
	f->handler = h;
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static struct ga_conn *fake_conn(struct fake *f)
{
	struct ga_conn *c = ga_conn_from_fd(f->client_fd, NULL);

	assert_non_null(c);
	return c;
}

/* Closes the client, which ends the fake's loop. */
static void fake_stop(struct fake *f, struct ga_conn *c)
{
	ga_close(c);
	pthread_join(f->thread, NULL);
	close(f->fd);
}

/* ---- sync ---- */

static void h_ping(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id >= 0)
		default_sync(f, id);
	else if (!strcmp(cmd, "guest-ping"))
		fake_printf(f, "{\"return\": {}}\n");
	else
		fake_printf(f, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no %s\"}}\n",
			    cmd);
}

static void h_sync_garbage(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id >= 0) {
		/* Stale replies, a half line and binary junk before the sentinel. */
		fake_printf(f, "{\"return\": 1}\n{\"error\": {\"class\": \"x\", \"desc\": \"y\"}}\n"
			       "{\"return\": {\"pid\": 3\x01\x02\x7f garbage");
		default_sync(f, id);
		return;
	}
	h_ping(f, cmd, args, id);
}

static void sync_after_garbage(void **state)
{
	struct ga_error err = { 0 };
	struct fake f;
	struct ga_conn *c;

	fake_start(&f, h_sync_garbage);
	c = fake_conn(&f);
	assert_int_equal(ga_sync(c, 2000, &err), 0);
	assert_int_equal(ga_ping(c, 2000, &err), 0);
	assert_int_equal(ga_ping(c, 2000, &err), 0);
	fake_stop(&f, c);
	assert_int_equal(f.syncs, 1); /* a synchronised connection needs no more */
	assert_int_equal(f.calls, 2);
}

static void h_sync_stale_then_right(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id >= 0) {
		/* An abandoned sync's reply, then ours. */
		fake_printf(f, "\xff{\"return\": %lld}\n", (long long)id + 1);
		default_sync(f, id);
		return;
	}
	h_ping(f, cmd, args, id);
}

static void sync_skips_stale_id(void **state)
{
	struct fake f;
	struct ga_conn *c;

	fake_start(&f, h_sync_stale_then_right);
	c = fake_conn(&f);
	assert_int_equal(ga_sync(c, 2000, NULL), 0);
	fake_stop(&f, c);
}

static void h_sync_wrong_id(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id >= 0)
		fake_printf(f, "\xff{\"return\": %lld}\n", (long long)id ^ 0x100);
}

static void sync_id_mismatch(void **state)
{
	struct ga_error err = { 0 };
	struct fake f;
	struct ga_conn *c;

	fake_start(&f, h_sync_wrong_id);
	c = fake_conn(&f);
	assert_int_equal(ga_sync(c, 150, &err), -EPROTO);
	assert_int_equal(err.err.code, -EPROTO);
	assert_non_null(strstr(err.err.msg, "reply id"));
	fake_stop(&f, c);
}

static void h_silent(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
}

static void sync_timeout(void **state)
{
	struct ga_error err = { 0 };
	cJSON *ret = (cJSON *)1;
	struct fake f;
	struct ga_conn *c;

	fake_start(&f, h_silent);
	c = fake_conn(&f);
	assert_int_equal(ga_sync(c, 100, &err), -ETIMEDOUT);
	assert_int_equal(ga_call(c, "guest-ping", NULL, 100, &ret, &err), -ETIMEDOUT);
	assert_null(ret);
	fake_stop(&f, c);
}

/* ---- calls ---- */

static void h_late(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id < 0 && f->calls == 1) {
		usleep(300 * 1000); /* longer than the client waits */
		fake_printf(f, "{\"return\": {\"late\": true}}\n");
		return;
	}
	h_ping(f, cmd, args, id);
}

static void call_timeout_then_resync(void **state)
{
	struct ga_error err = { 0 };
	cJSON *ret;
	struct fake f;
	struct ga_conn *c;

	fake_start(&f, h_late);
	c = fake_conn(&f);
	assert_int_equal(ga_call(c, "guest-ping", NULL, 100, &ret, &err), -ETIMEDOUT);
	assert_int_equal(err.err.code, -ETIMEDOUT);
	/* The late reply must be discarded, not taken for this call's. */
	assert_int_equal(ga_call(c, "guest-ping", NULL, 2000, &ret, &err), 0);
	assert_true(cJSON_IsObject(ret));
	assert_null(cJSON_GetObjectItem(ret, "late"));
	cJSON_Delete(ret);
	fake_stop(&f, c);
	assert_int_equal(f.syncs, 2);
}

static void h_huge(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	static char big[20000];

	if (id < 0 && !strcmp(cmd, "guest-info")) {
		memset(big, 'a', sizeof(big));
		fake_printf(f, "{\"return\": {\"version\": \"");
		fake_send(f, big, sizeof(big));
		fake_printf(f, "\"}}\n");
		return;
	}
	h_ping(f, cmd, args, id);
}

static void overlong_reply(void **state)
{
	struct ga_error err = { 0 };
	cJSON *ret;
	struct fake f;
	struct ga_conn *c;

	fake_start(&f, h_huge);
	c = fake_conn(&f);
	ga_set_reply_max(c, 1024);
	assert_int_equal(ga_call(c, "guest-info", NULL, 2000, &ret, &err), -EMSGSIZE);
	assert_null(ret);
	/* The rest of the huge line is skipped by the next sync. */
	assert_int_equal(ga_ping(c, 2000, &err), 0);
	ga_set_reply_max(c, 65536);
	assert_int_equal(ga_call(c, "guest-info", NULL, 2000, &ret, &err), 0);
	cJSON_Delete(ret);
	fake_stop(&f, c);
}

static const char *bad_reply;

static void h_bad_reply(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id >= 0)
		default_sync(f, id);
	else
		fake_printf(f, "%s\n", bad_reply);
}

static int call_with_reply(const char *reply, struct ga_error *err)
{
	cJSON *ret = (cJSON *)1;
	struct fake f;
	struct ga_conn *c;
	int r;

	bad_reply = reply;
	memset(err, 0, sizeof(*err));
	fake_start(&f, h_bad_reply);
	c = fake_conn(&f);
	r = ga_call(c, "guest-test", NULL, 2000, &ret, err);
	if (r < 0)
		assert_null(ret);
	else
		cJSON_Delete(ret);
	fake_stop(&f, c);
	return r;
}

static void qga_errors(void **state)
{
	struct ga_error err;

	assert_int_equal(call_with_reply("{\"error\": {\"class\": \"GenericError\", "
					 "\"desc\": \"it \\u001b[31mfailed\\n\"}}", &err),
			 -EREMOTEIO);
	assert_int_equal(err.err.code, -EREMOTEIO);
	assert_string_equal(err.class, "GenericError");
	/* Control characters from the guest never reach a terminal. */
	assert_string_equal(err.err.msg, "guest-test: it ?[31mfailed?");

	assert_int_equal(call_with_reply("{\"error\": {\"class\": 1, \"desc\": \"x\"}}", &err),
			 -EPROTO);
	assert_int_equal(call_with_reply("{\"error\": \"x\"}", &err), -EPROTO);
	assert_int_equal(call_with_reply("{\"error\": {\"desc\": \"x\"}}", &err), -EPROTO);
}

static void malformed_replies(void **state)
{
	struct ga_error err;

	assert_int_equal(call_with_reply("{\"return\": 1, \"error\": {\"class\": \"a\", "
					 "\"desc\": \"b\"}}", &err), -EPROTO);
	assert_int_equal(call_with_reply("{\"id\": 1}", &err), -EPROTO);
	assert_int_equal(call_with_reply("[1, 2]", &err), -EPROTO);
	assert_int_equal(call_with_reply("\"return\"", &err), -EPROTO);
	assert_int_equal(call_with_reply("{\"return\": {}", &err), -EPROTO);
	assert_int_equal(call_with_reply("{\"return\": {}} {}", &err), -EPROTO);
	assert_int_equal(call_with_reply("not json", &err), -EPROTO);
	assert_int_equal(call_with_reply("", &err), -EPROTO);
	assert_int_equal(call_with_reply("{\"return\": {}}\n{\"return\": 2}", &err), -EPROTO);
	/* And the good ones, with extra members an agent may add. */
	assert_int_equal(call_with_reply("{\"return\": {}}", &err), 0);
	assert_int_equal(call_with_reply("{\"return\": [1, \"x\"], \"id\": \"abc\"}\r", &err), 0);
}

static void h_close(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id >= 0)
		default_sync(f, id);
	else
		shutdown(f->fd, SHUT_WR);
}

static void agent_closes(void **state)
{
	struct ga_error err = { 0 };
	cJSON *ret;
	struct fake f;
	struct ga_conn *c;

	fake_start(&f, h_close);
	c = fake_conn(&f);
	assert_int_equal(ga_call(c, "guest-ping", NULL, 2000, &ret, &err), -ECONNRESET);
	assert_int_equal(ga_call(c, "guest-ping", NULL, 2000, &ret, &err), -ENOTCONN);
	assert_int_equal(ga_sync(c, 2000, &err), -ENOTCONN);
	fake_stop(&f, c);
}

static void bad_arguments(void **state)
{
	struct ga_error err = { 0 };
	cJSON *ret, *arr = cJSON_CreateArray();
	struct fake f;
	struct ga_conn *c;

	fake_start(&f, h_ping);
	c = fake_conn(&f);
	assert_int_equal(ga_call(c, "guest-ping", arr, 2000, &ret, &err), -EINVAL);
	assert_int_equal(ga_call(c, "", NULL, 2000, &ret, &err), -EINVAL);
	assert_int_equal(ga_call(c, "guest-nope", NULL, 2000, &ret, &err), -EREMOTEIO);
	assert_string_equal(err.class, "CommandNotFound");
	cJSON_Delete(arr);
	fake_stop(&f, c);
}

/* ---- guest-info ---- */

static const char *info_reply;

static void h_info(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id >= 0)
		default_sync(f, id);
	else
		fake_printf(f, "{\"return\": %s}\n", info_reply);
}

static int info_with(const char *reply, struct ga_info *info)
{
	struct ga_error err = { 0 };
	struct fake f;
	struct ga_conn *c;
	int r;

	info_reply = reply;
	fake_start(&f, h_info);
	c = fake_conn(&f);
	r = ga_info(c, 2000, info, &err);
	fake_stop(&f, c);
	return r;
}

static void guest_info(void **state)
{
	struct ga_info info;

	assert_int_equal(info_with("{\"version\": \"1.2\", \"supported_commands\": ["
				   "{\"name\": \"guest-ping\", \"enabled\": true, \"success-response\": true},"
				   "{\"name\": \"guest-exec\", \"enabled\": false}]}", &info), 0);
	assert_string_equal(info.version, "1.2");
	assert_int_equal(info.ncommands, 2);
	assert_string_equal(info.commands[0].name, "guest-ping");
	assert_true(info.commands[0].enabled);
	assert_false(info.commands[1].enabled);
	ga_info_free(&info);

	assert_int_equal(info_with("{\"version\": \"1\", \"supported_commands\": []}", &info), 0);
	assert_int_equal(info.ncommands, 0);
	ga_info_free(&info);

	assert_int_equal(info_with("{\"version\": 1, \"supported_commands\": []}", &info), -EPROTO);
	assert_null(info.version);
	assert_int_equal(info_with("{\"version\": \"1\"}", &info), -EPROTO);
	assert_int_equal(info_with("{\"version\": \"1\", \"supported_commands\": [1]}", &info),
			 -EPROTO);
	assert_int_equal(info_with("{\"version\": \"1\", \"supported_commands\": ["
				   "{\"name\": \"a\", \"enabled\": 1}]}", &info), -EPROTO);
	assert_int_equal(info_with("{\"version\": \"1\", \"supported_commands\": ["
				   "{\"name\": \"\", \"enabled\": true}]}", &info), -EPROTO);
	assert_int_equal(info_with("[]", &info), -EPROTO);
}

/* ---- guest-exec ---- */

static const char *status_reply;
static int polls_before_exit;

static void copy_str(char *dst, size_t size, const cJSON *s)
{
	if (cJSON_IsString(s))
		snprintf(dst, size, "%s", s->valuestring);
}

static void h_exec(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	const cJSON *a;

	if (id >= 0) {
		default_sync(f, id);
	} else if (!strcmp(cmd, "guest-exec")) {
		copy_str(f->exec_path, sizeof(f->exec_path), cJSON_GetObjectItem(args, "path"));
		a = cJSON_GetObjectItem(args, "arg");
		copy_str(f->exec_arg0, sizeof(f->exec_arg0), cJSON_GetArrayItem(a, 0));
		copy_str(f->exec_input, sizeof(f->exec_input),
			 cJSON_GetObjectItem(args, "input-data"));
		f->exec_capture = cJSON_IsTrue(cJSON_GetObjectItem(args, "capture-output"));
		fake_printf(f, "{\"return\": {\"pid\": 4242}}\n");
	} else if (!strcmp(cmd, "guest-exec-status")) {
		if (cJSON_GetObjectItem(args, "pid")->valuedouble != 4242)
			fake_printf(f, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"pid\"}}\n");
		else if (++f->polls, polls_before_exit < 0 || f->polls <= polls_before_exit)
			fake_printf(f, "{\"return\": {\"exited\": false}}\n");
		else
			fake_printf(f, "{\"return\": %s}\n", status_reply);
	}
}

static int exec_with(const char *reply, int polls, int timeout_ms, struct ga_exec_status *st,
		     struct fake *f)
{
	const char *argv[] = { "-c", "echo hello", NULL };
	struct ga_exec_request req = {
		.path = "/bin/sh", .argv = argv, .input = "in", .input_len = 2,
		.capture_output = true,
	};
	struct ga_error err = { 0 };
	struct ga_conn *c;
	int r;

	status_reply = reply;
	polls_before_exit = polls;
	fake_start(f, h_exec);
	c = fake_conn(f);
	r = ga_exec(c, &req, timeout_ms, st, &err);
	fake_stop(f, c);
	return r;
}

static void exec_polls_until_exit(void **state)
{
	struct ga_exec_status st;
	struct fake f;

	/* "aGVsbG8K" is "hello\n", "ZXJy" is "err". */
	assert_int_equal(exec_with("{\"exited\": true, \"exitcode\": 7, \"out-data\": \"aGVsbG8K\","
				   " \"err-data\": \"ZXJy\", \"err-truncated\": true}",
				   3, 5000, &st, &f), 0);
	assert_true(st.exited);
	assert_int_equal(st.exitcode, 7);
	assert_int_equal(st.signal, 0);
	assert_int_equal(st.out_len, 6);
	assert_memory_equal(st.out, "hello\n", 6);
	assert_int_equal(st.err_len, 3);
	assert_memory_equal(st.err, "err", 3);
	assert_false(st.out_truncated);
	assert_true(st.err_truncated);
	ga_exec_status_free(&st);
	assert_int_equal(f.polls, 4);
	assert_string_equal(f.exec_path, "/bin/sh");
	assert_string_equal(f.exec_arg0, "-c");
	assert_string_equal(f.exec_input, "aW4="); /* "in" */
	assert_true(f.exec_capture);

	assert_int_equal(exec_with("{\"exited\": true, \"signal\": 9}", 0, 5000, &st, &f), 0);
	assert_int_equal(st.signal, 9);
	assert_null(st.out);
	ga_exec_status_free(&st);
}

static void exec_timeout(void **state)
{
	struct ga_exec_status st;
	struct fake f;

	assert_int_equal(exec_with("", -1, 200, &st, &f), -ETIMEDOUT);
	assert_true(f.polls >= 2);
	assert_false(st.exited);
}

static void exec_bad_status(void **state)
{
	static const char *const bad[] = {
		"{\"exited\": true, \"exitcode\": 0, \"out-data\": \"aGVsbG8\"}",
		"{\"exited\": true, \"exitcode\": 0, \"err-data\": \"a*==\"}",
		"{\"exited\": true, \"exitcode\": 0, \"out-data\": 5}",
		"{\"exited\": true, \"exitcode\": 1.5}",
		"{\"exited\": true, \"exitcode\": 1e300}",
		"{\"exited\": true, \"exitcode\": \"1\"}",
		"{\"exited\": true, \"signal\": -1}",
		"{\"exited\": true}",
		"{\"exited\": 1, \"exitcode\": 0}",
		"{\"exited\": true, \"exitcode\": 0, \"out-truncated\": \"yes\"}",
		"[]",
	};
	struct ga_exec_status st;
	struct fake f;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = exec_with(bad[i], 0, 5000, &st, &f);

		if (r != -EPROTO)
			fail_msg("status %s: %d, expected -EPROTO", bad[i], r);
		assert_null(st.out);
	}
}

static void h_exec_bad_pid(struct fake *f, const char *cmd, const cJSON *args, int64_t id)
{
	if (id >= 0)
		default_sync(f, id);
	else
		fake_printf(f, "{\"return\": {\"pid\": %s}}\n", bad_reply);
}

static void exec_bad_pid(void **state)
{
	static const char *const bad[] = { "-1", "1.5", "\"1\"", "1e20", "null" };
	struct ga_exec_request req = { .path = "/bin/true" };
	struct ga_error err = { 0 };
	struct fake f;
	struct ga_conn *c;
	int64_t pid;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bad_reply = bad[i];
		fake_start(&f, h_exec_bad_pid);
		c = fake_conn(&f);
		assert_int_equal(ga_exec_start(c, &req, 2000, &pid, &err), -EPROTO);
		fake_stop(&f, c);
	}
	assert_int_equal(ga_exec_start(NULL, &(struct ga_exec_request){ 0 }, 10, &pid, &err),
			 -EINVAL);
}

/* ---- base64 ---- */

static void b64_ok(const char *plain, const char *enc)
{
	size_t len = strlen(plain), n = 99;
	char *e = base64_encode(plain, len);
	unsigned char *d = base64_decode(enc, strlen(enc), &n);

	assert_string_equal(e, enc);
	assert_non_null(d);
	assert_int_equal(n, len);
	assert_memory_equal(d, plain, len);
	assert_int_equal(d[n], 0);
	free(e);
	free(d);
}

static void b64_bad(const char *enc)
{
	size_t n;
	unsigned char *d = base64_decode(enc, strlen(enc), &n);

	if (d)
		fail_msg("decoded bad base64 \"%s\"", enc);
}

static void base64_vectors(void **state)
{
	/* RFC 4648 section 10. */
	b64_ok("", "");
	b64_ok("f", "Zg==");
	b64_ok("fo", "Zm8=");
	b64_ok("foo", "Zm9v");
	b64_ok("foob", "Zm9vYg==");
	b64_ok("fooba", "Zm9vYmE=");
	b64_ok("foobar", "Zm9vYmFy");
	b64_ok("\xff\xfe\xfd", "//79");
	b64_ok("\xfb\xef", "++8=");
}

static void base64_rejects(void **state)
{
	b64_bad("Zg");          /* unpadded */
	b64_bad("Zg=");
	b64_bad("Z");
	b64_bad("Zh==");        /* non-zero padding bits */
	b64_bad("Zm9=");
	b64_bad("====");
	b64_bad("Z===");
	b64_bad("Zm=v");
	b64_bad("Zg==Zg==");    /* padding in the middle */
	b64_bad("Zm9v====");
	b64_bad("Zm9v\n");
	b64_bad("Zm 9v");
	b64_bad("-_8=");        /* URL-safe alphabet */
	b64_bad("Zm9\x80");
	assert_null(base64_decode("Zm9\0", 4, &(size_t){ 0 }));
}

static void base64_roundtrip(void **state)
{
	unsigned char data[300], *d;
	size_t len, n, i;
	char *e;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 37 + (i >> 3));
	data[5] = 0;
	for (len = 0; len <= sizeof(data); len++) {
		e = base64_encode(data, len);
		assert_non_null(e);
		assert_int_equal(strlen(e), (len + 2) / 3 * 4);
		d = base64_decode(e, strlen(e), &n);
		assert_non_null(d);
		assert_int_equal(n, len);
		if (len)
			assert_memory_equal(d, data, len);
		free(d);
		free(e);
	}
}

/* ---- addresses and the vsock handshake ---- */

static void addresses(void **state)
{
	struct ga_address a;
	char longpath[200];

	assert_int_equal(ga_parse_address("unix:/run/qga.sock", &a, NULL), 0);
	assert_int_equal(a.transport, GA_UNIX);
	assert_string_equal(a.path, "/run/qga.sock");
	assert_int_equal(ga_parse_address("/run/vm/vsock", &a, NULL), 0);
	assert_int_equal(a.transport, GA_VSOCK_UDS);
	assert_int_equal(a.port, GA_DEFAULT_PORT);
	assert_string_equal(a.path, "/run/vm/vsock");
	assert_int_equal(ga_parse_address("vsock-uds:/run/vm/vsock:52", &a, NULL), 0);
	assert_int_equal(a.port, 52);
	assert_string_equal(a.path, "/run/vm/vsock");
	assert_int_equal(ga_parse_address("vsock-uds:/run/a:b/vsock", &a, NULL), 0);
	assert_string_equal(a.path, "/run/a:b/vsock");
	assert_int_equal(a.port, GA_DEFAULT_PORT);
	assert_int_equal(ga_parse_address("vsock-uds:/x:4294967294", &a, NULL), 0);
	assert_int_equal(a.port, 4294967294U);

	assert_int_equal(ga_parse_address("vsock-uds:/x:4294967295", &a, NULL), -EINVAL);
	assert_int_equal(ga_parse_address("vsock-uds:/x:0", &a, NULL), -EINVAL);
	assert_int_equal(ga_parse_address("vsock-uds:/x:99999999999999999999", &a, NULL), -EINVAL);
	assert_int_equal(ga_parse_address("vsock-uds::5", &a, NULL), -EINVAL);
	assert_int_equal(ga_parse_address("unix:", &a, NULL), -EINVAL);
	assert_int_equal(ga_parse_address("", &a, NULL), -EINVAL);
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(ga_parse_address(longpath, &a, NULL), -ENAMETOOLONG);
}

static void *vsock_server(void *arg)
{
	struct fake *f = arg;
	size_t len = 0;
	char ch;

	f->fd = accept(f->listen_fd, NULL, NULL);
	if (f->fd < 0)
		return NULL;
	/* Byte by byte: nothing after the newline belongs to the handshake. */
	while (len + 1 < sizeof(f->connect_line) && read(f->fd, &ch, 1) == 1) {
		f->connect_line[len++] = ch;
		if (ch == '\n')
			break;
	}
	if (!f->connect_answer) {
		close(f->fd);
		f->fd = -1;
		return NULL;
	}
	fake_printf(f, "%s", f->connect_answer);
	serve(f);
	return NULL;
}

/* Connects to a fresh listener whose server answers CONNECT with answer. */
static struct ga_conn *vsock_try(struct fake *f, const char *answer, const char *suffix,
				 int timeout_ms, struct ga_error *err, char *path, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char addr[160];

	memset(f, 0, sizeof(*f));
	f->handler = h_ping;
	f->fd = -1;
	f->connect_answer = answer;
	snprintf(path, size, "/tmp/kvmlet-ga-test-%d.sock", getpid());
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 1), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, vsock_server, f), 0);
	snprintf(addr, sizeof(addr), "vsock-uds:%s%s", path, suffix);
	memset(err, 0, sizeof(*err));
	return ga_connect(addr, timeout_ms, err);
}

static void vsock_done(struct fake *f, struct ga_conn *c, const char *path)
{
	/* A failed ga_connect() closed its socket already: the server sees EOF either way. */
	ga_close(c);
	pthread_join(f->thread, NULL);
	if (f->fd >= 0)
		close(f->fd);
	close(f->listen_fd);
	unlink(path);
}

static void vsock_handshake_ok(void **state)
{
	struct ga_error err;
	char path[108];
	struct fake f;
	struct ga_conn *c;

	c = vsock_try(&f, "OK 1073741824\n", "", 2000, &err, path, sizeof(path));
	assert_non_null(c);
	assert_int_equal(ga_ping(c, 2000, &err), 0);
	vsock_done(&f, c, path);
	assert_string_equal(f.connect_line, "CONNECT 1024\n");
	assert_int_equal(f.calls, 1);

	c = vsock_try(&f, "OK 7\n", ":5000", 2000, &err, path, sizeof(path));
	assert_non_null(c);
	assert_int_equal(ga_ping(c, 2000, &err), 0);
	vsock_done(&f, c, path);
	assert_string_equal(f.connect_line, "CONNECT 5000\n");
}

static void vsock_handshake_garbage(void **state)
{
	static const char *const bad[] = {
		"NO 1\n", "OK\n", "OK \n", "OK x\n", "OK 1 2\n", "OK 99999999999\n", "ok 1\n",
		"OK -1\n",
		("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, "
		 "invalid keyword 'CONNECT'\"}}\n"),
	};
	struct ga_error err;
	char path[108];
	struct fake f;
	struct ga_conn *c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = vsock_try(&f, bad[i], "", 2000, &err, path, sizeof(path));
		if (c || err.err.code != -EPROTO)
			fail_msg("answer %s: %d, expected -EPROTO", bad[i], err.err.code);
		vsock_done(&f, c, path);
	}
}

static void vsock_handshake_closed(void **state)
{
	struct ga_error err;
	char path[108];
	struct fake f;
	struct ga_conn *c;

	c = vsock_try(&f, NULL, "", 2000, &err, path, sizeof(path));
	assert_null(c);
	assert_int_equal(err.err.code, -ECONNREFUSED);
	vsock_done(&f, c, path);

	/* An answer that never ends. */
	c = vsock_try(&f, "OK 12", "", 150, &err, path, sizeof(path));
	assert_null(c);
	assert_int_equal(err.err.code, -ETIMEDOUT);
	vsock_done(&f, c, path);
}

static void connect_errors(void **state)
{
	struct ga_error err = { 0 };

	assert_null(ga_connect("unix:/nonexistent/kvmlet-ga.sock", 100, &err));
	assert_int_equal(err.err.code, -ENOENT);
	assert_non_null(strstr(err.err.msg, "/nonexistent/kvmlet-ga.sock"));
	assert_null(ga_connect("vsock-uds:", 100, &err));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sync_after_garbage),
		cmocka_unit_test(sync_skips_stale_id),
		cmocka_unit_test(sync_id_mismatch),
		cmocka_unit_test(sync_timeout),
		cmocka_unit_test(call_timeout_then_resync),
		cmocka_unit_test(overlong_reply),
		cmocka_unit_test(qga_errors),
		cmocka_unit_test(malformed_replies),
		cmocka_unit_test(agent_closes),
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(guest_info),
		cmocka_unit_test(exec_polls_until_exit),
		cmocka_unit_test(exec_timeout),
		cmocka_unit_test(exec_bad_status),
		cmocka_unit_test(exec_bad_pid),
		cmocka_unit_test(base64_vectors),
		cmocka_unit_test(base64_rejects),
		cmocka_unit_test(base64_roundtrip),
		cmocka_unit_test(addresses),
		cmocka_unit_test(vsock_handshake_ok),
		cmocka_unit_test(vsock_handshake_garbage),
		cmocka_unit_test(vsock_handshake_closed),
		cmocka_unit_test(connect_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
