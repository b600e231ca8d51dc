/* SPDX-License-Identifier: Apache-2.0 */
/* mkdir -p, for the daemons' state and socket directories. */
#ifndef KVMLET_MKDIR_P_H
#define KVMLET_MKDIR_P_H

#include <sys/types.h>

/* Creates dir and each missing directory above it with mode; 0 or -errno. */
int mkdir_p(const char *dir, mode_t mode);
/* As mkdir_p() for the directory path is in (a socket's, a file's); 0 if none. */
int mkdir_parents(const char *path, mode_t mode);

#endif
