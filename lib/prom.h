/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A writer for the Prometheus text exposition format 0.0.4, shared by the
 * VMM, the node agent and the controller.
 *
 * Samples may arrive in any order: each family's lines are kept together,
 * families appear in the order of their first sample, and a family without
 * samples leaves nothing behind (no HELP or TYPE line). Families are told
 * apart by their descriptor's address, so describe each one once, static.
 *
 * Threads: a struct prom belongs to one thread; nothing is shared.
 */
#ifndef KVMLET_LIB_PROM_H
#define KVMLET_LIB_PROM_H

#include <stddef.h>
#include <stdint.h>

enum prom_type {
	PROM_COUNTER,
	PROM_GAUGE,
};

struct prom_family {
	const char *name;
	const char *help;
	enum prom_type type;
};

struct prom;

/* Label lists are name/value pairs ending in NULL; NULL means no labels. */
#define PROM_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* NULL without memory. */
struct prom *prom_new(void);
void prom_u64(struct prom *p, const struct prom_family *fam, const char *const *labels, uint64_t v);
/* Nanoseconds written as exact decimal seconds: a double would round them. */
void prom_seconds(struct prom *p, const struct prom_family *fam, const char *const *labels,
		  uint64_t ns);
/*
 * Frees p and returns the text (malloc'd, NUL-terminated, its length in
 * *len), or NULL if memory ran out at any point.
 */
char *prom_finish(struct prom *p, size_t *len);

#endif
