/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The on-disk form of sandboxes and containers (docs/cri.md,
 * "Persistence"), one directory per record under a parent
 * (<agent root>/pods/sandboxes, <agent root>/pods/containers):
 *
 *   <id>/config.pb    the CRI config, packed protobuf, as kubelet sent it
 *   <id>/state.json   the runtime fields (record_state below)
 *   .new-<id>/        a record being created: never loaded, rolled back
 *   .del-<id>/        a record being removed: the removal is finished
 *
 * A record is written whole in .new-<id> and renamed into place once what
 * it stands for exists (the netns, the VM), so a crash in the middle of a
 * create leaves a .new- directory and never a half record; removal renames
 * it to .del- first, so a crash never brings a half-removed record back.
 * state.json is replaced atomically (lib/replace_file.h) on each change;
 * each rename is made durable with its directory.
 *
 * Threads: any; callers serialise the writes of one record.
 */
#ifndef KVMLET_AGENT_POD_RECORD_H
#define KVMLET_AGENT_POD_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "agent/pod/id.h"
#include "lib/err.h"

#define RECORD_STR_MAX 4096

/* The runtime fields of either kind of record; those a kind lacks stay 0 or "". */
struct record_state {
	char state[32];				     /* "SANDBOX_READY", "CONTAINER_EXITED", ... */
	int64_t created_at, started_at, finished_at; /* ns since the epoch */
	int32_t exit_code;
	char reason[64];
	char message[256];
	char sandbox_id[POD_ID_LEN + 1]; /* containers */
	char runtime_handler[64];	 /* sandboxes */
	char netns[RECORD_STR_MAX];	 /* sandboxes */
	char log_path[RECORD_STR_MAX];	 /* containers: absolute */
	char image_id[128];		 /* containers: sha256:<hex> */
	char image_ref[RECORD_STR_MAX];	 /* containers: what ContainerStatus.image_ref says */
	char image_name[RECORD_STR_MAX]; /* containers: its first repo tag, "" if none */
};

/* state.json text (malloc'd) for st, or NULL without memory. */
char *record_state_json(const struct record_state *st);
/* Parses state.json; -EINVAL naming the field. */
int record_state_parse(const char *text, size_t len, struct record_state *st, struct err *err);

/* Writes parent/.new-<id>/ with both files (parent created if missing). */
int record_create(const char *parent, const char *id, const uint8_t *config, size_t config_len,
		  const struct record_state *st, struct err *err);
/* Renames .new-<id> to <id>, durably. */
int record_commit(const char *parent, const char *id, struct err *err);
/* Replaces <id>/state.json atomically. */
int record_update(const char *parent, const char *id, const struct record_state *st,
		  struct err *err);
/* Renames <id> to .del-<id> durably, then deletes it. */
int record_remove(const char *parent, const char *id, struct err *err);
/* Deletes the directory parent/name (a .new- or .del- left by a crash) and its files. */
int record_discard(const char *parent, const char *name, struct err *err);
/* Reads the files of parent/name (<id>, or a leftover): *config (malloc'd, *config_len bytes) and st. */
int record_load(const char *parent, const char *name, uint8_t **config, size_t *config_len,
		struct record_state *st, struct err *err);

/* What a directory entry under parent is: a record, a crash leftover, or something else. */
enum record_kind { RECORD_LIVE, RECORD_NEW, RECORD_DEL, RECORD_OTHER };
/* The kind of name; *id points at its id part for the first three. */
enum record_kind record_kind(const char *name, const char **id);

#endif
