/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replacing a file atomically: write a temporary file next to it, make it
 * durable, rename it over the name and make the rename durable. A crash at
 * any point leaves either the old file or the new one under the name, and
 * a process that has the old file open or mapped keeps its contents.
 */
#ifndef KVMLET_REPLACE_FILE_H
#define KVMLET_REPLACE_FILE_H

#include "lib/err.h"

struct replace_file {
	int fd; /* write the new contents here */
	char *tmp;
	const char *path;
};

/* Creates the temporary file (mode 0600); errors name what (e.g. "memory file"). */
int replace_file_open(struct replace_file *f, const char *path, const char *what, struct err *err);
/* fdatasync, close, rename over path, fsync the directory; on failure as abort. */
int replace_file_commit(struct replace_file *f, struct err *err);
/* Closes and removes the temporary file; path is untouched. */
void replace_file_abort(struct replace_file *f);

#endif
