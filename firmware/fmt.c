// SPDX-License-Identifier: Apache-2.0
#include <stdbool.h>
#include <stdint.h>
#include "fmt.h"
#include "libc.h"

struct fmt_spec {
	bool left;
	bool zero;
	int width;
	int precision; /* -1: none */
	int length;    /* number of 'l' (a 'z' counts as one) */
};

struct fmt_out {
	fmt_emit_fn emit;
	void *ctx;
	size_t count;
};

static void out_put(struct fmt_out *o, const char *s, size_t n)
{
	if (!n)
		return;
	o->emit(o->ctx, s, n);
	o->count += n;
}

static void out_pad(struct fmt_out *o, char c, int n)
{
	for (; n > 0; n--)
		out_put(o, &c, 1);
}

/* Emits prefix (sign or "0x") and body, padded as the spec asks. */
static void out_field(struct fmt_out *o, const struct fmt_spec *sp, const char *prefix,
		      const char *body, size_t len)
{
	size_t plen = strlen(prefix);
	int pad = sp->width - (int)(plen + len);

	if (!sp->left && !sp->zero)
		out_pad(o, ' ', pad);
	out_put(o, prefix, plen);
	if (!sp->left && sp->zero)
		out_pad(o, '0', pad);
	out_put(o, body, len);
	if (sp->left)
		out_pad(o, ' ', pad);
}

/* Writes the digits right-aligned into buf[0..24) and returns where they start. */
static char *utoa(unsigned long long v, unsigned int base, bool upper, char *end)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;

	do {
		*--p = digits[v % base];
		v /= base;
	} while (v);
	return p;
}

static unsigned long long arg_unsigned(va_list *ap, int length)
{
	if (length >= 2)
		return va_arg(*ap, unsigned long long);
	if (length == 1)
		return va_arg(*ap, unsigned long);
	return va_arg(*ap, unsigned int);
}

static long long arg_signed(va_list *ap, int length)
{
	if (length >= 2)
		return va_arg(*ap, long long);
	if (length == 1)
		return va_arg(*ap, long);
	return va_arg(*ap, int);
}

static const char *parse_spec(const char *f, struct fmt_spec *sp, va_list *ap)
{
	*sp = (struct fmt_spec){ .precision = -1 };
	for (;; f++) {
		if (*f == '-')
			sp->left = true;
		else if (*f == '0')
			sp->zero = true;
		else
			break;
	}
	if (*f == '*') {
		sp->width = va_arg(*ap, int);
		f++;
	}
	while (*f >= '0' && *f <= '9')
		sp->width = sp->width * 10 + (*f++ - '0');
	if (*f == '.') {
		f++;
		sp->precision = 0;
		if (*f == '*') {
			sp->precision = va_arg(*ap, int);
			f++;
		}
		while (*f >= '0' && *f <= '9')
			sp->precision = sp->precision * 10 + (*f++ - '0');
	}
	for (;; f++) {
		if (*f == 'l' || *f == 'z')
			sp->length++;
		else
			break;
	}
	return f;
}

size_t fmt_vformat(fmt_emit_fn emit, void *ctx, const char *fmt, va_list ap_in)
{
	struct fmt_out o = { .emit = emit, .ctx = ctx };
	struct fmt_spec sp;
	char buf[24], *end = buf + sizeof(buf);
	va_list ap;

	va_copy(ap, ap_in);
	while (*fmt) {
		const char *lit = fmt;

		while (*fmt && *fmt != '%')
			fmt++;
		out_put(&o, lit, fmt - lit);
		if (!*fmt)
			break;
		fmt = parse_spec(fmt + 1, &sp, &ap);

		switch (*fmt) {
		case 'c':
			buf[0] = (char)va_arg(ap, int);
			out_field(&o, &sp, "", buf, 1);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);

			if (!s)
				s = "(null)";
			out_field(&o, &sp, "", s,
				  sp.precision >= 0 ? strnlen(s, sp.precision) : strlen(s));
			break;
		}
		case 'd':
		case 'i': {
			long long v = arg_signed(&ap, sp.length);
			unsigned long long u =
				v < 0 ? -(unsigned long long)v : (unsigned long long)v;
			char *p = utoa(u, 10, false, end);

			out_field(&o, &sp, v < 0 ? "-" : "", p, end - p);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			unsigned long long u = arg_unsigned(&ap, sp.length);
			char *p = utoa(u, *fmt == 'u' ? 10 : 16, *fmt == 'X', end);

			out_field(&o, &sp, "", p, end - p);
			break;
		}
		case 'p': {
			char *p = utoa((uintptr_t)va_arg(ap, void *), 16, false, end);

			out_field(&o, &sp, "0x", p, end - p);
			break;
		}
		case '%':
			out_put(&o, "%", 1);
			break;
		case '\0':
			fmt--; /* a lone '%' at the end: stop */
			break;
		default:
			out_put(&o, "%", 1);
			out_put(&o, fmt, 1);
			break;
		}
		fmt++;
	}
	va_end(ap);
	return o.count;
}

struct buf_sink {
	char *buf;
	size_t size;
	size_t used;
};

static void buf_emit(void *ctx, const char *s, size_t n)
{
	struct buf_sink *b = ctx;

	for (; n; n--, s++)
		if (b->used + 1 < b->size)
			b->buf[b->used++] = *s;
}

size_t fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	struct buf_sink b = { .buf = buf, .size = size };
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = fmt_vformat(buf_emit, &b, fmt, ap);
	va_end(ap);
	if (size)
		buf[b.used] = '\0';
	return n;
}
