// SPDX-License-Identifier: Apache-2.0
/* vm.json and exit.json (record.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/vm/record.h"
#include "lib/json.h"
#include "lib/replace_file.h"

#define RECORD_MAX (256 * 1024)

int vm_strv_push(char ***v, size_t *n, const char *s)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));

	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	nv[++*n] = NULL;
	return 0;
}

void vm_strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* 64-bit integers as their exact text: cJSON's doubles would round ns timestamps. */
static bool add_int(cJSON *o, const char *name, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return cJSON_AddRawToObject(o, name, buf) != NULL;
}

static bool add_uint(cJSON *o, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(o, name, buf) != NULL;
}

static bool add_strv(cJSON *o, const char *name, char *const *v, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(o, name);

	for (size_t i = 0; a && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);

		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			return false;
		}
	}
	return a != NULL;
}

static int write_json(const char *dir, const char *name, cJSON *o, struct err *err)
{
	char path[PATH_MAX];
	struct replace_file f;
	char *text;
	size_t len, off = 0;
	int r;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return err_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	text = cJSON_PrintUnformatted(o);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	len = strlen(text);
	r = replace_file_open(&f, path, name, err);
	while (!r && off < len) {
		ssize_t w = write(f.fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = err_set(err, -errno, "%s: %s", path, strerror(errno));
			replace_file_abort(&f);
			break;
		}
		off += (size_t)w;
	}
	if (!r)
		r = replace_file_commit(&f, err);
	free(text);
	return r;
}

static int read_file(const char *dir, const char *name, char **buf, size_t *len, struct err *err)
{
	char path[PATH_MAX];
	int fd;
	size_t n = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return err_set(err, -ENAMETOOLONG, "%s/%s: path too long", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT
				       : err_set(err, -errno, "%s: %s", path, strerror(errno));
	*buf = malloc(RECORD_MAX + 1);
	if (!*buf) {
		close(fd);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, *buf + n, RECORD_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(*buf);
			return err_set(err, -e, "%s: %s", path, strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > RECORD_MAX) {
			close(fd);
			free(*buf);
			return err_set(err, -EFBIG, "%s: larger than %u bytes", path, RECORD_MAX);
		}
	}
	close(fd);
	(*buf)[n] = '\0';
	*len = n;
	return 0;
}

int vm_record_write(const char *dir, const struct vm_record *rec, struct err *err)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && cJSON_AddStringToObject(o, "id", rec->id) &&
		  cJSON_AddStringToObject(o, "sandbox_id", rec->sandbox_id) &&
		  add_uint(o, "uid", rec->uid) && add_uint(o, "cid", rec->cid) &&
		  add_uint(o, "vcpus", rec->vcpus) && add_uint(o, "memory_mib", rec->memory_mib) &&
		  add_uint(o, "cgroup_version", (uint64_t)rec->cgroup_version) &&
		  cJSON_AddStringToObject(o, "cgroup", rec->cgroup) &&
		  cJSON_AddStringToObject(o, "log_path", rec->log_path) &&
		  cJSON_AddStringToObject(o, "log_directory", rec->log_directory) &&
		  cJSON_AddBoolToObject(o, "log_mounted", rec->log_mounted) &&
		  add_int(o, "created_at", rec->created_at) &&
		  add_int(o, "started_at", rec->started_at) &&
		  add_int(o, "shim_pid", rec->shim_pid) &&
		  add_uint(o, "shim_start_ticks", rec->shim_start_ticks) &&
		  add_int(o, "stop_requested_at", rec->stop_requested_at) &&
		  add_strv(o, "argv", rec->argv, rec->argc) &&
		  add_strv(o, "disks", rec->disks, rec->nr_disks);
	int r = ok ? write_json(dir, "vm.json", o, err) : err_set(err, -ENOMEM, "out of memory");

	cJSON_Delete(o);
	return r;
}

static int copy_str(const char *what, const cJSON *o, const char *name, char *buf, size_t size,
		    struct err *err)
{
	const char *s;
	int r = json_get_string(what, o, name, true, &s, err);

	if (r)
		return r;
	if (strlen(s) >= size)
		return err_set(err, -EINVAL, "%s: %s: too long", what, name);
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

static int get_strv(const char *what, const cJSON *o, const char *name, char ***v, size_t *n,
		    struct err *err)
{
	const cJSON *a = json_member(o, name), *it;

	if (!cJSON_IsArray(a))
		return err_set(err, -EINVAL, "%s: %s: expected an array of strings", what, name);
	cJSON_ArrayForEach(it, a)
	{
		if (!cJSON_IsString(it))
			return err_set(err, -EINVAL, "%s: %s: expected an array of strings", what,
				       name);
		if (vm_strv_push(v, n, it->valuestring))
			return err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

/*
 * log_directory, absent from records written before it was: then the log
 * file's own directory. log_path must lie beneath it.
 */
static int get_log_directory(const char *what, const cJSON *o, struct vm_record *rec,
			     struct err *err)
{
	const char *d = NULL, *slash = strrchr(rec->log_path, '/');
	size_t n;
	int r = json_get_string(what, o, "log_directory", false, &d, err);

	if (r)
		return r;
	if (!*rec->log_path) {
		rec->log_directory[0] = '\0';
		return 0;
	}
	if (!d && slash)
		snprintf(rec->log_directory, sizeof(rec->log_directory), "%.*s",
			 (int)(slash - rec->log_path), rec->log_path);
	else if (d)
		snprintf(rec->log_directory, sizeof(rec->log_directory), "%s", d);
	n = strlen(rec->log_directory);
	if (!n || strncmp(rec->log_path, rec->log_directory, n) || rec->log_path[n] != '/' ||
	    !rec->log_path[n + 1])
		return err_set(err, -EINVAL, "%s: log_path is not beneath log_directory", what);
	return 0;
}

const char *vm_record_log_relpath(const struct vm_record *rec)
{
	size_t n = strlen(rec->log_directory);

	return *rec->log_path && n ? rec->log_path + n + 1 : "";
}

static const char *const record_fields[] = {
	"id",
	"sandbox_id",
	"uid",
	"cid",
	"vcpus",
	"memory_mib",
	"cgroup_version",
	"cgroup",
	"log_path",
	"log_directory",
	"log_mounted",
	"created_at",
	"started_at",
	"shim_pid",
	"shim_start_ticks",
	"stop_requested_at",
	"argv",
	"disks",
};

int vm_record_parse(const char *json, size_t len, struct vm_record *rec, struct err *err)
{
	static const char what[] = "vm.json";
	cJSON *o = json_parse(json, len, err);
	uint64_t uid = 0, cid = 0, vcpus = 0, ver = 0;
	int r;

	memset(rec, 0, sizeof(*rec));
	if (!o)
		return err->code;
	r = json_check_members(what, o, record_fields,
			       sizeof(record_fields) / sizeof(record_fields[0]), err);
	if (!r)
		r = copy_str(what, o, "id", rec->id, sizeof(rec->id), err);
	if (!r)
		r = copy_str(what, o, "sandbox_id", rec->sandbox_id, sizeof(rec->sandbox_id), err);
	if (!r)
		r = json_get_uint(what, o, "uid", true, 1, UINT32_MAX - 1, &uid, err);
	if (!r)
		r = json_get_uint(what, o, "cid", true, 3, UINT32_MAX - 1, &cid, err);
	if (!r)
		r = json_get_uint(what, o, "vcpus", true, 1, 254, &vcpus, err);
	if (!r)
		r = json_get_uint(what, o, "memory_mib", true, 1, UINT64_MAX >> 21,
				  &rec->memory_mib, err);
	if (!r)
		r = json_get_uint(what, o, "cgroup_version", true, 1, 2, &ver, err);
	if (!r)
		r = copy_str(what, o, "cgroup", rec->cgroup, sizeof(rec->cgroup), err);
	if (!r)
		r = copy_str(what, o, "log_path", rec->log_path, sizeof(rec->log_path), err);
	if (!r)
		r = get_log_directory(what, o, rec, err);
	if (!r)
		r = json_get_bool(what, o, "log_mounted", true, &rec->log_mounted, err);
	if (!r)
		r = json_get_int(what, o, "created_at", true, 0, INT64_MAX, &rec->created_at, err);
	if (!r)
		r = json_get_int(what, o, "started_at", true, 0, INT64_MAX, &rec->started_at, err);
	if (!r)
		r = json_get_int(what, o, "shim_pid", true, 0, INT32_MAX, &rec->shim_pid, err);
	if (!r)
		r = json_get_uint(what, o, "shim_start_ticks", true, 0, UINT64_MAX,
				  &rec->shim_start_ticks, err);
	if (!r) /* absent from records written before it was */
		r = json_get_int(what, o, "stop_requested_at", false, 0, INT64_MAX,
				 &rec->stop_requested_at, err);
	if (!r)
		r = get_strv(what, o, "argv", &rec->argv, &rec->argc, err);
	if (!r)
		r = get_strv(what, o, "disks", &rec->disks, &rec->nr_disks, err);
	cJSON_Delete(o);
	rec->uid = (uint32_t)uid;
	rec->cid = (uint32_t)cid;
	rec->vcpus = (uint32_t)vcpus;
	rec->cgroup_version = (int)ver;
	if (r)
		vm_record_free(rec);
	return r;
}

int vm_record_read(const char *dir, struct vm_record *rec, struct err *err)
{
	char *buf;
	size_t len;
	int r = read_file(dir, "vm.json", &buf, &len, err);

	if (r)
		return r;
	r = vm_record_parse(buf, len, rec, err);
	free(buf);
	return r;
}

void vm_record_free(struct vm_record *rec)
{
	vm_strv_free(rec->argv, rec->argc);
	vm_strv_free(rec->disks, rec->nr_disks);
	rec->argv = rec->disks = NULL;
	rec->argc = rec->nr_disks = 0;
}

int vm_exit_write(const char *dir, const struct vm_exit *e, struct err *err)
{
	cJSON *o = cJSON_CreateObject();
	bool ok = o && add_int(o, "exit_status", e->exit_status) &&
		  add_int(o, "signal", e->signal) && add_int(o, "finished_at", e->finished_at) &&
		  cJSON_AddBoolToObject(o, "oom", e->oom) &&
		  cJSON_AddBoolToObject(o, "killed", e->killed) &&
		  cJSON_AddBoolToObject(o, "lost", e->lost);
	int r = ok ? write_json(dir, "exit.json", o, err) : err_set(err, -ENOMEM, "out of memory");

	cJSON_Delete(o);
	return r;
}

struct exit_json {
	int64_t exit_status, signal, finished_at;
	bool oom, killed, lost;
};

static const struct json_field exit_fields[] = {
	JSON_FIELD_INT("exit_status", true, struct exit_json, exit_status, -1, 255),
	JSON_FIELD_INT("signal", true, struct exit_json, signal, 0, 64),
	JSON_FIELD_INT("finished_at", true, struct exit_json, finished_at, 0, INT64_MAX),
	JSON_FIELD("oom", JSON_BOOL, true, struct exit_json, oom),
	JSON_FIELD("killed", JSON_BOOL, true, struct exit_json, killed),
	JSON_FIELD("lost", JSON_BOOL, false, struct exit_json, lost),
};

int vm_exit_parse(const char *json, size_t len, struct vm_exit *e, struct err *err)
{
	struct exit_json x = { 0 };
	cJSON *o = json_parse(json, len, err);
	int r;

	if (!o)
		return err->code;
	r = json_decode("exit.json", o, exit_fields, sizeof(exit_fields) / sizeof(exit_fields[0]),
			&x, err);
	cJSON_Delete(o);
	if (r)
		return r;
	/* Exactly one of the two says how it ended. */
	if ((x.exit_status < 0) != (x.signal > 0))
		return err_set(err, -EINVAL,
			       "exit.json: exactly one of exit_status and signal must be set");
	e->exit_status = (int)x.exit_status;
	e->signal = (int)x.signal;
	e->finished_at = x.finished_at;
	e->oom = x.oom;
	e->killed = x.killed;
	e->lost = x.lost;
	return 0;
}

int vm_exit_read(const char *dir, struct vm_exit *e, struct err *err)
{
	char *buf;
	size_t len;
	int r = read_file(dir, "exit.json", &buf, &len, err);

	if (r)
		return r;
	r = vm_exit_parse(buf, len, e, err);
	free(buf);
	return r;
}
