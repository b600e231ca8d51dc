// SPDX-License-Identifier: Apache-2.0
/* The fake VM backend and host of the pod tests (fake_vm.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/image/store.h"
#include "fake_vm.h"
#include "lib/mkdir_p.h"

static const char *const op_names[FAKE_NR_OPS] = {
	"create", "start", "status", "stop", "remove", "reopen", "exec", "stats", "sbstats", "list",
};

static int64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Calls come from several threads in the concurrency tests. */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;

static int record(struct fake *f, enum fake_op op, const char *id, struct err *err)
{
	size_t n;
	int r;

	pthread_mutex_lock(&fake_lock);
	n = strlen(f->calls);
	r = f->fail[op];
	snprintf(f->calls + n, sizeof(f->calls) - n, "%s:%.8s ", op_names[op], id ? id : "-");
	f->fail[op] = 0;
	pthread_mutex_unlock(&fake_lock);
	return r ? err_set(err, r, "fake %s failed", op_names[op]) : 0;
}

struct fake_vm *fake_vm_find(struct fake *f, const char *id)
{
	for (int i = 0; i < FAKE_MAX_VMS; i++)
		if (f->vms[i].used && !strcmp(f->vms[i].id, id))
			return &f->vms[i];
	return NULL;
}

struct fake_vm *fake_add_vm(struct fake *f, const char *id)
{
	for (int i = 0; i < FAKE_MAX_VMS; i++)
		if (!f->vms[i].used) {
			memset(&f->vms[i], 0, sizeof(f->vms[i]));
			f->vms[i].used = true;
			snprintf(f->vms[i].id, sizeof(f->vms[i].id), "%s", id);
			return &f->vms[i];
		}
	return NULL;
}

int fake_called(const struct fake *f, const char *op, const char *id)
{
	char needle[64];
	int n = 0;

	snprintf(needle, sizeof(needle), "%s:%.8s ", op, id);
	for (const char *p = f->calls; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static int f_create(void *ctx, const struct vm_request *req, struct err *err)
{
	struct fake *f = ctx;
	int r = record(f, FAKE_CREATE, req->id, err);

	if (r)
		return r;
	for (int i = 0; i < FAKE_MAX_VMS; i++)
		if (!f->vms[i].used) {
			memset(&f->vms[i], 0, sizeof(f->vms[i]));
			f->vms[i].used = true;
			snprintf(f->vms[i].id, sizeof(f->vms[i].id), "%s", req->id);
			snprintf(f->vms[i].log_path, sizeof(f->vms[i].log_path), "%s",
				 req->log_path);
			snprintf(f->vms[i].netns, sizeof(f->vms[i].netns), "%s", req->netns_path);
			f->vms[i].st.state = VM_CREATED;
			return 0;
		}
	return err_set(err, -ENOSPC, "fake: too many VMs");
}

static int f_start(void *ctx, const char *id, struct err *err)
{
	struct fake *f = ctx;
	struct fake_vm *vm;
	int r = record(f, FAKE_START, id, err);

	if (r)
		return r;
	if (!(vm = fake_vm_find(f, id)))
		return err_set(err, -ENOENT, "no VM %s", id);
	vm->st.state = VM_RUNNING;
	vm->st.started_at = now();
	return 0;
}

static int f_status(void *ctx, const char *id, struct vm_status *out, struct err *err)
{
	struct fake *f = ctx;
	struct fake_vm *vm;
	int r = record(f, FAKE_STATUS, id, err);

	if (r)
		return r;
	if (!(vm = fake_vm_find(f, id)))
		return err_set(err, -ENOENT, "no VM %s", id);
	*out = vm->st;
	return 0;
}

static int f_stop(void *ctx, const char *id, int64_t timeout_s, struct err *err)
{
	struct fake *f = ctx;
	struct fake_vm *vm;
	int r = record(f, FAKE_STOP, id, err);

	(void)timeout_s;
	if (r)
		return r;
	if (f->stop_gate >= 0) {
		char b;

		__atomic_store_n(&f->stopping, 1, __ATOMIC_SEQ_CST);
		if (read(f->stop_gate, &b, 1) != 1)
			return err_set(err, -EIO, "fake: the gate closed");
	}
	if (!(vm = fake_vm_find(f, id)))
		return err_set(err, -ENOENT, "no VM %s", id);
	if (vm->st.state == VM_RUNNING) {
		vm->st.state = VM_EXITED;
		vm->st.finished_at = now();
		vm->st.exit_code = f->stop_exit;
		snprintf(vm->st.reason, sizeof(vm->st.reason), "%s",
			 f->stop_exit ? "Error" : "Completed");
	}
	return 0;
}

static int f_remove(void *ctx, const char *id, struct err *err)
{
	struct fake *f = ctx;
	struct fake_vm *vm;
	int r = record(f, FAKE_REMOVE, id, err);

	if (r)
		return r;
	if ((vm = fake_vm_find(f, id)))
		vm->used = false;
	return 0;
}

static int f_reopen(void *ctx, const char *id, struct err *err)
{
	struct fake *f = ctx;
	struct fake_vm *vm;
	int r = record(f, FAKE_REOPEN, id, err);

	if (r)
		return r;
	if (!(vm = fake_vm_find(f, id)) || vm->st.state != VM_RUNNING)
		return err_set(err, -ESRCH, "not running");
	return 0;
}

static int f_exec(void *ctx, const char *id, const char *const *argv, size_t argc,
		  int64_t timeout_ms, size_t cap, struct vm_exec_result *out, struct err *err)
{
	struct fake *f = ctx;
	int r = record(f, FAKE_EXEC, id, err);
	size_t n = 0;

	(void)timeout_ms;
	if (r)
		return r;
	memset(out, 0, sizeof(*out));
	out->out = malloc(cap + 1);
	if (!out->out)
		return -ENOMEM;
	/* echo: the arguments after the first, space-separated. */
	for (size_t i = 1; i < argc; i++)
		n += (size_t)snprintf((char *)out->out + n, cap + 1 - n, "%s%s", i > 1 ? " " : "",
				      argv[i]);
	out->out_len = n > cap ? cap : n;
	out->exit_code = argc > 1 && !strcmp(argv[0], "false") ? 1 : 0;
	return 0;
}

static int f_stats(void *ctx, const char *id, struct vm_stats *out, struct err *err)
{
	struct fake *f = ctx;
	int r = record(f, FAKE_STATS, id, err);

	if (r)
		return r;
	if (!fake_vm_find(f, id))
		return err_set(err, -ENOENT, "no VM %s", id);
	f->cpu_ns += 1000000;
	memset(out, 0, sizeof(*out));
	out->timestamp = now();
	out->cpu_usage_ns = f->cpu_ns;
	out->memory_working_set = 64 << 20;
	out->memory_usage = 70 << 20;
	out->disk_used_bytes = 4096;
	out->disk_inodes = 1;
	return 0;
}

static int f_sandbox_stats(void *ctx, const char *cgroup_parent, struct vm_stats *out,
			   struct err *err)
{
	struct fake *f = ctx;
	int r = record(f, FAKE_SANDBOX_STATS, cgroup_parent, err);

	if (r)
		return r;
	memset(out, 0, sizeof(*out));
	out->timestamp = now();
	out->cpu_usage_ns = ++f->cpu_ns;
	return 0;
}

static int f_list(void *ctx, char ***ids, size_t *nr, struct err *err)
{
	struct fake *f = ctx;
	int r = record(f, FAKE_LIST, NULL, err);

	if (r)
		return r;
	*ids = calloc(FAKE_MAX_VMS, sizeof(**ids));
	*nr = 0;
	for (int i = 0; *ids && i < FAKE_MAX_VMS; i++)
		if (f->vms[i].used)
			(*ids)[(*nr)++] = strdup(f->vms[i].id);
	return 0;
}

static const struct vm_backend_ops fake_ops = {
	.create = f_create,
	.start = f_start,
	.status = f_status,
	.stop = f_stop,
	.remove = f_remove,
	.reopen_log = f_reopen,
	.exec = f_exec,
	.stats = f_stats,
	.sandbox_stats = f_sandbox_stats,
	.list = f_list,
};

void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->stop_gate = -1;
}

void fake_backend(struct fake *f, struct vm_backend *out)
{
	out->ops = &fake_ops;
	out->ctx = f;
}

/* ---- the host --------------------------------------------------------------- */

static int s_netns_create(void *ctx, const char *path, struct err *err)
{
	int fd;

	(void)ctx;
	mkdir_parents(path, 0755);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return err_set(err, -errno, "%s: %m", path);
	close(fd);
	return 0;
}

static int s_netns_remove(void *ctx, const char *path, struct err *err)
{
	(void)ctx;
	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(err, -errno, "%s: %m", path);
	return 0;
}

static bool s_netns_alive(void *ctx, const char *path)
{
	(void)ctx;
	return !access(path, F_OK);
}

static int s_cgroup_ensure(void *ctx, const char *cgroup_parent, struct err *err)
{
	(void)ctx;
	if (strstr(cgroup_parent, ".."))
		return err_set(err, -EINVAL, "cgroup_parent: '..'");
	return 0;
}

static int s_image_get(void *ctx, const char *name, struct store_image *img, char *dir, size_t cap,
		       struct err *err)
{
	(void)ctx;
	if (strcmp(name, FAKE_IMAGE) && strcmp(name, FAKE_IMAGE_ID))
		return err_set(err, -ENOENT, "no image %s", name);
	memset(img, 0, sizeof(*img));
	snprintf(img->id, sizeof(img->id), "%s", FAKE_IMAGE_ID);
	img->repo_digests = calloc(1, sizeof(char *));
	if (img->repo_digests) {
		img->repo_digests[0] = strdup("registry.local/fw@" FAKE_IMAGE_ID);
		img->nr_repo_digests = 1;
	}
	img->repo_tags = calloc(1, sizeof(char *));
	if (img->repo_tags) {
		img->repo_tags[0] = strdup(FAKE_IMAGE);
		img->nr_repo_tags = 1;
	}
	snprintf(dir, cap, "/nonexistent/images/1111");
	return 0;
}

static void s_image_put(void *ctx, struct store_image *img)
{
	(void)ctx;
	for (size_t i = 0; i < img->nr_repo_digests; i++)
		free(img->repo_digests[i]);
	free(img->repo_digests);
	for (size_t i = 0; i < img->nr_repo_tags; i++)
		free(img->repo_tags[i]);
	free(img->repo_tags);
}

static const struct pod_sys_ops fake_sys_ops = {
	.netns_create = s_netns_create,
	.netns_remove = s_netns_remove,
	.netns_alive = s_netns_alive,
	.cgroup_ensure = s_cgroup_ensure,
	.image_get = s_image_get,
	.image_put = s_image_put,
};

void fake_sys(struct fake *f, struct pod_sys *out)
{
	out->ops = &fake_sys_ops;
	out->ctx = f;
}
