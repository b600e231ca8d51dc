// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/file_map.h"

int file_map_open(struct file_map *m, const char *path, const char *what, struct err *err)
{
	struct stat st;
	void *p = NULL;
	int fd, r = 0;

	memset(m, 0, sizeof(*m));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, -errno, "cannot open %s '%s': %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = err_set(err, -errno, "cannot stat %s '%s': %s", what, path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		r = err_set(err, -EINVAL, "%s '%s' is not a regular file", what, path);
	} else if (st.st_size > 0) {
		p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			r = err_set(err, -errno, "cannot map %s '%s': %s", what, path,
				    strerror(errno));
		else
			*m = (struct file_map){ p, (size_t)st.st_size };
	}
	close(fd);
	return r;
}

void file_map_close(struct file_map *m)
{
	if (m->data)
		munmap((void *)m->data, m->size);
	memset(m, 0, sizeof(*m));
}
