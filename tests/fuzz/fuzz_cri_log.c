// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: any console stream, cut into chunks at any points with
 * part-line flushes in between, gives well-formed CRI records whose
 * contents, joined (F adds the newline), are the stream with "\r\n" as
 * "\n". The first byte picks the chunk sizes.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdlib.h>
#include <string.h>

#include "lib/cri_log.h"

struct joined {
	char *buf;
	size_t len;
};

static void check_record(void *ctx, const char *rec, size_t len)
{
	struct joined *j = ctx;
	size_t content;

	if (len < CRI_LOG_HEAD_LEN + 1 || len > CRI_LOG_RECORD_MAX || rec[len - 1] != '\n' ||
	    memcmp(rec + CRI_LOG_TIME_LEN, " stdout ", 8) || rec[CRI_LOG_TIME_LEN - 1] != 'Z' ||
	    (rec[CRI_LOG_TIME_LEN + 8] != 'F' && rec[CRI_LOG_TIME_LEN + 8] != 'P') ||
	    rec[CRI_LOG_HEAD_LEN - 1] != ' ')
		__builtin_trap();
	content = len - CRI_LOG_HEAD_LEN - 1;
	if (content > CRI_LOG_LINE_MAX || memchr(rec + CRI_LOG_HEAD_LEN, '\n', content))
		__builtin_trap();
	memcpy(j->buf + j->len, rec + CRI_LOG_HEAD_LEN, content);
	j->len += content;
	if (rec[CRI_LOG_TIME_LEN + 8] == 'F')
		j->buf[j->len++] = '\n';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cri_log log;
	struct joined j;
	char *want;
	size_t n = 0, step;

	if (!size)
		return 0;
	step = 1 + data[0] % 97;
	data++;
	size--;
	/* Records carry at most the input plus one newline per byte. */
	j = (struct joined){ malloc(2 * size + 2), 0 };
	want = malloc(size + 2);
	if (!j.buf || !want)
		abort();
	cri_log_init(&log, check_record, &j);
	for (size_t off = 0; off < size; off += step) {
		size_t k = size - off < step ? size - off : step;

		cri_log_feed(&log, data + off, k, 1000000000ULL * off);
		if (data[off] & 1)
			cri_log_flush_partial(&log, 0);
	}
	cri_log_finish(&log, UINT64_MAX);
	for (size_t i = 0; i < size; i++)
		if (!(data[i] == '\r' && i + 1 < size && data[i + 1] == '\n'))
			want[n++] = (char)data[i];
	if (n && want[n - 1] != '\n')
		want[n++] = '\n';
	if (j.len != n || memcmp(j.buf, want, n))
		__builtin_trap();
	free(want);
	free(j.buf);
	return 0;
}
