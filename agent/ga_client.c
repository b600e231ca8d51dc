// SPDX-License-Identifier: Apache-2.0
/*
 * QEMU guest agent protocol client; see ga_client.h.
 *
 * The socket is non-blocking and every read and write waits in poll() for
 * what is left of one deadline, so a silent or slow agent costs at most the
 * caller's timeout. Input is buffered in the connection: bytes that arrive
 * after a reply (or after the vsock handshake line) are kept for the next read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/ga_client.h"
#include "lib/clock.h"
#include "lib/base64.h"
#include "lib/json.h"

#define GA_BUF_MIN	     4096
#define GA_HANDSHAKE_MAX     64	 /* "OK 4294967295\n" with room to spare */
#define GA_SYNC_LINE_MAX     256 /* a sync reply is {"return": N} */
#define GA_INFO_MAX_COMMANDS 4096
#define GA_NAME_MAX	     256
#define GA_REPLY_MAX_LIMIT   (1U << 30) /* keeps buffer arithmetic far from overflow */

struct ga_conn {
	int fd;
	bool need_sync; /* the stream may hold stale input: sync before a call */
	int dead;	/* 0, or the error that ended the connection */
	size_t reply_max;
	char *buf;
	size_t cap, start, end; /* unread input is buf[start, end) */
};

/* Copies a message into err, replacing anything unprintable: the text may come from the guest. */
static void sanitize(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i]; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	dst[i] = '\0';
}

__attribute__((format(printf, 3, 4))) static int fail(struct ga_error *err, int code,
						      const char *fmt, ...)
{
	char msg[sizeof(err->err.msg)];
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err->err.code = code;
	err->class[0] = '\0';
	sanitize(err->err.msg, sizeof(err->err.msg), msg);
	return code;
}

static int64_t deadline_after(int timeout_ms)
{
	return (int64_t)clock_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
}

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - (int64_t)clock_mono_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Waits for events on fd until deadline: 0, -ETIMEDOUT or a poll error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	for (;;) {
		r = poll(&p, 1, remaining_ms(deadline));
		if (r > 0)
			return 0; /* ready, or an error/hang-up the next call reports */
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int conn_broken(struct ga_conn *c, int code, struct ga_error *err, const char *what)
{
	c->dead = code;
	if (code == -ECONNRESET)
		return fail(err, code, "%s: the agent closed the connection", what);
	return fail(err, code, "%s: %s", what, strerror(-code));
}

static int send_all(struct ga_conn *c, const void *data, size_t len, int64_t deadline,
		    struct ga_error *err)
{
	const char *p = data;
	ssize_t n;
	int r;

	while (len) {
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			r = wait_fd(c->fd, POLLOUT, deadline);
			if (r == -ETIMEDOUT) {
				/* Part of a request may be in the stream now. */
				c->need_sync = true;
				return fail(err, r, "timed out writing to the agent");
			}
			if (r < 0)
				return conn_broken(c, r, err, "write");
			continue;
		}
		return conn_broken(c, n < 0 ? (errno == EPIPE ? -ECONNRESET : -errno) : -EIO, err,
				   "write");
	}
	return 0;
}

/*
 * Reads more input into the buffer, growing it up to limit bytes of unread
 * input. 0 when something arrived; -EMSGSIZE when limit bytes are unread.
 */
static int fill(struct ga_conn *c, size_t limit, int64_t deadline, struct ga_error *err)
{
	size_t want;
	ssize_t n;
	int r;

	if (c->start == c->end)
		c->start = c->end = 0;
	if (c->end - c->start >= limit)
		return -EMSGSIZE;
	if (c->end == c->cap && c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end == c->cap) {
		char *nb;

		/* Here cap <= unread < limit, so this always grows. */
		want = c->cap ? c->cap * 2 : GA_BUF_MIN;
		if (want > limit + 1)
			want = limit + 1;
		nb = realloc(c->buf, want);
		if (!nb)
			return fail(err, -ENOMEM, "out of memory for a reply");
		c->buf = nb;
		c->cap = want;
	}
	for (;;) {
		n = recv(c->fd, c->buf + c->end, c->cap - c->end, MSG_DONTWAIT);
		if (n > 0) {
			c->end += (size_t)n;
			return 0;
		}
		if (n == 0)
			return conn_broken(c, -ECONNRESET, err, "read");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return conn_broken(c, -errno, err, "read");
		r = wait_fd(c->fd, POLLIN, deadline);
		if (r == -ETIMEDOUT) {
			c->need_sync = true; /* the reply may still come */
			return fail(err, r, "timed out waiting for the agent");
		}
		if (r < 0)
			return conn_broken(c, r, err, "read");
	}
}

/*
 * Reads one '\n'-terminated line of at most max bytes (newline excluded).
 * The line is NUL-terminated in place and valid until the next read.
 */
static int read_line(struct ga_conn *c, size_t max, int64_t deadline, char **line, size_t *len,
		     struct ga_error *err)
{
	size_t scanned = 0;
	char *nl;
	int r;

	for (;;) {
		nl = c->end > c->start + scanned ? memchr(c->buf + c->start + scanned, '\n',
							  c->end - c->start - scanned)
						 : NULL;
		if (nl) {
			*line = c->buf + c->start;
			*len = (size_t)(nl - *line);
			*nl = '\0';
			c->start += *len + 1;
			if (*len > max)
				goto too_long;
			return 0;
		}
		scanned = c->end - c->start;
		r = fill(c, max + 1, deadline, err);
		if (r == -EMSGSIZE)
			goto too_long;
		if (r < 0)
			return r;
	}
too_long:
	/* The rest of the line is still coming: the next call resynchronises. */
	c->start = c->end = 0;
	c->need_sync = true;
	return fail(err, -EMSGSIZE, "reply longer than %zu bytes", max);
}

/* Discards input up to and including the next 0xFF byte. */
static int skip_to_sentinel(struct ga_conn *c, int64_t deadline, struct ga_error *err)
{
	char *p;
	int r;

	for (;;) {
		p = c->end > c->start ? memchr(c->buf + c->start, 0xff, c->end - c->start) : NULL;
		if (p) {
			c->start = (size_t)(p - c->buf) + 1;
			return 0;
		}
		c->start = c->end = 0;
		r = fill(c, GA_BUF_MIN, deadline, err);
		if (r < 0)
			return r;
	}
}

static void set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
}

struct ga_conn *ga_conn_from_fd(int fd, struct ga_error *err)
{
	struct ga_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		fail(err, -ENOMEM, "out of memory");
		close(fd);
		return NULL;
	}
	set_nonblock_cloexec(fd);
	c->fd = fd;
	c->need_sync = true;
	c->reply_max = GA_DEFAULT_REPLY_MAX;
	return c;
}

/*
 * Closing a Unix socket with unread input makes the peer's next read fail
 * with ECONNRESET, and qemu-ga exits on that. So read what is queued first,
 * and when a reply may still be on its way (a call timed out) give the agent
 * a moment to send it and see our end-of-file.
 */
static void drain(struct ga_conn *c)
{
	int64_t deadline = deadline_after(c->need_sync ? 100 : 0);
	char scratch[4096];
	size_t total = 0;
	ssize_t n;

	shutdown(c->fd, SHUT_WR);
	/* Bounded: an agent that never stops talking must not hold us here. */
	while (total < (1U << 20)) {
		n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return;
		if (remaining_ms(deadline) == 0 || wait_fd(c->fd, POLLIN, deadline) < 0)
			return;
	}
}

void ga_close(struct ga_conn *c)
{
	if (!c)
		return;
	if (!c->dead)
		drain(c);
	close(c->fd);
	free(c->buf);
	free(c);
}

void ga_set_reply_max(struct ga_conn *c, size_t max)
{
	if (max < GA_SYNC_LINE_MAX)
		max = GA_SYNC_LINE_MAX;
	if (max > GA_REPLY_MAX_LIMIT)
		max = GA_REPLY_MAX_LIMIT;
	c->reply_max = max;
}

/* Parses a whole decimal number in [min, max]. */
static int parse_dec(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

static int set_path(struct ga_address *a, const char *p, size_t len, struct ga_error *err)
{
	if (len == 0)
		return fail(err, -EINVAL, "empty socket path");
	if (len >= sizeof(a->path))
		return fail(err, -ENAMETOOLONG, "socket path longer than %zu bytes",
			    sizeof(a->path) - 1);
	memcpy(a->path, p, len);
	a->path[len] = '\0';
	return 0;
}

int ga_parse_address(const char *s, struct ga_address *out, struct ga_error *err)
{
	struct ga_address a = { .transport = GA_VSOCK_UDS, .port = GA_DEFAULT_PORT };
	const char *colon;
	uint64_t port;
	int r;

	if (!s)
		return fail(err, -EINVAL, "no address");
	if (!strncmp(s, "unix:", 5)) {
		a.transport = GA_UNIX;
		r = set_path(&a, s + 5, strlen(s + 5), err);
	} else if (!strncmp(s, "vsock-uds:", 10)) {
		s += 10;
		colon = strrchr(s, ':');
		if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
			if (parse_dec(colon + 1, 1, UINT32_MAX - 1, &port) < 0)
				return fail(err, -EINVAL, "bad vsock port '%s'", colon + 1);
			a.port = (uint32_t)port;
			r = set_path(&a, s, (size_t)(colon - s), err);
		} else {
			r = set_path(&a, s, strlen(s), err);
		}
	} else {
		r = set_path(&a, s, strlen(s), err);
	}
	if (r < 0)
		return r;
	*out = a;
	return 0;
}

static int unix_connect(const char *path, int64_t deadline, int *fdp, struct ga_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(err, -ENAMETOOLONG, "socket path too long");
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, -errno, "socket: %s", strerror(errno));
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		r = -errno;
		if (r == -EINTR)
			continue;
		/*
		 * A Unix socket whose listener's backlog is full says EAGAIN
		 * and offers nothing to poll for: retry until the deadline.
		 */
		if (r == -EAGAIN && remaining_ms(deadline) > 0) {
			usleep(5000);
			continue;
		}
		close(fd);
		if (r == -EAGAIN)
			return fail(err, -ETIMEDOUT, "connect %s: timed out (backlog full)", path);
		return fail(err, r, "connect %s: %s", path, strerror(-r));
	}
	*fdp = fd;
	return 0;
}

/* The hybrid vsock handshake: "CONNECT <port>\n", answered by "OK <hostport>\n". */
static int vsock_handshake(struct ga_conn *c, uint32_t port, int64_t deadline, struct ga_error *err)
{
	char req[32], *line;
	uint64_t hostport;
	size_t len;
	int n, r;

	n = snprintf(req, sizeof(req), "CONNECT %u\n", port);
	r = send_all(c, req, (size_t)n, deadline, err);
	if (r < 0)
		return r;
	r = read_line(c, GA_HANDSHAKE_MAX, deadline, &line, &len, err);
	if (r == -ECONNRESET)
		return fail(err, -ECONNREFUSED,
			    "vsock port %u: connection refused (nothing listening in the guest?)",
			    port);
	if (r == -EMSGSIZE)
		return fail(err, -EPROTO,
			    "vsock port %u: bad answer to CONNECT (not a vsock socket?)", port);
	if (r < 0)
		return fail(err, r, "vsock port %u: no answer to CONNECT (%s)", port, strerror(-r));
	if (len < 4 || strncmp(line, "OK ", 3) || parse_dec(line + 3, 0, UINT32_MAX, &hostport) < 0)
		return fail(err, -EPROTO, "vsock port %u: bad answer to CONNECT: '%.64s'", port,
			    line);
	return 0;
}

struct ga_conn *ga_connect_addr(const struct ga_address *addr, int timeout_ms, struct ga_error *err)
{
	int64_t deadline = deadline_after(timeout_ms);
	struct ga_error scratch = { 0 };
	struct ga_conn *c;
	int fd = -1, r;

	if (!err)
		err = &scratch;
	r = unix_connect(addr->path, deadline, &fd, err);
	if (r < 0)
		return NULL;
	c = ga_conn_from_fd(fd, err);
	if (!c)
		return NULL;
	if (addr->transport == GA_VSOCK_UDS) {
		r = vsock_handshake(c, addr->port, deadline, err);
		if (r < 0) {
			ga_close(c);
			return NULL;
		}
	}
	return c;
}

struct ga_conn *ga_connect(const char *address, int timeout_ms, struct ga_error *err)
{
	struct ga_address a;

	if (ga_parse_address(address, &a, err) < 0)
		return NULL;
	return ga_connect_addr(&a, timeout_ms, err);
}

static uint32_t random_id(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint32_t)clock_mono_ms() ^ ((uint32_t)getpid() << 16);
	return (v & 0x7fffffff) | 1; /* positive and non-zero: any agent can parse it */
}

static int sync_deadline(struct ga_conn *c, int64_t deadline, struct ga_error *err)
{
	char req[128], *line;
	uint32_t id = random_id();
	bool mismatch = false;
	int64_t got = 0, seen = 0;
	cJSON *reply;
	size_t len;
	int n, r;

	if (c->dead)
		return fail(err, -ENOTCONN, "connection already failed: %s", strerror(-c->dead));
	/* A leading 0xFF makes the agent drop a request a previous client left half sent. */
	n = snprintf(req, sizeof(req),
		     "\xff{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":%u}}\n", id);
	c->start = c->end = 0; /* whatever is buffered is stale */
	r = send_all(c, req, (size_t)n, deadline, err);
	if (r < 0)
		return r;
	for (;;) {
		r = skip_to_sentinel(c, deadline, err);
		if (r == 0)
			r = read_line(c, GA_SYNC_LINE_MAX, deadline, &line, &len, err);
		if (r == -EMSGSIZE)
			continue; /* garbage after a stray 0xFF: keep looking */
		if (r < 0)
			break;
		reply = cJSON_Parse(line);
		if (reply && json_int_value(cJSON_GetObjectItemCaseSensitive(reply, "return"), 0,
					    INT64_MAX, &got)) {
			cJSON_Delete(reply);
			if (got == id) {
				c->need_sync = false;
				c->start = c->end = 0; /* nothing may follow but stale data */
				return 0;
			}
			/* The reply to an earlier, abandoned sync: ours comes later. */
			mismatch = true;
			seen = got;
			continue;
		}
		cJSON_Delete(reply);
	}
	c->need_sync = true;
	if (r == -ETIMEDOUT && mismatch)
		return fail(err, -EPROTO, "guest-sync-delimited: reply id %lld, expected %u",
			    (long long)seen, id);
	if (r == -ETIMEDOUT)
		return fail(err, r, "guest-sync-delimited: timed out (is an agent listening?)");
	return r;
}

int ga_sync(struct ga_conn *c, int timeout_ms, struct ga_error *err)
{
	return sync_deadline(c, deadline_after(timeout_ms), err);
}

/* The agent's {"error": {"class": ..., "desc": ...}} as an error. */
static int agent_error(const cJSON *e, const char *command, struct ga_error *err)
{
	const cJSON *cls = cJSON_GetObjectItemCaseSensitive(e, "class");
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(e, "desc");

	if (!cJSON_IsObject(e) || !cJSON_IsString(cls) || !cJSON_IsString(desc))
		return fail(err, -EPROTO, "%s: malformed error reply", command);
	if (!err)
		return -EREMOTEIO;
	fail(err, -EREMOTEIO, "%s: %s", command, desc->valuestring);
	sanitize(err->class, sizeof(err->class), cls->valuestring);
	return -EREMOTEIO;
}

int ga_call(struct ga_conn *c, const char *command, const cJSON *args, int timeout_ms,
	    cJSON **result, struct ga_error *err)
{
	int64_t deadline = deadline_after(timeout_ms);
	cJSON *req = NULL, *reply = NULL, *ret, *e;
	char *text = NULL, *line;
	size_t len;
	int r;

	if (result)
		*result = NULL;
	if (c->dead)
		return fail(err, -ENOTCONN, "connection already failed: %s", strerror(-c->dead));
	if (!command || !*command)
		return fail(err, -EINVAL, "no command");
	if (args && !cJSON_IsObject(args))
		return fail(err, -EINVAL, "%s: arguments must be a JSON object", command);
	if (c->need_sync) {
		r = sync_deadline(c, deadline, err);
		if (r < 0)
			return r;
	}

	req = cJSON_CreateObject();
	if (!req || !cJSON_AddStringToObject(req, "execute", command) ||
	    (args && !cJSON_AddItemReferenceToObject(req, "arguments", (cJSON *)args))) {
		r = fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	text = cJSON_PrintUnformatted(req);
	if (!text) {
		r = fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	len = strlen(text);
	text[len] = '\n'; /* replaces the NUL: send exactly one line */
	r = send_all(c, text, len + 1, deadline, err);
	if (r < 0)
		goto out;

	r = read_line(c, c->reply_max, deadline, &line, &len, err);
	if (r < 0)
		goto out;
	/* Until the reply proves well formed, the stream is suspect. */
	c->need_sync = true;
	if (memchr(line, '\0', len)) {
		r = fail(err, -EPROTO, "%s: NUL byte in reply", command);
		goto out;
	}
	reply = cJSON_ParseWithOpts(line, NULL, 1);
	if (!cJSON_IsObject(reply)) {
		r = fail(err, -EPROTO, "%s: reply is not a JSON object", command);
		goto out;
	}
	ret = cJSON_GetObjectItemCaseSensitive(reply, "return");
	e = cJSON_GetObjectItemCaseSensitive(reply, "error");
	if (ret && e) {
		r = fail(err, -EPROTO, "%s: reply has both return and error", command);
		goto out;
	}
	if (c->start != c->end) {
		/* An agent answers each request once; anything more is stale or hostile. */
		r = fail(err, -EPROTO, "%s: unexpected data after the reply", command);
		goto out;
	}
	if (e) {
		c->need_sync = false;
		r = agent_error(e, command, err);
		goto out;
	}
	if (!ret) {
		r = fail(err, -EPROTO, "%s: reply has neither return nor error", command);
		goto out;
	}
	c->need_sync = false;
	if (result)
		*result = cJSON_DetachItemViaPointer(reply, ret);
	r = 0;
out:
	/* Do not keep a huge buffer around after one huge reply. */
	if (c->cap > 65536 && c->start == c->end) {
		free(c->buf);
		c->buf = NULL;
		c->cap = c->start = c->end = 0;
	}
	cJSON_Delete(reply);
	cJSON_Delete(req);
	free(text);
	return r;
}

int ga_ping(struct ga_conn *c, int timeout_ms, struct ga_error *err)
{
	cJSON *ret;
	int r = ga_call(c, "guest-ping", NULL, timeout_ms, &ret, err);

	if (r < 0)
		return r;
	cJSON_Delete(ret);
	return 0;
}

static char *dup_name(const cJSON *s)
{
	if (!cJSON_IsString(s) || !s->valuestring[0] || strlen(s->valuestring) > GA_NAME_MAX)
		return NULL;
	return strdup(s->valuestring);
}

void ga_info_free(struct ga_info *info)
{
	size_t i;

	if (!info)
		return;
	for (i = 0; i < info->ncommands; i++)
		free(info->commands[i].name);
	free(info->commands);
	free(info->version);
	memset(info, 0, sizeof(*info));
}

int ga_info(struct ga_conn *c, int timeout_ms, struct ga_info *out, struct ga_error *err)
{
	struct ga_info info = { 0 };
	const cJSON *cmds, *cmd, *b;
	cJSON *ret;
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	r = ga_call(c, "guest-info", NULL, timeout_ms, &ret, err);
	if (r < 0)
		return r;
	r = -EPROTO;
	if (!cJSON_IsObject(ret))
		goto out;
	info.version = dup_name(cJSON_GetObjectItemCaseSensitive(ret, "version"));
	cmds = cJSON_GetObjectItemCaseSensitive(ret, "supported_commands");
	if (!info.version || !cJSON_IsArray(cmds))
		goto out;
	n = (size_t)cJSON_GetArraySize(cmds);
	if (n > GA_INFO_MAX_COMMANDS)
		goto out;
	info.commands = calloc(n ? n : 1, sizeof(*info.commands));
	if (!info.commands) {
		r = fail(err, -ENOMEM, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(cmd, cmds)
	{
		struct ga_command_info *ci = &info.commands[info.ncommands];

		if (!cJSON_IsObject(cmd))
			goto out;
		ci->name = dup_name(cJSON_GetObjectItemCaseSensitive(cmd, "name"));
		if (!ci->name)
			goto out;
		info.ncommands++;
		b = cJSON_GetObjectItemCaseSensitive(cmd, "enabled");
		if (!cJSON_IsBool(b))
			goto out;
		ci->enabled = cJSON_IsTrue(b);
		b = cJSON_GetObjectItemCaseSensitive(cmd, "success-response");
		if (b && !cJSON_IsBool(b))
			goto out;
		ci->success_response = !b || cJSON_IsTrue(b);
	}
	r = 0;
	*out = info;
	memset(&info, 0, sizeof(info));
out:
	if (r == -EPROTO)
		fail(err, r, "guest-info: malformed reply");
	ga_info_free(&info);
	cJSON_Delete(ret);
	return r;
}

static cJSON *string_array(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (; a && v && *v; v++) {
		if (!cJSON_AddItemToArray(a, cJSON_CreateString(*v))) {
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

int ga_exec_start(struct ga_conn *c, const struct ga_exec_request *req, int timeout_ms,
		  int64_t *pid, struct ga_error *err)
{
	cJSON *args, *ret = NULL;
	char *input = NULL;
	int r;

	if (!req->path || !*req->path)
		return fail(err, -EINVAL, "guest-exec: no path");
	args = cJSON_CreateObject();
	if (!args || !cJSON_AddStringToObject(args, "path", req->path))
		goto nomem;
	if (req->argv && !cJSON_AddItemToObject(args, "arg", string_array(req->argv)))
		goto nomem;
	if (req->env && !cJSON_AddItemToObject(args, "env", string_array(req->env)))
		goto nomem;
	if (req->input) {
		input = base64_encode(req->input, req->input_len);
		if (!input || !cJSON_AddStringToObject(args, "input-data", input))
			goto nomem;
	}
	if (!cJSON_AddBoolToObject(args, "capture-output", req->capture_output))
		goto nomem;
	r = ga_call(c, "guest-exec", args, timeout_ms, &ret, err);
	if (r == 0 &&
	    (!cJSON_IsObject(ret) ||
	     !json_int_value(cJSON_GetObjectItemCaseSensitive(ret, "pid"), 0, INT64_MAX, pid)))
		r = fail(err, -EPROTO, "guest-exec: reply without a valid pid");
	goto out;
nomem:
	r = fail(err, -ENOMEM, "out of memory");
out:
	cJSON_Delete(ret);
	cJSON_Delete(args);
	free(input);
	return r;
}

void ga_exec_status_free(struct ga_exec_status *st)
{
	if (!st)
		return;
	free(st->out);
	free(st->err);
	memset(st, 0, sizeof(*st));
}

/* An optional boolean member: false when absent. */
static bool opt_bool(const cJSON *obj, const char *key, bool *out)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = cJSON_IsTrue(b);
	return !b || cJSON_IsBool(b);
}

static bool opt_data(const cJSON *obj, const char *key, unsigned char **out, size_t *len)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!s)
		return true;
	if (!cJSON_IsString(s))
		return false;
	*out = base64_decode(s->valuestring, strlen(s->valuestring), len);
	return *out != NULL;
}

int ga_exec_status(struct ga_conn *c, int64_t pid, int timeout_ms, struct ga_exec_status *st,
		   struct ga_error *err)
{
	struct ga_exec_status s = { 0 };
	const char *why = "malformed reply";
	cJSON *args, *ret = NULL;
	int64_t v;
	const cJSON *item;
	int r;

	memset(st, 0, sizeof(*st));
	args = cJSON_CreateObject();
	if (!args || !cJSON_AddNumberToObject(args, "pid", (double)pid)) {
		cJSON_Delete(args);
		return fail(err, -ENOMEM, "out of memory");
	}
	r = ga_call(c, "guest-exec-status", args, timeout_ms, &ret, err);
	cJSON_Delete(args);
	if (r < 0)
		return r;
	r = -EPROTO;
	if (!cJSON_IsObject(ret))
		goto out;
	item = cJSON_GetObjectItemCaseSensitive(ret, "exited");
	if (!cJSON_IsBool(item))
		goto out;
	s.exited = cJSON_IsTrue(item);
	item = cJSON_GetObjectItemCaseSensitive(ret, "exitcode");
	if (item) {
		if (!json_int_value(item, INT_MIN, INT_MAX, &v))
			goto out;
		s.exitcode = (int)v;
	}
	item = cJSON_GetObjectItemCaseSensitive(ret, "signal");
	if (item) {
		if (!json_int_value(item, 0, 1024, &v))
			goto out;
		s.signal = (int)v;
	}
	if (!opt_bool(ret, "out-truncated", &s.out_truncated) ||
	    !opt_bool(ret, "err-truncated", &s.err_truncated))
		goto out;
	why = "bad base64 in out-data";
	if (!opt_data(ret, "out-data", &s.out, &s.out_len))
		goto out;
	why = "bad base64 in err-data";
	if (!opt_data(ret, "err-data", &s.err, &s.err_len))
		goto out;
	/* A process that exited has an exit code or a signal; a running one neither. */
	why = "exited without exitcode or signal";
	if (s.exited && !cJSON_GetObjectItemCaseSensitive(ret, "exitcode") && !s.signal)
		goto out;
	r = 0;
	*st = s;
	memset(&s, 0, sizeof(s));
out:
	if (r == -EPROTO)
		fail(err, r, "guest-exec-status: %s", why);
	ga_exec_status_free(&s);
	cJSON_Delete(ret);
	return r;
}

int ga_exec(struct ga_conn *c, const struct ga_exec_request *req, int timeout_ms,
	    struct ga_exec_status *st, struct ga_error *err)
{
	int64_t deadline = deadline_after(timeout_ms);
	int delay_ms = 5;
	int64_t pid;
	int r, left;

	memset(st, 0, sizeof(*st));
	r = ga_exec_start(c, req, timeout_ms, &pid, err);
	if (r < 0)
		return r;
	for (;;) {
		left = remaining_ms(deadline);
		r = ga_exec_status(c, pid, left, st, err);
		if (r == -ETIMEDOUT || (r == 0 && !st->exited && remaining_ms(deadline) == 0)) {
			ga_exec_status_free(st);
			/* The process may well be running on: say which one. */
			return fail(err, -ETIMEDOUT,
				    "guest-exec: process %lld did not finish within %d ms",
				    (long long)pid, timeout_ms);
		}
		if (r < 0 || st->exited)
			return r;
		ga_exec_status_free(st);
		left = remaining_ms(deadline);
		/* Short commands finish in milliseconds; long ones need not be polled hard. */
		usleep((useconds_t)(delay_ms < left ? delay_ms : left) * 1000);
		if (delay_ms < 200)
			delay_ms *= 2;
	}
}
