// SPDX-License-Identifier: Apache-2.0
#include <string.h>

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

/*
 * Days since 1970-01-01 to a proleptic Gregorian date, in 400-year eras
 * starting on March 1st (so the leap day ends a year). Arithmetic rather
 * than gmtime_r(), whose first call loads the time zone (a file, a lock)
 * on the VMM's main loop.
 */
static void civil_from_days(uint64_t days, unsigned long *y, unsigned int *m, unsigned int *d)
{
	uint64_t z = days + 719468; /* days from 0000-03-01 */
	uint64_t era = z / 146097, doe = z % 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	uint64_t mp = (5 * doy + 2) / 153;

	*d = (unsigned int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (unsigned long)(yoe + era * 400 + (*m <= 2));
}

void cri_log_timestamp(char *out, uint64_t now_ns)
{
	uint64_t secs = now_ns / NS_PER_SEC, sod = secs % 86400;
	unsigned int month, day;
	unsigned long year;

	civil_from_days(secs / 86400, &year, &month, &day);
	put_digits(out, year, 4);
	out[4] = '-';
	put_digits(out + 5, month, 2);
	out[7] = '-';
	put_digits(out + 8, day, 2);
	out[10] = 'T';
	put_digits(out + 11, (unsigned long)(sod / 3600), 2);
	out[13] = ':';
	put_digits(out + 14, (unsigned long)(sod / 60 % 60), 2);
	out[16] = ':';
	put_digits(out + 17, (unsigned long)(sod % 60), 2);
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
