// SPDX-License-Identifier: Apache-2.0
/*
 * lib/log: the VMM's plain lines stay as they were; the logfmt lines of the
 * daemons carry an RFC 3339 UTC timestamp, quote what needs quoting and are
 * always exactly one line, written whole even when threads race.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/log.h"

#define THREADS		 8
#define LINES_PER_THREAD 400

/* stderr, redirected into a file for the length of one check. */
static int saved_stderr = -1;
static FILE *capture_file;

static void capture_begin(void)
{
	capture_file = tmpfile();
	assert_non_null(capture_file);
	/* O_APPEND: writes from several threads each land at the end, none over another. */
	assert_int_equal(fcntl(fileno(capture_file), F_SETFL, O_APPEND), 0);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Everything logged since capture_begin(); the caller frees it. */
static char *capture_end(size_t *len)
{
	long size;
	char *text;

	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	size = lseek(fileno(capture_file), 0, SEEK_END);
	assert_true(size >= 0);
	text = malloc((size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(pread(fileno(capture_file), text, (size_t)size, 0), size);
	text[size] = '\0';
	fclose(capture_file);
	if (len)
		*len = (size_t)size;
	return text;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/*
 * Runs first, before anything has logged: KVMLET_DEBUG is read once, so
 * changing it afterwards changes nothing.
 */
static void debug_env_is_read_once(void **state)
{
	setenv("KVMLET_DEBUG", "1", 1);
	assert_true(log_debug_enabled());
	setenv("KVMLET_DEBUG", "0", 1);
	assert_true(log_debug_enabled());
	unsetenv("KVMLET_DEBUG");
	assert_true(log_debug_enabled());
	/* An explicit level still wins. */
	log_set_level(LOG_INFO);
	assert_false(log_debug_enabled());
}

static void text_format_is_unchanged(void **state)
{
	char *out, want[2048], big[2000];

	log_set_level(LOG_INFO);
	capture_begin();
	log_error("disk %s: %d", "d0", -5);
	log_warn("careful");
	log_info("plain");
	log_debug("dropped at info");
	out = capture_end(NULL);
	snprintf(want, sizeof(want),
		 "%1$s: error: disk d0: -5\n%1$s: warning: careful\n%1$s: plain\n",
		 program_invocation_short_name);
	assert_string_equal(out, want);
	free(out);

	/* Long messages are cut to 1023 bytes and the newline, as they always were. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_begin();
	log_info("%s", big);
	out = capture_end(NULL);
	assert_int_equal(strlen(out), 1024);
	assert_int_equal(out[1023], '\n');
	free(out);

	log_set_level(LOG_OFF);
	capture_begin();
	log_error("not even errors");
	out = capture_end(NULL);
	assert_string_equal(out, "");
	free(out);
	log_set_level(LOG_INFO);
}

/* Checks "YYYY-MM-DDTHH:MM:SS.uuuuuuZ " within a few seconds of now; returns what follows. */
static const char *check_timestamp(const char *line)
{
	struct tm tm = { 0 };
	const char *rest = strptime(line, "%Y-%m-%dT%H:%M:%S", &tm);
	struct timespec ts;
	time_t t, now;

	assert_non_null(rest);
	assert_int_equal(rest - line, 19);
	assert_int_equal(rest[0], '.');
	for (int i = 1; i <= 6; i++)
		assert_true(rest[i] >= '0' && rest[i] <= '9');
	assert_memory_equal(rest + 7, "Z ", 2);
	t = timegm(&tm);
	/*
	 * time() reads a coarse clock that can lag the log's CLOCK_REALTIME
	 * across a second boundary; read the same clock, and allow its second.
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	now = ts.tv_sec;
	assert_true(t <= now && now - t < 10);
	return rest + 9;
}

static void logfmt_lines(void **state)
{
	char *out;

	log_set_format(LOG_FORMAT_LOGFMT);
	capture_begin();
	log_info("VM started");
	log_warn("bare");
	log_fields(LOG_ERROR, "pull failed", "image", "docker.io/x:1", "attempt", "3", NULL);
	log_debug("dropped");
	out = capture_end(NULL);
	log_set_format(LOG_FORMAT_TEXT);

	assert_int_equal(count_lines(out), 3);
	{
		char *l2 = strchr(out, '\n') + 1, *l3 = strchr(l2, '\n') + 1;

		l2[-1] = l3[-1] = '\0';
		assert_string_equal(check_timestamp(out), "level=info msg=\"VM started\"");
		assert_string_equal(check_timestamp(l2), "level=warn msg=bare");
		assert_string_equal(check_timestamp(l3), "level=error msg=\"pull failed\" "
							 "image=docker.io/x:1 attempt=3\n");
	}
	free(out);
}

static void logfmt_escaping(void **state)
{
	char *out;

	log_set_format(LOG_FORMAT_LOGFMT);
	capture_begin();
	log_fields(LOG_INFO, "a \"b\"\nc\\d", "key", "v w", "k=y", "x\ty\r", "empty", "", "ctl",
		   "\x01\x7f", "bad key\n", "é", "last", NULL);
	log_info("line one\nline two %s", "\n");
	out = capture_end(NULL);
	log_set_format(LOG_FORMAT_TEXT);

	assert_int_equal(count_lines(out), 2);
	*strchr(out, '\n') = '\0';
	assert_string_equal(check_timestamp(out),
			    "level=info msg=\"a \\\"b\\\"\\nc\\\\d\" key=\"v w\" k_y=\"x\\ty\\r\" "
			    "empty=\"\" ctl=\"\\u0001\\u007f\" bad_key_=é last=\"\"");
	assert_string_equal(check_timestamp(out + strlen(out) + 1),
			    "level=info msg=\"line one\\nline two \\n\"\n");
	free(out);
}

/* Every quoted value ends: escapes are skipped as pairs, bare quotes toggle. */
static bool quotes_closed(const char *line)
{
	bool quoted = false;

	for (; *line; line++) {
		if (quoted && *line == '\\' && line[1])
			line++;
		else if (*line == '"')
			quoted = !quoted;
	}
	return !quoted;
}

/* However long the value, the line is one line within LOG_LINE_MAX, its quote closed. */
static void logfmt_truncation(void **state)
{
	static char big[3 * LOG_LINE_MAX];
	size_t len;
	char *out;

	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = "ab\n\""[i % 4];
	big[sizeof(big) - 1] = '\0';
	log_set_format(LOG_FORMAT_LOGFMT);
	for (size_t cut = 0; cut < 40; cut++) {
		capture_begin();
		/* Shift where the limit falls across every kind of escape. */
		log_fields(LOG_INFO, big + sizeof(big) - LOG_LINE_MAX + cut, "k", big, NULL);
		log_fields(LOG_INFO, "m", "k", big + cut, NULL);
		out = capture_end(&len);
		assert_int_equal(count_lines(out), 2);
		for (char *line = out, *end; *line; line = end + 1) {
			end = strchr(line, '\n');
			assert_true(end - line + 1 <= LOG_LINE_MAX);
			assert_int_equal(end[-1], '"');
			*end = '\0';
			check_timestamp(line);
			assert_true(quotes_closed(line));
		}
		free(out);
	}
	log_set_format(LOG_FORMAT_TEXT);
}

/* Where the line fills up, a key=value piece is dropped whole: never a key without its value. */
static void logfmt_pieces_whole(void **state)
{
	static char pad[LOG_LINE_MAX];
	static const char key[] = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
	char *out;

	log_set_format(LOG_FORMAT_LOGFMT);
	for (size_t n = LOG_LINE_MAX - 120; n < LOG_LINE_MAX - 40; n++) {
		memset(pad, 'p', n);
		pad[n] = '\0';
		capture_begin();
		log_fields(LOG_INFO, "m", "pad", pad, key, "v", NULL);
		log_fields(LOG_INFO, "m", "pad", pad, key, "v v", NULL);
		out = capture_end(NULL);
		assert_int_equal(count_lines(out), 2);
		for (char *line = out, *end, *k; *line; line = end + 1) {
			end = strchr(line, '\n');
			*end = '\0';
			assert_true(end - line + 1 <= LOG_LINE_MAX);
			/* A quoted value may be cut inside its quotes, as a message is; a key never. */
			k = strstr(line, " k");
			if (k && strcmp(k + 1, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkk=v") &&
			    (strncmp(k + 1, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkk=\"", sizeof(key) + 1) ||
			     end[-1] != '"' || end - k < (long)sizeof(key) + 3))
				fail_msg("a piece cut short: '%s'", k + 1);
		}
		free(out);
	}
	log_set_format(LOG_FORMAT_TEXT);
}

static void *writer(void *arg)
{
	char id[16], n[16], pad[300];

	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	pad[100] = '\n';
	snprintf(id, sizeof(id), "%d", (int)(intptr_t)arg);
	for (int i = 0; i < LINES_PER_THREAD; i++) {
		snprintf(n, sizeof(n), "%d", i);
		log_fields(LOG_INFO, "tick", "thread", id, "n", n, "pad", pad, NULL);
	}
	return NULL;
}

static void threads_write_whole_lines(void **state)
{
	static bool seen[THREADS][LINES_PER_THREAD];
	pthread_t t[THREADS];
	size_t lines = 0;
	char *out, *line, *end;

	log_set_format(LOG_FORMAT_LOGFMT);
	capture_begin();
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	out = capture_end(NULL);
	log_set_format(LOG_FORMAT_TEXT);

	for (line = out; *line; line = end + 1) {
		int id, n, used = 0;
		const char *rest;

		end = strchr(line, '\n');
		assert_non_null(end);
		*end = '\0';
		rest = check_timestamp(line);
		if (sscanf(rest, "level=info msg=tick thread=%d n=%d pad=\"%n", &id, &n, &used) !=
			    2 ||
		    !used)
			fail_msg("torn line: %.80s", line);
		assert_true(id >= 0 && id < THREADS && n >= 0 && n < LINES_PER_THREAD);
		assert_false(seen[id][n]);
		seen[id][n] = true;
		assert_int_equal(strlen(rest + used), 299 + 1 + 1); /* 299 bytes, '\n' as 2, '"' */
		lines++;
	}
	assert_int_equal(lines, THREADS * LINES_PER_THREAD);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(debug_env_is_read_once),
		cmocka_unit_test(text_format_is_unchanged),
		cmocka_unit_test(logfmt_lines),
		cmocka_unit_test(logfmt_escaping),
		cmocka_unit_test(logfmt_truncation),
		cmocka_unit_test(logfmt_pieces_whole),
		cmocka_unit_test(threads_write_whole_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
