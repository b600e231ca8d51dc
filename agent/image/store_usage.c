// SPDX-License-Identifier: Apache-2.0
/* ImageFsInfo: what the store's files take on disk, and where. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/image/store.h"
#include "agent/image/store_priv.h"

/* Past this many multiply-linked files, further links are counted each time (kept bounded). */
#define USAGE_LINKS_MAX (1u << 20)

struct usage_inode {
	dev_t dev;
	ino_t ino;
};

struct usage_walk {
	uint64_t bytes, inodes;
	/* Files with more than one link seen so far: open addressing, ino 0 free. */
	struct usage_inode *seen;
	size_t cap, nr;
};

static size_t inode_slot(const struct usage_inode *t, size_t cap, dev_t dev, ino_t ino)
{
	size_t i = (size_t)(((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t)dev) & (cap - 1);

	while (t[i].ino && (t[i].ino != ino || t[i].dev != dev))
		i = (i + 1) & (cap - 1);
	return i;
}

/* Whether st is a hard link already counted; records it if not. */
static bool inode_seen(struct usage_walk *w, const struct stat *st)
{
	size_t i;

	if (st->st_nlink < 2 || !st->st_ino)
		return false;
	if (w->seen) {
		i = inode_slot(w->seen, w->cap, st->st_dev, st->st_ino);
		if (w->seen[i].ino)
			return true;
	}
	if (w->nr >= USAGE_LINKS_MAX)
		return false;
	if ((w->nr + 1) * 2 > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct usage_inode *t = calloc(cap, sizeof(*t));

		if (!t)
			return false;
		for (size_t j = 0; j < w->cap; j++)
			if (w->seen[j].ino)
				t[inode_slot(t, cap, w->seen[j].dev, w->seen[j].ino)] = w->seen[j];
		free(w->seen);
		w->seen = t;
		w->cap = cap;
	}
	i = inode_slot(w->seen, w->cap, st->st_dev, st->st_ino);
	w->seen[i].dev = st->st_dev;
	w->seen[i].ino = st->st_ino;
	w->nr++;
	return false;
}

/* Counts dirfd's entries below it, depth-first; entries that vanish meanwhile are skipped. */
static void usage_dir(int dirfd, struct usage_walk *w, unsigned int depth)
{
	DIR *d = store_opendir(dirfd);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;
		int sub;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		/* A hard-linked file takes its blocks and inode once, however many names it has. */
		if (!S_ISDIR(st.st_mode) && inode_seen(w, &st))
			continue;
		w->bytes += (uint64_t)st.st_blocks * 512;
		w->inodes++;
		if (!S_ISDIR(st.st_mode) || depth > 256)
			continue;
		sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub >= 0) {
			usage_dir(sub, w, depth + 1);
			close(sub);
		}
	}
	closedir(d);
}

/* The highest directory above path on the same filesystem. */
static int mountpoint_of(const char *path, char out[PATH_MAX])
{
	char cur[PATH_MAX];
	struct stat st, up;

	if (!realpath(path, cur) || stat(cur, &st) < 0)
		return -errno;
	for (;;) {
		char *slash = strrchr(cur, '/');
		char parent[PATH_MAX];

		if (!slash || slash == cur) {
			if (stat("/", &up) == 0 && up.st_dev == st.st_dev)
				strcpy(cur, "/");
			break;
		}
		memcpy(parent, cur, (size_t)(slash - cur));
		parent[slash - cur] = '\0';
		if (stat(parent, &up) < 0 || up.st_dev != st.st_dev)
			break;
		strcpy(cur, parent);
	}
	strcpy(out, cur);
	return 0;
}

int store_usage(struct store *s, struct store_usage *u, struct err *err)
{
	struct usage_walk w = { 0 };
	struct timespec ts;
	struct stat st;
	int r;

	memset(u, 0, sizeof(*u));
	if (fstat(s->root_fd, &st) < 0)
		return err_set(err, -errno, "%s: %s", s->root, strerror(errno));
	w.bytes = (uint64_t)st.st_blocks * 512;
	w.inodes = 1;
	usage_dir(s->root_fd, &w, 0);
	free(w.seen);
	u->bytes = w.bytes;
	u->inodes = w.inodes;
	clock_gettime(CLOCK_REALTIME, &ts);
	u->timestamp_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	r = mountpoint_of(s->root, u->mountpoint);
	if (r)
		return err_set(err, r, "finding the mount of %s: %s", s->root, strerror(-r));
	return 0;
}
