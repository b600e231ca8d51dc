/* SPDX-License-Identifier: Apache-2.0 */
/* Read-only mappings of whole input files (kernels, initrds). */
#ifndef KVMLET_FILE_MAP_H
#define KVMLET_FILE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct file_map {
	const uint8_t *data; /* NULL for an empty file */
	size_t size;
};

/* `what` names the file in errors, e.g. "kernel". */
int file_map_open(struct file_map *m, const char *path, const char *what, struct err *err);
void file_map_close(struct file_map *m);

#endif
