/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI container log format that kubelet parses, from a byte stream:
 *
 *     2016-10-06T00:17:09.669794202Z stdout F hello world\n
 *
 * RFC 3339 time in UTC with nanoseconds, the stream, a tag and the content.
 * A line longer than CRI_LOG_LINE_MAX (containerd's
 * MaxContainerLogLineSize) is cut into pieces tagged P, the last one F;
 * kubelet joins them. "\r\n" ends a line like "\n"; a lone '\r' is content.
 *
 * Pure: no I/O, no clock. The caller passes the wall-clock time of each
 * call and gets each record, newline included, through emit(). A line is
 * held until it ends, fills a piece, or the caller flushes it as a partial
 * piece (a prompt without newline); later bytes continue the same line.
 *
 * Threading: none; one writer at a time.
 */
#ifndef KVMLET_CRI_LOG_H
#define KVMLET_CRI_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRI_LOG_LINE_MAX   16384
/* "2016-10-06T00:17:09.669794202Z stdout F " */
#define CRI_LOG_TIME_LEN   30
#define CRI_LOG_HEAD_LEN   (CRI_LOG_TIME_LEN + sizeof(" stdout F ") - 1)
#define CRI_LOG_RECORD_MAX (CRI_LOG_HEAD_LEN + CRI_LOG_LINE_MAX + 1)

typedef void (*cri_log_emit_fn)(void *ctx, const char *rec, size_t len);

struct cri_log {
	cri_log_emit_fn emit;
	void *ctx;
	size_t len;   /* content held, not yet emitted */
	bool cr;      /* the last byte was '\r': a line end if '\n' follows, else content */
	bool in_line; /* P pieces went out and the line's F has not */
	/* The record is built in place: header, then the content held, then '\n'. */
	char rec[CRI_LOG_RECORD_MAX];
};

void cri_log_init(struct cri_log *l, cri_log_emit_fn emit, void *ctx);
/* Takes n bytes of the stream; now_ns is CLOCK_REALTIME. */
void cri_log_feed(struct cri_log *l, const void *buf, size_t n, uint64_t now_ns);
/* Whether part of a line is held (content or a '\r' that may end it). */
bool cri_log_holding(const struct cri_log *l);
/* Emits the content held as a P piece; the line goes on with the next bytes. */
void cri_log_flush_partial(struct cri_log *l, uint64_t now_ns);
/* The stream ended: what is held becomes the line's last (F) piece, empty if need be. */
void cri_log_finish(struct cri_log *l, uint64_t now_ns);
/* Writes the CRI_LOG_TIME_LEN characters of now_ns's timestamp (no NUL). */
void cri_log_timestamp(char *out, uint64_t now_ns);

#endif
