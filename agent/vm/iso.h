/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small read-only ISO 9660 images (Rock Ridge, so names and modes survive;
 * Joliet too), built with libarchive: how a VM sees a CRI directory or file
 * mount (ConfigMaps, Secrets, the service-account token), as KubeVirt does
 * with its ISO volumes, and the cloud-init NoCloud disk ("cidata").
 *
 * A directory is walked through descriptors only: every name is resolved
 * with openat2(RESOLVE_BENEATH) from the mount's root descriptor, so that a
 * writer of the volume swapping a name for a link while we walk cannot lead
 * us out. A symbolic link is followed only when it resolves beneath that
 * root (kubelet's atomic writer points "token -> ..data/token ->
 * ..2026_12_07.../token"); one that leaves it is skipped and counted. Type
 * and size come from the opened inode (fstat), which is then read through
 * that handle: a FIFO or a device is never opened. Names beginning with ".." are the atomic
 * writer's own and are left out (the links above reach their files). Other
 * file types (sockets, devices, FIFOs) are skipped and counted too.
 *
 * Threads: no state; any thread.
 */
#ifndef KVMLET_AGENT_VM_ISO_H
#define KVMLET_AGENT_VM_ISO_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define VM_ISO_DEFAULT_MAX   (64ULL << 20) /* bytes of file data in one image */
#define VM_ISO_VOLUME_ID_MAX 32

struct vm_iso_file {
	const char *name; /* one path component */
	const void *data;
	size_t len;
	unsigned int mode; /* permission bits */
};

struct vm_iso_report {
	unsigned int files;
	unsigned int dirs;
	unsigned int skipped; /* escaping links, special files */
	uint64_t bytes;	      /* file data */
};

/*
 * The directory or regular file at host_path as an image written to out_fd
 * (a new, empty file; a single file becomes the image's only file, under
 * its own name). -EFBIG when its files hold more than max_bytes; -ENOENT,
 * -ENOTDIR... for a bad host_path.
 */
int vm_iso_from_path(const char *host_path, const char *volume_id, uint64_t max_bytes, int out_fd,
		     struct vm_iso_report *rep, struct err *err);
struct vm_iso_source {
	const char *host_path; /* a directory or a regular file */
	const char *dir;       /* where it goes in the image: "" for the root */
};

/*
 * Several mounts in one image, each under its own directory: for the
 * mounts that find no disk of their own. max_bytes bounds them together.
 */
int vm_iso_from_sources(const struct vm_iso_source *src, size_t nr, const char *volume_id,
			uint64_t max_bytes, int out_fd, struct vm_iso_report *rep, struct err *err);
/* The given files, in the image's root directory. */
int vm_iso_from_files(const struct vm_iso_file *files, size_t nr, const char *volume_id, int out_fd,
		      struct err *err);

/*
 * A volume name from a mount's container path: the mount's index, '_', and
 * the last component in ISO 9660 d-characters (uppercase, anything but
 * [A-Z0-9] made '_'), cut to size - 1 bytes: "0_SERVICEACCOUNT". The VM
 * sees it as the disk's volume id and as its virtio-blk serial.
 */
void vm_iso_volume_name(const char *container_path, unsigned int index, char *buf, size_t size);

#endif
