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

/* Threads own their pipes; the list and each entry's results are under the lock. */
struct exec_io {
	struct exec *e;
	int in, out, err;
	char *input;
	size_t input_len, input_off;
};

static pthread_mutex_t exec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct exec *execs;
static unsigned int nr_execs;

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

static void *exec_thread(void *arg)
{
	struct exec_io *io = arg;
	struct exec *e = io->e;
	char small[4096];
	char *rbuf = malloc(65536);
	size_t rlen = rbuf ? 65536 : sizeof(small);
	int status = 0;

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
		if (io->in >= 0 && p[0].revents) {
			ssize_t n = write(io->in, io->input + io->input_off,
					  io->input_len - io->input_off);

			if (n > 0)
				io->input_off += n;
			if ((n < 0 && errno != EAGAIN && errno != EINTR) ||
			    io->input_off == io->input_len) {
				close(io->in);
				io->in = -1;
			}
		}
		for (int i = 1; i < 3; i++) {
			int *fd = i == 1 ? &io->out : &io->err;
			ssize_t n;

			if (*fd < 0 || !p[i].revents)
				continue;
			n = read(*fd, rbuf ? rbuf : small, rlen);
			if (n > 0) {
				pthread_mutex_lock(&exec_lock);
				stream_add(i == 1 ? &e->out : &e->err, rbuf ? rbuf : small, n);
				pthread_mutex_unlock(&exec_lock);
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	free(rbuf);
	free(io->input);
	while (waitpid(e->pid, &status, 0) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&exec_lock);
	e->status = status;
	e->exited = true;
	pthread_mutex_unlock(&exec_lock);
	free(io);
	return NULL;
}

static void exec_free(struct exec *e)
{
	free(e->out.data);
	free(e->err.data);
	free(e);
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

json_object *cmd_exec(json_object *args, char **err)
{
	const char *path = ga_arg_str(args, "path"), *input = ga_arg_str(args, "input-data");
	json_object *env = ga_arg(args, "env"), *r;
	bool cap_out, cap_err, merged;
	int in_p[2] = { -1, -1 }, out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **argv = NULL, **envp = NULL, *data = NULL;
	size_t data_len = 0;
	struct exec_io *io = NULL;
	struct exec *e = NULL;
	sigset_t none, def;
	pthread_t th;
	pid_t pid;
	int rc;

	if (!capture_mode(ga_arg(args, "capture-output"), &cap_out, &cap_err, &merged))
		return ga_fail(err, "Invalid parameter 'capture-output'");
	if (input && !(data = (char *)base64_decode(input, strlen(input), &data_len)))
		return ga_fail(err, "Invalid base64 data in parameter 'input-data'");
	pthread_mutex_lock(&exec_lock);
	rc = nr_execs >= GA_EXEC_MAX_PROCS;
	pthread_mutex_unlock(&exec_lock);
	if (rc) {
		free(data);
		return ga_fail(err, "too many processes whose status was not yet collected");
	}
	argv = str_list(path, ga_arg(args, "arg"));
	envp = env ? str_list(NULL, env) : environ;
	e = calloc(1, sizeof(*e));
	io = calloc(1, sizeof(*io));
	if (!argv || !envp || !e || !io || (data && pipe2(in_p, O_CLOEXEC) < 0) ||
	    (cap_out && pipe2(out_p, O_CLOEXEC) < 0) || (cap_err && pipe2(err_p, O_CLOEXEC) < 0)) {
		ga_fail(err, "Guest agent command failed, error was '%s'", strerror(errno));
		goto fail;
	}

	posix_spawn_file_actions_init(&fa);
	if (data)
		posix_spawn_file_actions_adddup2(&fa, in_p[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (cap_out)
		posix_spawn_file_actions_adddup2(&fa, out_p[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (cap_err)
		posix_spawn_file_actions_adddup2(&fa, err_p[1], 2);
	else if (merged)
		posix_spawn_file_actions_adddup2(&fa, out_p[1], 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	/* The agent ignores SIGPIPE; its children must not inherit that. */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		ga_fail(err,
			"Guest agent command failed, error was 'Failed to execute child process "
			"\"%s\" (%s)'",
			path, strerror(rc));
		goto fail;
	}

	e->pid = pid;
	e->out.captured = cap_out;
	e->err.captured = cap_err;
	io->e = e;
	io->in = in_p[1];
	io->out = out_p[0];
	io->err = err_p[0];
	io->input = data;
	io->input_len = data_len;
	if (io->in >= 0)
		fcntl(io->in, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 2; i++) {
		int *p = i ? err_p : out_p;

		if (p[1] >= 0)
			close(p[1]);
	}
	if (in_p[0] >= 0)
		close(in_p[0]);
	if (data_len == 0 && io->in >= 0) {
		close(io->in);
		io->in = -1;
	}
	pthread_mutex_lock(&exec_lock);
	e->next = execs;
	execs = e;
	nr_execs++;
	pthread_mutex_unlock(&exec_lock);
	{
		pthread_attr_t ta;

		pthread_attr_init(&ta);
		pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&ta, 256 << 10);
		rc = pthread_create(&th, &ta, exec_thread, io);
		pthread_attr_destroy(&ta);
	}
	if (rc) {
		/* Without a thread nobody would reap it: run the thread's job here, after a kill. */
		kill(pid, SIGKILL);
		exec_thread(io);
	}
	if (argv)
		free(argv);
	if (envp != environ)
		free(envp);
	r = json_object_new_object();
	json_object_object_add(r, "pid", json_object_new_int64(pid));
	return r;

fail:
	for (int i = 0; i < 2; i++) {
		if (in_p[i] >= 0)
			close(in_p[i]);
		if (out_p[i] >= 0)
			close(out_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
	}
	free(argv);
	if (envp != environ)
		free(envp);
	free(data);
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

json_object *cmd_exec_status(json_object *args, char **err)
{
	struct exec **pp, *e = NULL;
	json_object *r;
	int64_t pid = 0;

	ga_arg_int(args, "pid", &pid);
	pthread_mutex_lock(&exec_lock);
	for (pp = &execs; *pp; pp = &(*pp)->next) {
		if ((*pp)->pid == pid) {
			e = *pp;
			break;
		}
	}
	if (!e) {
		pthread_mutex_unlock(&exec_lock);
		return ga_fail(err, "Invalid parameter 'pid'");
	}
	r = json_object_new_object();
	json_object_object_add(r, "exited", json_object_new_boolean(e->exited));
	if (!e->exited) {
		pthread_mutex_unlock(&exec_lock);
		return r;
	}
	/* Reported once, then forgotten, as QGA does. */
	*pp = e->next;
	nr_execs--;
	pthread_mutex_unlock(&exec_lock);
	if (WIFEXITED(e->status))
		json_object_object_add(r, "exitcode", json_object_new_int(WEXITSTATUS(e->status)));
	else if (WIFSIGNALED(e->status))
		json_object_object_add(r, "signal", json_object_new_int(WTERMSIG(e->status)));
	add_stream(r, "out-data", "out-truncated", &e->out);
	add_stream(r, "err-data", "err-truncated", &e->err);
	exec_free(e);
	return r;
}
