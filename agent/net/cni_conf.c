// SPDX-License-Identifier: Apache-2.0
#include "agent/net/cni_conf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/json.h"

static const char *const versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0" };

static const struct {
	const char *name;
	unsigned int cap;
} caps[] = {
	{ "portMappings", CNI_CAP_PORT_MAPPINGS },
	{ "bandwidth", CNI_CAP_BANDWIDTH },
	{ "ips", CNI_CAP_IPS },
	{ "mac", CNI_CAP_MAC },
};

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a > b && !strcmp(s + a - b, suffix);
}

static bool conf_name(const char *name)
{
	return name[0] != '.' && (has_suffix(name, ".conflist") || has_suffix(name, ".conf") ||
				  has_suffix(name, ".json"));
}

/* A plugin type is a file name in a plugin directory: no path, nothing hidden. */
static bool plain_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (!n || n > max || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static int first_conf(const char *dir, char *out, size_t cap, struct err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;

	if (!d)
		return err_set(err, -errno, "CNI configuration directory %s: %s", dir,
			       strerror(errno));
	while ((e = readdir(d))) {
		if (!conf_name(e->d_name) || (found && strcmp(e->d_name, out) >= 0))
			continue;
		if (strlen(e->d_name) >= cap)
			continue;
		snprintf(out, cap, "%s", e->d_name);
		found = true;
	}
	closedir(d);
	if (!found)
		return err_set(err, -ENOENT, "no CNI configuration (*.conflist, *.conf) in %s",
			       dir);
	return 0;
}

bool cni_net_present(const char *dir)
{
	char name[256];
	struct err ignored = { 0 };

	return first_conf(dir, name, sizeof(name), &ignored) == 0;
}

static int read_bounded(const char *path, char **out, size_t *len, struct err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;

	if (fd < 0)
		return err_set(err, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CNI_CONF_MAX) {
		close(fd);
		return err_set(err, -EINVAL, "%s: not a regular file of at most %u bytes", path,
			       CNI_CONF_MAX);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	size_t n = 0;

	if (!buf) {
		close(fd);
		return err_set(err, -ENOMEM, "%s: out of memory", path);
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	*out = buf;
	*len = n;
	return 0;
}

static int plugin_parse(struct cni_net *n, const cJSON *obj, size_t i, struct err *err)
{
	struct cni_plugin *p = &n->plugins[i];
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(obj, "capabilities");

	if (!cJSON_IsObject(obj))
		return err_set(err, -EINVAL, "%s: plugin %zu: not an object", n->file, i);
	if (!cJSON_IsString(type) || !plain_name(type->valuestring, 64))
		return err_set(err, -EINVAL,
			       "%s: plugin %zu: \"type\" must be a plugin file name (letters, "
			       "digits, -_.)",
			       n->file, i);
	p->type = type->valuestring;
	p->conf = obj;
	if (!c)
		return 0;
	if (!cJSON_IsObject(c))
		return err_set(err, -EINVAL, "%s: plugin %s: \"capabilities\" must be an object",
			       n->file, p->type);
	for (const cJSON *e = c->child; e; e = e->next) {
		if (!cJSON_IsBool(e))
			return err_set(err, -EINVAL, "%s: plugin %s: capability %s: not a boolean",
				       n->file, p->type, e->string);
		for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++)
			if (!strcmp(e->string, caps[k].name) && cJSON_IsTrue(e))
				p->caps |= caps[k].cap;
	}
	return 0;
}

int cni_net_parse(const char *text, size_t len, bool list, const char *file, struct cni_net *out,
		  struct err *err)
{
	const cJSON *v, *name, *plugins;
	size_t i;

	memset(out, 0, sizeof(*out));
	snprintf(out->file, sizeof(out->file), "%s", file);
	out->root = json_parse(text, len, err);
	if (!out->root)
		return err_prefix(err, -EINVAL, "%s: ", file);
	if (!cJSON_IsObject(out->root)) {
		cni_net_free(out);
		return err_set(err, -EINVAL, "%s: not a JSON object", file);
	}
	v = cJSON_GetObjectItemCaseSensitive(out->root, "cniVersion");
	name = cJSON_GetObjectItemCaseSensitive(out->root, "name");
	int r = -EINVAL;

	for (i = 0; cJSON_IsString(v) && i < sizeof(versions) / sizeof(versions[0]); i++)
		if (!strcmp(v->valuestring, versions[i]))
			break;
	if (!cJSON_IsString(v) || i == sizeof(versions) / sizeof(versions[0])) {
		err_set(err, r, "%s: \"cniVersion\" must be one of 0.3.0, 0.3.1, 0.4.0, 1.0.0",
			file);
		goto fail;
	}
	if (!cJSON_IsString(name) || !plain_name(name->valuestring, 128)) {
		err_set(err, r, "%s: \"name\" must be letters, digits, -_. (at most 128)", file);
		goto fail;
	}
	out->version = v->valuestring;
	out->name = name->valuestring;
	if (!list) {
		out->nr_plugins = 1;
		r = plugin_parse(out, out->root, 0, err);
		if (r)
			goto fail;
		return 0;
	}
	plugins = cJSON_GetObjectItemCaseSensitive(out->root, "plugins");
	int nr = cJSON_IsArray(plugins) ? cJSON_GetArraySize(plugins) : -1;

	if (nr < 1 || nr > CNI_MAX_PLUGINS) {
		err_set(err, r, "%s: \"plugins\" must be an array of 1 to %d plugins", file,
			CNI_MAX_PLUGINS);
		goto fail;
	}
	i = 0;
	for (const cJSON *p = plugins->child; p; p = p->next, i++) {
		r = plugin_parse(out, p, i, err);
		if (r)
			goto fail;
	}
	out->nr_plugins = i;
	return 0;
fail:
	cni_net_free(out);
	return r;
}

int cni_net_load(const char *dir, struct cni_net *out, struct err *err)
{
	char name[256], path[4096];
	char *text = NULL;
	size_t len = 0;
	int r = first_conf(dir, name, sizeof(name), err);

	if (r)
		return r;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return err_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	r = read_bounded(path, &text, &len, err);
	if (r)
		return r;
	r = cni_net_parse(text, len, has_suffix(name, ".conflist"), path, out, err);
	if (r) {
		free(text);
		return r;
	}
	out->text = text;
	return 0;
}

void cni_net_free(struct cni_net *n)
{
	cJSON_Delete(n->root);
	free(n->text);
	n->root = NULL;
	n->text = NULL;
	n->nr_plugins = 0;
}
