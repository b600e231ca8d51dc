// SPDX-License-Identifier: Apache-2.0
/*
 * The guest-agent protocol subset (vsock_agent.h). The JSON scanner is a
 * bounded recursive descent over [p, end): every read checks the end,
 * nesting is limited to AGENT_JSON_DEPTH, strings are decoded into
 * fixed-size buffers (too long: flagged, never overrun). The whole line
 * must be one valid JSON object (RFC 8259 grammar) or the answer is a
 * GenericError.
 */
#include "libc.h"
#include "vsock_agent.h"

/* ---- output ---- */

struct out {
	char *b;
	size_t n;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	/* One byte is kept for the newline. */
	if (o->full || n > AGENT_OUT_MAX - 1 - o->n) {
		o->full = true;
		return;
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
	char d[20];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, d + i, sizeof(d) - i);
}

static void put_i64(struct out *o, int64_t v)
{
	if (v < 0) {
		put(o, "-", 1);
		put_u64(o, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(o, (uint64_t)v);
	}
}

/* A JSON string of @n bytes, quoted and escaped. */
static void put_str(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			put(o, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

			put(o, e, 6);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, "\"", 1);
}

static void put_base64(struct out *o, const char *s, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;

	put(o, "\"", 1);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[v >> 18 & 63];
		q[1] = tab[v >> 12 & 63];
		q[2] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		put(o, q, 4);
	}
	put(o, "\"", 1);
}

/* ---- JSON scanning ---- */

struct js {
	const char *p, *end;
};

static void ws(struct js *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static bool eat(struct js *j, char c)
{
	ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool hex4(struct js *j, uint32_t *v)
{
	*v = 0;
	if (j->end - j->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		int h = hexval(j->p[i]);

		if (h < 0)
			return false;
		*v = *v << 4 | (uint32_t)h;
	}
	j->p += 4;
	return true;
}

/* A decoded string: up to cap bytes kept, the rest counted in len and flagged. */
struct jstr {
	char *b;
	size_t cap, len;
	bool truncated;
};

static void jstr_put(struct jstr *s, const char *c, size_t n)
{
	if (!s)
		return;
	if (n > s->cap - s->len || s->truncated) {
		s->truncated = true;
		return;
	}
	memcpy(s->b + s->len, c, n);
	s->len += n;
}

static void jstr_utf8(struct jstr *s, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		u[0] = (char)cp;
		jstr_put(s, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 63));
		jstr_put(s, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 63));
		u[2] = (char)(0x80 | (cp & 63));
		jstr_put(s, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 63));
		u[2] = (char)(0x80 | (cp >> 6 & 63));
		u[3] = (char)(0x80 | (cp & 63));
		jstr_put(s, u, 4);
	}
}

/* A string at j->p (after whitespace), decoded into @s (NULL: validated only). */
static bool string(struct js *j, struct jstr *s)
{
	ws(j);
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p++;
		uint32_t cp, lo;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\') {
			jstr_put(s, (const char *)&c, 1);
			continue;
		}
		if (j->p >= j->end)
			return false;
		c = (unsigned char)*j->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			jstr_put(s, (const char *)&c, 1);
			break;
		case 'b':
			jstr_put(s, "\b", 1);
			break;
		case 'f':
			jstr_put(s, "\f", 1);
			break;
		case 'n':
			jstr_put(s, "\n", 1);
			break;
		case 'r':
			jstr_put(s, "\r", 1);
			break;
		case 't':
			jstr_put(s, "\t", 1);
			break;
		case 'u':
			if (!hex4(j, &cp))
				return false;
			/* A surrogate pair makes one code point; a lone half stays as it is. */
			if (cp >= 0xd800 && cp < 0xdc00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
			    j->p[1] == 'u') {
				struct js k = { j->p + 2, j->end };

				if (hex4(&k, &lo) && lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					j->p = k.p;
				}
			}
			jstr_utf8(s, cp);
			break;
		default:
			return false;
		}
	}
	return false;
}

/*
 * A number. *is_int: an integer fitting int64_t (no fraction, exponent or
 * overflow).
 */
static bool number(struct js *j, int64_t *v, bool *is_int)
{
	bool neg = false, ovf = false, frac = false;
	uint64_t x = 0;
	const char *start;

	ws(j);
	if (j->p < j->end && *j->p == '-') {
		neg = true;
		j->p++;
	}
	start = j->p;
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return false;
	if (*j->p == '0') {
		j->p++;
	} else {
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
			unsigned int d = (unsigned int)(*j->p++ - '0');

			if (x > (UINT64_MAX - d) / 10)
				ovf = true;
			else
				x = x * 10 + d;
		}
	}
	(void)start;
	if (j->p < j->end && *j->p == '.') {
		frac = true;
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		frac = true;
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (neg ? x > (uint64_t)INT64_MAX + 1 : x > (uint64_t)INT64_MAX)
		ovf = true;
	*is_int = !frac && !ovf;
	if (*is_int)
		*v = neg ? (int64_t)(0 - x) : (int64_t)x;
	return true;
}

static bool literal(struct js *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n))
		return false;
	j->p += n;
	return true;
}

/* Any value, validated and skipped. */
static bool value(struct js *j, unsigned int depth)
{
	int64_t iv;
	bool is_int;

	ws(j);
	if (j->p >= j->end || depth > AGENT_JSON_DEPTH)
		return false;
	switch (*j->p) {
	case '{':
		j->p++;
		if (eat(j, '}'))
			return true;
		do {
			if (!string(j, NULL) || !eat(j, ':') || !value(j, depth + 1))
				return false;
		} while (eat(j, ','));
		return eat(j, '}');
	case '[':
		j->p++;
		if (eat(j, ']'))
			return true;
		do {
			if (!value(j, depth + 1))
				return false;
		} while (eat(j, ','));
		return eat(j, ']');
	case '"':
		return string(j, NULL);
	case 't':
		return literal(j, "true");
	case 'f':
		return literal(j, "false");
	case 'n':
		return literal(j, "null");
	default:
		return number(j, &iv, &is_int);
	}
}

/*
 * Finds member @key of the (already validated) object at @obj; on
 * success *val is positioned at its value. The last occurrence wins.
 */
static bool member(const struct js *obj, const char *key, struct js *val)
{
	struct js j = *obj;
	size_t klen = strlen(key);
	bool found = false;

	if (!eat(&j, '{') || eat(&j, '}'))
		return false;
	do {
		char kb[64];
		struct jstr k = { kb, sizeof(kb), 0, false };

		if (!string(&j, &k) || !eat(&j, ':'))
			return false;
		ws(&j);
		if (!k.truncated && k.len == klen && !memcmp(kb, key, klen)) {
			*val = j;
			found = true;
		}
		if (!value(&j, 1))
			return false;
	} while (eat(&j, ','));
	return found;
}

static bool peek_is(struct js *j, char c)
{
	ws(j);
	return j->p < j->end && *j->p == c;
}

/* ---- responses ---- */

/* guest-info's list; success: whether a successful call is answered. */
static const struct {
	const char *name;
	bool success;
} commands[] = {
	{ "guest-sync", true },	       { "guest-sync-delimited", true }, { "guest-ping", true },
	{ "guest-info", true },	       { "guest-get-time", true },	 { "guest-exec", true },
	{ "guest-exec-status", true }, { "guest-shutdown", false },
};

static void error(struct out *o, const char *cls, const char *desc, const char *arg, size_t alen)
{
	char d[200];
	size_t n = strlen(desc);

	memcpy(d, desc, n);
	if (arg) {
		alen = MIN(alen, sizeof(d) - n);
		memcpy(d + n, arg, alen);
		n += alen;
	}
	puts_(o, "{\"error\": {\"class\": \"");
	puts_(o, cls);
	puts_(o, "\", \"desc\": ");
	put_str(o, d, n);
	puts_(o, "}}");
}

static void generic(struct out *o, const char *desc)
{
	error(o, "GenericError", desc, NULL, 0);
}

/* An integer argument; false (after answering) if missing or not an integer. */
static bool int_arg(struct out *o, const struct js *args, bool have_args, const char *name,
		    int64_t *v)
{
	struct js val;
	bool is_int;

	if (!have_args || !member(args, name, &val)) {
		error(o, "GenericError", "Parameter missing: ", name, strlen(name));
		return false;
	}
	if (!number(&val, v, &is_int) || !is_int) {
		error(o, "GenericError", "Invalid parameter type, expected: integer: ", name,
		      strlen(name));
		return false;
	}
	return true;
}

enum exec_builtin { EXEC_NONE, EXEC_ECHO, EXEC_TRUE, EXEC_FALSE };

/* Bare names and /bin paths, as an exec probe may write either. */
static enum exec_builtin exec_builtin(const char *p, size_t n)
{
	static const struct {
		const char *name;
		enum exec_builtin b;
	} names[] = {
		{ "echo", EXEC_ECHO },	 { "/bin/echo", EXEC_ECHO },
		{ "true", EXEC_TRUE },	 { "/bin/true", EXEC_TRUE },
		{ "false", EXEC_FALSE }, { "/bin/false", EXEC_FALSE },
	};

	for (unsigned int i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i].name) == n && !memcmp(p, names[i].name, n))
			return names[i].b;
	return EXEC_NONE;
}

static void cmd_exec(struct agent *a, struct out *o, const struct js *args, bool have_args)
{
	char pathb[64], buf[AGENT_EXEC_OUT];
	struct jstr path = { pathb, sizeof(pathb), 0, false };
	struct jstr outs = { buf, sizeof(buf), 0, false };
	struct agent_exec *slot = NULL;
	enum exec_builtin builtin;
	struct js val;
	bool capture = false;

	if (!have_args || !member(args, "path", &val)) {
		generic(o, "Parameter missing: path");
		return;
	}
	if (!string(&val, &path)) {
		generic(o, "Invalid parameter type, expected: string: path");
		return;
	}
	builtin = exec_builtin(pathb, path.truncated ? sizeof(pathb) : path.len);
	if (builtin == EXEC_NONE) {
		error(o, "GenericError",
		      "Failed to execute child process: only the built-in echo, true and false: ",
		      pathb, path.len);
		return;
	}
	if (member(args, "capture-output", &val)) {
		ws(&val);
		if (literal(&val, "true"))
			capture = true;
		else if (!literal(&val, "false")) {
			generic(o, "Invalid parameter type, expected: boolean: capture-output");
			return;
		}
	}
	if (member(args, "arg", &val)) {
		if (!eat(&val, '[')) {
			generic(o, "Invalid parameter type, expected: array: arg");
			return;
		}
		if (!eat(&val, ']')) {
			bool first = true;

			do {
				if (!first)
					jstr_put(&outs, " ", 1);
				first = false;
				if (!peek_is(&val, '"') || !string(&val, &outs)) {
					generic(o,
						"Invalid parameter type, expected: string: arg[]");
					return;
				}
			} while (eat(&val, ','));
		}
	}
	/* true and false take arguments and print nothing, as coreutils' do. */
	if (builtin == EXEC_ECHO)
		jstr_put(&outs, "\n", 1);
	else
		outs.len = 0;
	if (outs.truncated) {
		generic(o, "Argument list too long");
		return;
	}
	for (unsigned int i = 0; i < AGENT_EXEC_SLOTS && !slot; i++)
		if (!a->exec[i].pid)
			slot = &a->exec[i];
	if (!slot) {
		generic(o, "Too many processes not yet collected by guest-exec-status");
		return;
	}
	if (!++a->next_pid)
		a->next_pid = 1;
	slot->pid = a->next_pid;
	slot->capture = capture;
	slot->exitcode = builtin == EXEC_FALSE;
	slot->out_len = (uint16_t)outs.len;
	memcpy(slot->out, buf, outs.len);
	puts_(o, "{\"return\": {\"pid\": ");
	put_u64(o, slot->pid);
	puts_(o, "}}");
}

static void cmd_exec_status(struct agent *a, struct out *o, const struct js *args, bool have_args)
{
	int64_t pid;

	if (!int_arg(o, args, have_args, "pid", &pid))
		return;
	for (unsigned int i = 0; i < AGENT_EXEC_SLOTS; i++) {
		struct agent_exec *e = &a->exec[i];

		if (!e->pid || (int64_t)e->pid != pid)
			continue;
		puts_(o, "{\"return\": {\"exited\": true, \"exitcode\": ");
		put_u64(o, e->exitcode);
		if (e->capture) {
			puts_(o, ", \"out-data\": ");
			put_base64(o, e->out, e->out_len);
		}
		puts_(o, "}}");
		e->pid = 0; /* collected, as qemu-ga does */
		return;
	}
	generic(o, "Invalid parameter 'pid'");
}

/* qemu-ga's modes; halt powers off too (there is nothing to halt to). */
static void cmd_shutdown(struct agent *a, struct out *o, const struct js *args, bool have_args)
{
	char modeb[16];
	struct jstr mode = { modeb, sizeof(modeb), 0, false };
	struct js val;

	if (have_args && member(args, "mode", &val)) {
		if (!peek_is(&val, '"') || !string(&val, &mode)) {
			generic(o, "Invalid parameter type, expected: string: mode");
			return;
		}
#define MODE(s) (!mode.truncated && mode.len == sizeof(s) - 1 && !memcmp(modeb, s, mode.len))
		if (!MODE("powerdown") && !MODE("halt") && !MODE("reboot")) {
			generic(o, "mode is invalid (valid values are: halt|powerdown|reboot)");
			return;
		}
		a->power = MODE("reboot") ? AGENT_POWER_RESET : AGENT_POWER_OFF;
#undef MODE
		return;
	}
	a->power = AGENT_POWER_OFF;
}

size_t agent_too_long(char *out)
{
	struct out o = { out, 0, false };

	generic(&o, "JSON parse error, request line too long");
	out[o.n++] = '\n';
	return o.n;
}

size_t agent_handle(struct agent *a, const char *line, size_t len, uint64_t now_ns, char *out)
{
	struct out o = { out, 0, false };
	struct js j = { line, line + len }, top = j, args, val, idv;
	char nameb[64];
	struct jstr name = { nameb, sizeof(nameb), 0, false };
	bool have_args = false, have_id = false;
	int64_t id;

	/* One object, nothing after it. */
	if (!peek_is(&j, '{') || !value(&j, 0) || (ws(&j), j.p != j.end)) {
		generic(&o, "JSON parse error, expecting one object");
		goto done;
	}
	if (member(&top, "id", &idv))
		have_id = true;
	if (!member(&top, "execute", &val)) {
		generic(&o, "Expected 'execute' in the request");
		goto done;
	}
	if (!peek_is(&val, '"') || !string(&val, &name)) {
		generic(&o, "Invalid parameter type, expected: string: execute");
		goto done;
	}
	if (member(&top, "arguments", &args)) {
		if (!peek_is(&args, '{')) {
			generic(&o, "Invalid parameter type, expected: object: arguments");
			goto done;
		}
		have_args = true;
	}

#define IS(s) (!name.truncated && name.len == sizeof(s) - 1 && !memcmp(nameb, s, sizeof(s) - 1))
	if (IS("guest-sync") || IS("guest-sync-delimited")) {
		if (IS("guest-sync-delimited"))
			put(&o, "\xff", 1);
		if (int_arg(&o, &args, have_args, "id", &id)) {
			puts_(&o, "{\"return\": ");
			put_i64(&o, id);
			puts_(&o, "}");
		}
	} else if (IS("guest-ping")) {
		puts_(&o, "{\"return\": {}}");
	} else if (IS("guest-info")) {
		puts_(&o,
		      "{\"return\": {\"version\": \"kvmlet-testguest\", \"supported_commands\": [");
		for (unsigned int i = 0; i < ARRAY_SIZE(commands); i++) {
			puts_(&o, i ? ", {\"name\": \"" : "{\"name\": \"");
			puts_(&o, commands[i].name);
			puts_(&o, "\", \"enabled\": true, \"success-response\": ");
			puts_(&o, commands[i].success ? "true}" : "false}");
		}
		puts_(&o, "]}}");
	} else if (IS("guest-get-time")) {
		puts_(&o, "{\"return\": ");
		put_u64(&o, now_ns);
		puts_(&o, "}");
	} else if (IS("guest-exec")) {
		cmd_exec(a, &o, &args, have_args);
	} else if (IS("guest-exec-status")) {
		cmd_exec_status(a, &o, &args, have_args);
	} else if (IS("guest-shutdown")) {
		cmd_shutdown(a, &o, &args, have_args);
		if (!o.n)
			return 0; /* no answer on success, as qemu-ga */
	} else {
		o = (struct out){ out, 0, false };
		error(&o, "CommandNotFound", "The command has not been found: ", nameb, name.len);
	}
#undef IS
done:
	/* qemu-ga echoes a request's "id" in its response. */
	if (have_id && !o.full && o.n >= 2 && out[o.n - 1] == '}') {
		struct js k = idv;
		size_t n;

		if (value(&k, 1)) {
			n = (size_t)(k.p - idv.p);
			if (n <= 256 && o.n + n + 8 < AGENT_OUT_MAX) {
				o.n--;
				puts_(&o, ", \"id\": ");
				put(&o, idv.p, n);
				puts_(&o, "}");
			}
		}
	}
	if (o.full) {
		o = (struct out){ out, 0, false };
		generic(&o, "response too long");
	}
	out[o.n++] = '\n';
	return o.n;
}
