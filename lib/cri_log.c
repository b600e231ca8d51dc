// SPDX-License-Identifier: Apache-2.0
#include <string.h>
#include <time.h>

#include "lib/cri_log.h"

#define NS_PER_SEC 1000000000ULL

void cri_log_init(struct cri_log *l, cri_log_emit_fn emit, void *ctx)
{
	l->emit = emit;
	l->ctx = ctx;
	l->len = 0;
	l->cr = false;
	l->in_line = false;
}

static void put_digits(char *out, unsigned long v, int n)
{
	while (n-- > 0) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void cri_log_timestamp(char *out, uint64_t now_ns)
{
	time_t secs = (time_t)(now_ns / NS_PER_SEC);
	struct tm tm;

	/* gmtime_r reads no time zone file: safe under the VMM's seccomp filter. */
	if (!gmtime_r(&secs, &tm))
		memset(&tm, 0, sizeof(tm)); /* past year 2^31: cannot come from a clock */
	put_digits(out, (unsigned long)tm.tm_year + 1900, 4);
	out[4] = '-';
	put_digits(out + 5, (unsigned long)tm.tm_mon + 1, 2);
	out[7] = '-';
	put_digits(out + 8, (unsigned long)tm.tm_mday, 2);
	out[10] = 'T';
	put_digits(out + 11, (unsigned long)tm.tm_hour, 2);
	out[13] = ':';
	put_digits(out + 14, (unsigned long)tm.tm_min, 2);
	out[16] = ':';
	put_digits(out + 17, (unsigned long)tm.tm_sec, 2);
	out[19] = '.';
	/* Always nine digits, as containerd writes them (Go's RFC3339Nano would trim zeros). */
	put_digits(out + 20, (unsigned long)(now_ns % NS_PER_SEC), 9);
	out[29] = 'Z';
}

static void emit(struct cri_log *l, char tag, uint64_t now_ns)
{
	char *r = l->rec;

	cri_log_timestamp(r, now_ns);
	memcpy(r + CRI_LOG_TIME_LEN, " stdout ", 8);
	r[CRI_LOG_TIME_LEN + 8] = tag;
	r[CRI_LOG_TIME_LEN + 9] = ' ';
	r[CRI_LOG_HEAD_LEN + l->len] = '\n';
	l->emit(l->ctx, r, CRI_LOG_HEAD_LEN + l->len + 1);
	l->len = 0;
	l->in_line = tag == 'P';
}

static void put_content(struct cri_log *l, char c, uint64_t now_ns)
{
	/* A full piece is only cut once more content shows the line goes on. */
	if (l->len == CRI_LOG_LINE_MAX)
		emit(l, 'P', now_ns);
	l->rec[CRI_LOG_HEAD_LEN + l->len++] = c;
}

void cri_log_feed(struct cri_log *l, const void *buf, size_t n, uint64_t now_ns)
{
	const char *p = buf;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '\n') {
			l->cr = false;
			emit(l, 'F', now_ns);
			continue;
		}
		if (l->cr) {
			l->cr = false;
			put_content(l, '\r', now_ns);
		}
		if (c == '\r')
			l->cr = true;
		else
			put_content(l, c, now_ns);
	}
}

bool cri_log_holding(const struct cri_log *l)
{
	return l->len || l->cr;
}

void cri_log_flush_partial(struct cri_log *l, uint64_t now_ns)
{
	/* A held '\r' stays: a '\n' may still make it a line end. */
	if (l->len)
		emit(l, 'P', now_ns);
}

void cri_log_finish(struct cri_log *l, uint64_t now_ns)
{
	if (l->cr) {
		l->cr = false;
		put_content(l, '\r', now_ns);
	}
	/* A line cut into P pieces gets its F, even an empty one: kubelet waits for it. */
	if (l->len || l->in_line)
		emit(l, 'F', now_ns);
}
