// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

/* The text format's historic bound on a line, newline excluded. */
#define LOG_TEXT_MAX 1023

/*
 * Process-wide by nature, like stderr. LOG_OFF - 1 means "not set": the
 * environment decides, and log_env_level caches what it said (LOG_OFF - 1
 * until read; reading twice in a race gives the same answer).
 */
static int log_level = LOG_OFF - 1;
static int log_env_level = LOG_OFF - 1;
static int log_format = LOG_FORMAT_TEXT;

static const char *const log_level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

void log_set_format(enum log_format format)
{
	__atomic_store_n(&log_format, (int)format, __ATOMIC_RELAXED);
}

static int log_current_level(void)
{
	int l = __atomic_load_n(&log_level, __ATOMIC_RELAXED);
	const char *v;

	if (l >= LOG_OFF)
		return l;
	l = __atomic_load_n(&log_env_level, __ATOMIC_RELAXED);
	if (l >= LOG_OFF)
		return l;
	v = getenv("KVMLET_DEBUG");
	l = v && *v && strcmp(v, "0") != 0 ? LOG_DEBUG : LOG_INFO;
	__atomic_store_n(&log_env_level, l, __ATOMIC_RELAXED);
	return l;
}

bool log_debug_enabled(void)
{
	return log_current_level() >= LOG_DEBUG;
}

/* ---- building one line ------------------------------------------------- */

struct log_line {
	char buf[LOG_LINE_MAX];
	size_t len;
	size_t max; /* of the line's text, leaving room for its newline */
};

/* Appends n bytes if they fit whole; a line is cut between pieces, never inside one. */
static bool line_put(struct log_line *l, const char *s, size_t n)
{
	if (n > l->max - l->len)
		return false;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	return true;
}

static void line_puts(struct log_line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

static bool logfmt_needs_quotes(const char *v)
{
	if (!*v)
		return true;
	for (; *v; v++)
		if ((unsigned char)*v <= ' ' || *v == '=' || *v == '"' || *v == '\\' || *v == 0x7f)
			return true;
	return false;
}

/*
 * A logfmt value: bare when it can be, else quoted with \" \\ \n \r \t and
 * \u00XX for other control bytes. The closing quote always fits: the room
 * for it is kept back while the value goes in.
 */
static bool line_put_value(struct log_line *l, const char *v)
{
	if (!logfmt_needs_quotes(v))
		return line_put(l, v, strlen(v));
	if (l->max - l->len < 2)
		return false;
	line_put(l, "\"", 1);
	l->max--;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		char esc[8];
		size_t n;

		if (c == '"' || c == '\\')
			n = (size_t)snprintf(esc, sizeof(esc), "\\%c", c);
		else if (c == '\n')
			n = (size_t)snprintf(esc, sizeof(esc), "\\n");
		else if (c == '\r')
			n = (size_t)snprintf(esc, sizeof(esc), "\\r");
		else if (c == '\t')
			n = (size_t)snprintf(esc, sizeof(esc), "\\t");
		else if (c < ' ' || c == 0x7f)
			n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", c);
		else
			esc[0] = (char)c, n = 1;
		if (!line_put(l, esc, n))
			break;
	}
	l->max++;
	return line_put(l, "\"", 1);
}

/* A key is a bare word: anything that would break the line's syntax becomes '_'. */
static bool line_put_key(struct log_line *l, const char *k)
{
	if (!line_put(l, " ", 1))
		return false;
	for (; *k; k++) {
		unsigned char c = (unsigned char)*k;
		char ch =
			c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f ? '_' : (char)c;

		if (!line_put(l, &ch, 1))
			return false;
	}
	return line_put(l, "=", 1);
}

/*
 * A key=value piece goes in whole or not at all (a quoted value may be cut inside its quotes);
 * the first that does not fit ends the line, so no later, shorter field follows a gap.
 */
static void line_put_fields(struct log_line *l, va_list ap)
{
	const char *k, *v;

	while ((k = va_arg(ap, const char *))) {
		size_t start = l->len;

		v = va_arg(ap, const char *);
		if (!line_put_key(l, k) || !line_put_value(l, v ? v : "")) {
			l->len = start;
			break;
		}
		if (!v)
			break;
	}
}

static void line_put_time(struct log_line *l)
{
	struct timespec ts;
	struct tm tm;
	char t[40];
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(t + n, sizeof(t) - n, ".%06ldZ", ts.tv_nsec / 1000);
	line_puts(l, t);
}

/* The start of a line, up to where the message goes (quoted in logfmt). */
static void line_start(struct log_line *l, enum log_level level, bool logfmt)
{
	static const char *const prefix[] = {
		[LOG_ERROR] = "error: ",
		[LOG_WARN] = "warning: ",
		[LOG_INFO] = "",
		[LOG_DEBUG] = "debug: ",
	};

	l->len = 0;
	l->max = (logfmt ? LOG_LINE_MAX : LOG_TEXT_MAX + 1) - 1;
	if (logfmt) {
		line_put_time(l);
		line_puts(l, " level=");
		line_puts(l, log_level_names[level]);
		line_puts(l, " msg=");
	} else {
		line_puts(l, program_invocation_short_name);
		line_puts(l, ": ");
		line_puts(l, prefix[level]);
	}
}

/* One write per line, so lines from several threads never interleave. */
static void line_write(struct log_line *l)
{
	size_t off = 0;
	ssize_t n;

	l->buf[l->len++] = '\n';
	while (off < l->len) {
		n = write(STDERR_FILENO, l->buf + off, l->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

static bool log_wanted(enum log_level level)
{
	return level >= LOG_ERROR && level <= LOG_DEBUG && (int)level <= log_current_level();
}

static bool log_logfmt(void)
{
	return __atomic_load_n(&log_format, __ATOMIC_RELAXED) == LOG_FORMAT_LOGFMT;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	bool logfmt = log_logfmt();
	struct log_line l;
	char msg[LOG_LINE_MAX];
	va_list ap;
	int n;

	if (!log_wanted(level))
		return;
	line_start(&l, level, logfmt);
	va_start(ap, fmt);
	if (logfmt) {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		line_put_value(&l, msg);
	} else {
		/* The text line is the message as printed, cut where the line ends. */
		n = vsnprintf(l.buf + l.len, l.max - l.len + 1, fmt, ap);
		if (n > 0)
			l.len += (size_t)n < l.max - l.len ? (size_t)n : l.max - l.len;
	}
	va_end(ap);
	line_write(&l);
}

void log_fields(enum log_level level, const char *msg, ...)
{
	bool logfmt = log_logfmt();
	struct log_line l;
	va_list ap;

	if (!log_wanted(level))
		return;
	line_start(&l, level, logfmt);
	if (logfmt)
		line_put_value(&l, msg);
	else
		line_puts(&l, msg);
	va_start(ap, msg);
	line_put_fields(&l, ap);
	va_end(ap);
	line_write(&l);
}
