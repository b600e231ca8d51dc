// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/image/reference.h"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

/* The docker.io rule: is the part before the first '/' a registry host? */
static bool looks_like_domain(const char *s, size_t len)
{
	if (len == 9 && !memcmp(s, "localhost", 9))
		return true;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '.' || s[i] == ':' || (s[i] >= 'A' && s[i] <= 'Z'))
			return true;
	return false;
}

static int check_domain(const char *s, size_t len, struct err *err)
{
	const char *colon = memchr(s, ':', len);
	size_t host_len = colon ? (size_t)(colon - s) : len;
	size_t start = 0;

	for (size_t i = 0; i <= host_len; i++) {
		if (i < host_len && s[i] != '.')
			continue;
		/* one label: alnum, inner '-' allowed */
		if (i == start || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
			goto bad;
		for (size_t j = start; j < i; j++)
			if (!is_alnum(s[j]) && s[j] != '-')
				goto bad;
		start = i + 1;
	}
	if (colon) {
		size_t port_len = len - host_len - 1;

		if (!port_len || port_len > 5)
			return err_set(err, -EINVAL, "registry '%.*s': bad port", (int)len, s);
		for (size_t i = host_len + 1; i < len; i++)
			if (!isdigit((unsigned char)s[i]))
				return err_set(err, -EINVAL, "registry '%.*s': bad port", (int)len,
					       s);
	}
	return 0;
bad:
	return err_set(err, -EINVAL, "registry '%.*s' is not a valid host name", (int)len, s);
}

/* One path component: lowercase alnum runs joined by '.', '_', '__' or '-'+. */
static int check_component(const char *s, size_t len, struct err *err)
{
	size_t i = 0;

	if (!len)
		return err_set(err, -EINVAL, "repository name has an empty component");
	for (size_t j = 0; j < len; j++)
		if (s[j] >= 'A' && s[j] <= 'Z')
			return err_set(err, -EINVAL, "repository name must be lowercase");
	while (i < len) {
		size_t run = 0;

		while (i < len && is_lower_alnum(s[i]))
			i++, run++;
		if (!run)
			goto bad;
		if (i == len)
			return 0;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < len && s[i] == '-')
				i++;
		else
			goto bad;
		if (i == len)
			goto bad;
	}
	return 0;
bad:
	return err_set(err, -EINVAL, "repository name component '%.*s' is invalid", (int)len, s);
}

static int check_tag(const char *s, struct err *err)
{
	size_t len = strlen(s);

	if (!len)
		return err_set(err, -EINVAL, "empty tag");
	if (len > REF_TAG_MAX)
		return err_set(err, -EINVAL, "tag longer than %d characters", REF_TAG_MAX);
	if (!is_word(s[0]))
		return err_set(err, -EINVAL, "tag '%s' must start with a letter, digit or '_'", s);
	for (size_t i = 1; i < len; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return err_set(err, -EINVAL, "tag '%s' holds an invalid character", s);
	return 0;
}

static bool all_hex64(const char *s, size_t len)
{
	if (len != DIGEST_HEX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)s[i]) || (s[i] >= 'A' && s[i] <= 'F'))
			return false;
	return true;
}

/* Splits name into domain and path, the way docker's splitDockerDomain does. */
static int ref_split_name(const char *name, size_t len, struct image_ref *ref, struct err *err)
{
	const char *slash = memchr(name, '/', len);
	const char *path = name;
	size_t path_len = len;
	int r;

	if (slash && looks_like_domain(name, (size_t)(slash - name))) {
		size_t dlen = (size_t)(slash - name);

		r = check_domain(name, dlen, err);
		if (r)
			return r;
		memcpy(ref->domain, name, dlen);
		ref->domain[dlen] = '\0';
		path = slash + 1;
		path_len = len - dlen - 1;
	} else {
		strcpy(ref->domain, REF_DEFAULT_DOMAIN);
	}
	if (!strcmp(ref->domain, "index.docker.io"))
		strcpy(ref->domain, REF_DEFAULT_DOMAIN);
	for (size_t start = 0, i = 0; i <= path_len; i++) {
		if (i < path_len && path[i] != '/')
			continue;
		r = check_component(path + start, i - start, err);
		if (r)
			return r;
		start = i + 1;
	}
	if (!strcmp(ref->domain, REF_DEFAULT_DOMAIN) && !memchr(path, '/', path_len))
		snprintf(ref->path, sizeof(ref->path), "library/%.*s", (int)path_len, path);
	else
		snprintf(ref->path, sizeof(ref->path), "%.*s", (int)path_len, path);
	/* "library/" may push a 247..255 name past the limit: checked here. */
	if (strlen(ref->domain) + 1 + strlen(ref->path) > REF_NAME_MAX)
		return err_set(err, -EINVAL, "repository name longer than %d characters",
			       REF_NAME_MAX);
	return 0;
}

int ref_parse(const char *s, struct image_ref *ref, struct err *err)
{
	size_t len = strlen(s), name_len;
	const char *at, *slash, *colon;
	int r;

	memset(ref, 0, sizeof(*ref));
	if (!len)
		return err_set(err, -EINVAL, "empty image reference");
	if (len > REF_MAX)
		return err_set(err, -EINVAL, "image reference longer than %d characters", REF_MAX);
	if (all_hex64(s, len))
		return err_set(err, -EINVAL,
			       "invalid repository name '%s': 64 hex digits name an image id", s);
	at = strchr(s, '@');
	if (at) {
		r = digest_check(at + 1, err);
		if (r)
			return err_prefix(err, r, "image reference '%.80s': ", s);
		strcpy(ref->digest, at + 1);
		name_len = (size_t)(at - s);
	} else {
		name_len = len;
	}
	/* A tag's ':' comes after the last '/'; an earlier one is a port. */
	slash = memrchr(s, '/', name_len);
	colon = memrchr(slash ? slash : s, ':', name_len - (size_t)(slash ? slash - s : 0));
	if (colon) {
		size_t tag_len = name_len - (size_t)(colon - s) - 1;

		if (tag_len > REF_TAG_MAX)
			return err_set(err, -EINVAL, "image reference '%.80s': tag longer than %d",
				       s, REF_TAG_MAX);
		memcpy(ref->tag, colon + 1, tag_len);
		ref->tag[tag_len] = '\0';
		r = check_tag(ref->tag, err);
		if (r)
			return err_prefix(err, r, "image reference '%.80s': ", s);
		name_len = (size_t)(colon - s);
	}
	if (!name_len)
		return err_set(err, -EINVAL, "image reference '%.80s' has no name", s);
	if (name_len > REF_NAME_MAX)
		return err_set(err, -EINVAL, "image reference '%.80s': name longer than %d", s,
			       REF_NAME_MAX);
	r = ref_split_name(s, name_len, ref, err);
	if (r)
		return err_prefix(err, r, "image reference '%.80s': ", s);
	if (!ref->tag[0] && !ref->digest[0])
		strcpy(ref->tag, REF_DEFAULT_TAG);
	return 0;
}

static int ref_format(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int ref_format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return n;
}

int ref_name(const struct image_ref *ref, char *buf, size_t size)
{
	return ref_format(buf, size, "%s/%s", ref->domain, ref->path);
}

int ref_tagged(const struct image_ref *ref, char *buf, size_t size)
{
	if (!ref->tag[0])
		return -EINVAL;
	return ref_format(buf, size, "%s/%s:%s", ref->domain, ref->path, ref->tag);
}

int ref_digested(const struct image_ref *ref, char *buf, size_t size)
{
	if (!ref->digest[0])
		return -EINVAL;
	return ref_format(buf, size, "%s/%s@%s", ref->domain, ref->path, ref->digest);
}

int ref_full(const struct image_ref *ref, char *buf, size_t size)
{
	return ref_format(buf, size, "%s/%s%s%s%s%s", ref->domain, ref->path,
			  ref->tag[0] ? ":" : "", ref->tag, ref->digest[0] ? "@" : "", ref->digest);
}

int ref_familiar(const struct image_ref *ref, char *buf, size_t size)
{
	const char *path = ref->path;
	bool hub = !strcmp(ref->domain, REF_DEFAULT_DOMAIN);

	if (hub && !strncmp(path, "library/", 8) && !strchr(path + 8, '/'))
		path += 8;
	/*
	 * docker prints "docker.io/ker.io/a" as "ker.io/a", which reads back
	 * as another registry: such names keep their domain.
	 */
	if (hub && strchr(path, '/') && looks_like_domain(path, strcspn(path, "/")))
		hub = false;
	return ref_format(buf, size, "%s%s%s%s%s%s%s", hub ? "" : ref->domain, hub ? "" : "/", path,
			  ref->tag[0] ? ":" : "", ref->tag, ref->digest[0] ? "@" : "", ref->digest);
}
