// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/mkdir_p.h"

int mkdir_p(const char *dir, mode_t mode)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len + 2 > sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len);
	memcpy(path + len, "/", 2);
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(path, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int mkdir_parents(const char *path, mode_t mode)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);
	char *slash;

	if (len + 1 > sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, len + 1);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return mkdir_p(dir, mode);
}
