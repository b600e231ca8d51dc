// SPDX-License-Identifier: Apache-2.0
/* qcow2 disks converted to raw with qemu-img (qcow2.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/image/qcow2.h"

#define INFO_MAX (64 * 1024)
#define ERR_TAIL 200

extern char **environ;

static const unsigned char qcow2_magic[4] = { 'Q', 'F', 'I', 0xfb };

int qcow2_probe(int fd, bool *is_qcow2)
{
	unsigned char buf[sizeof(qcow2_magic)];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);

	*is_qcow2 = false;
	if (n < 0)
		return -errno;
	*is_qcow2 = n == (ssize_t)sizeof(buf) && !memcmp(buf, qcow2_magic, sizeof(buf));
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Starts argv with stdin from /dev/null and stdout and stderr into out_fd.
 * posix_spawnp(), not fork(): the agent is threaded, and the child must not
 * run anything between fork and exec that another thread may hold a lock of.
 */
static int spawn(const char *const argv[], int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	int rc;

	if ((rc = posix_spawn_file_actions_init(&fa)))
		return -rc;
	rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
	/* posix_spawnp() takes char *const[] for history's sake; it writes nothing. */
	if (!rc)
		rc = posix_spawnp(pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return -rc;
}

/*
 * Runs argv (no shell), collecting up to cap bytes of its output (stdout
 * and stderr together) into out, NUL-terminated. Killed after timeout_ms.
 */
static int run(const char *const argv[], unsigned int timeout_ms, char *out, size_t cap,
	       struct err *err)
{
	int64_t deadline = now_ms() + timeout_ms;
	size_t len = 0;
	int pipefd[2], status, rc = 0;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC))
		return err_set(err, -errno, "%s: pipe: %m", argv[0]);
	rc = spawn(argv, pipefd[1], &pid);
	close(pipefd[1]);
	if (rc) {
		close(pipefd[0]);
		if (rc == -ENOENT)
			return err_set(err, -ENOENT, "%s: not found (install qemu-utils)", argv[0]);
		return err_set(err, rc, "%s: cannot start it: %s", argv[0], strerror(-rc));
	}
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		int64_t left = deadline - now_ms();
		char buf[4096];
		ssize_t n;

		if (left <= 0) {
			rc = err_set(err, -ETIMEDOUT, "%s: killed after %u ms", argv[0],
				     timeout_ms);
			kill(pid, SIGKILL);
			break;
		}
		int ready = poll(&p, 1, (int)(left > INT_MAX ? INT_MAX : left));

		if (ready < 0 && errno != EINTR) {
			rc = err_set(err, -errno, "%s: poll: %m", argv[0]);
			kill(pid, SIGKILL);
			break;
		}
		if (ready <= 0) /* the time is up, or a signal: look at the clock again */
			continue;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		if (len + 1 < cap) {
			size_t k = (size_t)n < cap - 1 - len ? (size_t)n : cap - 1 - len;

			memcpy(out + len, buf, k);
			len += k;
			out[len] = '\0';
		}
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc)
		return rc;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return err_set(err, -ENOENT, "%s: not found (install qemu-utils)", argv[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		size_t n = strlen(out);
		const char *tail = n > ERR_TAIL ? out + n - ERR_TAIL : out;

		while (n && (out[n - 1] == '\n'))
			out[--n] = '\0';
		return err_set(err, -EIO, "%s failed (status %d): %s", argv[0],
			       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
			       tail);
	}
	return 0;
}

/* Refuses what would reach outside the file, or is too big to hold. */
static int check_info(const char *path, const char *json, uint64_t max, struct err *err)
{
	cJSON *o = cJSON_Parse(json), *v, *spec;
	int rc = 0;

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return err_set(err, -EINVAL, "%s: qemu-img info: not JSON", path);
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "virtual-size");
	spec = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(o, "format-specific"), "data");
	if (cJSON_GetObjectItemCaseSensitive(o, "backing-filename") ||
	    cJSON_GetObjectItemCaseSensitive(o, "full-backing-filename"))
		rc = err_set(err, -EPERM, "%s: qcow2 with a backing file is refused", path);
	else if (cJSON_GetObjectItemCaseSensitive(spec, "data-file"))
		rc = err_set(err, -EPERM, "%s: qcow2 with an external data file is refused", path);
	else if (!cJSON_IsNumber(v) || v->valuedouble < 0)
		rc = err_set(err, -EINVAL, "%s: qemu-img info gave no virtual size", path);
	else if (max && v->valuedouble > (double)max)
		rc = err_set(err, -EFBIG, "%s: virtual size %.0f over the limit of %llu", path,
			     v->valuedouble, (unsigned long long)max);
	cJSON_Delete(o);
	return rc;
}

/* Makes tmp durable with path's mode and owner, and renames it over path. */
static int replace(const char *path, const char *tmp, struct err *err)
{
	struct stat st;
	int fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), dfd, rc = 0;
	char dir[PATH_MAX], *slash;

	if (fd < 0)
		return err_set(err, -errno, "%s: %m", tmp);
	if (stat(path, &st) || fchmod(fd, st.st_mode & 0777) ||
	    (fchown(fd, st.st_uid, st.st_gid) && errno != EPERM) || fsync(fd))
		rc = err_set(err, -errno, "%s: %m", tmp);
	close(fd);
	if (!rc && rename(tmp, path))
		rc = err_set(err, -errno, "%s: rename: %m", path);
	if (rc)
		return rc;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int qcow2_convert_to_raw(const char *path, const struct qcow2_options *opt, struct err *err)
{
	const char *qemu_img = opt->qemu_img ? opt->qemu_img : QCOW2_QEMU_IMG;
	char tmp[PATH_MAX], *out = malloc(INFO_MAX);
	const char *const info[] = { qemu_img, "info", "--output=json", "-f", "qcow2", path, NULL };
	const char *const convert[] = { qemu_img, "convert", "-f", "qcow2", "-O", "raw",
					"-S",	  "4k",	     path, tmp,	    NULL };
	int rc;

	if (!out)
		return err_set(err, -ENOMEM, "out of memory");
	if (snprintf(tmp, sizeof(tmp), "%s.raw.tmp", path) >= (int)sizeof(tmp)) {
		free(out);
		return err_set(err, -ENAMETOOLONG, "%s: path too long", path);
	}
	rc = run(info, QCOW2_INFO_TIMEOUT_MS, out, INFO_MAX, err);
	if (!rc)
		rc = check_info(path, out, opt->max_virtual_size, err);
	if (!rc)
		rc = run(convert, opt->timeout_ms ? opt->timeout_ms : QCOW2_CONVERT_TIMEOUT_MS, out,
			 INFO_MAX, err);
	if (!rc)
		rc = replace(path, tmp, err);
	if (rc)
		unlink(tmp);
	free(out);
	return rc;
}
