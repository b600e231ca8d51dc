// SPDX-License-Identifier: Apache-2.0
/*
 * guest-exec and guest-exec-status. Each process gets a thread that feeds
 * its stdin, drains its output and reaps it, so a process that never exits
 * or floods its pipes costs only that thread and never blocks the agent's
 * loop. Output beyond GA_EXEC_MAX_OUTPUT per stream is read and dropped
 * (the process is not stalled on a full pipe) and reported as truncated.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ga_internal.h"
#include "lib/base64.h"

#define GA_EXEC_MAX_OUTPUT (16u << 20) /* what QGA keeps per stream */
#define GA_EXEC_MAX_PROCS  1024	       /* unreported processes, so a client cannot exhaust us */

extern char **environ;

struct stream {
	char *data;
	size_t len, cap;
	bool captured, truncated;
};

struct exec {
	pid_t pid;
	bool exited;
	int status;
	struct stream out, err;
	struct exec *next;
};

struct ga_execs {
	pthread_mutex_t lock; /* everything below, and each entry's results */
	struct exec *list;    /* started and not yet reported */
	unsigned int nr;
	unsigned int refs; /* the agent's, and one per process thread */
	bool orphaned;	   /* the agent is gone: threads free their own entries */
};

/* A process thread's own: its pipes and what is left to feed its stdin. */
struct exec_io {
	struct ga_execs *x;
	struct exec *e;
	int in, out, err;
	char *input;
	size_t input_len, input_off;
};

/* What guest-exec asked for, parsed. */
struct exec_req {
	const char *path;
	char **argv, **envp;
	char *data;
	size_t data_len;
	bool cap_out, cap_err, merged;
};

struct ga_execs *ga_execs_create(void)
{
	struct ga_execs *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	pthread_mutex_init(&x->lock, NULL);
	x->refs = 1;
	return x;
}

/* Drops a reference while holding x->lock; the last one frees x. */
static void execs_unlock_put(struct ga_execs *x)
{
	bool last = --x->refs == 0;

	pthread_mutex_unlock(&x->lock);
	if (last) {
		pthread_mutex_destroy(&x->lock);
		free(x);
	}
}

static void exec_free(struct exec *e)
{
	free(e->out.data);
	free(e->err.data);
	free(e);
}

void ga_execs_destroy(struct ga_execs *x)
{
	struct exec *e, *next;

	pthread_mutex_lock(&x->lock);
	for (e = x->list; e; e = next) {
		next = e->next;
		/* A running process's entry is its thread's to free. */
		if (e->exited)
			exec_free(e);
	}
	x->list = NULL;
	x->nr = 0;
	x->orphaned = true;
	execs_unlock_put(x);
}

static void stream_add(struct stream *s, const char *buf, size_t n)
{
	size_t room = GA_EXEC_MAX_OUTPUT - s->len;

	if (n > room) {
		n = room;
		s->truncated = true;
	}
	if (!n)
		return;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 65536;
		char *nd;

		while (cap < s->len + n)
			cap *= 2;
		if (cap > GA_EXEC_MAX_OUTPUT)
			cap = GA_EXEC_MAX_OUTPUT;
		nd = realloc(s->data, cap);
		if (!nd) {
			s->truncated = true;
			return;
		}
		s->data = nd;
		s->cap = cap;
	}
	memcpy(s->data + s->len, buf, n);
	s->len += n;
}

static void pump_stdin(struct exec_io *io)
{
	ssize_t n = write(io->in, io->input + io->input_off, io->input_len - io->input_off);

	if (n > 0)
		io->input_off += n;
	if ((n < 0 && errno != EAGAIN && errno != EINTR) || io->input_off == io->input_len) {
		close(io->in);
		io->in = -1;
	}
}

static void pump_output(struct exec_io *io, int *fd, struct stream *s, char *buf, size_t size)
{
	ssize_t n = read(*fd, buf, size);

	if (n > 0) {
		pthread_mutex_lock(&io->x->lock);
		stream_add(s, buf, n);
		pthread_mutex_unlock(&io->x->lock);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		close(*fd);
		*fd = -1;
	}
}

/* Until stdin is fed and both outputs are at end of file. */
static void pump(struct exec_io *io, char *buf, size_t size)
{
	while (io->in >= 0 || io->out >= 0 || io->err >= 0) {
		struct pollfd p[3] = {
			{ .fd = io->in, .events = POLLOUT },
			{ .fd = io->out, .events = POLLIN },
			{ .fd = io->err, .events = POLLIN },
		};

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (io->in >= 0 && p[0].revents)
			pump_stdin(io);
		if (io->out >= 0 && p[1].revents)
			pump_output(io, &io->out, &io->e->out, buf, size);
		if (io->err >= 0 && p[2].revents)
			pump_output(io, &io->err, &io->e->err, buf, size);
	}
}

static void exec_finish(struct exec_io *io, int status)
{
	struct ga_execs *x = io->x;

	pthread_mutex_lock(&x->lock);
	if (x->orphaned) {
		exec_free(io->e);
	} else {
		io->e->status = status;
		io->e->exited = true;
	}
	execs_unlock_put(x);
	free(io);
}

static void *exec_thread(void *arg)
{
	struct exec_io *io = arg;
	char small[4096];
	char *rbuf = malloc(65536);
	int status = 0;

	pump(io, rbuf ? rbuf : small, rbuf ? 65536 : sizeof(small));
	free(rbuf);
	free(io->input);
	while (waitpid(io->e->pid, &status, 0) < 0 && errno == EINTR)
		;
	exec_finish(io, status);
	return NULL;
}

/* "capture-output": a boolean, or (QGA 8.0+) none|stdout|stderr|separated|merged. */
static bool capture_mode(json_object *v, bool *out, bool *err, bool *merged)
{
	const char *s;

	*out = *err = *merged = false;
	if (!v)
		return true;
	if (json_object_is_type(v, json_type_boolean)) {
		*out = *err = json_object_get_boolean(v);
		return true;
	}
	if (!json_object_is_type(v, json_type_string))
		return false;
	s = json_object_get_string(v);
	if (!strcmp(s, "none"))
		return true;
	if (!strcmp(s, "stdout"))
		*out = true;
	else if (!strcmp(s, "stderr"))
		*err = true;
	else if (!strcmp(s, "separated"))
		*out = *err = true;
	else if (!strcmp(s, "merged"))
		*out = *merged = true;
	else
		return false;
	return true;
}

static char **str_list(const char *first, json_object *arr)
{
	size_t n = arr ? json_object_array_length(arr) : 0, k = 0;
	char **v = calloc(n + 2, sizeof(*v));

	if (!v)
		return NULL;
	if (first)
		v[k++] = (char *)first;
	for (size_t i = 0; i < n; i++)
		v[k++] = (char *)json_object_get_string(json_object_array_get_idx(arr, i));
	return v;
}

static void exec_req_free(struct exec_req *r)
{
	free(r->argv);
	if (r->envp != environ)
		free(r->envp);
	free(r->data);
}

/* The checks the dispatcher's type table cannot make. */
static bool exec_parse(json_object *args, struct exec_req *r, char **err)
{
	const char *input = ga_arg_str(args, "input-data");

	r->path = ga_arg_str(args, "path");
	r->envp = environ;
	if (!capture_mode(ga_arg(args, "capture-output"), &r->cap_out, &r->cap_err, &r->merged)) {
		ga_fail(err, "Invalid parameter 'capture-output'");
		return false;
	}
	if (input && !(r->data = (char *)base64_decode(input, strlen(input), &r->data_len))) {
		ga_fail(err, "Invalid base64 data in parameter 'input-data'");
		return false;
	}
	return true;
}

static bool execs_full(struct ga_execs *x)
{
	bool full;

	pthread_mutex_lock(&x->lock);
	full = x->nr >= GA_EXEC_MAX_PROCS;
	pthread_mutex_unlock(&x->lock);
	return full;
}

/* The child's fd is its end of a pipe, or /dev/null when there is no pipe. */
static void redirect(posix_spawn_file_actions_t *fa, int fd, int child_end, int oflag)
{
	if (child_end >= 0)
		posix_spawn_file_actions_adddup2(fa, child_end, fd);
	else
		posix_spawn_file_actions_addopen(fa, fd, "/dev/null", oflag, 0);
}

/* A pipe per stream that is fed or captured; [0] reads, [1] writes. */
struct exec_pipes {
	int in[2], out[2], err[2];
};

static void close_pipe(int p[2])
{
	for (int i = 0; i < 2; i++) {
		if (p[i] >= 0)
			close(p[i]);
		p[i] = -1;
	}
}

static void pipes_close(struct exec_pipes *pp)
{
	close_pipe(pp->in);
	close_pipe(pp->out);
	close_pipe(pp->err);
}

static bool pipes_open(struct exec_pipes *pp, const struct exec_req *r)
{
	return !(r->data && pipe2(pp->in, O_CLOEXEC) < 0) &&
	       !(r->cap_out && pipe2(pp->out, O_CLOEXEC) < 0) &&
	       !(r->cap_err && pipe2(pp->err, O_CLOEXEC) < 0);
}

static int spawn(pid_t *pid, const struct exec_req *r, const struct exec_pipes *pp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, def;
	int rc;

	posix_spawn_file_actions_init(&fa);
	redirect(&fa, 0, pp->in[0], O_RDONLY);
	redirect(&fa, 1, pp->out[1], O_WRONLY);
	redirect(&fa, 2, r->merged ? pp->out[1] : pp->err[1], O_WRONLY);
	/* The agent ignores SIGPIPE; its children must not inherit that. */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(pid, r->path, &fa, &attr, r->argv, r->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return rc;
}

/* Gives the thread our ends of the pipes and the input; closes the child's ends. */
static void exec_io_init(struct exec_io *io, struct exec_pipes *pp, struct exec_req *r)
{
	io->in = pp->in[1];
	io->out = pp->out[0];
	io->err = pp->err[0];
	io->input = r->data;
	io->input_len = r->data_len;
	r->data = NULL;
	pp->in[1] = pp->out[0] = pp->err[0] = -1;
	pipes_close(pp);
	if (io->in >= 0 && io->input_len == 0) {
		close(io->in);
		io->in = -1;
	}
	if (io->in >= 0)
		fcntl(io->in, F_SETFL, O_NONBLOCK);
}

/* Lists the process and hands it to its thread (or, failing that, kills and reaps it here). */
static void exec_start(struct ga_execs *x, struct exec_io *io)
{
	pthread_attr_t ta;
	pthread_t th;
	int rc;

	pthread_mutex_lock(&x->lock);
	io->e->next = x->list;
	x->list = io->e;
	x->nr++;
	x->refs++;
	pthread_mutex_unlock(&x->lock);
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&ta, 256 << 10);
	rc = pthread_create(&th, &ta, exec_thread, io);
	pthread_attr_destroy(&ta);
	if (rc) {
		/* Without a thread nobody would reap it: run the thread's job here, after a kill. */
		kill(io->e->pid, SIGKILL);
		exec_thread(io);
	}
}

json_object *cmd_exec(struct ga *ga, json_object *args, char **err)
{
	struct exec_pipes pp = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	struct exec_req r = { 0 };
	struct exec_io *io = NULL;
	struct exec *e = NULL;
	json_object *ret;
	pid_t pid;
	int rc;

	if (!exec_parse(args, &r, err))
		goto fail;
	if (execs_full(ga->execs)) {
		ga_fail(err, "too many processes whose status was not yet collected");
		goto fail;
	}
	r.argv = str_list(r.path, ga_arg(args, "arg"));
	if (ga_arg(args, "env"))
		r.envp = str_list(NULL, ga_arg(args, "env"));
	e = calloc(1, sizeof(*e));
	io = calloc(1, sizeof(*io));
	if (!r.argv || !r.envp || !e || !io || !pipes_open(&pp, &r)) {
		ga_fail(err, "Guest agent command failed, error was '%s'", strerror(errno));
		goto fail;
	}
	rc = spawn(&pid, &r, &pp);
	if (rc) {
		ga_fail(err,
			"Guest agent command failed, error was 'Failed to execute child process "
			"\"%s\" (%s)'",
			r.path, strerror(rc));
		goto fail;
	}
	*e = (struct exec){ .pid = pid, .out.captured = r.cap_out, .err.captured = r.cap_err };
	*io = (struct exec_io){ .x = ga->execs, .e = e };
	exec_io_init(io, &pp, &r);
	exec_start(ga->execs, io);
	exec_req_free(&r);
	ret = json_object_new_object();
	json_object_object_add(ret, "pid", json_object_new_int64(pid));
	return ret;

fail:
	pipes_close(&pp);
	exec_req_free(&r);
	free(e);
	free(io);
	return NULL;
}

static void add_stream(json_object *r, const char *data_key, const char *trunc_key,
		       const struct stream *s)
{
	char *b;

	/* QGA reports a stream (data and truncation flag) only when it produced output. */
	if (!s->captured || !s->len)
		return;
	b = base64_encode(s->data, s->len);
	if (b)
		json_object_object_add(r, data_key, json_object_new_string(b));
	free(b);
	json_object_object_add(r, trunc_key, json_object_new_boolean(s->truncated));
}

json_object *cmd_exec_status(struct ga *ga, json_object *args, char **err)
{
	struct ga_execs *x = ga->execs;
	struct exec **pp, *e = NULL;
	json_object *r;
	int64_t pid = 0;

	ga_arg_int(args, "pid", &pid);
	pthread_mutex_lock(&x->lock);
	for (pp = &x->list; *pp; pp = &(*pp)->next) {
		if ((*pp)->pid == pid) {
			e = *pp;
			break;
		}
	}
	if (!e) {
		pthread_mutex_unlock(&x->lock);
		return ga_fail(err, "Invalid parameter 'pid'");
	}
	r = json_object_new_object();
	json_object_object_add(r, "exited", json_object_new_boolean(e->exited));
	if (!e->exited) {
		pthread_mutex_unlock(&x->lock);
		return r;
	}
	/* Reported once, then forgotten, as QGA does. */
	*pp = e->next;
	x->nr--;
	pthread_mutex_unlock(&x->lock);
	if (WIFEXITED(e->status))
		json_object_object_add(r, "exitcode", json_object_new_int(WEXITSTATUS(e->status)));
	else if (WIFSIGNALED(e->status))
		json_object_object_add(r, "signal", json_object_new_int(WTERMSIG(e->status)));
	add_stream(r, "out-data", "out-truncated", &e->out);
	add_stream(r, "err-data", "err-truncated", &e->err);
	exec_free(e);
	return r;
}
