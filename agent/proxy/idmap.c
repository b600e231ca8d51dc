// SPDX-License-Identifier: Apache-2.0
/* The proxy's persistent ownership map (idmap.h). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/proxy/idmap.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"
#include "lib/replace_file.h"

#define FILE_NAME "owners"
#define HEADER	  "# kvmlet CRI proxy owners v1: kind key owner parent\n"

struct entry {
	enum idmap_kind kind;
	enum proxy_owner owner;
	char *key;
	char *parent; /* NULL: none */
};

struct idmap {
	pthread_mutex_t lock;
	char path[PATH_MAX];
	struct entry *e;
	size_t n, cap;
};

static const char *const kind_names[NR_IDMAP_KINDS] = {
	[IDMAP_SANDBOX] = "sandbox",
	[IDMAP_CONTAINER] = "container",
	[IDMAP_POD] = "pod",
	[IDMAP_IMAGE] = "image",
};

static const char *const owner_names[] = {
	[PROXY_NONE] = "none",
	[PROXY_LOCAL] = "kvmlet",
	[PROXY_UPSTREAM] = "upstream",
};

const char *proxy_owner_name(enum proxy_owner o)
{
	return (unsigned int)o < sizeof(owner_names) / sizeof(owner_names[0]) ? owner_names[o]
									      : "?";
}

static bool key_ok(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++)
		if (s[n] <= ' ' || s[n] == 0x7f)
			return false;
	return n && n <= IDMAP_KEY_MAX;
}

static struct entry *find(struct idmap *m, enum idmap_kind kind, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].kind == kind && !strcmp(m->e[i].key, key))
			return &m->e[i];
	return NULL;
}

static void entry_free(struct entry *e)
{
	free(e->key);
	free(e->parent);
}

static int add(struct idmap *m, enum idmap_kind kind, const char *key, enum proxy_owner owner,
	       const char *parent)
{
	struct entry *e;

	if (m->n == IDMAP_MAX)
		return -ENOSPC;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct entry *ne = realloc(m->e, cap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		m->e = ne;
		m->cap = cap;
	}
	e = &m->e[m->n];
	e->kind = kind;
	e->owner = owner;
	e->key = strdup(key);
	e->parent = parent ? strdup(parent) : NULL;
	if (!e->key || (parent && !e->parent)) {
		entry_free(e);
		return -ENOMEM;
	}
	m->n++;
	return 0;
}

/* The whole map to its file; the caller holds the lock. */
static int save(struct idmap *m, struct err *err)
{
	struct replace_file f;
	FILE *out;
	int r, fd;

	r = replace_file_open(&f, m->path, "proxy owner map", err);
	if (r)
		return r;
	fd = dup(f.fd);
	out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		if (fd >= 0)
			close(fd);
		replace_file_abort(&f);
		return err_set(err, -ENOMEM, "proxy owner map %s: cannot write", m->path);
	}
	fputs(HEADER, out);
	for (size_t i = 0; i < m->n; i++)
		fprintf(out, "%s %s %s %s\n", kind_names[m->e[i].kind], m->e[i].key,
			owner_names[m->e[i].owner], m->e[i].parent ? m->e[i].parent : "-");
	if (fclose(out)) {
		replace_file_abort(&f);
		return err_set(err, -EIO, "proxy owner map %s: write error", m->path);
	}
	return replace_file_commit(&f, err);
}

static int parse_kind(const char *s)
{
	for (int i = 0; i < NR_IDMAP_KINDS; i++)
		if (!strcmp(s, kind_names[i]))
			return i;
	return -1;
}

static enum proxy_owner parse_owner(const char *s)
{
	if (!strcmp(s, owner_names[PROXY_LOCAL]))
		return PROXY_LOCAL;
	if (!strcmp(s, owner_names[PROXY_UPSTREAM]))
		return PROXY_UPSTREAM;
	return PROXY_NONE;
}

/* One line; false if it is not an entry (the caller warns and skips it). */
static bool load_line(struct idmap *m, char *line, int *r)
{
	char *save = NULL, *kind, *key, *owner, *parent;
	enum proxy_owner o;
	int k;

	kind = strtok_r(line, " ", &save);
	key = strtok_r(NULL, " ", &save);
	owner = strtok_r(NULL, " ", &save);
	parent = strtok_r(NULL, " ", &save);
	if (!parent || strtok_r(NULL, " ", &save))
		return false;
	k = parse_kind(kind);
	o = parse_owner(owner);
	if (k < 0 || o == PROXY_NONE || !key_ok(key) || !key_ok(parent) ||
	    find(m, (enum idmap_kind)k, key))
		return false;
	*r = add(m, (enum idmap_kind)k, key, o, strcmp(parent, "-") ? parent : NULL);
	return true;
}

static int load(struct idmap *m, struct err *err)
{
	FILE *f = fopen(m->path, "re");
	char line[3 * IDMAP_KEY_MAX];
	unsigned int lineno = 0, bad = 0;
	int r = 0;

	if (!f)
		return errno == ENOENT ? 0 : err_set(err, -errno, "%s: %m", m->path);
	while (!r && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f)) { /* longer than any entry: skip the rest of it */
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			line[0] = '\0';
			len = 0;
			bad++;
			continue;
		}
		if (!len || line[0] == '#')
			continue;
		if (!load_line(m, line, &r)) {
			if (!bad++)
				log_warn("proxy owner map %s:%u: not an entry; skipped", m->path,
					 lineno);
		}
	}
	fclose(f);
	if (bad > 1)
		log_warn("proxy owner map %s: %u lines skipped", m->path, bad);
	if (r)
		return err_set(err, r, "proxy owner map %s: %s", m->path, strerror(-r));
	return 0;
}

int idmap_open(struct idmap **out, const char *dir, struct err *err)
{
	struct idmap *m;
	int r;

	*out = NULL;
	r = mkdir_p(dir, 0700);
	if (r)
		return err_set(err, r, "proxy state %s: cannot create it: %s", dir, strerror(-r));
	m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(err, -ENOMEM, "out of memory");
	if (snprintf(m->path, sizeof(m->path), "%s/" FILE_NAME, dir) >= (int)sizeof(m->path)) {
		free(m);
		return err_set(err, -ENAMETOOLONG, "proxy state %s: too long", dir);
	}
	pthread_mutex_init(&m->lock, NULL);
	r = load(m, err);
	if (r) {
		idmap_close(m);
		return r;
	}
	*out = m;
	return 0;
}

void idmap_close(struct idmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		entry_free(&m->e[i]);
	free(m->e);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

enum proxy_owner idmap_get(struct idmap *m, enum idmap_kind kind, const char *key)
{
	enum proxy_owner o = PROXY_NONE;
	struct entry *e;

	if (!key_ok(key))
		return PROXY_NONE;
	pthread_mutex_lock(&m->lock);
	e = find(m, kind, key);
	if (e)
		o = e->owner;
	pthread_mutex_unlock(&m->lock);
	return o;
}

int idmap_put(struct idmap *m, enum idmap_kind kind, const char *key, enum proxy_owner owner,
	      const char *parent, bool replace, struct err *err)
{
	struct entry *e;
	int r = 0;

	if (!key_ok(key) || (parent && !key_ok(parent)) ||
	    (owner != PROXY_LOCAL && owner != PROXY_UPSTREAM) ||
	    (unsigned int)kind >= NR_IDMAP_KINDS)
		return err_set(err, -EINVAL, "proxy owner map: bad entry");
	pthread_mutex_lock(&m->lock);
	e = find(m, kind, key);
	if (e && e->owner == owner) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	if (e && !replace) {
		r = err_set(err, -EEXIST, "%s %s is already %s's", kind_names[kind], key,
			    owner_names[e->owner]);
	} else if (e) {
		e->owner = owner;
		r = save(m, err);
	} else {
		r = add(m, kind, key, owner, parent);
		if (r)
			err_set(err, r, "proxy owner map: %s", strerror(-r));
		else
			r = save(m, err);
	}
	pthread_mutex_unlock(&m->lock);
	return r;
}

int idmap_forget(struct idmap *m, enum idmap_kind kind, const char *key, struct err *err)
{
	size_t j = 0, before;
	int r = 0;

	if (!key_ok(key))
		return 0;
	pthread_mutex_lock(&m->lock);
	before = m->n;
	for (size_t i = 0; i < m->n; i++) {
		struct entry *e = &m->e[i];
		bool gone = (e->kind == kind && !strcmp(e->key, key)) ||
			    (kind == IDMAP_SANDBOX && e->parent && !strcmp(e->parent, key));

		if (gone)
			entry_free(e);
		else
			m->e[j++] = *e;
	}
	m->n = j;
	if (m->n != before)
		r = save(m, err);
	pthread_mutex_unlock(&m->lock);
	return r;
}

size_t idmap_count(struct idmap *m)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->n;
	pthread_mutex_unlock(&m->lock);
	return n;
}
