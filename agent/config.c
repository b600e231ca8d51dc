// SPDX-License-Identifier: Apache-2.0
/* kvmlet-agent's configuration file (config.h). */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/config.h"
#include "lib/parse.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_FILE      (1024 * 1024)

enum key_type {
	KEY_PATH,   /* absolute, or "" where allowed */
	KEY_LISTEN, /* unix:///path, unix:/path or /path */
	KEY_UINT,
	KEY_LOG_LEVEL,
	KEY_HOSTS, /* "host[:port], ..." */
	KEY_WORDS, /* "word, word ...": printable, no quotes */
};

struct config_key {
	const char *section;
	const char *name;
	const char *json; /* its name in the JSON dump, containerd-like camelCase */
	enum key_type type;
	size_t offset;
	unsigned int min, max; /* KEY_UINT */
	bool may_be_empty;     /* KEY_PATH */
};

#define KEY(sec, name_, json_, type_, member, ...)                                   \
	{                                                                            \
		.section = (sec), .name = (name_), .json = (json_), .type = (type_), \
		.offset = offsetof(struct agent_config, member), __VA_ARGS__         \
	}

static const struct config_key keys[] = {
	KEY("agent", "listen", "listen", KEY_LISTEN, listen),
	KEY("agent", "root", "root", KEY_PATH, root),
	KEY("agent", "metrics_listen", "metricsListen", KEY_PATH, metrics_listen,
	    .may_be_empty = true),
	KEY("agent", "log_level", "logLevel", KEY_LOG_LEVEL, log_level),
	KEY("cri", "workers", "workers", KEY_UINT, workers, .min = 1, .max = 256),
	KEY("cri", "queue", "queue", KEY_UINT, queue, .min = 1, .max = 65536),
	KEY("cri", "shutdown_grace_ms", "shutdownGraceMs", KEY_UINT, shutdown_grace_ms,
	    .max = 600000),
	KEY("cni", "conf_dir", "cniConfDir", KEY_PATH, cni_conf_dir),
	KEY("cni", "bin_dirs", "cniBinDirs", KEY_PATH, cni_bin_dirs),
	KEY("cni", "plugin_timeout_ms", "cniPluginTimeoutMs", KEY_UINT, cni_plugin_timeout_ms,
	    .min = 100, .max = 600000),
	KEY("images", "root", "imageRoot", KEY_PATH, image_root, .may_be_empty = true),
	KEY("images", "insecure_registries", "insecureRegistries", KEY_HOSTS, insecure_registries),
	KEY("proxy", "upstream", "proxyUpstream", KEY_LISTEN, proxy_upstream, .may_be_empty = true),
	KEY("proxy", "vm_image_prefixes", "proxyVmImagePrefixes", KEY_WORDS,
	    proxy_vm_image_prefixes),
	KEY("proxy", "timeout_ms", "proxyTimeoutMs", KEY_UINT, proxy_timeout_ms, .min = 1,
	    .max = 3600000),
	KEY("vm", "jail_base", "vmJailBase", KEY_PATH, vm_jail_base, .may_be_empty = true),
	KEY("vm", "vmm", "vmVmm", KEY_PATH, vm_vmm_path, .may_be_empty = true),
	KEY("vm", "jailer", "vmJailer", KEY_PATH, vm_jailer_path, .may_be_empty = true),
	KEY("vm", "shim", "vmShim", KEY_PATH, vm_shim_path, .may_be_empty = true),
	KEY("vm", "uid_base", "vmUidBase", KEY_UINT, vm_uid_base, .min = 1, .max = 4000000000u),
	KEY("vm", "uid_count", "vmUidCount", KEY_UINT, vm_uid_count, .min = 1, .max = 65536),
	KEY("vm", "default_memory_mib", "vmDefaultMemoryMib", KEY_UINT, vm_default_memory_mib,
	    .min = 4, .max = 1048576),
	KEY("vm", "overhead_mib", "vmOverheadMib", KEY_UINT, vm_overhead_mib, .max = 65536),
};

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void agent_config_defaults(struct agent_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "unix:///run/kvmlet/kvmlet.sock");
	snprintf(c->root, sizeof(c->root), "/var/lib/kvmlet");
	snprintf(c->metrics_listen, sizeof(c->metrics_listen), "/run/kvmlet/metrics.sock");
	c->log_level = LOG_INFO;
	c->workers = 4;
	c->queue = 64;
	c->shutdown_grace_ms = 10000;
	snprintf(c->cni_conf_dir, sizeof(c->cni_conf_dir), "/etc/cni/net.d");
	c->proxy_timeout_ms = 300000;
	snprintf(c->cni_bin_dirs, sizeof(c->cni_bin_dirs), "/opt/cni/bin:/usr/lib/cni");
	c->cni_plugin_timeout_ms = 60000;
	c->vm_uid_base = 200000;
	c->vm_uid_count = 1000;
	c->vm_default_memory_mib = 256;
	c->vm_overhead_mib = 64;
}

/* The first of dirs where name is executable, into out. */
static int find_program(const char *const *dirs, const char *name, char *out, struct err *err)
{
	for (size_t i = 0; dirs[i]; i++) {
		int n = snprintf(out, PATH_MAX, "%s/%s", dirs[i], name);

		if (n > 0 && n < PATH_MAX && !access(out, X_OK))
			return 0;
	}
	out[0] = '\0';
	return err_set(err, -ENOENT,
		       "[vm] %s: not found next to kvmlet-agent, in /usr/libexec/kvmlet or in "
		       "/usr/bin; set its path in agent.conf",
		       name);
}

int agent_config_vm_paths(struct agent_config *c, const char *self, struct err *err)
{
	char here[PATH_MAX];
	const char *slash = strrchr(self, '/');
	const char *dirs[] = { here, "/usr/libexec/kvmlet", "/usr/bin", NULL };
	int r;

	snprintf(here, sizeof(here), "%.*s", slash ? (int)(slash - self) : 1, slash ? self : ".");
	if (!c->vm_jail_base[0] && snprintf(c->vm_jail_base, sizeof(c->vm_jail_base), "%s/jail",
					    c->root) >= (int)sizeof(c->vm_jail_base))
		return err_set(err, -ENAMETOOLONG, "[vm] jail_base: too long");
	if ((!c->vm_vmm_path[0] && (r = find_program(dirs, "kvmlet-vmm", c->vm_vmm_path, err))) ||
	    (!c->vm_jailer_path[0] &&
	     (r = find_program(dirs, "kvmlet-jailer", c->vm_jailer_path, err))) ||
	    (!c->vm_shim_path[0] && (r = find_program(dirs, "kvmlet-shim", c->vm_shim_path, err))))
		return r;
	return 0;
}

static const struct config_key *key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(keys[i].section, section))
			return true;
	return false;
}

static int set_string(char *dst, const char *value, const struct config_key *k, struct err *err)
{
	if (strlen(value) >= PATH_MAX)
		return err_set(err, -ENAMETOOLONG, "%s.%s: too long", k->section, k->name);
	strcpy(dst, value);
	return 0;
}

static int set_value(struct agent_config *c, const struct config_key *k, const char *value,
		     struct err *err)
{
	void *dst = (char *)c + k->offset;
	uint64_t u;

	switch (k->type) {
	case KEY_PATH:
		if (!*value && k->may_be_empty)
			return set_string(dst, value, k, err);
		if (value[0] != '/')
			return err_set(err, -EINVAL, "%s.%s: '%s' is not an absolute path",
				       k->section, k->name, value);
		return set_string(dst, value, k, err);
	case KEY_LISTEN: {
		const char *p = value;

		if (!*value && k->may_be_empty)
			return set_string(dst, value, k, err);
		if (!strncmp(p, "unix://", 7))
			p += 7;
		else if (!strncmp(p, "unix:", 5))
			p += 5;
		if (p[0] != '/' || strlen(p) >= 108)
			return err_set(err, -EINVAL,
				       "%s.%s: '%s' is not unix:///absolute/path (under 108 bytes)",
				       k->section, k->name, value);
		return set_string(dst, value, k, err);
	}
	case KEY_HOSTS:
		for (const char *p = value; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr(".-:,[] ", *p))
				return err_set(err, -EINVAL,
					       "%s.%s: '%s' is not a list of host[:port]",
					       k->section, k->name, value);
		return set_string(dst, value, k, err);
	case KEY_WORDS:
		for (const char *p = value; *p; p++)
			if (*p < ' ' || *p == 0x7f || *p == '"')
				return err_set(err, -EINVAL, "%s.%s: '%s' is not a list of words",
					       k->section, k->name, value);
		return set_string(dst, value, k, err);
	case KEY_UINT:
		if (parse_u64(value, k->min, k->max, &u))
			return err_set(err, -EINVAL, "%s.%s: '%s' is not a number from %u to %u",
				       k->section, k->name, value, k->min, k->max);
		*(unsigned int *)dst = (unsigned int)u;
		return 0;
	case KEY_LOG_LEVEL:
		for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
			if (!strcmp(value, level_names[i])) {
				*(enum log_level *)dst = (enum log_level)i;
				return 0;
			}
		return err_set(err, -EINVAL, "%s.%s: '%s' is not error, warn, info or debug",
			       k->section, k->name, value);
	}
	return err_set(err, -EINVAL, "%s.%s: bad key type", k->section, k->name);
}

int agent_config_set(struct agent_config *c, const char *section, const char *key,
		     const char *value, struct err *err)
{
	const struct config_key *k = key_find(section, key);

	if (!k)
		return err_set(err, -EINVAL, "unknown key %s.%s", section, key);
	return set_value(c, k, value, err);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* One line, already cut out and NUL-terminated; *section is the current section. */
static int parse_line(struct agent_config *c, char *line, char *section, size_t cap, bool *seen,
		      struct err *err)
{
	char *s = trim(line), *eq, *key, *value;
	const struct config_key *k;

	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (*s == '[') {
		size_t n = strlen(s);

		if (s[n - 1] != ']')
			return err_set(err, -EINVAL, "a section header must end with ']'");
		s[n - 1] = '\0';
		s = trim(s + 1);
		if (!name_ok(s) || !section_known(s) || strlen(s) >= cap)
			return err_set(err, -EINVAL, "unknown section [%s]", s);
		strcpy(section, s);
		return 0;
	}
	eq = strchr(s, '=');
	if (!eq)
		return err_set(err, -EINVAL, "expected 'key = value', '[section]' or a comment");
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	if (!*section)
		return err_set(err, -EINVAL, "key '%s' outside a section", key);
	k = name_ok(key) ? key_find(section, key) : NULL;
	if (!k)
		return err_set(err, -EINVAL, "unknown key '%s' in [%s]", key, section);
	if (seen[k - keys])
		return err_set(err, -EINVAL, "%s.%s is set twice", section, key);
	seen[k - keys] = true;
	if (value[0] == '"') { /* a quoted value may keep spaces at its ends */
		size_t n = strlen(value);

		if (n < 2 || value[n - 1] != '"')
			return err_set(err, -EINVAL, "unterminated quote in %s.%s", section, key);
		value[n - 1] = '\0';
		value++;
	}
	return set_value(c, k, value, err);
}

int agent_config_parse(struct agent_config *c, const char *text, size_t len, const char *name,
		       struct err *err)
{
	char section[32] = "";
	bool seen[ARRAY_SIZE(keys)] = { false };
	char *buf, *line, *next;
	unsigned int lineno = 0;
	int r = 0;

	if (memchr(text, '\0', len))
		return err_set(err, -EINVAL, "%s: contains a NUL byte", name);
	buf = malloc(len + 1);
	if (!buf)
		return err_set(err, -ENOMEM, "%s: out of memory", name);
	memcpy(buf, text, len);
	buf[len] = '\0';
	for (line = buf; line && !r; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		r = parse_line(c, line, section, sizeof(section), seen, err);
	}
	free(buf);
	if (r)
		err_prefix(err, r, "%s:%u: ", name, lineno);
	return r;
}

int agent_config_load(struct agent_config *c, const char *path, struct err *err)
{
	FILE *f = fopen(path, "re");
	char *text;
	size_t n;
	int r;

	if (!f)
		return err_set(err, -errno, "%s: %m", path);
	text = malloc(MAX_FILE + 1);
	if (!text) {
		fclose(f);
		return err_set(err, -ENOMEM, "%s: out of memory", path);
	}
	n = fread(text, 1, MAX_FILE + 1, f);
	if (ferror(f))
		r = err_set(err, -EIO, "%s: read error", path);
	else if (n > MAX_FILE)
		r = err_set(err, -EFBIG, "%s: larger than %d bytes", path, MAX_FILE);
	else
		r = agent_config_parse(c, text, n, path, err);
	free(text);
	fclose(f);
	return r;
}

char *agent_config_json(const struct agent_config *c)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < ARRAY_SIZE(keys); i++) {
		const void *v = (const char *)c + keys[i].offset;

		switch (keys[i].type) {
		case KEY_PATH:
		case KEY_LISTEN:
		case KEY_HOSTS:
		case KEY_WORDS:
			ok = cJSON_AddStringToObject(o, keys[i].json, v) != NULL;
			break;
		case KEY_UINT:
			ok = cJSON_AddNumberToObject(o, keys[i].json, *(const unsigned int *)v) !=
			     NULL;
			break;
		case KEY_LOG_LEVEL:
			ok = cJSON_AddStringToObject(o, keys[i].json,
						     level_names[*(const enum log_level *)v]) !=
			     NULL;
			break;
		}
	}
	if (ok)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static size_t split_list(const char *list, char *buf, size_t cap, const char **out, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	snprintf(buf, cap, "%s", list);
	for (char *t = strtok_r(buf, ", ", &save); t && n + 1 < max;
	     t = strtok_r(NULL, ", ", &save))
		out[n++] = t;
	out[n] = NULL;
	return n;
}

size_t agent_config_insecure(const struct agent_config *c, char *buf, size_t cap, const char **out,
			     size_t max)
{
	return split_list(c->insecure_registries, buf, cap, out, max);
}

size_t agent_config_vm_image_prefixes(const struct agent_config *c, char *buf, size_t cap,
				      const char **out, size_t max)
{
	return split_list(c->proxy_vm_image_prefixes, buf, cap, out, max);
}
