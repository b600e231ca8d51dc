// SPDX-License-Identifier: Apache-2.0
/* CRI mounts as read-only ISO disks for the VM (build.h, iso.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/vm/build.h"
#include "agent/vm/iso.h"
#include "lib/log.h"

/* One mount's disk: mount<n>.iso, serial and volume id vol. */
static int add_mount_iso(struct build *b, const struct vm_iso_source *src, size_t nr,
			 unsigned int n, const char *vol, const char *what, struct err *err)
{
	char file[32], id[32];
	struct vm_iso_report rep;
	int fd, r;

	snprintf(file, sizeof(file), "mount%u.iso", n);
	snprintf(id, sizeof(id), "mount%u", n);
	fd = build_iso_create(b, file, err);
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
	return build_add_drive(b, id, file, true, vol, err);
}

/*
 * Mounts never fail the pod for what they point at: a missing path or one
 * that is no file or directory is skipped with a warning. Each gets a disk
 * of its own while the VMM has disks left; when they run short, the last
 * disk holds all the remaining mounts, each in a directory named by its
 * volume name. Only a mount too large for a disk image is an error.
 */
int build_add_mounts(struct build *b, struct err *err)
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
