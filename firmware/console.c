// SPDX-License-Identifier: Apache-2.0
#include <stdarg.h>
#include "console.h"
#include "fmt.h"
#include "spinlock.h"
#include "uart.h"

static struct spinlock lock;

/* Batches formatter output so that the UART sees whole FIFO bursts. */
struct stage {
	char buf[64];
	size_t used;
};

static void stage_flush(struct stage *st)
{
	uart_write(st->buf, st->used);
	st->used = 0;
}

static void stage_emit(void *ctx, const char *s, size_t n)
{
	struct stage *st = ctx;

	for (; n; n--) {
		if (st->used == sizeof(st->buf))
			stage_flush(st);
		st->buf[st->used++] = *s++;
	}
}

void cons_printf(const char *fmt, ...)
{
	struct stage st = { .used = 0 };
	va_list ap;

	va_start(ap, fmt);
	spin_lock(&lock);
	fmt_vformat(stage_emit, &st, fmt, ap);
	stage_flush(&st);
	spin_unlock(&lock);
	va_end(ap);
}

void cons_lock(void)
{
	spin_lock(&lock);
}

void cons_unlock(void)
{
	spin_unlock(&lock);
}

void cons_break_lock(void)
{
	spin_unlock(&lock);
}
