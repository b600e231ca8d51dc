// SPDX-License-Identifier: Apache-2.0
/*
 * CreateContainer (vm.h create): map the request, allocate a uid and CID,
 * fill the jail (kernel, disk copies, devices, ISO disks), and record the
 * jailer's whole command line in vm.json. Nothing runs yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/image/store.h"
#include "agent/net/vmnet.h"
#include "agent/vm/build.h"
#include "agent/vm/cgroup.h"
#include "agent/vm/disk.h"
#include "agent/vm/host_priv.h"
#include "agent/vm/jail.h"
#include "agent/vm/logfile.h"
#include "agent/vm/vm.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"

/* ---- create ------------------------------------------------------------- */

void build_pushf(struct argv_buf *a, const char *fmt, ...)
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
	host_argv_push(a, buf);
}

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
	host_argv_push(&b->vmm, "--kernel");
	host_argv_push(&b->vmm, "/kernel");
	if (img->initrd) {
		r = image_path(b, img->initrd, src, sizeof(src), err);
		if (!r)
			r = vm_jail_place_ro(src, b->root, "initrd", err);
		if (r)
			return r;
		host_argv_push(&b->vmm, "--initrd");
		host_argv_push(&b->vmm, "/initrd");
	}
	host_argv_push(&b->vmm, "--cmdline");
	if (b->req->kernel_ip_arg && *b->req->kernel_ip_arg)
		build_pushf(&b->vmm, "%s%s%s", b->spec.cmdline, *b->spec.cmdline ? " " : "",
			    b->req->kernel_ip_arg);
	else
		host_argv_push(&b->vmm, b->spec.cmdline);
	return 0;
}

/*
 * The pod network: the TAP, owned by the VM's uid, joined to eth0 (Kata's
 * tc redirect, docs/networking.md); the guest NIC takes eth0's MAC. A TAP
 * left by the pod's previous VM (kubelet's restart of the container) is
 * replaced.
 */
static int add_net(struct build *b, struct err *err)
{
	const struct vm_request *q = b->req;
	struct vmnet_spec s = { .netns = q->netns_path,
				.ifname = "eth0",
				.tap = q->tap_name,
				.uid = b->rec.uid,
				.gid = b->rec.uid };
	struct vmnet_info info;
	int r;

	if (!q->tap_name || !*q->tap_name)
		return 0;
	if (!q->netns_path || !*q->netns_path)
		return err_set(err, -EINVAL, "a TAP needs the pod's network namespace");
	r = vmnet_attach(&s, &info, err);
	if (r == -EEXIST || r == -EBUSY) {
		memset(err, 0, sizeof(*err));
		r = vmnet_detach(q->netns_path, "eth0", q->tap_name, err);
		if (!r)
			r = vmnet_attach(&s, &info, err);
	}
	if (r)
		return r;
	b->tap_made = true;
	host_argv_push(&b->vmm, "--net");
	build_pushf(&b->vmm, "id=eth0,tap=%s,mac=%s", q->tap_name, info.mac);
	return 0;
}

int build_add_drive(struct build *b, const char *id, const char *file, bool readonly,
		    const char *serial, struct err *err)
{
	if (b->drives >= VMM_MAX_DRIVES)
		return err_set(err, -EINVAL,
			       "a VM takes at most %u disks (image disks, devices, "
			       "mounts and cloud-init together)",
			       VMM_MAX_DRIVES);
	b->drives++;
	host_argv_push(&b->vmm, "--drive");
	build_pushf(&b->vmm, "id=%s,path=/%s%s%s%s", id, file, readonly ? ",readonly=on" : "",
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
			r = vm_disk_clone(src, dst, b->rec.uid, &reflinked, err);
		struct stat st;
		if (!r && !stat(dst, &st) && (uint64_t)st.st_size > b->largest_disk)
			b->largest_disk = (uint64_t)st.st_size;
		if (!r && vm_strv_push(&b->rec.disks, &b->rec.nr_disks, name))
			r = err_set(err, -ENOMEM, "out of memory");
		if (!r)
			r = build_add_drive(b, id, name, false, NULL, err);
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
			r = build_add_drive(b, id, name, ro, NULL, err);
		if (r)
			return r;
	}
	return 0;
}

/* A new image file in the jail: root-owned, readable by the VM. */
int build_iso_create(struct build *b, const char *name, struct err *err)
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

static int build_vmm_args(struct build *b, struct err *err)
{
	int r;

	build_pushf(&b->vmm, "--vcpus=%u", b->spec.vcpus);
	build_pushf(&b->vmm, "--memory=%" PRIu64, b->spec.memory_mib);
	host_argv_push(&b->vmm, "--api-sock");
	host_argv_push(&b->vmm, "/api.sock");
	host_argv_push(&b->vmm, "--vsock");
	build_pushf(&b->vmm, "cid=%u,uds=/vsock.sock", b->rec.cid);
	if (b->spec.rng)
		host_argv_push(&b->vmm, "--rng");
	/* Console input, for attach (the streaming issue). */
	host_argv_push(&b->vmm, "--console-sock");
	host_argv_push(&b->vmm, "/console.sock");
	if (*b->rec.log_path) {
		const char *name = strrchr(b->rec.log_path, '/') + 1;

		host_argv_push(&b->vmm, "--serial");
		build_pushf(&b->vmm, "cri:/log/%s", name);
	} else {
		host_argv_push(&b->vmm, "--serial");
		host_argv_push(&b->vmm, "none");
	}
	r = add_boot(b, err);
	if (!r)
		r = add_net(b, err);
	if (!r)
		r = add_disks(b, err);
	if (!r)
		r = add_devices(b, err);
	if (!r)
		r = build_add_cidata(b, err);
	if (!r)
		r = build_add_mounts(b, err);
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
	host_argv_push(&a, h->jailer_path);
	host_argv_push(&a, "--id");
	host_argv_push(&a, b->rec.id);
	host_argv_push(&a, "--exec-file");
	host_argv_push(&a, h->vmm_path);
	host_argv_push(&a, "--uid");
	build_pushf(&a, "%u", b->rec.uid);
	host_argv_push(&a, "--gid");
	build_pushf(&a, "%u", b->rec.uid);
	host_argv_push(&a, "--chroot-base-dir");
	host_argv_push(&a, h->jail_base);
	if (b->req->netns_path && *b->req->netns_path) {
		host_argv_push(&a, "--netns");
		host_argv_push(&a, b->req->netns_path);
	}
	host_argv_push(&a, "--cgroup-version");
	build_pushf(&a, "%d", h->cgroup_version);
	host_argv_push(&a, "--parent-cgroup");
	host_argv_push(&a, parent);
	vm_cgroup_jailer_args(h->cgroup_version, limit, b->spec.cpu_quota_us, b->spec.cpu_period_us,
			      host_argv_push, &a);
	/*
	 * No file the VMM writes grows past its largest disk (or a snapshot of
	 * its RAM) and the log's slack: past that, writes fail with EFBIG
	 * (the VMM ignores SIGXFSZ) instead of filling the host.
	 */
	host_argv_push(&a, "--resource-limit");
	build_pushf(&a, "fsize=%" PRIu64,
		    (b->largest_disk > (b->spec.memory_mib << 20) ? b->largest_disk
								  : b->spec.memory_mib << 20) +
			    VM_LOG_FSIZE_SLACK);
	host_argv_push(&a, "--");
	for (size_t i = 0; i < b->vmm.n; i++)
		host_argv_push(&a, b->vmm.v[i]);
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
	if (!host_id_valid(req->id))
		return err_set(err, -EINVAL,
			       "container id '%.80s': expected 1 to %d letters, "
			       "digits or '-'",
			       req->id ? req->id : "", VM_ID_MAX);
	if (!req->image || !req->image_dir)
		return err_set(err, -EINVAL, "container %s: no image", req->id);
	if (req->netns_path && *req->netns_path && req->netns_path[0] != '/')
		return err_set(err, -EINVAL, "network namespace '%.100s': not an absolute path",
			       req->netns_path);
	return 0;
}

/*
 * The log's directory and relative path, from log_directory + log_relpath,
 * or from an absolute log_path alone (split at its last '/').
 */
static int fill_log(struct vm_record *rec, const struct vm_request *req, struct err *err)
{
	const char *dir = req->log_directory, *rel = req->log_relpath;
	const char *path = req->log_path ? req->log_path : "";
	int r;

	if (!dir || !*dir) {
		const char *slash = strrchr(path, '/');

		if (!*path)
			return 0;
		if (path[0] != '/' || !slash || slash == path)
			return err_set(err, -EINVAL,
				       "log_path '%.100s': expected an absolute file path below /",
				       path);
		snprintf(rec->log_directory, sizeof(rec->log_directory), "%.*s",
			 (int)(slash - path), path);
		rel = slash + 1;
	} else {
		if (!rel || !*rel)
			return 0;
		snprintf(rec->log_directory, sizeof(rec->log_directory), "%s", dir);
	}
	r = vm_log_check(rec->log_directory, rel, err);
	if (!r && vm_pathf(rec->log_path, sizeof(rec->log_path), "%s/%s", rec->log_directory, rel))
		r = err_set(err, -EINVAL, "log_path '%.100s': too long", rel);
	return r;
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
	if (b->tap_made && vmnet_detach(b->req->netns_path, "eth0", b->req->tap_name, &e))
		log_warn("VM %s: cleaning up after a failed create: %s", b->rec.id, e.msg);
}

int host_create(void *ctx, const struct vm_request *req, struct err *err)
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
	r = fill_log(&b.rec, req, err);
	if (r) {
		vm_spec_free(&b.spec);
		return r;
	}
	b.rec.vcpus = b.spec.vcpus;
	b.rec.memory_mib = b.spec.memory_mib;
	b.rec.cgroup_version = b.h->cgroup_version;
	b.rec.created_at = (int64_t)clock_ns(CLOCK_REALTIME);
	r = vm_cgroup_parent(req->cgroup_parent, parent, sizeof(parent), err);
	if (!r && snprintf(b.rec.cgroup, sizeof(b.rec.cgroup), "%s/%s", parent, req->id) >=
			  (int)sizeof(b.rec.cgroup))
		r = err_set(err, -EINVAL, "cgroup_parent: too long");
	if (!r && (host_state_path(b.h, req->id, b.state, sizeof(b.state)) ||
		   host_jail_paths(b.h, req->id, b.jail_dir, b.root, sizeof(b.root))))
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
