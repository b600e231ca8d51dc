// SPDX-License-Identifier: Apache-2.0
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/prom.h"

#define NS_PER_SEC UINT64_C(1000000000)

/* One family's lines, gathered apart until prom_finish() joins them. */
struct prom_buf {
	const struct prom_family *fam;
	FILE *f;
	char *text;
	size_t len;
};

struct prom {
	struct prom_buf *buf;
	unsigned int nr, cap;
	bool failed; /* out of memory once: the result is NULL */
};

static const char *const prom_type_names[] = {
	[PROM_COUNTER] = "counter",
	[PROM_GAUGE] = "gauge",
};

struct prom *prom_new(void)
{
	return calloc(1, sizeof(struct prom));
}

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void prom_escape(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

static FILE *prom_open_family(struct prom *p, const struct prom_family *fam)
{
	struct prom_buf *b;

	if (p->nr == p->cap) {
		unsigned int cap = p->cap ? 2 * p->cap : 32;
		struct prom_buf *n = realloc(p->buf, cap * sizeof(*n));

		if (!n)
			return NULL;
		p->buf = n;
		p->cap = cap;
	}
	b = &p->buf[p->nr];
	*b = (struct prom_buf){ .fam = fam };
	b->f = open_memstream(&b->text, &b->len);
	if (!b->f)
		return NULL;
	p->nr++;
	fprintf(b->f, "# HELP %s ", fam->name);
	prom_escape(b->f, fam->help, false);
	fprintf(b->f, "\n# TYPE %s %s\n", fam->name, prom_type_names[fam->type]);
	return b->f;
}

/* Starts a sample line in its family's buffer; NULL once memory ran out. */
static FILE *prom_line(struct prom *p, const struct prom_family *fam, const char *const *labels)
{
	FILE *f = NULL;

	if (p->failed)
		return NULL;
	for (unsigned int i = 0; i < p->nr && !f; i++)
		if (p->buf[i].fam == fam)
			f = p->buf[i].f;
	if (!f)
		f = prom_open_family(p, fam);
	if (!f) {
		p->failed = true;
		return NULL;
	}
	fputs(fam->name, f);
	for (unsigned int i = 0; labels && labels[i]; i += 2) {
		fprintf(f, "%s%s=\"", i ? "," : "{", labels[i]);
		prom_escape(f, labels[i + 1], true);
		fputc('"', f);
		if (!labels[i + 2])
			fputc('}', f);
	}
	fputc(' ', f);
	return f;
}

void prom_u64(struct prom *p, const struct prom_family *fam, const char *const *labels, uint64_t v)
{
	FILE *f = prom_line(p, fam, labels);

	if (f)
		fprintf(f, "%" PRIu64 "\n", v);
}

void prom_seconds(struct prom *p, const struct prom_family *fam, const char *const *labels,
		  uint64_t ns)
{
	FILE *f = prom_line(p, fam, labels);

	if (f)
		fprintf(f, "%" PRIu64 ".%09" PRIu64 "\n", ns / NS_PER_SEC, ns % NS_PER_SEC);
}

char *prom_finish(struct prom *p, size_t *len)
{
	size_t total = 0, off = 0;
	char *out = NULL;
	bool bad = p->failed;

	/* A stream that ran out of memory says so here, and only here. */
	for (unsigned int i = 0; i < p->nr; i++) {
		bad |= ferror(p->buf[i].f) != 0;
		bad |= fclose(p->buf[i].f) != 0;
		total += p->buf[i].len;
	}
	if (!bad)
		out = malloc(total + 1);
	for (unsigned int i = 0; i < p->nr; i++) {
		if (out && p->buf[i].text)
			memcpy(out + off, p->buf[i].text, p->buf[i].len);
		off += p->buf[i].len;
		free(p->buf[i].text);
	}
	free(p->buf);
	free(p);
	if (!out)
		return NULL;
	out[total] = '\0';
	*len = total;
	return out;
}
