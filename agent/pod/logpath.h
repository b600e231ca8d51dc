/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI log path of a container: PodSandboxConfig.log_directory joined
 * with ContainerConfig.log_path, as containerd does, reported absolute in
 * ContainerStatus. The VMM writes there (as root's delegate), so a path
 * that leaves log_directory is refused: an absolute log_path, a ".."
 * component, or a directory on the way that resolves (through a symlink)
 * outside log_directory, or a log file that is itself a symlink. Missing
 * directories beneath log_directory are created (0755), as containerd
 * creates them, one at a time and each checked before the next.
 *
 * Threads: any; touches only the file system.
 */
#ifndef KVMLET_AGENT_POD_LOGPATH_H
#define KVMLET_AGENT_POD_LOGPATH_H

#include <stddef.h>

#include "lib/err.h"

/*
 * The absolute path into out (cap bytes), "" when there is no log (both
 * empty, or log_path empty). -EINVAL naming the problem otherwise.
 */
int pod_log_path(const char *log_directory, const char *log_path, char *out, size_t cap,
		 struct err *err);

#endif
