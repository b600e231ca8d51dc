// SPDX-License-Identifier: Apache-2.0
/*
 * The QEMU guest agent protocol: request framing, validation, dispatch and
 * the replies, with QGA's error classes and descriptions so that clients
 * written against qemu-ga (libvirt, virsh qemu-agent-command, scripts)
 * behave the same with this agent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ga_internal.h"

enum ga_arg_type {
	GA_INT,
	GA_STR,
	GA_BOOL,
	GA_STRLIST,
	GA_WHENCE, /* QAPI's GuestFileWhence: an integer or a name */
	GA_ANY,
};

struct ga_arg {
	const char *name;
	enum ga_arg_type type;
	bool required;
};

enum {
	GA_SIDE_EFFECT = 1,	    /* refused in safe mode (the fuzz build) */
	GA_NO_SUCCESS_RESPONSE = 2, /* QGA sends nothing when these succeed */
	GA_FROZEN_OK = 4,	    /* allowed while file systems are frozen */
};

struct ga_cmd {
	const char *name;
	ga_cmd_fn fn;
	const struct ga_arg *args;
	unsigned int flags;
};

json_object *ga_fail(char **err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	if (!*err)
		*err = strdup("out of memory");
	return NULL;
}

json_object *ga_arg(json_object *args, const char *name)
{
	json_object *v;

	if (!args || !json_object_object_get_ex(args, name, &v))
		return NULL;
	return v;
}

bool ga_arg_int(json_object *args, const char *name, int64_t *v)
{
	json_object *o = ga_arg(args, name);

	if (!o)
		return false;
	*v = json_object_get_int64(o);
	return true;
}

const char *ga_arg_str(json_object *args, const char *name)
{
	json_object *o = ga_arg(args, name);

	return o ? json_object_get_string(o) : NULL;
}

bool ga_arg_bool(json_object *args, const char *name, bool dflt)
{
	json_object *o = ga_arg(args, name);

	return o ? json_object_get_boolean(o) : dflt;
}

static json_object *cmd_ping(struct ga *ga, json_object *args, char **err)
{
	return json_object_new_object();
}

static json_object *cmd_sync(struct ga *ga, json_object *args, char **err)
{
	int64_t id = 0;

	ga_arg_int(args, "id", &id);
	return json_object_new_int64(id);
}

static json_object *cmd_info(struct ga *ga, json_object *args, char **err);

static const struct ga_arg no_args[] = { { NULL, 0, false } };
static const struct ga_arg sync_args[] = { { "id", GA_INT, true }, { NULL, 0, false } };
static const struct ga_arg shutdown_args[] = { { "mode", GA_STR, false }, { NULL, 0, false } };
static const struct ga_arg exec_args[] = {
	{ "path", GA_STR, true },
	{ "arg", GA_STRLIST, false },
	{ "env", GA_STRLIST, false },
	{ "input-data", GA_STR, false },
	{ "capture-output", GA_ANY, false },
	{ NULL, 0, false },
};
static const struct ga_arg pid_args[] = { { "pid", GA_INT, true }, { NULL, 0, false } };
static const struct ga_arg open_args[] = {
	{ "path", GA_STR, true },
	{ "mode", GA_STR, false },
	{ NULL, 0, false },
};
static const struct ga_arg handle_args[] = { { "handle", GA_INT, true }, { NULL, 0, false } };
static const struct ga_arg read_args[] = {
	{ "handle", GA_INT, true },
	{ "count", GA_INT, false },
	{ NULL, 0, false },
};
static const struct ga_arg write_args[] = {
	{ "handle", GA_INT, true },
	{ "buf-b64", GA_STR, true },
	{ "count", GA_INT, false },
	{ NULL, 0, false },
};
static const struct ga_arg seek_args[] = {
	{ "handle", GA_INT, true },
	{ "offset", GA_INT, true },
	{ "whence", GA_WHENCE, true },
	{ NULL, 0, false },
};

static const struct ga_cmd commands[] = {
	{ "guest-sync-delimited", cmd_sync, sync_args, GA_FROZEN_OK },
	{ "guest-sync", cmd_sync, sync_args, GA_FROZEN_OK },
	{ "guest-ping", cmd_ping, no_args, GA_FROZEN_OK },
	{ "guest-info", cmd_info, no_args, GA_FROZEN_OK },
	{ "guest-get-time", cmd_get_time, no_args, GA_FROZEN_OK },
	{ "guest-get-osinfo", cmd_get_osinfo, no_args, 0 },
	{ "guest-get-host-name", cmd_get_host_name, no_args, 0 },
	{ "guest-get-timezone", cmd_get_timezone, no_args, 0 },
	{ "guest-get-users", cmd_get_users, no_args, 0 },
	{ "guest-network-get-interfaces", cmd_network_get_interfaces, no_args, 0 },
	{ "guest-get-fsinfo", cmd_get_fsinfo, no_args, 0 },
	{ "guest-fsfreeze-status", cmd_fsfreeze_status, no_args, GA_FROZEN_OK },
	{ "guest-fsfreeze-freeze", cmd_fsfreeze_freeze, no_args, GA_SIDE_EFFECT },
	{ "guest-fsfreeze-thaw", cmd_fsfreeze_thaw, no_args, GA_SIDE_EFFECT | GA_FROZEN_OK },
	{ "guest-shutdown", cmd_shutdown, shutdown_args, GA_SIDE_EFFECT | GA_NO_SUCCESS_RESPONSE },
	{ "guest-exec", cmd_exec, exec_args, GA_SIDE_EFFECT },
	{ "guest-exec-status", cmd_exec_status, pid_args, GA_SIDE_EFFECT },
	{ "guest-file-open", cmd_file_open, open_args, GA_SIDE_EFFECT },
	{ "guest-file-close", cmd_file_close, handle_args, GA_SIDE_EFFECT },
	{ "guest-file-read", cmd_file_read, read_args, GA_SIDE_EFFECT },
	{ "guest-file-write", cmd_file_write, write_args, GA_SIDE_EFFECT },
	{ "guest-file-seek", cmd_file_seek, seek_args, GA_SIDE_EFFECT },
	{ "guest-file-flush", cmd_file_flush, handle_args, GA_SIDE_EFFECT },
};

#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static bool cmd_enabled(const struct ga *ga, const struct ga_cmd *c)
{
	if (ga->cfg.safe && (c->flags & GA_SIDE_EFFECT))
		return false;
	if (ga->frozen && !(c->flags & GA_FROZEN_OK))
		return false;
	return true;
}

static json_object *cmd_info(struct ga *ga, json_object *args, char **err)
{
	json_object *r = json_object_new_object(), *list = json_object_new_array();

	json_object_object_add(r, "version", json_object_new_string(GA_VERSION));
	for (size_t i = 0; i < NR_COMMANDS; i++) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "name", json_object_new_string(commands[i].name));
		json_object_object_add(c, "enabled",
				       json_object_new_boolean(cmd_enabled(ga, &commands[i])));
		json_object_object_add(
			c, "success-response",
			json_object_new_boolean(!(commands[i].flags & GA_NO_SUCCESS_RESPONSE)));
		json_object_array_add(list, c);
	}
	json_object_object_add(r, "supported_commands", list);
	return r;
}

static const char *type_name(enum ga_arg_type t)
{
	switch (t) {
	case GA_INT:
		return "integer";
	case GA_STR:
		return "string";
	case GA_BOOL:
		return "boolean";
	case GA_STRLIST:
		return "array";
	case GA_WHENCE:
		return "GuestFileWhence";
	default:
		return "any";
	}
}

static bool type_ok(json_object *v, enum ga_arg_type t)
{
	switch (t) {
	case GA_INT:
		return json_object_is_type(v, json_type_int);
	case GA_STR:
		return json_object_is_type(v, json_type_string);
	case GA_BOOL:
		return json_object_is_type(v, json_type_boolean);
	case GA_STRLIST:
		return json_object_is_type(v, json_type_array);
	case GA_WHENCE:
		return json_object_is_type(v, json_type_int) ||
		       json_object_is_type(v, json_type_string);
	default:
		return true;
	}
}

static bool check_strlist(const char *key, json_object *val, char **err)
{
	size_t n = json_object_array_length(val);

	for (size_t i = 0; i < n; i++) {
		if (!json_object_is_type(json_object_array_get_idx(val, i), json_type_string)) {
			ga_fail(err, "Invalid parameter type for '%s[%zu]', expected: string", key,
				i);
			return false;
		}
	}
	return true;
}

static bool check_value(const char *key, json_object *val, enum ga_arg_type t, char **err)
{
	/* An alternate of an integer and an enum: any number picks the integer. */
	if (t == GA_WHENCE && json_object_is_type(val, json_type_double))
		t = GA_INT;
	if (!type_ok(val, t)) {
		ga_fail(err, "Invalid parameter type for '%s', expected: %s", key, type_name(t));
		return false;
	}
	if (t == GA_WHENCE && json_object_is_type(val, json_type_string) &&
	    ga_whence_by_name(json_object_get_string(val)) < 0) {
		ga_fail(err, "Parameter '%s' does not accept value '%s'", key,
			json_object_get_string(val));
		return false;
	}
	return t != GA_STRLIST || check_strlist(key, val, err);
}

/* QAPI's checks, with its wording: every parameter known, typed, present. */
static bool check_args(const struct ga_cmd *c, json_object *args, char **err)
{
	if (args) {
		json_object_object_foreach(args, key, val)
		{
			const struct ga_arg *a = c->args;

			while (a->name && strcmp(a->name, key))
				a++;
			if (!a->name) {
				ga_fail(err, "Parameter '%s' is unexpected", key);
				return false;
			}
			if (!check_value(key, val, a->type, err))
				return false;
		}
	}
	for (const struct ga_arg *a = c->args; a->name; a++) {
		if (a->required && !ga_arg(args, a->name)) {
			ga_fail(err, "Parameter '%s' is missing", a->name);
			return false;
		}
	}
	return true;
}

static char *finish(json_object *reply, json_object *id, bool delimited, size_t *reply_len)
{
	const char *s;
	size_t n;
	char *out;

	if (id)
		json_object_object_add(reply, "id", json_object_get(id));
	s = json_object_to_json_string_ext(reply,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = strlen(s);
	out = malloc(n + 2 + delimited);
	if (out) {
		size_t off = 0;

		if (delimited)
			out[off++] = (char)0xff;
		memcpy(out + off, s, n);
		off += n;
		out[off++] = '\n';
		out[off] = '\0';
		*reply_len = off;
	}
	json_object_put(reply);
	return out;
}

static char *error_reply(const char *cls, const char *desc, json_object *id, size_t *reply_len)
{
	json_object *r = json_object_new_object(), *e = json_object_new_object();

	json_object_object_add(e, "class", json_object_new_string(cls));
	json_object_object_add(e, "desc", json_object_new_string(desc));
	json_object_object_add(r, "error", e);
	return finish(r, id, false, reply_len);
}

static char *error_replyf(json_object *id, size_t *reply_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static char *error_replyf(json_object *id, size_t *reply_len, const char *fmt, ...)
{
	va_list ap;
	char *desc = NULL, *out;

	va_start(ap, fmt);
	if (vasprintf(&desc, fmt, ap) < 0)
		desc = NULL;
	va_end(ap);
	out = error_reply("GenericError", desc ? desc : "out of memory", id, reply_len);
	free(desc);
	return out;
}

static char *run(struct ga *ga, json_object *req, size_t *reply_len)
{
	json_object *exec = NULL, *args = NULL, *id = NULL, *ret;
	const struct ga_cmd *c = NULL;
	char *err = NULL, *out;
	const char *name;

	if (!json_object_is_type(req, json_type_object))
		return error_replyf(NULL, reply_len, "QMP input must be a JSON object");
	json_object_object_foreach(req, key, val)
	{
		if (!strcmp(key, "execute"))
			exec = val;
		else if (!strcmp(key, "arguments"))
			args = val;
		else if (!strcmp(key, "id"))
			id = val;
		else
			return error_replyf(NULL, reply_len, "QMP input member '%s' is unexpected",
					    key);
	}
	if (!exec)
		return error_replyf(id, reply_len, "QMP input lacks member 'execute'");
	if (!json_object_is_type(exec, json_type_string))
		return error_replyf(id, reply_len, "QMP input member 'execute' must be a string");
	if (args && !json_object_is_type(args, json_type_object))
		return error_replyf(id, reply_len,
				    "QMP input member 'arguments' must be an object");
	name = json_object_get_string(exec);
	for (size_t i = 0; i < NR_COMMANDS; i++) {
		if (!strcmp(commands[i].name, name)) {
			c = &commands[i];
			break;
		}
	}
	if (!c) {
		char desc[160];

		snprintf(desc, sizeof(desc), "The command %.100s has not been found", name);
		return error_reply("CommandNotFound", desc, id, reply_len);
	}
	if (!cmd_enabled(ga, c)) {
		char desc[160];

		snprintf(desc, sizeof(desc), "The command %s has been disabled for this instance",
			 c->name);
		return error_reply("CommandNotFound", desc, id, reply_len);
	}
	if (!check_args(c, args, &err) || !(ret = c->fn(ga, args, &err))) {
		out = error_reply("GenericError", err ? err : "command failed", id, reply_len);
		free(err);
		return out;
	}
	if (c->flags & GA_NO_SUCCESS_RESPONSE) {
		json_object_put(ret);
		return NULL;
	}
	json_object *r = json_object_new_object();

	json_object_object_add(r, "return", ret);
	return finish(r, id, c->fn == cmd_sync && !strcmp(name, "guest-sync-delimited"), reply_len);
}

/* Exactly one JSON value, with nothing but whitespace after it; else *why says why not. */
static json_object *parse_value(const char *req, size_t len, const char **why)
{
	/* Bounded nesting: json-c's parser recurses per level. */
	json_tokener *tok = json_tokener_new_ex(64);
	enum json_tokener_error jerr;
	json_object *obj;

	if (!tok) {
		*why = "out of memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, req, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_success) {
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
			if (!strchr(" \t\r\n", req[i]) || !req[i]) {
				jerr = json_tokener_error_parse_unexpected;
				break;
			}
		}
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_success && obj)
		return obj;
	json_object_put(obj);
	*why = jerr == json_tokener_continue ? "unexpected end of input"
					     : json_tokener_error_desc(jerr);
	return NULL;
}

/*
 * Parses a request as QEMU does (json_strict.c): a repeated key is a parse
 * error, and integers beyond int64 are read as floats. Returns NULL with
 * *why set when the request is not acceptable JSON.
 */
static json_object *parse_request(const char *req, size_t len, const char **why)
{
	json_object *obj = parse_value(req, len, why);
	size_t wide_len;
	char *wide;
	bool oom;

	if (!obj)
		return NULL;
	if (ga_json_has_duplicate_key(req, len, obj)) {
		json_object_put(obj);
		*why = "duplicate key";
		return NULL;
	}
	wide = ga_json_widen_ints(req, len, &wide_len, &oom);
	if (!wide && !oom)
		return obj;
	json_object_put(obj);
	if (!wide) {
		*why = "out of memory";
		return NULL;
	}
	obj = parse_value(wide, wide_len, why);
	free(wide);
	return obj;
}

char *ga_dispatch(struct ga *ga, const char *req, size_t len, size_t *reply_len)
{
	const char *why = NULL;
	json_object *obj;
	char *out;

	*reply_len = 0;
	obj = parse_request(req, len, &why);
	if (!obj)
		return error_replyf(NULL, reply_len, "JSON parse error, %s", why);
	out = run(ga, obj, reply_len);
	json_object_put(obj);
	return out;
}

static void reply_error(ga_reply_fn fn, void *opaque, const char *desc)
{
	size_t n;
	char *r = error_reply("GenericError", desc, NULL, &n);

	if (r)
		fn(opaque, r, n);
	free(r);
}

static void stream_reset(struct ga_stream *s)
{
	s->len = 0;
	s->depth = 0;
	s->in_str = s->esc = false;
}

static void complete(struct ga_stream *s, struct ga *ga, ga_reply_fn fn, void *opaque)
{
	size_t n;
	char *r = ga_dispatch(ga, s->buf, s->len, &n);

	if (r)
		fn(opaque, r, n);
	free(r);
	stream_reset(s);
}

/*
 * Room for byte c. When there is none the request is answered with an error
 * and the rest of its line skipped.
 */
static bool stream_reserve(struct ga_stream *s, char c, ga_reply_fn fn, void *opaque)
{
	size_t cap;
	char *nb;

	if (s->len >= GA_MAX_REQUEST) {
		char desc[96];

		snprintf(desc, sizeof(desc), "request exceeds %u bytes; skipped to next line",
			 GA_MAX_REQUEST);
		reply_error(fn, opaque, desc);
		stream_reset(s);
		s->discarding = c != '\n';
		return false;
	}
	if (s->len + 1 <= s->cap)
		return true;
	cap = s->cap ? s->cap * 2 : 4096;
	if (cap > GA_MAX_REQUEST + 1)
		cap = GA_MAX_REQUEST + 1;
	nb = realloc(s->buf, cap);
	if (!nb) {
		reply_error(fn, opaque, "out of memory");
		stream_reset(s);
		s->discarding = true;
		return false;
	}
	s->buf = nb;
	s->cap = cap;
	return true;
}

/* Whether c, just added, ends the request. */
static bool stream_track(struct ga_stream *s, char c)
{
	if (s->in_str) {
		if (s->esc)
			s->esc = false;
		else if (c == '\\')
			s->esc = true;
		else if (c == '"')
			s->in_str = false;
		return false;
	}
	switch (c) {
	case '"':
		s->in_str = true;
		return false;
	case '{':
	case '[':
		s->depth++;
		return false;
	case '}':
	case ']':
		return --s->depth <= 0;
	case '\n':
		return s->depth == 0;
	default:
		return false;
	}
}

/*
 * Like QEMU's JSON streamer, a request ends where its outermost {} or []
 * closes, so clients need not send newlines. Top-level garbage outside any
 * brackets ends at a newline. A 0xFF byte (what a client sends before
 * guest-sync-delimited) drops whatever was partially received.
 */
void ga_stream_feed(struct ga_stream *s, struct ga *ga, const char *data, size_t len,
		    ga_reply_fn fn, void *opaque)
{
	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if ((unsigned char)c == 0xff) {
			stream_reset(s);
			s->discarding = false;
			continue;
		}
		if (s->discarding) {
			if (c == '\n')
				s->discarding = false;
			continue;
		}
		if (s->len == 0 && strchr(" \t\r\n", c) && c)
			continue;
		if (!stream_reserve(s, c, fn, opaque))
			continue;
		s->buf[s->len++] = c;
		if (stream_track(s, c))
			complete(s, ga, fn, opaque);
	}
}

void ga_stream_free(struct ga_stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}
