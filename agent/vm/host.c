// SPDX-License-Identifier: Apache-2.0
/*
 * The real VM backend (vm.h): create prepares a jail and records vm.json;
 * start launches kvmlet-shim, which runs kvmlet-jailer and so the VMM;
 * everything else reads the state files, the shim's liveness and the VM's
 * cgroup, or talks to the VMM's API and vsock sockets in the jail.
 * docs/cri.md "From the pod to the VM" describes the mapping and the files.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent/ga_client.h"
#include "agent/image/store.h"
#include "agent/vm/cgroup.h"
#include "agent/vm/disk.h"
#include "agent/vm/vm.h"
#include "agent/vm/ids.h"
#include "agent/vm/iso.h"
#include "agent/vm/jail.h"
#include "agent/vm/proc.h"
#include "agent/vm/reason.h"
#include "agent/vm/record.h"
#include "agent/vm/spec.h"
#include "lib/clock.h"
#include "lib/http_client.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"

#define VMM_MAX_DRIVES	     8	   /* kvmlet-vmm's CONFIG_MAX_DRIVES */
#define START_TIMEOUT_MS     10000 /* until the API socket answers */
#define SHIM_EXIT_TIMEOUT_MS 10000 /* after SIGTERM, until the shim has recorded the end */
#define SHUTDOWN_AGENT_MS    500   /* guest-shutdown: connect and call, each */
#define EXEC_CONNECT_MS	     2000

struct vm_host {
	char *state_dir;
	char *jail_base;
	char *vmm_path;
	char *jailer_path;
	char *shim_path;
	uint64_t default_memory_mib;
	uint64_t overhead_mib;
	int cgroup_version;
	bool vmm_serial_cri;   /* the VMM has --serial cri:PATH */
	bool vmm_console_sock; /* and --console-sock */
	struct vm_ids ids;
};

/* ---- paths -------------------------------------------------------------- */

static bool id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (!n || n > VM_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
		      (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return false;
	return true;
}

static int state_path(const struct vm_host *h, const char *id, char *buf, size_t size)
{
	return vm_pathf(buf, size, "%s/%s", h->state_dir, id);
}

static int jail_paths(const struct vm_host *h, const char *id, char *dir, char *root, size_t size)
{
	if (vm_jail_dir(h->jail_base, h->vmm_path, id, dir, size))
		return -ENAMETOOLONG;
	return vm_pathf(root, size, "%s/root", dir);
}

/* The record of id; -ENOENT (with text) when there is none. */
static int load(const struct vm_host *h, const char *id, char *dir, size_t size,
		struct vm_record *rec, struct err *err)
{
	int r;

	if (!id_valid(id))
		return err_set(err, -EINVAL,
			       "VM id '%.80s': expected 1 to %d letters, digits or '-'",
			       id ? id : "", VM_ID_MAX);
	if (state_path(h, id, dir, size))
		return err_set(err, -ENAMETOOLONG, "VM state path too long");
	r = vm_record_read(dir, rec, err);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, "no VM '%s'", id);
	return r;
}

/* ---- the VMM's sockets --------------------------------------------------- */

/*
 * A socket in the jail by a short name: a jail path is longer than a Unix
 * socket address holds (108 bytes). The socket is opened O_PATH without
 * following links, and connected through "/proc/self/fd/<n>": the VM owns
 * its jail root and could put a link to another VM's socket there. Returns
 * that descriptor (the caller closes it once connected) or -errno.
 */
static int jail_socket(const char *root, const char *name, char *buf, size_t size)
{
	int dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW), fd;
	struct stat st;

	if (dirfd < 0)
		return -errno;
	fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	close(dirfd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode) ||
	    vm_pathf(buf, size, "/proc/self/fd/%d", fd)) {
		close(fd);
		return -ENOTSOCK;
	}
	return fd;
}

static int api_call(const char *root, const char *method, const char *path, const char *body,
		    unsigned int timeout_ms, long *status, char **answer, struct err *err)
{
	char sock[PATH_MAX], url[256];
	static const char *const json_headers[] = { "Content-Type: application/json",
						    "Accept: application/json", NULL };
	struct http_client_req req = {
		.method = method,
		.url = url,
		.unix_socket = sock,
		.headers = body ? json_headers : NULL,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.connect_timeout_ms = timeout_ms,
		.timeout_ms = timeout_ms,
		.max_response = 64 * 1024,
	};
	struct http_client_resp resp = { 0 };
	struct http_client *c;
	int sockfd, r;

	sockfd = jail_socket(root, "api.sock", sock, sizeof(sock));
	if (sockfd < 0)
		return err_set(err, sockfd, "the VMM's API socket in %s: %s", root,
			       strerror(-sockfd));
	snprintf(url, sizeof(url), "http://localhost%s", path);
	c = http_client_new(err);
	if (!c) {
		close(sockfd);
		return err->code;
	}
	r = http_client_do(c, &req, &resp, err);
	close(sockfd);
	if (!r) {
		*status = resp.status;
		if (resp.status >= 300)
			r = err_set(err, -EIO, "VMM API %s %s: %ld %.160s", method, path,
				    resp.status, resp.body ? resp.body : "");
	}
	if (!r && answer) {
		*answer = resp.body;
		resp.body = NULL;
	}
	http_client_resp_free(&resp);
	http_client_free(c);
	return r;
}

/* ---- liveness ----------------------------------------------------------- */

enum liveness { LIVE_NEVER, LIVE_RUNNING, LIVE_EXITED, LIVE_LOST };

/* Where the VM is, and its exit record when it has one. */
static enum liveness liveness(const char *dir, const struct vm_record *rec, struct vm_exit *e)
{
	struct err err = { 0 };

	if (!rec->shim_pid)
		return LIVE_NEVER;
	if (vm_exit_read(dir, e, &err) == 0)
		return LIVE_EXITED;
	if (vm_proc_same((pid_t)rec->shim_pid, rec->shim_start_ticks))
		return LIVE_RUNNING;
	/* The shim may have written exit.json between the two looks. */
	memset(&err, 0, sizeof(err));
	if (vm_exit_read(dir, e, &err) == 0)
		return LIVE_EXITED;
	return LIVE_LOST;
}

/* ---- create ------------------------------------------------------------- */

struct argv_buf {
	char **v;
	size_t n;
	int failed;
};

static int argv_push(void *ctx, const char *s)
{
	struct argv_buf *a = ctx;

	if (!a->failed && vm_strv_push(&a->v, &a->n, s))
		a->failed = -ENOMEM;
	return a->failed;
}

static void argv_pushf(struct argv_buf *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void argv_pushf(struct argv_buf *a, const char *fmt, ...)
{
	char buf[PATH_MAX + 128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		a->failed = -ENAMETOOLONG;
		return;
	}
	argv_push(a, buf);
}

/* What create builds up, undone as a whole on failure. */
struct build {
	struct vm_host *h;
	const struct vm_request *req;
	struct vm_spec spec;
	struct vm_record rec;
	char state[PATH_MAX];
	char jail_dir[PATH_MAX];
	char root[PATH_MAX];
	struct argv_buf vmm; /* the VMM's arguments, inside the jail */
	unsigned int drives;
	bool ids_taken, state_made, jail_made;
};

static bool relative_safe(const char *p)
{
	if (!p || !*p || *p == '/')
		return false;
	for (const char *s = p; *s;) {
		const char *e = strchrnul(s, '/');

		if ((e - s == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s = *e ? e + 1 : e;
	}
	return true;
}

static int image_path(const struct build *b, const char *rel, char *buf, size_t size,
		      struct err *err)
{
	if (!relative_safe(rel))
		return err_set(err, -EINVAL, "image '%s': file '%.100s' is not beneath the image",
			       b->req->image->id, rel ? rel : "");
	if (snprintf(buf, size, "%s/%s", b->req->image_dir, rel) >= (int)size)
		return err_set(err, -ENAMETOOLONG, "image file path too long");
	return 0;
}

static int add_boot(struct build *b, struct err *err)
{
	const struct store_image *img = b->req->image;
	char src[PATH_MAX];
	int r;

	if (!img->kernel)
		return err_set(err, -EINVAL,
			       "image '%s' has no kernel: it is not a VM image (docs/images.md)",
			       img->id);
	r = image_path(b, img->kernel, src, sizeof(src), err);
	if (!r)
		r = vm_jail_place_ro(src, b->root, "kernel", err);
	if (r)
		return r;
	argv_push(&b->vmm, "--kernel");
	argv_push(&b->vmm, "/kernel");
	if (img->initrd) {
		r = image_path(b, img->initrd, src, sizeof(src), err);
		if (!r)
			r = vm_jail_place_ro(src, b->root, "initrd", err);
		if (r)
			return r;
		argv_push(&b->vmm, "--initrd");
		argv_push(&b->vmm, "/initrd");
	}
	argv_push(&b->vmm, "--cmdline");
	argv_push(&b->vmm, b->spec.cmdline);
	return 0;
}

static int add_drive(struct build *b, const char *id, const char *file, bool readonly,
		     const char *serial, struct err *err)
{
	if (b->drives >= VMM_MAX_DRIVES)
		return err_set(err, -EINVAL,
			       "a VM takes at most %u disks (image disks, devices, "
			       "mounts and cloud-init together)",
			       VMM_MAX_DRIVES);
	b->drives++;
	argv_push(&b->vmm, "--drive");
	argv_pushf(&b->vmm, "id=%s,path=/%s%s%s%s", id, file, readonly ? ",readonly=on" : "",
		   serial ? ",serial=" : "", serial ? serial : "");
	return 0;
}

static int add_disks(struct build *b, struct err *err)
{
	const struct store_image *img = b->req->image;

	for (size_t i = 0; i < img->nr_disks; i++) {
		char src[PATH_MAX], dst[PATH_MAX], name[32], id[32];
		bool reflinked;
		int r;

		snprintf(name, sizeof(name), "disk%zu.img", i);
		snprintf(id, sizeof(id), "disk%zu", i);
		r = image_path(b, img->disks[i], src, sizeof(src), err);
		if (!r && snprintf(dst, sizeof(dst), "%s/%s", b->root, name) >= (int)sizeof(dst))
			r = err_set(err, -ENAMETOOLONG, "disk path too long");
		if (!r)
			r = vm_disk_clone(src, dst, b->rec.uid, b->rec.uid, &reflinked, err);
		if (!r && vm_strv_push(&b->rec.disks, &b->rec.nr_disks, name))
			r = err_set(err, -ENOMEM, "out of memory");
		if (!r)
			r = add_drive(b, id, name, false, NULL, err);
		if (r)
			return r;
		log_debug("VM %s: disk %s %s", b->rec.id, name, reflinked ? "reflinked" : "copied");
	}
	return 0;
}

static bool permissions_valid(const char *p)
{
	for (; p && *p; p++)
		if (*p != 'r' && *p != 'w' && *p != 'm')
			return false;
	return true;
}

static int add_devices(struct build *b, struct err *err)
{
	const Runtime__V1__ContainerConfig *c = b->req->config;

	for (size_t i = 0; i < c->n_devices; i++) {
		const Runtime__V1__Device *d = c->devices[i];
		const char *host = d->host_path ? d->host_path : "";
		bool ro = !d->permissions || !strchr(d->permissions, 'w');
		char name[32], id[32];
		int r;

		if (host[0] != '/' || !permissions_valid(d->permissions))
			return err_set(err, -EINVAL,
				       "devices[%zu]: host_path must be absolute and permissions "
				       "of r, w, m",
				       i);
		snprintf(name, sizeof(name), "dev%zu", i);
		snprintf(id, sizeof(id), "dev%zu", i);
		r = vm_jail_mknod(host, b->root, name, b->rec.uid, ro, err);
		if (!r)
			r = add_drive(b, id, name, ro, NULL, err);
		if (r)
			return r;
	}
	return 0;
}

/* A new image file in the jail: root-owned, readable by the VM. */
static int iso_create(struct build *b, const char *name, struct err *err)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", b->root, name) >= (int)sizeof(path))
		return err_set(err, -ENAMETOOLONG, "ISO path too long");
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return err_set(err, -errno, "%s: %s", path, strerror(errno));
	return fd;
}

/* One mount's disk: mount<n>.iso, serial and volume id vol. */
static int add_mount_iso(struct build *b, const struct vm_iso_source *src, size_t nr,
			 unsigned int n, const char *vol, const char *what, struct err *err)
{
	char file[32], id[32];
	struct vm_iso_report rep;
	int fd, r;

	snprintf(file, sizeof(file), "mount%u.iso", n);
	snprintf(id, sizeof(id), "mount%u", n);
	fd = iso_create(b, file, err);
	if (fd < 0)
		return fd;
	r = vm_iso_from_sources(src, nr, vol, VM_ISO_DEFAULT_MAX, fd, &rep, err);
	close(fd);
	if (r == -EFBIG)
		return err_prefix(err, -EINVAL, "%s: ", what);
	if (r)
		return r;
	if (rep.skipped)
		log_fields(LOG_WARN,
			   "VM mount: entries left out (links leaving the mount, special files)",
			   "id", b->rec.id, "mount", what, NULL);
	return add_drive(b, id, file, true, vol, err);
}

/*
 * Mounts never fail the pod for what they point at: a missing path or one
 * that is no file or directory is skipped with a warning. Each gets a disk
 * of its own while the VMM has disks left; when they run short, the last
 * disk holds all the remaining mounts, each in a directory named by its
 * volume name. Only a mount too large for a disk image is an error.
 */
static int add_mounts(struct build *b, struct err *err)
{
	const Runtime__V1__ContainerConfig *c = b->req->config;
	struct vm_iso_source *src = calloc(c->n_mounts + 1, sizeof(*src));
	char(*vols)[21] = calloc(c->n_mounts + 1, sizeof(*vols));
	size_t nr = 0, own;
	unsigned int left = VMM_MAX_DRIVES - b->drives;
	int r = 0;

	if (!src || !vols) {
		free(src);
		free(vols);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < c->n_mounts; i++) {
		const Runtime__V1__Mount *m = c->mounts[i];
		const char *host = m->host_path ? m->host_path : "";
		const char *cpath = m->container_path ? m->container_path : "";
		struct stat st;

		if (host[0] != '/' || stat(host, &st) ||
		    !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
			log_fields(LOG_WARN, "VM mount skipped: not a file or directory", "id",
				   b->rec.id, "host_path", host, "container_path", cpath, NULL);
			continue;
		}
		vm_iso_volume_name(cpath, (unsigned int)nr, vols[nr], sizeof(vols[nr]));
		src[nr].host_path = host;
		src[nr].dir = "";
		nr++;
	}
	if (nr && !left) {
		log_fields(LOG_WARN, "VM mounts skipped: no disk left", "id", b->rec.id, NULL);
		nr = 0;
	}
	own = nr <= left ? nr : left - 1;
	for (size_t i = 0; !r && i < own; i++)
		r = add_mount_iso(b, &src[i], 1, (unsigned int)i, vols[i], vols[i], err);
	if (!r && own < nr) {
		for (size_t i = own; i < nr; i++)
			src[i].dir = vols[i];
		log_fields(LOG_WARN, "VM mounts share one disk: more mounts than disks", "id",
			   b->rec.id, NULL);
		r = add_mount_iso(b, &src[own], nr - own, (unsigned int)own, "KVMLET_MOUNTS",
				  "the mounts sharing a disk", err);
	}
	free(src);
	free(vols);
	return r;
}

/* A YAML scalar that says exactly s, whatever s holds: a JSON string is one. */
static char *yaml_quote(const char *s)
{
	cJSON *j = cJSON_CreateString(s);
	char *q = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	return q;
}

static int add_cidata(struct build *b, struct err *err)
{
	const struct vm_spec *s = &b->spec;
	const Runtime__V1__PodSandboxConfig *sb = b->req->sandbox;
	const char *pod = sb && sb->metadata && sb->metadata->name && *sb->metadata->name
				  ? sb->metadata->name
				  : b->rec.id;
	static const char empty_user_data[] = "#cloud-config\n";
	struct vm_iso_file files[3];
	size_t nr = 0;
	char *meta = NULL, *qid = NULL, *qhost = NULL;
	int fd, r;

	if (!vm_spec_wants_cidata(s))
		return 0;
	if (!s->meta_data) {
		size_t len;

		qid = yaml_quote(b->rec.id);
		qhost = yaml_quote(pod);
		len = (qid ? strlen(qid) : 0) + (qhost ? strlen(qhost) : 0) + 64;
		meta = qid && qhost ? malloc(len) : NULL;
		if (!meta) {
			free(qid);
			free(qhost);
			return err_set(err, -ENOMEM, "out of memory");
		}
		snprintf(meta, len, "instance-id: %s\nlocal-hostname: %s\n", qid, qhost);
	}
	files[nr++] =
		(struct vm_iso_file){ "user-data", s->user_data ? s->user_data : empty_user_data,
				      strlen(s->user_data ? s->user_data : empty_user_data), 0644 };
	files[nr++] = (struct vm_iso_file){ "meta-data", s->meta_data ? s->meta_data : meta,
					    strlen(s->meta_data ? s->meta_data : meta), 0644 };
	if (s->network_config)
		files[nr++] = (struct vm_iso_file){ "network-config", s->network_config,
						    strlen(s->network_config), 0644 };
	fd = iso_create(b, "cidata.iso", err);
	r = fd < 0 ? fd : vm_iso_from_files(files, nr, "CIDATA", fd, err);
	if (fd >= 0)
		close(fd);
	free(meta);
	free(qid);
	free(qhost);
	return r ? r : add_drive(b, "cidata", "cidata.iso", true, "CIDATA", err);
}

static int build_vmm_args(struct build *b, struct err *err)
{
	const struct vm_host *h = b->h;
	int r;

	argv_pushf(&b->vmm, "--vcpus=%u", b->spec.vcpus);
	argv_pushf(&b->vmm, "--memory=%" PRIu64, b->spec.memory_mib);
	argv_push(&b->vmm, "--api-sock");
	argv_push(&b->vmm, "/api.sock");
	argv_push(&b->vmm, "--vsock");
	argv_pushf(&b->vmm, "cid=%u,uds=/vsock.sock", b->rec.cid);
	if (b->spec.rng)
		argv_push(&b->vmm, "--rng");
	if (h->vmm_console_sock) {
		argv_push(&b->vmm, "--console-sock");
		argv_push(&b->vmm, "/console.sock");
	}
	if (*b->rec.log_path) {
		const char *name = strrchr(b->rec.log_path, '/') + 1;

		argv_push(&b->vmm, "--serial");
		argv_pushf(&b->vmm, "%s:/log/%s", h->vmm_serial_cri ? "cri" : "file", name);
	} else {
		argv_push(&b->vmm, "--serial");
		argv_push(&b->vmm, "none");
	}
	r = add_boot(b, err);
	if (!r)
		r = add_disks(b, err);
	if (!r)
		r = add_devices(b, err);
	if (!r)
		r = add_cidata(b, err);
	if (!r)
		r = add_mounts(b, err);
	if (!r && b->vmm.failed)
		r = err_set(err, b->vmm.failed, "VMM arguments: %s", strerror(-b->vmm.failed));
	return r;
}

/* kvmlet-jailer's whole command line, kept in vm.json for start. */
static int build_jailer_args(struct build *b, struct err *err)
{
	const struct vm_host *h = b->h;
	struct argv_buf a = { 0 };
	uint64_t limit = (b->spec.memory_mib + h->overhead_mib) << 20;
	const char *parent_end = strrchr(b->rec.cgroup, '/');
	char parent[PATH_MAX];

	snprintf(parent, sizeof(parent), "%.*s", (int)(parent_end - b->rec.cgroup), b->rec.cgroup);
	argv_push(&a, h->jailer_path);
	argv_push(&a, "--id");
	argv_push(&a, b->rec.id);
	argv_push(&a, "--exec-file");
	argv_push(&a, h->vmm_path);
	argv_push(&a, "--uid");
	argv_pushf(&a, "%u", b->rec.uid);
	argv_push(&a, "--gid");
	argv_pushf(&a, "%u", b->rec.uid);
	argv_push(&a, "--chroot-base-dir");
	argv_push(&a, h->jail_base);
	if (b->req->netns_path && *b->req->netns_path) {
		argv_push(&a, "--netns");
		argv_push(&a, b->req->netns_path);
	}
	argv_push(&a, "--cgroup-version");
	argv_pushf(&a, "%d", h->cgroup_version);
	argv_push(&a, "--parent-cgroup");
	argv_push(&a, parent);
	vm_cgroup_jailer_args(h->cgroup_version, limit, b->spec.cpu_quota_us, b->spec.cpu_period_us,
			      argv_push, &a);
	argv_push(&a, "--");
	for (size_t i = 0; i < b->vmm.n; i++)
		argv_push(&a, b->vmm.v[i]);
	if (a.failed) {
		vm_strv_free(a.v, a.n);
		return err_set(err, a.failed, "jailer arguments: %s", strerror(-a.failed));
	}
	b->rec.argv = a.v;
	b->rec.argc = a.n;
	return 0;
}

static int check_request(const struct vm_request *req, struct err *err)
{
	if (!id_valid(req->id))
		return err_set(err, -EINVAL,
			       "container id '%.80s': expected 1 to %d letters, "
			       "digits or '-'",
			       req->id ? req->id : "", VM_ID_MAX);
	if (!req->image || !req->image_dir)
		return err_set(err, -EINVAL, "container %s: no image", req->id);
	if (req->log_path && *req->log_path &&
	    (req->log_path[0] != '/' || strlen(req->log_path) >= PATH_MAX - 64 ||
	     !strrchr(req->log_path, '/')[1]))
		return err_set(err, -EINVAL, "log_path '%.100s': expected an absolute file path",
			       req->log_path);
	if (req->netns_path && *req->netns_path && req->netns_path[0] != '/')
		return err_set(err, -EINVAL, "network namespace '%.100s': not an absolute path",
			       req->netns_path);
	return 0;
}

static void build_undo(struct build *b)
{
	struct err e = { 0 };

	if (b->jail_made && vm_jail_remove(b->jail_dir, &e))
		log_warn("VM %s: cleaning up after a failed create: %s", b->rec.id, e.msg);
	if (b->state_made)
		vm_jail_remove_tree(b->state, &e);
	if (b->ids_taken)
		vm_ids_release(&b->h->ids, b->rec.uid, b->rec.cid);
}

static int host_create(void *ctx, const struct vm_request *req, struct err *err)
{
	struct build b = { .h = ctx, .req = req };
	char parent[PATH_MAX];
	int r;

	r = check_request(req, err);
	if (!r)
		r = vm_spec_map(req, b.h->default_memory_mib, &b.spec, err);
	if (r)
		return r;
	snprintf(b.rec.id, sizeof(b.rec.id), "%s", req->id);
	snprintf(b.rec.sandbox_id, sizeof(b.rec.sandbox_id), "%.*s", VM_ID_MAX,
		 req->sandbox_id ? req->sandbox_id : "");
	snprintf(b.rec.log_path, sizeof(b.rec.log_path), "%s", req->log_path ? req->log_path : "");
	b.rec.vcpus = b.spec.vcpus;
	b.rec.memory_mib = b.spec.memory_mib;
	b.rec.cgroup_version = b.h->cgroup_version;
	b.rec.created_at = (int64_t)clock_ns(CLOCK_REALTIME);
	r = vm_cgroup_parent(req->cgroup_parent, parent, sizeof(parent), err);
	if (!r && snprintf(b.rec.cgroup, sizeof(b.rec.cgroup), "%s/%s", parent, req->id) >=
			  (int)sizeof(b.rec.cgroup))
		r = err_set(err, -EINVAL, "cgroup_parent: too long");
	if (!r && (state_path(b.h, req->id, b.state, sizeof(b.state)) ||
		   jail_paths(b.h, req->id, b.jail_dir, b.root, sizeof(b.root))))
		r = err_set(err, -ENAMETOOLONG, "VM paths too long");
	if (!r && mkdir(b.state, 0700))
		r = errno == EEXIST ? err_set(err, -EEXIST, "VM '%s' exists already", req->id)
				    : err_set(err, -errno, "%s: %s", b.state, strerror(errno));
	if (!r) {
		b.state_made = true;
		r = vm_ids_alloc(&b.h->ids, &b.rec.uid, &b.rec.cid, err);
		b.ids_taken = !r;
	}
	if (!r && access(b.jail_dir, F_OK) == 0)
		r = err_set(err, -EEXIST, "jail '%s' exists already", b.jail_dir);
	if (!r) {
		r = mkdir_p(b.root, 0755);
		b.jail_made = true;
		if (r)
			err_set(err, r, "%s: %s", b.root, strerror(-r));
	}
	if (!r)
		r = build_vmm_args(&b, err);
	if (!r)
		r = build_jailer_args(&b, err);
	if (!r)
		r = vm_record_write(b.state, &b.rec, err);
	if (r)
		build_undo(&b);
	else
		log_fields(LOG_INFO, "VM created", "id", req->id, "sandbox", b.rec.sandbox_id,
			   "cgroup", b.rec.cgroup, NULL);
	vm_strv_free(b.vmm.v, b.vmm.n);
	vm_record_free(&b.rec);
	vm_spec_free(&b.spec);
	return r;
}

/* ---- start -------------------------------------------------------------- */

/* The VMM's last words (the jailer's or VMM's error line) for a failure message. */
static void vmm_last_line(const char *state, char *buf, size_t size)
{
	char path[PATH_MAX], data[1024];
	ssize_t n = 0;
	int fd;

	buf[0] = '\0';
	if (vm_pathf(path, sizeof(path), "%s/vmm.log", state))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	if (end > 0)
		n = pread(fd, data, sizeof(data) - 1,
			  end > (off_t)sizeof(data) - 1 ? end - (off_t)sizeof(data) + 1 : 0);
	close(fd);
	if (n <= 0)
		return;
	data[n] = '\0';
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r'))
		data[--n] = '\0';
	char *line = strrchr(data, '\n');
	line = line ? line + 1 : data;
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	snprintf(buf, size, "%.*s", (int)(size - 1), line);
}

/* The CRI log: the file as root with the VM as owner, its directory in the jail. */
static int prepare_log(const struct vm_record *rec, const char *root, struct err *err)
{
	char dir[PATH_MAX];
	int fd;

	fd = open(rec->log_path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0640);
	if (fd < 0)
		return err_set(err, -errno, "log file '%s': %s", rec->log_path, strerror(errno));
	if (fchown(fd, rec->uid, rec->uid) || fchmod(fd, 0640)) {
		int e = errno;

		close(fd);
		return err_set(err, -e, "log file '%s': %s", rec->log_path, strerror(e));
	}
	close(fd);
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(rec->log_path, '/') - rec->log_path),
		 rec->log_path);
	return vm_jail_mount_log(root, *dir ? dir : "/", err);
}

/* Ends the VM through its shim and waits until the shim has recorded it. */
static void kill_via_shim(const struct vm_record *rec, int pidfd)
{
	/* Through the pidfd: the signal cannot reach a process that reused the pid. */
	syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0);
	if (vm_proc_wait(pidfd, SHIM_EXIT_TIMEOUT_MS) != 1) {
		/* A stuck shim: end the VM's processes ourselves. */
		vm_cgroup_kill(rec->cgroup_version, rec->cgroup);
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		vm_proc_wait(pidfd, SHIM_EXIT_TIMEOUT_MS);
	}
}

static int wait_api(const char *root, int pidfd, struct err *err)
{
	uint64_t deadline = clock_mono_ms() + START_TIMEOUT_MS;

	for (;;) {
		struct err e = { 0 };
		long status = 0;

		char *body = NULL;

		/* Answering is not enough: the VMM serves its API before it loads the kernel. */
		if (api_call(root, "GET", "/", NULL, 500, &status, &body, &e) == 0) {
			cJSON *info = body ? cJSON_Parse(body) : NULL;
			const cJSON *st = cJSON_GetObjectItemCaseSensitive(info, "state");
			bool running = cJSON_IsString(st) && !strcmp(st->valuestring, "Running");

			cJSON_Delete(info);
			free(body);
			if (running)
				return 0;
			err_set(&e, -EAGAIN, "the VM is not running yet");
		}
		if (clock_mono_ms() >= deadline)
			return err_set(err, -ETIMEDOUT,
				       "the VMM's API did not answer within %u s: %s",
				       START_TIMEOUT_MS / 1000, e.msg);
		/* Waiting on the shim: an early exit ends the wait at once. */
		if (vm_proc_wait(pidfd, 20) == 1)
			return err_set(err, -ECHILD, "the VMM exited while starting");
	}
}

/*
 * The VMM ended by itself with a status that says the guest ran (powered
 * off, crashed, or its own exit value), rather than that the VMM failed
 * (1) or refused its set-up (2), or was killed.
 */
static bool guest_ran(const char *state)
{
	struct vm_exit e;
	struct err err = { 0 };

	return vm_exit_read(state, &e, &err) == 0 && e.signal == 0 && e.exit_status != 1 &&
	       e.exit_status != 2;
}

static int host_start(void *ctx, const char *id, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX], vmv[16];
	struct argv_buf a = { 0 };
	pid_t pid;
	int pidfd, r;

	r = load(h, id, state, sizeof(state), &rec, err);
	if (r)
		return r;
	if (rec.shim_pid) {
		vm_record_free(&rec);
		return err_set(err, -EINVAL, "VM '%s' was started already", id);
	}
	jail_paths(h, id, jail_dir, root, sizeof(root));
	if (*rec.log_path && !rec.log_mounted) {
		r = prepare_log(&rec, root, err);
		if (!r) {
			rec.log_mounted = true;
			r = vm_record_write(state, &rec, err);
		}
	}
	snprintf(vmv, sizeof(vmv), "%d", rec.cgroup_version);
	argv_push(&a, h->shim_path);
	argv_push(&a, "--state-dir");
	argv_push(&a, state);
	argv_push(&a, "--cgroup-version");
	argv_push(&a, vmv);
	argv_push(&a, "--cgroup");
	argv_push(&a, rec.cgroup);
	argv_push(&a, "--");
	for (size_t i = 0; i < rec.argc; i++)
		argv_push(&a, rec.argv[i]);
	if (!r && a.failed)
		r = err_set(err, a.failed, "out of memory");
	if (!r)
		r = vm_proc_spawn_detached(a.v, &pid, &rec.shim_start_ticks, err);
	vm_strv_free(a.v, a.n);
	if (r) {
		vm_record_free(&rec);
		return r;
	}
	rec.shim_pid = pid;
	rec.started_at = (int64_t)clock_ns(CLOCK_REALTIME);
	r = vm_record_write(state, &rec, err);
	pidfd = vm_proc_open(pid, rec.shim_start_ticks);
	if (!r && pidfd < 0)
		r = err_set(err, -EIO, "kvmlet-shim ended at once");
	if (!r)
		r = wait_api(root, pidfd, err);
	if (r == -ECHILD && guest_ran(state)) {
		/* Like a container that exits at once: started, and ended already. */
		memset(err, 0, sizeof(*err));
		r = 0;
	} else if (r == -ECHILD) {
		err->code = -EIO;
		r = -EIO;
	}
	if (r) {
		char last[200];

		if (pidfd >= 0)
			kill_via_shim(&rec, pidfd);
		vmm_last_line(state, last, sizeof(last));
		if (*last)
			err_prefix(err, err->code, "%s; ", last);
		log_fields(LOG_WARN, "VM failed to start", "id", id, "error", err->msg, NULL);
	} else {
		char cid[16];

		snprintf(cid, sizeof(cid), "%u", rec.cid);
		log_fields(LOG_INFO, "VM started", "id", id, "cid", cid, NULL);
	}
	if (pidfd >= 0)
		close(pidfd);
	vm_record_free(&rec);
	return r;
}

/* ---- status ------------------------------------------------------------- */

static int host_status(void *ctx, const char *id, struct vm_status *out, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	struct vm_exit e;
	char state[PATH_MAX];
	int r = load(h, id, state, sizeof(state), &rec, err);

	if (r)
		return r;
	memset(out, 0, sizeof(*out));
	out->started_at = rec.started_at;
	out->vsock_cid = rec.cid;
	out->guest_memory_bytes = rec.memory_mib << 20;
	out->vcpus = rec.vcpus;
	switch (liveness(state, &rec, &e)) {
	case LIVE_NEVER:
		out->state = VM_CREATED;
		break;
	case LIVE_RUNNING:
		out->state = VM_RUNNING;
		break;
	case LIVE_EXITED:
		out->state = VM_EXITED;
		out->finished_at = e.finished_at;
		vm_reason_explain(&e, &out->exit_code, out->reason, sizeof(out->reason),
				  out->message, sizeof(out->message));
		break;
	case LIVE_LOST:
		out->state = VM_EXITED;
		out->finished_at = rec.started_at;
		vm_reason_explain(NULL, &out->exit_code, out->reason, sizeof(out->reason),
				  out->message, sizeof(out->message));
		break;
	}
	vm_record_free(&rec);
	return 0;
}

/* ---- stop and remove ---------------------------------------------------- */

/* guest-shutdown through the guest agent, if one answers at once; best effort. */
static void guest_shutdown(const char *root)
{
	struct ga_address addr = { .transport = GA_VSOCK_UDS, .port = GA_DEFAULT_PORT };
	struct ga_error e = { 0 };
	struct ga_conn *c;
	int sockfd = jail_socket(root, "vsock.sock", addr.path, sizeof(addr.path));

	if (sockfd < 0)
		return;
	c = ga_connect_addr(&addr, SHUTDOWN_AGENT_MS, &e);
	close(sockfd);
	if (!c)
		return;
	/* guest-shutdown has no answer when it works: a timeout is the good case. */
	ga_call(c, "guest-shutdown", NULL, SHUTDOWN_AGENT_MS, NULL, &e);
	ga_close(c);
}

static int host_stop(void *ctx, const char *id, int64_t timeout_s, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX], secs[24];
	int pidfd, r = load(h, id, state, sizeof(state), &rec, err);
	bool graceful = false;

	if (r)
		return r;
	pidfd = rec.shim_pid ? vm_proc_open((pid_t)rec.shim_pid, rec.shim_start_ticks) : -ESRCH;
	if (pidfd < 0) {
		/* Never started, or ended; a VMM whose shim was killed goes now. */
		if (rec.shim_pid)
			vm_cgroup_kill(rec.cgroup_version, rec.cgroup);
		vm_record_free(&rec);
		return 0;
	}
	jail_paths(h, id, jail_dir, root, sizeof(root));
	if (timeout_s > 0) {
		uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_s * 1000;
		struct err e = { 0 };
		long status;
		int left;

		/* The firmware powers off on it; a Linux guest reboots unless told otherwise. */
		api_call(root, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}", 2000,
			 &status, NULL, &e);
		left = (int)(deadline > clock_mono_ms() ? deadline - clock_mono_ms() : 0);
		graceful = vm_proc_wait(pidfd, left < 1000 ? left : 1000) == 1;
		if (!graceful) {
			guest_shutdown(root);
			left = (int)(deadline > clock_mono_ms() ? deadline - clock_mono_ms() : 0);
			graceful = vm_proc_wait(pidfd, left) == 1;
		}
	}
	if (!graceful)
		kill_via_shim(&rec, pidfd);
	close(pidfd);
	snprintf(secs, sizeof(secs), "%" PRId64, timeout_s);
	log_fields(LOG_INFO, graceful ? "VM stopped" : "VM killed", "id", id, "grace_s", secs,
		   NULL);
	vm_record_free(&rec);
	return 0;
}

static int host_remove(void *ctx, const char *id, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	int r = load(h, id, state, sizeof(state), &rec, err);

	if (r == -ENOENT) {
		/* Idempotent; and a create cut short by a crash leaves a jail without a record. */
		if (id_valid(id) && !jail_paths(h, id, jail_dir, root, sizeof(root)) &&
		    !state_path(h, id, state, sizeof(state))) {
			memset(err, 0, sizeof(*err));
			r = vm_jail_remove(jail_dir, err);
			if (!r)
				r = vm_jail_remove_tree(state, err);
		}
		return r == -ENOENT ? 0 : r;
	}
	if (r)
		return r;
	r = host_stop(ctx, id, 0, err);
	jail_paths(h, id, jail_dir, root, sizeof(root));
	/* Anything of the VM that outlived its shim (a killed shim) goes now. */
	vm_cgroup_kill(rec.cgroup_version, rec.cgroup);
	if (!r)
		r = vm_jail_remove(jail_dir, err);
	if (!r)
		r = vm_cgroup_remove(rec.cgroup_version, rec.cgroup, err);
	/* The record goes last: a failure above can be retried. */
	if (!r)
		r = vm_jail_remove_tree(state, err);
	if (!r) {
		vm_ids_release(&h->ids, rec.uid, rec.cid);
		log_fields(LOG_INFO, "VM removed", "id", id, NULL);
	}
	vm_record_free(&rec);
	return r;
}

/* ---- logs, exec, stats, list -------------------------------------------- */

static int host_reopen_log(void *ctx, const char *id, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	struct vm_exit e;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	long status;
	int fd, r = load(h, id, state, sizeof(state), &rec, err);

	if (r)
		return r;
	if (liveness(state, &rec, &e) != LIVE_RUNNING) {
		vm_record_free(&rec);
		return err_set(err, -ESRCH, "VM '%s' is not running", id);
	}
	if (!*rec.log_path) {
		vm_record_free(&rec);
		return 0;
	}
	/* kubelet renamed the file away: a new one, the VM's own, at the same path. */
	fd = open(rec.log_path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0640);
	if (fd < 0 || fchown(fd, rec.uid, rec.uid) || fchmod(fd, 0640))
		r = err_set(err, -errno, "log file '%s': %s", rec.log_path, strerror(errno));
	if (fd >= 0)
		close(fd);
	jail_paths(h, id, jail_dir, root, sizeof(root));
	if (!r)
		r = api_call(root, "PUT", "/kvmlet/console/reopen", "{}", 5000, &status, NULL, err);
	if (!r)
		log_fields(LOG_INFO, "VM log reopened", "id", id, NULL);
	vm_record_free(&rec);
	return r;
}

void vm_exec_result_free(struct vm_exec_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

static uint8_t *copy_capped(const unsigned char *p, size_t len, size_t cap, size_t *out_len)
{
	size_t n = len < cap ? len : cap;
	uint8_t *b = malloc(n + 1);

	if (!b)
		return NULL;
	if (n)
		memcpy(b, p, n);
	b[n] = 0;
	*out_len = n;
	return b;
}

static int host_exec(void *ctx, const char *id, const char *const *argv, size_t argc,
		     int64_t timeout_ms, size_t cap, struct vm_exec_result *out, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	struct vm_exit ex;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	struct ga_address addr = { .transport = GA_VSOCK_UDS, .port = GA_DEFAULT_PORT };
	struct ga_error ge = { 0 };
	struct ga_exec_status st = { 0 };
	struct ga_conn *c;
	const char **args;
	int sockfd, timeout, r = load(h, id, state, sizeof(state), &rec, err);

	memset(out, 0, sizeof(*out));
	if (r)
		return r;
	r = liveness(state, &rec, &ex) == LIVE_RUNNING ? 0 : -ESRCH;
	vm_record_free(&rec);
	if (r)
		return err_set(err, r, "VM '%s' is not running", id);
	if (!argc || !argv[0] || !*argv[0])
		return err_set(err, -EINVAL, "exec: no command");
	timeout = timeout_ms <= 0 || timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms;
	jail_paths(h, id, jail_dir, root, sizeof(root));
	sockfd = jail_socket(root, "vsock.sock", addr.path, sizeof(addr.path));
	if (sockfd < 0)
		return err_set(err, sockfd, "jail '%s': %s", root, strerror(-sockfd));
	c = ga_connect_addr(&addr, timeout < EXEC_CONNECT_MS ? timeout : EXEC_CONNECT_MS, &ge);
	close(sockfd);
	if (!c)
		return err_set(err, -ENOTCONN, "the guest has no agent on vsock port %u (%s)",
			       GA_DEFAULT_PORT, ge.err.msg);
	args = calloc(argc, sizeof(*args));
	if (!args) {
		ga_close(c);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 1; i < argc; i++)
		args[i - 1] = argv[i];
	struct ga_exec_request req = { .path = argv[0], .argv = args, .capture_output = true };
	r = ga_exec(c, &req, timeout, &st, &ge);
	free(args);
	ga_close(c);
	if (r == -ETIMEDOUT)
		return err_set(err, -ETIMEDOUT, "exec in VM '%s' timed out after %d ms", id,
			       timeout);
	if (r)
		return err_set(err, r, "exec in VM '%s': %s", id, ge.err.msg);
	out->exit_code = st.signal ? 128 + st.signal : st.exitcode;
	out->out = copy_capped(st.out, st.out_len, cap, &out->out_len);
	out->err = copy_capped(st.err, st.err_len, cap, &out->err_len);
	ga_exec_status_free(&st);
	if (!out->out || !out->err) {
		vm_exec_result_free(out);
		return err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

static int host_stats(void *ctx, const char *id, struct vm_stats *out, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	struct vm_cgroup_stats cs;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	int r = load(h, id, state, sizeof(state), &rec, err);

	if (r)
		return r;
	memset(out, 0, sizeof(*out));
	out->timestamp = (int64_t)clock_ns(CLOCK_REALTIME);
	/* A VM that never ran, or whose group is gone, uses nothing. */
	if (vm_cgroup_stats(rec.cgroup_version, rec.cgroup, &cs, err) == 0) {
		out->cpu_usage_ns = cs.cpu_usage_ns;
		out->memory_usage = cs.memory_usage;
		out->memory_working_set = cs.memory_working_set;
	} else {
		memset(err, 0, sizeof(*err));
	}
	jail_paths(h, id, jail_dir, root, sizeof(root));
	for (size_t i = 0; i < rec.nr_disks; i++) {
		char path[PATH_MAX];
		struct stat st;

		if (!vm_pathf(path, sizeof(path), "%s/%s", root, rec.disks[i]) &&
		    lstat(path, &st) == 0) {
			out->disk_used_bytes += (uint64_t)st.st_blocks * 512;
			out->disk_inodes++;
		}
	}
	vm_record_free(&rec);
	return 0;
}

static int host_sandbox_stats(void *ctx, const char *cgroup_parent, struct vm_stats *out,
			      struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_cgroup_stats cs;
	char rel[PATH_MAX];
	int r = vm_cgroup_parent(cgroup_parent, rel, sizeof(rel), err);

	memset(out, 0, sizeof(*out));
	if (r)
		return r;
	out->timestamp = (int64_t)clock_ns(CLOCK_REALTIME);
	/* The parent's counters include its VMs' (hierarchical accounting). */
	r = vm_cgroup_stats(h->cgroup_version, rel, &cs, err);
	if (r)
		return r;
	out->cpu_usage_ns = cs.cpu_usage_ns;
	out->memory_usage = cs.memory_usage;
	out->memory_working_set = cs.memory_working_set;
	return 0;
}

static int host_list(void *ctx, char ***ids, size_t *nr, struct err *err)
{
	struct vm_host *h = ctx;
	DIR *d = opendir(h->state_dir);
	struct dirent *de;

	*ids = NULL;
	*nr = 0;
	if (!d)
		return err_set(err, -errno, "%s: %s", h->state_dir, strerror(errno));
	while ((de = readdir(d))) {
		char path[PATH_MAX];

		if (!id_valid(de->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s/vm.json", h->state_dir, de->d_name) >=
			    (int)sizeof(path) ||
		    access(path, F_OK))
			continue;
		if (vm_strv_push(ids, nr, de->d_name)) {
			closedir(d);
			vm_strv_free(*ids, *nr);
			*ids = NULL;
			*nr = 0;
			return err_set(err, -ENOMEM, "out of memory");
		}
	}
	closedir(d);
	return 0;
}

static const struct vm_backend_ops host_ops = {
	.create = host_create,
	.start = host_start,
	.status = host_status,
	.stop = host_stop,
	.remove = host_remove,
	.reopen_log = host_reopen_log,
	.exec = host_exec,
	.stats = host_stats,
	.sandbox_stats = host_sandbox_stats,
	.list = host_list,
};

/* ---- open --------------------------------------------------------------- */

/* What this VMM offers, from its --help: the CRI console arrived later. */
static void probe_vmm(struct vm_host *h)
{
	char help[] = "--help";
	char *argv[] = { h->vmm_path, help, NULL };
	posix_spawn_file_actions_t fa;
	char buf[8192];
	size_t n = 0;
	int p[2], status;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, h->vmm_path, &fa, NULL, argv, (char *[]){ NULL }) == 0) {
		close(p[1]);
		p[1] = -1;
		for (;;) {
			ssize_t r = read(p[0], buf + n, sizeof(buf) - 1 - n);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
			if (n == sizeof(buf) - 1)
				break;
		}
		waitpid(pid, &status, 0);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	buf[n] = '\0';
	h->vmm_serial_cri = strstr(buf, "cri:PATH") != NULL;
	h->vmm_console_sock = strstr(buf, "--console-sock") != NULL;
}

/*
 * After a restart: every VM on disk, checked against its shim, one line
 * each. A directory without vm.json is a create a crash cut short: it goes,
 * with its jail (nothing ran there: start needs the record).
 */
static void adopt(struct vm_host *h)
{
	DIR *d = opendir(h->state_dir);
	struct dirent *de;
	static const char *const names[] = { [LIVE_NEVER] = "created",
					     [LIVE_RUNNING] = "running",
					     [LIVE_EXITED] = "exited",
					     [LIVE_LOST] = "lost" };

	if (!d)
		return;
	while ((de = readdir(d))) {
		char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
		struct vm_record rec;
		struct vm_exit e;
		struct err err = { 0 };
		int r;

		if (!id_valid(de->d_name) || state_path(h, de->d_name, state, sizeof(state)) ||
		    jail_paths(h, de->d_name, jail_dir, root, sizeof(root)))
			continue;
		r = vm_record_read(state, &rec, &err);
		if (r == -ENOENT) {
			if (vm_jail_remove(jail_dir, &err) || vm_jail_remove_tree(state, &err))
				log_warn("VM %s: removing an unfinished create: %s", de->d_name,
					 err.msg);
			else
				log_fields(LOG_INFO, "VM unfinished create removed", "id",
					   de->d_name, NULL);
			continue;
		}
		if (r) {
			log_warn("VM %s: %s", de->d_name, err.msg);
			continue;
		}
		log_fields(LOG_INFO, "VM adopted", "id", de->d_name, "state",
			   names[liveness(state, &rec, &e)], NULL);
		vm_record_free(&rec);
	}
	closedir(d);
}

static void host_free(struct vm_host *h)
{
	if (!h)
		return;
	vm_ids_fini(&h->ids);
	free(h->state_dir);
	free(h->jail_base);
	free(h->vmm_path);
	free(h->jailer_path);
	free(h->shim_path);
	free(h);
}

int vm_host_open(const struct vm_host_config *cfg, struct vm_backend *out, struct err *err)
{
	struct vm_host *h;
	int r;

	if (!cfg->state_dir || cfg->state_dir[0] != '/' || !cfg->jail_base ||
	    cfg->jail_base[0] != '/' || !cfg->vmm_path || !cfg->jailer_path || !cfg->shim_path)
		return err_set(err, -EINVAL,
			       "[vm]: state_dir and jail_base must be absolute, and "
			       "the vmm, jailer and shim paths given");
	if (cfg->default_memory_mib < VM_SPEC_MIN_MEMORY_MIB)
		return err_set(err, -EINVAL, "[vm] default_memory_mib: at least %u",
			       VM_SPEC_MIN_MEMORY_MIB);
	for (const char *const *p =
		     (const char *const[]){ cfg->vmm_path, cfg->jailer_path, cfg->shim_path, NULL };
	     *p; p++)
		if (access(*p, X_OK))
			return err_set(err, -errno, "[vm]: '%s': %s", *p, strerror(errno));
	h = calloc(1, sizeof(*h));
	if (!h)
		return err_set(err, -ENOMEM, "out of memory");
	h->state_dir = strdup(cfg->state_dir);
	h->jail_base = strdup(cfg->jail_base);
	h->vmm_path = strdup(cfg->vmm_path);
	h->jailer_path = strdup(cfg->jailer_path);
	h->shim_path = strdup(cfg->shim_path);
	h->default_memory_mib = cfg->default_memory_mib;
	h->overhead_mib = cfg->overhead_mib;
	h->cgroup_version = vm_cgroup_version();
	if (!h->state_dir || !h->jail_base || !h->vmm_path || !h->jailer_path || !h->shim_path) {
		host_free(h);
		return err_set(err, -ENOMEM, "out of memory");
	}
	r = vm_ids_init(&h->ids, cfg->uid_base, cfg->uid_count, err);
	if (r) {
		host_free(h);
		return r;
	}
	r = mkdir_p(h->state_dir, 0700);
	if (!r)
		r = mkdir_p(h->jail_base, 0755);
	if (r) {
		err_set(err, r, "VM directories: %s", strerror(-r));
		host_free(h);
		return r;
	}
	r = vm_ids_load(&h->ids, h->state_dir, err);
	if (!r)
		r = http_client_global_init(err);
	if (r) {
		host_free(h);
		return r;
	}
	probe_vmm(h);
	adopt(h);
	log_fields(LOG_INFO, "VM backend ready", "state_dir", h->state_dir, "cgroup",
		   h->cgroup_version == 2 ? "v2" : "v1", "console",
		   h->vmm_serial_cri ? "cri" : "file (this VMM has no --serial cri:)", NULL);
	out->ops = &host_ops;
	out->ctx = h;
	return 0;
}

void vm_host_close(struct vm_backend *b)
{
	if (b && b->ops == &host_ops) {
		host_free(b->ctx);
		b->ctx = NULL;
		b->ops = NULL;
	}
}
