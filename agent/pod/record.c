// SPDX-License-Identifier: Apache-2.0
/* Sandbox and container records on disk (record.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/pod/record.h"
#include "lib/json.h"
#include "lib/mkdir_p.h"
#include "lib/replace_file.h"

#define CONFIG_FILE "config.pb"
#define STATE_FILE  "state.json"
/* A CRI request is at most 16 MiB; its config is part of it. */
#define CONFIG_MAX  (16u << 20)
#define STATE_MAX   (64u << 10)

/* The string fields, by name: one table for writing and reading. */
static const struct {
	const char *name;
	size_t offset, size;
} str_fields[] = {
#define F(n, m)                                                                            \
	{                                                                                  \
		n, offsetof(struct record_state, m), sizeof(((struct record_state *)0)->m) \
	}
	F("state", state),
	F("reason", reason),
	F("message", message),
	F("sandboxId", sandbox_id),
	F("runtimeHandler", runtime_handler),
	F("netns", netns),
	F("logPath", log_path),
	F("imageId", image_id),
	F("imageRef", image_ref),
	F("imageName", image_name),
#undef F
};

static const struct {
	const char *name;
	size_t offset;
} time_fields[] = {
	{ "createdAt", offsetof(struct record_state, created_at) },
	{ "startedAt", offsetof(struct record_state, started_at) },
	{ "finishedAt", offsetof(struct record_state, finished_at) },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Nanosecond times pass 2^53: written as exact integer text, read back exactly by lib/json. */
static cJSON *exact_int(int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cJSON_CreateRaw(buf);
}

char *record_state_json(const struct record_state *st)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < ARRAY_SIZE(str_fields); i++)
		ok = cJSON_AddStringToObject(o, str_fields[i].name,
					     (const char *)st + str_fields[i].offset) != NULL;
	for (size_t i = 0; ok && i < ARRAY_SIZE(time_fields); i++) {
		cJSON *v = exact_int(*(const int64_t *)((const char *)st + time_fields[i].offset));

		ok = v && cJSON_AddItemToObject(o, time_fields[i].name, v);
	}
	if (ok)
		ok = cJSON_AddItemToObject(o, "exitCode", exact_int(st->exit_code));
	if (ok)
		text = cJSON_Print(o);
	cJSON_Delete(o);
	return text;
}

int record_state_parse(const char *text, size_t len, struct record_state *st, struct err *err)
{
	cJSON *o = json_parse(text, len, err);
	int r = 0;

	memset(st, 0, sizeof(*st));
	if (!o)
		return -EINVAL;
	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return err_set(err, -EINVAL, "state.json: not an object");
	}
	for (size_t i = 0; !r && i < ARRAY_SIZE(str_fields); i++) {
		const char *v = NULL;

		r = json_get_string("state.json", o, str_fields[i].name, false, &v, err);
		if (!r && v && strlen(v) >= str_fields[i].size)
			r = err_set(err, -EINVAL, "state.json: %s: too long", str_fields[i].name);
		if (!r && v)
			strcpy((char *)st + str_fields[i].offset, v);
	}
	for (size_t i = 0; !r && i < ARRAY_SIZE(time_fields); i++)
		r = json_get_int("state.json", o, time_fields[i].name, false, 0, INT64_MAX,
				 (int64_t *)((char *)st + time_fields[i].offset), err);
	if (!r) {
		int64_t code = 0;

		r = json_get_int("state.json", o, "exitCode", false, INT32_MIN, INT32_MAX, &code,
				 err);
		st->exit_code = (int32_t)code;
	}
	if (!r && !st->state[0])
		r = err_set(err, -EINVAL, "state.json: no state");
	cJSON_Delete(o);
	return r;
}

static int path_of(char *buf, size_t cap, const char *parent, const char *prefix, const char *id,
		   const char *file, struct err *err)
{
	int n = snprintf(buf, cap, "%s/%s%s%s%s", parent, prefix, id, file ? "/" : "",
			 file ? file : "");

	if (n < 0 || (size_t)n >= cap)
		return err_set(err, -ENAMETOOLONG, "%s/%s%s: path too long", parent, prefix, id);
	return 0;
}

static int write_file(const char *path, const void *data, size_t len, struct err *err)
{
	struct replace_file f;
	const char *p = data;
	int r;

	if ((r = replace_file_open(&f, path, "record", err)))
		return r;
	while (len) {
		ssize_t n = write(f.fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			replace_file_abort(&f);
			return err_set(err, r, "%s: %s", path, strerror(-r));
		}
		p += n;
		len -= (size_t)n;
	}
	return replace_file_commit(&f, err);
}

static int write_state(const char *path, const struct record_state *st, struct err *err)
{
	char *text = record_state_json(st);
	int r;

	if (!text)
		return err_set(err, -ENOMEM, "%s: out of memory", path);
	r = write_file(path, text, strlen(text), err);
	free(text);
	return r;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int record_create(const char *parent, const char *id, const uint8_t *config, size_t config_len,
		  const struct record_state *st, struct err *err)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int r;

	if ((r = mkdir_p(parent, 0700)))
		return err_set(err, r, "%s: %s", parent, strerror(-r));
	if ((r = path_of(dir, sizeof(dir), parent, ".new-", id, NULL, err)))
		return r;
	if (mkdir(dir, 0700) < 0)
		return err_set(err, -errno, "%s: %m", dir);
	if ((r = path_of(path, sizeof(path), parent, ".new-", id, CONFIG_FILE, err)) ||
	    (r = write_file(path, config, config_len, err)) ||
	    (r = path_of(path, sizeof(path), parent, ".new-", id, STATE_FILE, err)) ||
	    (r = write_state(path, st, err)))
		return r;
	return 0;
}

static int rename_durably(const char *parent, const char *from, const char *to, struct err *err)
{
	int r;

	if (rename(from, to) < 0)
		return err_set(err, -errno, "rename %s: %m", from);
	if ((r = fsync_dir(parent)))
		return err_set(err, r, "fsync %s: %s", parent, strerror(-r));
	return 0;
}

int record_commit(const char *parent, const char *id, struct err *err)
{
	char from[PATH_MAX], to[PATH_MAX];
	int r;

	if ((r = path_of(from, sizeof(from), parent, ".new-", id, NULL, err)) ||
	    (r = path_of(to, sizeof(to), parent, "", id, NULL, err)))
		return r;
	return rename_durably(parent, from, to, err);
}

int record_update(const char *parent, const char *id, const struct record_state *st,
		  struct err *err)
{
	char path[PATH_MAX];
	int r;

	if ((r = path_of(path, sizeof(path), parent, "", id, STATE_FILE, err)))
		return r;
	return write_state(path, st, err);
}

int record_discard(const char *parent, const char *name, struct err *err)
{
	char dir[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int r;

	if ((r = path_of(dir, sizeof(dir), parent, "", name, NULL, err)))
		return r;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : err_set(err, -errno, "%s: %m", dir);
	/* Only files of ours live here (the two, and replace_file's temporaries). */
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return err_set(err, -errno, "%s: %m", dir);
	if ((r = fsync_dir(parent)))
		return err_set(err, r, "fsync %s: %s", parent, strerror(-r));
	return 0;
}

int record_remove(const char *parent, const char *id, struct err *err)
{
	char from[PATH_MAX], to[PATH_MAX], name[POD_ID_LEN + 8];
	int r;

	if ((r = path_of(from, sizeof(from), parent, "", id, NULL, err)) ||
	    (r = path_of(to, sizeof(to), parent, ".del-", id, NULL, err)))
		return r;
	if (rename(from, to) < 0) {
		if (errno != ENOENT)
			return err_set(err, -errno, "rename %s: %m", from);
	} else if ((r = fsync_dir(parent))) {
		return err_set(err, r, "fsync %s: %s", parent, strerror(-r));
	}
	snprintf(name, sizeof(name), ".del-%s", id);
	return record_discard(parent, name, err);
}

static int read_file(const char *path, size_t max, char **out, size_t *len, struct err *err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	char *buf;

	if (fd < 0)
		return err_set(err, -errno, "%s: %m", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return err_set(err, -EINVAL, "%s: not a regular file of at most %zu bytes", path,
			       max);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return err_set(err, -ENOMEM, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

int record_load(const char *parent, const char *name, uint8_t **config, size_t *config_len,
		struct record_state *st, struct err *err)
{
	char path[PATH_MAX], *text = NULL, *cfg = NULL;
	size_t len;
	int r;

	if ((r = path_of(path, sizeof(path), parent, "", name, CONFIG_FILE, err)) ||
	    (r = read_file(path, CONFIG_MAX, &cfg, config_len, err)) ||
	    (r = path_of(path, sizeof(path), parent, "", name, STATE_FILE, err)) ||
	    (r = read_file(path, STATE_MAX, &text, &len, err)) ||
	    (r = record_state_parse(text, len, st, err))) {
		free(cfg);
		free(text);
		return err_prefix(err, r, "record %s: ", name);
	}
	free(text);
	*config = (uint8_t *)cfg;
	return 0;
}

enum record_kind record_kind(const char *name, const char **id)
{
	if (pod_id_valid(name)) {
		*id = name;
		return RECORD_LIVE;
	}
	if (!strncmp(name, ".new-", 5) && pod_id_valid(name + 5)) {
		*id = name + 5;
		return RECORD_NEW;
	}
	if (!strncmp(name, ".del-", 5) && pod_id_valid(name + 5)) {
		*id = name + 5;
		return RECORD_DEL;
	}
	return RECORD_OTHER;
}
