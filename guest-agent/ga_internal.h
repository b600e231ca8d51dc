// SPDX-License-Identifier: Apache-2.0
/* Shared by the command implementations; not part of the agent's interface. */
#ifndef KVMLET_GA_INTERNAL_H
#define KVMLET_GA_INTERNAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ga.h"

struct ga_files;
struct ga_execs;

struct ga {
	struct ga_config cfg;
	/* File systems are frozen: most commands are refused meanwhile. */
	bool frozen;
	struct ga_files *files; /* cmd_file.c */
	struct ga_execs *execs; /* cmd_exec.c */
};

/* guest-file-* handles; destroy closes those still open. */
struct ga_files *ga_files_create(void);
void ga_files_destroy(struct ga_files *files);

/*
 * guest-exec's process table. Each process's thread holds a reference, so
 * the table lives until the last of them has reaped its process.
 */
struct ga_execs *ga_execs_create(void);
void ga_execs_destroy(struct ga_execs *execs);

/*
 * A command returns its result, or NULL with *err set to a malloc'd
 * description (reported as a GenericError, as QGA does for command failures).
 */
typedef json_object *(*ga_cmd_fn)(struct ga *ga, json_object *args, char **err);

/* Sets *err and returns NULL, so failures read `return ga_fail(err, ...)`. */
json_object *ga_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Argument accessors; the dispatcher has already checked names and types. */
bool ga_arg_int(json_object *args, const char *name, int64_t *v);
const char *ga_arg_str(json_object *args, const char *name);
bool ga_arg_bool(json_object *args, const char *name, bool dflt);
json_object *ga_arg(json_object *args, const char *name);

/* guest-file-seek's whence names ("set", "cur", "end"): SEEK_*, or -1. */
int ga_whence_by_name(const char *name);

/* json_strict.c: a repeated key in the text json-c parsed into *parsed. */
bool ga_json_has_duplicate_key(const char *text, size_t len, json_object *parsed);
/*
 * A malloc'd copy of a JSON text in which integers beyond int64 read as
 * floats, or NULL when it has none (or, with *oom set, out of memory).
 */
char *ga_json_widen_ints(const char *text, size_t len, size_t *out_len, bool *oom);

json_object *cmd_get_osinfo(struct ga *ga, json_object *args, char **err);
json_object *cmd_get_host_name(struct ga *ga, json_object *args, char **err);
json_object *cmd_get_time(struct ga *ga, json_object *args, char **err);
json_object *cmd_get_timezone(struct ga *ga, json_object *args, char **err);
json_object *cmd_get_users(struct ga *ga, json_object *args, char **err);
json_object *cmd_shutdown(struct ga *ga, json_object *args, char **err);
json_object *cmd_network_get_interfaces(struct ga *ga, json_object *args, char **err);
json_object *cmd_get_fsinfo(struct ga *ga, json_object *args, char **err);
json_object *cmd_fsfreeze_status(struct ga *ga, json_object *args, char **err);
json_object *cmd_fsfreeze_freeze(struct ga *ga, json_object *args, char **err);
json_object *cmd_fsfreeze_thaw(struct ga *ga, json_object *args, char **err);
json_object *cmd_exec(struct ga *ga, json_object *args, char **err);
json_object *cmd_exec_status(struct ga *ga, json_object *args, char **err);
json_object *cmd_file_open(struct ga *ga, json_object *args, char **err);
json_object *cmd_file_close(struct ga *ga, json_object *args, char **err);
json_object *cmd_file_read(struct ga *ga, json_object *args, char **err);
json_object *cmd_file_write(struct ga *ga, json_object *args, char **err);
json_object *cmd_file_seek(struct ga *ga, json_object *args, char **err);
json_object *cmd_file_flush(struct ga *ga, json_object *args, char **err);

#endif
