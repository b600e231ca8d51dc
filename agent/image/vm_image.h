/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM parts of an unpacked image (docs/images.md, "The layout"): the
 * kernel at /boot/vmlinuz, the initrd at /boot/initrd, the default kernel
 * arguments (the io.kvmlet.kernel.cmdline label, else /boot/cmdline) and
 * the disks, every regular file directly under /disk/ in strcmp order.
 * Each is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from
 * the unpacked tree and must be a regular file: a symlink or directory
 * there is an error, never followed.
 *
 * vm_image_convert_disks() turns every qcow2 disk into raw in place
 * (qcow2.h), so what the store records is what kvmlet-vmm serves.
 *
 * Threads: no shared state; one image directory per call.
 */
#ifndef KVMLET_AGENT_IMAGE_VM_IMAGE_H
#define KVMLET_AGENT_IMAGE_VM_IMAGE_H

#include <stddef.h>

#include "agent/image/qcow2.h"
#include "lib/err.h"

#define VM_IMAGE_CMDLINE_LABEL "io.kvmlet.kernel.cmdline"
#define VM_IMAGE_CMDLINE_MAX   4096
#define VM_IMAGE_MAX_DISKS     64

/* Paths are relative to the image directory ("rootfs/boot/vmlinuz"); NULL when absent. */
struct vm_image_parts {
	char *kernel;
	char *initrd;
	char *cmdline; /* the arguments themselves */
	size_t nr_disks;
	char **disks; /* NULL-terminated */
};

/*
 * Finds the parts in image_dir/rootfs (rootfs relative to image_dir);
 * label_cmdline is the config label's value or NULL.
 */
int vm_image_find(const char *image_dir, const char *rootfs, const char *label_cmdline,
		  struct vm_image_parts *out, struct err *err);
/* Converts the qcow2 ones among parts->disks to raw, under the same names. */
int vm_image_convert_disks(const char *image_dir, const struct vm_image_parts *parts,
			   const struct qcow2_options *opt, struct err *err);
void vm_image_parts_free(struct vm_image_parts *p);

#endif
