// SPDX-License-Identifier: Apache-2.0
/* lib/cri_log.c: timestamps, F and P tags, the 16 KiB split, "\r\n", partial flushes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lib/cri_log.h"

/* 2016-10-06T00:17:09.669794202Z, the example of the CRI log format's documentation. */
#define T0 (1475713029ULL * 1000000000ULL + 669794202ULL)

struct sink {
	char *buf;
	size_t len, records;
};

static void sink_emit(void *ctx, const char *rec, size_t len)
{
	struct sink *s = ctx;

	s->buf = realloc(s->buf, s->len + len + 1);
	assert_non_null(s->buf);
	memcpy(s->buf + s->len, rec, len);
	s->len += len;
	s->buf[s->len] = 0;
	s->records++;
}

static struct cri_log *new_log(struct sink *s)
{
	struct cri_log *l = malloc(sizeof(*l));

	assert_non_null(l);
	memset(s, 0, sizeof(*s));
	cri_log_init(l, sink_emit, s);
	return l;
}

static void timestamp(void **state)
{
	char t[CRI_LOG_TIME_LEN + 1] = { 0 };

	cri_log_timestamp(t, T0);
	assert_string_equal(t, "2016-10-06T00:17:09.669794202Z");
	/* Nine digits always, zeros included. */
	cri_log_timestamp(t, 1000000000ULL * 86400 * 366 + 5);
	assert_string_equal(t, "1971-01-02T00:00:00.000000005Z");
	cri_log_timestamp(t, 0);
	assert_string_equal(t, "1970-01-01T00:00:00.000000000Z");
	/* Leap days, centuries and the year 2000 agree with gmtime_r(). */
	for (uint64_t secs = 0; secs < 4102444800ULL; secs += 86400 * 7 + 3661) {
		time_t tt = (time_t)secs;
		struct tm tm;
		char want[64];

		gmtime_r(&tt, &tm);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S.000000042Z", &tm);
		cri_log_timestamp(t, secs * 1000000000ULL + 42);
		assert_string_equal(t, want);
	}
	cri_log_timestamp(t, 951782400ULL * 1000000000ULL); /* 2000-02-29 */
	assert_string_equal(t, "2000-02-29T00:00:00.000000000Z");
}

static void full_lines(void **state)
{
	struct sink s;
	struct cri_log *l = new_log(&s);

	cri_log_feed(l, "hello\nworld\n\n", 13, T0);
	assert_string_equal(s.buf, "2016-10-06T00:17:09.669794202Z stdout F hello\n"
				   "2016-10-06T00:17:09.669794202Z stdout F world\n"
				   "2016-10-06T00:17:09.669794202Z stdout F \n");
	assert_int_equal(s.records, 3);
	assert_false(cri_log_holding(l));
	free(s.buf);
	free(l);
}

static void crlf(void **state)
{
	struct sink s;
	struct cri_log *l = new_log(&s);

	/* "\r\n" ends a line, split over two calls too; a lone '\r' is content. */
	cri_log_feed(l, "a\r\nb\r", 5, T0);
	assert_true(cri_log_holding(l));
	cri_log_feed(l, "\nc\rd\n\r\r\n", 8, T0);
	assert_string_equal(s.buf, "2016-10-06T00:17:09.669794202Z stdout F a\n"
				   "2016-10-06T00:17:09.669794202Z stdout F b\n"
				   "2016-10-06T00:17:09.669794202Z stdout F c\rd\n"
				   "2016-10-06T00:17:09.669794202Z stdout F \r\n");
	free(s.buf);
	free(l);
}

static char *line_of(size_t n, char c)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	memset(p, c, n);
	p[n] = '\n';
	return p;
}

/* One record: its tag and content length; advances *p past it. */
static void expect_record(const char **p, char tag, size_t content)
{
	const char *nl;

	assert_int_equal((*p)[CRI_LOG_TIME_LEN + 8], tag);
	assert_memory_equal(*p + CRI_LOG_TIME_LEN, " stdout ", 8);
	nl = strchr(*p, '\n');
	assert_non_null(nl);
	assert_int_equal((size_t)(nl - *p) - CRI_LOG_HEAD_LEN, content);
	*p = nl + 1;
}

static void split_at_16k(void **state)
{
	struct sink s;
	struct cri_log *l = new_log(&s);
	char *exact = line_of(CRI_LOG_LINE_MAX, 'x'), *more = line_of(CRI_LOG_LINE_MAX + 1, 'y'),
	     *twice = line_of(2 * CRI_LOG_LINE_MAX + 3, 'z');
	const char *p;

	assert_int_equal(CRI_LOG_LINE_MAX, 16384);
	/* Exactly 16 KiB is one full line; one byte more is a P piece and an F piece. */
	cri_log_feed(l, exact, CRI_LOG_LINE_MAX + 1, T0);
	cri_log_feed(l, more, CRI_LOG_LINE_MAX + 2, T0);
	cri_log_feed(l, twice, 2 * CRI_LOG_LINE_MAX + 4, T0);
	/* 16 KiB followed by "\r\n": the '\r' is not content, so still one line. */
	cri_log_feed(l, exact, CRI_LOG_LINE_MAX, T0);
	cri_log_feed(l, "\r\n", 2, T0);
	p = s.buf;
	expect_record(&p, 'F', CRI_LOG_LINE_MAX);
	expect_record(&p, 'P', CRI_LOG_LINE_MAX);
	expect_record(&p, 'F', 1);
	expect_record(&p, 'P', CRI_LOG_LINE_MAX);
	expect_record(&p, 'P', CRI_LOG_LINE_MAX);
	expect_record(&p, 'F', 3);
	expect_record(&p, 'F', CRI_LOG_LINE_MAX);
	assert_int_equal(*p, 0);
	/* Content survives the cut byte for byte. */
	assert_int_equal(s.buf[CRI_LOG_HEAD_LEN], 'x');
	free(exact);
	free(more);
	free(twice);
	free(s.buf);
	free(l);
}

static void partial_flush(void **state)
{
	struct sink s;
	struct cri_log *l = new_log(&s);

	/* A prompt without newline shows up as a P piece, and the line goes on. */
	cri_log_feed(l, "login: ", 7, T0);
	assert_int_equal(s.records, 0);
	assert_true(cri_log_holding(l));
	cri_log_flush_partial(l, T0);
	assert_false(cri_log_holding(l));
	cri_log_flush_partial(l, T0); /* nothing held: nothing written */
	cri_log_feed(l, "root\n", 5, T0 + 1);
	assert_string_equal(s.buf, "2016-10-06T00:17:09.669794202Z stdout P login: \n"
				   "2016-10-06T00:17:09.669794203Z stdout F root\n");
	/* A held '\r' waits for its '\n', even across a flush. */
	free(s.buf);
	s.buf = NULL;
	s.len = s.records = 0;
	cri_log_feed(l, "x\r", 2, T0);
	cri_log_flush_partial(l, T0);
	cri_log_feed(l, "\n", 1, T0);
	assert_string_equal(s.buf, "2016-10-06T00:17:09.669794202Z stdout P x\n"
				   "2016-10-06T00:17:09.669794202Z stdout F \n");
	free(s.buf);
	free(l);
}

static void finish(void **state)
{
	struct sink s;
	struct cri_log *l = new_log(&s);

	cri_log_finish(l, T0);
	assert_int_equal(s.records, 0);
	/* The stream ends mid-line: the rest is the line's last piece. */
	cri_log_feed(l, "bye\r", 4, T0);
	cri_log_finish(l, T0);
	assert_string_equal(s.buf, "2016-10-06T00:17:09.669794202Z stdout F bye\r\n");
	assert_false(cri_log_holding(l));
	/* A line flushed as P pieces gets an empty F when the stream ends. */
	free(s.buf);
	s.buf = NULL;
	s.len = s.records = 0;
	cri_log_feed(l, "$ ", 2, T0);
	cri_log_flush_partial(l, T0);
	cri_log_finish(l, T0);
	cri_log_finish(l, T0); /* twice: nothing more */
	assert_string_equal(s.buf, "2016-10-06T00:17:09.669794202Z stdout P $ \n"
				   "2016-10-06T00:17:09.669794202Z stdout F \n");
	free(s.buf);
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(timestamp),	 cmocka_unit_test(full_lines),
		cmocka_unit_test(crlf),		 cmocka_unit_test(split_at_16k),
		cmocka_unit_test(partial_flush), cmocka_unit_test(finish),
	};

	return cmocka_run_group_tests_name("cri_log", tests, NULL, NULL);
}
