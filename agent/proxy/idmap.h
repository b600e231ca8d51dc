/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI proxy's ownership map: which runtime, kvmlet or the upstream
 * (containerd), owns a sandbox id, a container id, a pod uid or an image
 * name (docs/proxy.md). It lives in one file, <dir>/owners, rewritten
 * atomically (lib/replace_file.h) on every change, so it survives a crash
 * or a restart of the agent.
 *
 * The file is one entry a line, "<kind> <key> <owner> <parent>", with
 * parent "-" or the sandbox id a container or pod uid belongs to; removing
 * a sandbox forgets its children. A line that does not parse is skipped
 * with a warning naming it: the map is a cache of what the runtimes know,
 * and an id missing from it is found again by asking both (proxy.c).
 *
 * Threads: every function may be called from any thread; one lock
 * serialises changes and the file write they cause.
 */
#ifndef KVMLET_AGENT_PROXY_IDMAP_H
#define KVMLET_AGENT_PROXY_IDMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

enum proxy_owner {
	PROXY_NONE,
	PROXY_LOCAL,	/* kvmlet's own pods and images */
	PROXY_UPSTREAM, /* the upstream runtime's */
};

enum idmap_kind {
	IDMAP_SANDBOX,
	IDMAP_CONTAINER,
	IDMAP_POD,   /* a pod's metadata.uid, for PullImage's sandbox_config */
	IDMAP_IMAGE, /* an image name or id a pull answered */
	NR_IDMAP_KINDS,
};

/* Keys and parents are 1..IDMAP_KEY_MAX printable bytes without spaces. */
#define IDMAP_KEY_MAX 512
/* Entries at most: a full map refuses new ones (-ENOSPC) rather than grow without bound. */
#define IDMAP_MAX     65536

struct idmap;

/* Creates dir (0700) if missing and loads <dir>/owners if present. */
int idmap_open(struct idmap **out, const char *dir, struct err *err);
/* m may be NULL. */
void idmap_close(struct idmap *m);

enum proxy_owner idmap_get(struct idmap *m, enum idmap_kind kind, const char *key);
/*
 * Records key's owner (parent may be NULL) and writes the file. A key
 * already owned by the other runtime is -EEXIST (an id collision) unless
 * replace is set (image names: the last pull wins). -EINVAL for a bad key.
 */
int idmap_put(struct idmap *m, enum idmap_kind kind, const char *key, enum proxy_owner owner,
	      const char *parent, bool replace, struct err *err);
/* Forgets key and every entry whose parent it is; 0 if it was not there. */
int idmap_forget(struct idmap *m, enum idmap_kind kind, const char *key, struct err *err);
size_t idmap_count(struct idmap *m);

const char *proxy_owner_name(enum proxy_owner o);

#endif
