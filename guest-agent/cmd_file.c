// SPDX-License-Identifier: Apache-2.0
/*
 * guest-file-*: handles belong to the agent (struct ga), not to a connection:
 * any connection may use any handle, as with QGA. They are numbered from 1000. Files are opened O_NONBLOCK so a FIFO
 * or device with nothing to read cannot stall the agent's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ga_internal.h"
#include "lib/base64.h"

#define GA_FILE_MAX_HANDLES 1024
#define GA_READ_DEFAULT	    4096
#define GA_READ_MAX	    (48u << 20) /* QGA's limit for one read */

struct handle {
	int64_t id;
	int fd;
};

struct ga_files {
	struct handle handles[GA_FILE_MAX_HANDLES];
	unsigned int nr_handles;
	int64_t next_id;
};

struct ga_files *ga_files_create(void)
{
	struct ga_files *f = calloc(1, sizeof(*f));

	if (f)
		f->next_id = 1000;
	return f;
}

void ga_files_destroy(struct ga_files *f)
{
	for (unsigned int i = 0; i < f->nr_handles; i++)
		close(f->handles[i].fd);
	free(f);
}

static struct handle *find(struct ga_files *f, json_object *args, char **err)
{
	int64_t id = 0;

	ga_arg_int(args, "handle", &id);
	for (unsigned int i = 0; i < f->nr_handles; i++)
		if (f->handles[i].id == id)
			return &f->handles[i];
	ga_fail(err, "handle '%lld' has not been found", (long long)id);
	return NULL;
}

static int open_flags(const char *mode)
{
	char m[4] = "";
	size_t k = 0;

	/* fopen() modes: the 'b' is meaningless on Linux and may sit anywhere after the letter */
	for (const char *p = mode; *p; p++) {
		if (*p == 'b' && p != mode)
			continue;
		if (k == 2)
			return -1;
		m[k++] = *p;
	}
	if (!strcmp(m, "r"))
		return O_RDONLY;
	if (!strcmp(m, "r+"))
		return O_RDWR;
	if (!strcmp(m, "w"))
		return O_WRONLY | O_CREAT | O_TRUNC;
	if (!strcmp(m, "w+"))
		return O_RDWR | O_CREAT | O_TRUNC;
	if (!strcmp(m, "a"))
		return O_WRONLY | O_CREAT | O_APPEND;
	if (!strcmp(m, "a+"))
		return O_RDWR | O_CREAT | O_APPEND;
	return -1;
}

json_object *cmd_file_open(struct ga *ga, json_object *args, char **err)
{
	const char *path = ga_arg_str(args, "path"), *mode = ga_arg_str(args, "mode");
	struct ga_files *f = ga->files;
	int flags, fd;

	if (!mode)
		mode = "r";
	flags = open_flags(mode);
	if (flags < 0)
		return ga_fail(err, "Invalid parameter 'mode': '%s' is not a valid open mode",
			       mode);
	if (f->nr_handles == GA_FILE_MAX_HANDLES)
		return ga_fail(err, "too many open files (%d)", GA_FILE_MAX_HANDLES);
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0666);
	if (fd < 0)
		return ga_fail(err, "failed to open file '%s' (mode: '%s'): %s", path, mode,
			       strerror(errno));
	f->handles[f->nr_handles++] = (struct handle){ f->next_id, fd };
	return json_object_new_int64(f->next_id++);
}

json_object *cmd_file_close(struct ga *ga, json_object *args, char **err)
{
	struct handle *h = find(ga->files, args, err);

	if (!h)
		return NULL;
	close(h->fd);
	*h = ga->files->handles[--ga->files->nr_handles];
	return json_object_new_object();
}

json_object *cmd_file_read(struct ga *ga, json_object *args, char **err)
{
	struct handle *h = find(ga->files, args, err);
	int64_t count = GA_READ_DEFAULT;
	size_t got = 0;
	bool eof = false;
	json_object *r;
	char *buf, *b64;

	if (!h)
		return NULL;
	ga_arg_int(args, "count", &count);
	if (count < 0 || count > GA_READ_MAX)
		return ga_fail(err, "value '%lld' is invalid for argument count", (long long)count);
	buf = malloc(count ? count : 1);
	if (!buf)
		return ga_fail(err, "out of memory");
	while (got < (size_t)count) {
		ssize_t n = read(h->fd, buf + got, count - got);

		if (n == 0) {
			eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			free(buf);
			return ga_fail(err, "failed to read file: %s", strerror(errno));
		}
		got += n;
	}
	b64 = base64_encode(buf, got);
	free(buf);
	if (!b64)
		return ga_fail(err, "out of memory");
	r = json_object_new_object();
	json_object_object_add(r, "count", json_object_new_int64(got));
	json_object_object_add(r, "buf-b64", json_object_new_string(b64));
	json_object_object_add(r, "eof", json_object_new_boolean(eof));
	free(b64);
	return r;
}

json_object *cmd_file_write(struct ga *ga, json_object *args, char **err)
{
	struct handle *h = find(ga->files, args, err);
	const char *b64 = ga_arg_str(args, "buf-b64");
	size_t len, done = 0;
	int64_t count;
	json_object *r;
	char *buf;

	if (!h)
		return NULL;
	buf = (char *)base64_decode(b64, strlen(b64), &len);
	if (!buf)
		return ga_fail(err, "Invalid base64 data in parameter 'buf-b64'");
	count = len;
	ga_arg_int(args, "count", &count);
	if (count < 0 || (size_t)count > len) {
		free(buf);
		return ga_fail(err, "value '%lld' is invalid for argument count", (long long)count);
	}
	while (done < (size_t)count) {
		ssize_t n = write(h->fd, buf + done, count - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (done || (n < 0 && errno == EAGAIN))
				break;
			free(buf);
			return ga_fail(err, "failed to write to file: %s", strerror(errno));
		}
		done += n;
	}
	free(buf);
	r = json_object_new_object();
	json_object_object_add(r, "count", json_object_new_int64(done));
	json_object_object_add(r, "eof", json_object_new_boolean(false));
	return r;
}

int ga_whence_by_name(const char *name)
{
	return !strcmp(name, "set")   ? SEEK_SET
	       : !strcmp(name, "cur") ? SEEK_CUR
	       : !strcmp(name, "end") ? SEEK_END
				      : -1;
}

json_object *cmd_file_seek(struct ga *ga, json_object *args, char **err)
{
	struct handle *h = find(ga->files, args, err);
	json_object *w = ga_arg(args, "whence"), *r;
	int64_t offset = 0;
	int whence;
	off_t pos;

	if (!h)
		return NULL;
	ga_arg_int(args, "offset", &offset);
	/* The dispatcher has checked the type and the name; the raw codes are QGA_SEEK_*. */
	if (json_object_is_type(w, json_type_string)) {
		whence = ga_whence_by_name(json_object_get_string(w));
	} else {
		int64_t v = json_object_get_int64(w);

		if (v < 0 || v > 2)
			return ga_fail(err, "invalid whence code %lld", (long long)v);
		whence = (int)v;
	}
	pos = lseek(h->fd, offset, whence);
	if (pos < 0)
		return ga_fail(err, "failed to seek file: %s", strerror(errno));
	r = json_object_new_object();
	json_object_object_add(r, "position", json_object_new_int64(pos));
	json_object_object_add(r, "eof", json_object_new_boolean(false));
	return r;
}

json_object *cmd_file_flush(struct ga *ga, json_object *args, char **err)
{
	/* Writes go straight to the fd; there is no user-space buffer to flush. */
	return find(ga->files, args, err) ? json_object_new_object() : NULL;
}
