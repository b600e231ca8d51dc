// SPDX-License-Identifier: Apache-2.0
/* Shared by the command implementations; not part of the agent's interface. */
#ifndef KVMLET_GA_INTERNAL_H
#define KVMLET_GA_INTERNAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ga.h"

extern struct ga_config ga_cfg;

/*
 * A command returns its result, or NULL with *err set to a malloc'd
 * description (reported as a GenericError, as QGA does for command failures).
 */
typedef json_object *(*ga_cmd_fn)(json_object *args, char **err);

/* Sets *err and returns NULL, so failures read `return ga_fail(err, ...)`. */
json_object *ga_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Argument accessors; the dispatcher has already checked names and types. */
bool ga_arg_int(json_object *args, const char *name, int64_t *v);
const char *ga_arg_str(json_object *args, const char *name);
bool ga_arg_bool(json_object *args, const char *name, bool dflt);
json_object *ga_arg(json_object *args, const char *name);

/* json_strict.c: a repeated key in the text json-c parsed into *parsed. */
bool ga_json_has_duplicate_key(const char *text, size_t len, json_object *parsed);
/*
 * A malloc'd copy of a JSON text in which integers beyond int64 read as
 * floats, or NULL when it has none (or, with *oom set, out of memory).
 */
char *ga_json_widen_ints(const char *text, size_t len, size_t *out_len, bool *oom);

/* Whether file systems are frozen: most commands are refused meanwhile. */
bool ga_frozen(void);

json_object *cmd_get_osinfo(json_object *args, char **err);
json_object *cmd_get_host_name(json_object *args, char **err);
json_object *cmd_get_time(json_object *args, char **err);
json_object *cmd_get_timezone(json_object *args, char **err);
json_object *cmd_get_users(json_object *args, char **err);
json_object *cmd_shutdown(json_object *args, char **err);
json_object *cmd_network_get_interfaces(json_object *args, char **err);
json_object *cmd_get_fsinfo(json_object *args, char **err);
json_object *cmd_fsfreeze_status(json_object *args, char **err);
json_object *cmd_fsfreeze_freeze(json_object *args, char **err);
json_object *cmd_fsfreeze_thaw(json_object *args, char **err);
json_object *cmd_exec(json_object *args, char **err);
json_object *cmd_exec_status(json_object *args, char **err);
json_object *cmd_file_open(json_object *args, char **err);
json_object *cmd_file_close(json_object *args, char **err);
json_object *cmd_file_read(json_object *args, char **err);
json_object *cmd_file_write(json_object *args, char **err);
json_object *cmd_file_seek(json_object *args, char **err);
json_object *cmd_file_flush(json_object *args, char **err);

#endif
