/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qcow2 disks in VM images, converted to raw once at pull time
 * (docs/images.md): the format is told by its magic, never by the name;
 * qemu-img (Debian qemu-utils) checks the image and converts it, run
 * without a shell and killed when it overruns its time limit.
 *
 * An image with a backing file or an external data file is refused: either
 * would name a file on the host. So is one whose virtual size is over the
 * cap, before anything is written.
 *
 * Threads: the functions share no state; each conversion is its own
 * process.
 */
#ifndef KVMLET_AGENT_IMAGE_QCOW2_H
#define KVMLET_AGENT_IMAGE_QCOW2_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

#define QCOW2_QEMU_IMG		 "qemu-img"
#define QCOW2_INFO_TIMEOUT_MS	 30000
#define QCOW2_CONVERT_TIMEOUT_MS 600000

struct qcow2_options {
	const char *qemu_img;	   /* NULL: QCOW2_QEMU_IMG, looked up in PATH */
	uint64_t max_virtual_size; /* 0: no cap */
	unsigned int timeout_ms;   /* for the conversion; 0: QCOW2_CONVERT_TIMEOUT_MS */
};

/* Whether the file at fd starts with the qcow2 magic "QFI\xfb" (reads with pread). */
int qcow2_probe(int fd, bool *is_qcow2);

/*
 * Replaces the qcow2 file at path by its raw contents, under the same name,
 * mode and owner: checked with "qemu-img info", converted to
 * "<path>.raw.tmp" (sparse), fsynced and renamed over path. On failure the
 * temporary file is removed and path is untouched.
 */
int qcow2_convert_to_raw(const char *path, const struct qcow2_options *opt, struct err *err);

#endif
