// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/image/store.h"

#define ID_A "sha256:aaaa111111111111111111111111111111111111111111111111111111111111"
#define ID_B "sha256:aaaa222222222222222222222222222222222222222222222222222222222222"
#define MD_A "sha256:cccc111111111111111111111111111111111111111111111111111111111111"
#define MD_B "sha256:cccc222222222222222222222222222222222222222222222222222222222222"

struct fixture {
	char root[64];
	struct store *s;
	bool busy; /* what in_use answers */
};

static bool in_use(const char *id, void *ctx)
{
	struct fixture *f = ctx;

	return f->busy;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int open_store(struct fixture *f)
{
	struct store_options opt = { .root = f->root, .in_use = in_use, .in_use_ctx = f };
	struct err err = { 0 };
	int r = store_open(&opt, &f->s, &err);

	if (r)
		print_error("store_open: %s\n", err.msg);
	return r;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->root, "/tmp/kvmlet-store-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	*state = f;
	return open_store(f);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Entries in root/sub, but "." and "..". */
static int count_entries(const struct fixture *f, const char *sub)
{
	char path[512];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", f->root, sub);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void put_blob(struct store *s, const char *data, char digest[DIGEST_STR_LEN + 1])
{
	struct store_blob_writer *w;
	struct err err = { 0 };

	assert_int_equal(digest_buffer(data, strlen(data), digest), 0);
	assert_int_equal(store_blob_begin(s, digest, strlen(data), &w, &err), 0);
	assert_int_equal(store_blob_write(w, data, strlen(data), &err), 0);
	assert_int_equal(store_blob_commit(w, &err), 0);
}

static void blobs(void **state)
{
	struct fixture *f = *state;
	char d[DIGEST_STR_LEN + 1], other[DIGEST_STR_LEN + 1], *buf;
	struct store_blob_writer *w;
	struct err err = { 0 };
	size_t len;
	int fd;

	put_blob(f->s, "hello", d);
	assert_true(store_blob_has(f->s, d));
	assert_int_equal(store_blob_read(f->s, d, 100, &buf, &len, &err), 0);
	assert_string_equal(buf, "hello");
	free(buf);
	assert_int_equal(store_blob_read(f->s, d, 4, &buf, &len, &err), -EFBIG);
	fd = store_blob_open(f->s, d, &err);
	assert_true(fd >= 0);
	close(fd);

	/* The wrong content: refused at commit, nothing left. */
	memset(&err, 0, sizeof(err));
	digest_buffer("other", 5, other);
	assert_int_equal(store_blob_begin(f->s, other, 5, &w, &err), 0);
	assert_int_equal(count_entries(f, "blobs/sha256"), 2); /* hello + the temp file */
	assert_int_equal(store_blob_write(w, "OTHER", 5, &err), 0);
	assert_int_equal(store_blob_commit(w, &err), -EIO);
	assert_non_null(strstr(err.msg, "the content's digest is"));
	assert_false(store_blob_has(f->s, other));
	assert_int_equal(count_entries(f, "blobs/sha256"), 1);

	/* More than announced: refused as it streams. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_blob_begin(f->s, other, 4, &w, &err), 0);
	assert_int_equal(store_blob_write(w, "othe", 4, &err), 0);
	assert_int_equal(store_blob_write(w, "r", 1, &err), -EFBIG);
	store_blob_abort(w);
	assert_int_equal(count_entries(f, "blobs/sha256"), 1);

	/* Short: refused at commit. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_blob_begin(f->s, other, 6, &w, &err), 0);
	assert_int_equal(store_blob_write(w, "other", 5, &err), 0);
	assert_int_equal(store_blob_commit(w, &err), -EIO);
	assert_non_null(strstr(err.msg, "5 bytes where 6"));
	assert_int_equal(count_entries(f, "blobs/sha256"), 1);

	/* A digest that could name another file is refused up front. */
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_blob_begin(f->s, "sha256:../../x", 1, &w, &err), -EINVAL);
	assert_null(w);
}

/* An image with one layer blob, its config and manifest digests made up. */
static void add_image(struct fixture *f, const char *id, const char *md, const char *layer,
		      const char *ref_s)
{
	char key[] = "io.kvmlet.kernel", value[] = "/boot/vmlinux", disk[] = "disk/root.img";
	char rootfs[] = "rootfs", layer_copy[DIGEST_STR_LEN + 1];
	char *blob_list[] = { layer_copy };
	char *labels[] = { key, value };
	char *disks[] = { disk };
	struct store_image img = {
		.size = 1234,
		.has_uid = true,
		.uid = 107,
		.nr_labels = 1,
		.labels = labels,
		.rootfs = rootfs,
		.nr_disks = 1,
		.disks = disks,
		.nr_blobs = 1,
		.blobs = blob_list,
	};
	struct image_ref ref;
	struct err err = { 0 };
	char dir[256];

	strcpy(layer_copy, layer);
	strcpy(img.id, id);
	strcpy(img.manifest_digest, md);
	assert_int_equal(ref_parse(ref_s, &ref, &err), 0);
	assert_int_equal(store_image_prepare(f->s, id, dir, sizeof(dir), &err), 0);
	assert_int_equal(store_image_add(f->s, &img, &ref, &err), 0);
}

static void expect(struct fixture *f, const char *query, const char *id)
{
	struct store_image img;
	struct err err = { 0 };
	int r = store_image_get(f->s, query, &img, &err);

	if (!id) {
		if (r != -ENOENT)
			fail_msg("'%s': %d %s", query, r, err.msg);
		return;
	}
	if (r)
		fail_msg("'%s': %d %s", query, r, err.msg);
	assert_string_equal(img.id, id);
	store_image_free(&img);
}

static void lookups(void **state)
{
	struct fixture *f = *state;
	char layer[DIGEST_STR_LEN + 1];
	struct store_image img;
	struct err err = { 0 };

	put_blob(f->s, "layer", layer);
	add_image(f, ID_A, MD_A, layer, "busybox:1.36");
	add_image(f, ID_B, MD_B, layer, "host:5000/vm/disk");

	assert_int_equal(store_image_get(f->s, "busybox:1.36", &img, &err), 0);
	assert_string_equal(img.manifest_digest, MD_A);
	assert_int_equal(img.nr_repo_tags, 1);
	assert_string_equal(img.repo_tags[0], "docker.io/library/busybox:1.36");
	assert_int_equal(img.nr_repo_digests, 1);
	assert_string_equal(img.repo_digests[0], "docker.io/library/busybox@" MD_A);
	assert_true(img.has_uid);
	assert_int_equal(img.uid, 107);
	assert_int_equal(img.size, 1234);
	assert_string_equal(img.rootfs, "rootfs");
	assert_string_equal(img.labels[1], "/boot/vmlinux");
	assert_string_equal(img.disks[0], "disk/root.img");
	store_image_free(&img);

	expect(f, "docker.io/library/busybox:1.36", ID_A);
	expect(f, "busybox:1.36", ID_A);
	expect(f, "busybox@" MD_A, ID_A);
	expect(f, "busybox:9@" MD_A, ID_A); /* the digest wins */
	expect(f, "docker.io/library/busybox@" MD_A, ID_A);
	expect(f, ID_A, ID_A);
	expect(f, ID_A + 7, ID_A);	    /* the bare hex */
	expect(f, "aaaa1", ID_A);	    /* a short id */
	expect(f, "sha256:aaaa2222", ID_B); /* a short id with its algorithm */
	expect(f, "host:5000/vm/disk", ID_B);
	expect(f, "host:5000/vm/disk:latest", ID_B);
	expect(f, "busybox", NULL); /* :latest was never pulled */
	expect(f, "busybox@" MD_B, NULL);
	expect(f, "sha256:aaaa3", NULL);
	expect(f, "bbbb", NULL);
	expect(f, "", NULL);

	/* A prefix both ids share is refused. */
	assert_int_equal(store_image_get(f->s, "aaaa", &img, &err), -ENOTUNIQ);
	assert_non_null(strstr(err.msg, "ambiguous"));
}

static void list_and_move_tag(void **state)
{
	struct fixture *f = *state;
	char layer[DIGEST_STR_LEN + 1];
	struct store_image *list, img;
	struct err err = { 0 };
	size_t nr;

	put_blob(f->s, "layer", layer);
	add_image(f, ID_A, MD_A, layer, "app:v1");
	/* v1 moves to B; A keeps its digest reference. */
	add_image(f, ID_B, MD_B, layer, "app:v1");
	expect(f, "app:v1", ID_B);
	assert_int_equal(store_image_get(f->s, ID_A, &img, &err), 0);
	assert_int_equal(img.nr_repo_tags, 0);
	assert_int_equal(img.nr_repo_digests, 1);
	store_image_free(&img);
	assert_int_equal(store_image_list(f->s, &list, &nr, &err), 0);
	assert_int_equal(nr, 2);
	store_image_list_free(list, nr);
	assert_int_equal(count_entries(f, "images"), 2);
}

static void remove_images(void **state)
{
	struct fixture *f = *state;
	char layer_a[DIGEST_STR_LEN + 1], layer_b[DIGEST_STR_LEN + 1];
	struct err err = { 0 };

	put_blob(f->s, "layer a", layer_a);
	put_blob(f->s, "layer b", layer_b);
	add_image(f, ID_A, MD_A, layer_a, "app:v1");
	add_image(f, ID_A, MD_A, layer_a, "app:v2");
	add_image(f, ID_B, MD_B, layer_b, "other");

	/* Untag: one reference goes, the image stays while others remain. */
	assert_int_equal(store_untag(f->s, "app:v1", &err), 0);
	expect(f, "app:v1", NULL);
	expect(f, "app:v2", ID_A);
	assert_int_equal(store_untag(f->s, "app:v1", &err), -ENOENT);

	/* A VM uses A: refused, nothing changes. */
	f->busy = true;
	assert_int_equal(store_image_remove(f->s, "app:v2", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "in use by a VM"));
	expect(f, "app:v2", ID_A);
	f->busy = false;

	/* By tag, the whole image goes as in containerd: its digest ref too. */
	assert_int_equal(store_image_remove(f->s, "app:v2", &err), 0);
	expect(f, "app@" MD_A, NULL);
	expect(f, ID_A, NULL);
	assert_false(store_blob_has(f->s, layer_a)); /* collected */
	assert_true(store_blob_has(f->s, layer_b));
	assert_int_equal(count_entries(f, "images"), 1);
	assert_int_equal(store_image_remove(f->s, "app:v2", &err), -ENOENT);

	/* By id. */
	assert_int_equal(store_image_remove(f->s, ID_B, &err), 0);
	expect(f, "other", NULL);
	assert_int_equal(count_entries(f, "images"), 0);
	assert_int_equal(count_entries(f, "blobs/sha256"), 0);
}

/*
 * A layer may nest a rootfs deeper than PATH_MAX counted from the store's
 * root (each entry's own path stays under it): removal must still take all.
 */
static void remove_deep_rootfs(void **state)
{
	struct fixture *f = *state;
	char layer[DIGEST_STR_LEN + 1], name[201], path[256];
	struct err err = { 0 };
	int fd;

	put_blob(f->s, "layer a", layer);
	add_image(f, ID_A, MD_A, layer, "app:v1");
	snprintf(path, sizeof(path), "%s/images/%s", f->root, ID_A + strlen("sha256:"));
	fd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	memset(name, 'd', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(mkdirat(fd, "rootfs", 0755), 0);
	for (int i = 0, next; i < 25; i++, fd = next) { /* 25 * 201 > PATH_MAX */
		next = openat(fd, i ? name : "rootfs", O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		assert_int_equal(mkdirat(next, name, 0755), 0);
		close(fd);
	}
	close(fd);

	assert_int_equal(store_image_remove(f->s, "app:v1", &err), 0);
	assert_int_equal(count_entries(f, "images"), 0);
}

/* Labels store_open could not read back: refused now, not lost at the next start. */
static void huge_labels(void **state)
{
	struct fixture *f = *state;
	char key[] = "big", *value = malloc((2u << 20) + 1);
	char *labels[] = { key, value };
	struct store_image img = { .nr_labels = 1, .labels = labels };
	struct image_ref ref;
	struct err err = { 0 };
	char dir[256];

	assert_non_null(value);
	memset(value, 'v', 2u << 20);
	value[2u << 20] = '\0';
	strcpy(img.id, ID_A);
	strcpy(img.manifest_digest, MD_A);
	assert_int_equal(ref_parse("app:v1", &ref, &err), 0);
	assert_int_equal(store_image_prepare(f->s, ID_A, dir, sizeof(dir), &err), 0);
	assert_int_equal(store_image_add(f->s, &img, &ref, &err), -EFBIG);
	assert_non_null(strstr(err.msg, "metadata"));
	store_image_abandon(f->s, ID_A);
	expect(f, "app:v1", NULL);
	free(value);
}

/* refs.json that cannot be replaced: the add fails whole, no image left that nothing names. */
static void refs_save_fails(void **state)
{
	struct fixture *f = *state;
	struct store_image img = { 0 }, *list;
	struct image_ref ref;
	struct err err = { 0 };
	char dir[256], path[256];
	size_t nr;

	strcpy(img.id, ID_A);
	strcpy(img.manifest_digest, MD_A);
	assert_int_equal(ref_parse("app:v1", &ref, &err), 0);
	snprintf(path, sizeof(path), "%s/refs.json", f->root);
	assert_int_equal(mkdir(path, 0700), 0); /* a rename onto it fails */
	assert_int_equal(store_image_prepare(f->s, ID_A, dir, sizeof(dir), &err), 0);
	assert_int_not_equal(store_image_add(f->s, &img, &ref, &err), 0);
	store_image_abandon(f->s, ID_A);
	expect(f, ID_A, NULL);
	expect(f, "app:v1", NULL);
	assert_int_equal(store_image_list(f->s, &list, &nr, &err), 0);
	assert_int_equal(nr, 0);
	store_image_list_free(list, nr);
	assert_int_equal(rmdir(path), 0);
}

static void pulls_in_progress(void **state)
{
	struct fixture *f = *state;
	char layer[DIGEST_STR_LEN + 1], dir[256];
	struct err err = { 0 };

	put_blob(f->s, "layer", layer);
	add_image(f, ID_A, MD_A, layer, "app:v1");
	/* A second pull of A is filling its directory: A stays. */
	assert_int_equal(store_image_prepare(f->s, ID_A, dir, sizeof(dir), &err), 0);
	assert_int_equal(store_image_remove(f->s, "app:v1", &err), -EBUSY);
	assert_non_null(strstr(err.msg, "being pulled"));
	store_image_abandon(f->s, ID_A); /* registered: the directory stays */
	assert_int_equal(count_entries(f, "images"), 1);
	memset(&err, 0, sizeof(err));
	assert_int_equal(store_image_remove(f->s, "app:v1", &err), 0);

	/* A pull that fails leaves no directory; one of two pulls failing leaves it. */
	assert_int_equal(store_image_prepare(f->s, ID_B, dir, sizeof(dir), &err), 0);
	assert_int_equal(store_image_prepare(f->s, ID_B, dir, sizeof(dir), &err), 0);
	store_image_abandon(f->s, ID_B);
	assert_int_equal(count_entries(f, "images"), 1);
	store_image_abandon(f->s, ID_B);
	assert_int_equal(count_entries(f, "images"), 0);
}

struct worker {
	struct fixture *f;
	int n;
	int failures;
};

/* Pulls as the agent's worker threads make them: blobs, image, lookups, removal. */
static void *store_worker(void *arg)
{
	struct worker *w = arg;
	struct store *s = w->f->s;

	for (int i = 0; i < 20; i++) {
		char data[64], layer[DIGEST_STR_LEN + 1], id[DIGEST_STR_LEN + 1], ref[64];
		char *blob_list[] = { layer };
		struct store_image img = { .nr_blobs = 1, .blobs = blob_list }, got;
		struct store_blob_writer *bw;
		struct image_ref r;
		struct err err = { 0 };

		snprintf(data, sizeof(data), "worker %d item %d", w->n, i);
		snprintf(ref, sizeof(ref), "w%d/app:%d", w->n, i);
		digest_buffer(data, strlen(data), layer);
		snprintf(id, sizeof(id), "sha256:%02d%02d%060d", w->n, i, 0);
		strcpy(img.id, id);
		strcpy(img.manifest_digest, layer);
		store_hold(s);
		if (store_blob_begin(s, layer, strlen(data), &bw, &err) ||
		    store_blob_write(bw, data, strlen(data), &err) || store_blob_commit(bw, &err) ||
		    ref_parse(ref, &r, &err) || store_image_add(s, &img, &r, &err))
			w->failures++;
		store_release(s);
		if (store_image_get(s, ref, &got, &err) || strcmp(got.id, id))
			w->failures++;
		else
			store_image_free(&got);
		if (i % 2 && store_image_remove(s, id, &err))
			w->failures++;
	}
	return NULL;
}

static void threads(void **state)
{
	struct fixture *f = *state;
	struct worker w[4];
	pthread_t t[4];
	struct store_image *list;
	struct err err = { 0 };
	size_t nr;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .f = f, .n = i };
		assert_int_equal(pthread_create(&t[i], NULL, store_worker, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	assert_int_equal(store_image_list(f->s, &list, &nr, &err), 0);
	assert_int_equal(nr, 40); /* every other one removed */
	store_image_list_free(list, nr);
	assert_int_equal(count_entries(f, "images"), 40);
	assert_int_equal(count_entries(f, "blobs/sha256"), 40);
}

static void garbage_collection(void **state)
{
	struct fixture *f = *state;
	char used[DIGEST_STR_LEN + 1], loose[DIGEST_STR_LEN + 1];
	struct err err = { 0 };
	uint64_t freed;

	put_blob(f->s, "used", used);
	add_image(f, ID_A, MD_A, used, "app");
	/* A pull in progress holds the store: its blobs survive a GC. */
	store_hold(f->s);
	put_blob(f->s, "loose", loose);
	assert_int_equal(store_gc(f->s, &freed, &err), 0);
	assert_int_equal(freed, 0);
	assert_true(store_blob_has(f->s, loose));
	store_release(f->s); /* the deferred GC runs now */
	assert_false(store_blob_has(f->s, loose));
	assert_true(store_blob_has(f->s, used));

	put_blob(f->s, "loose", loose);
	assert_int_equal(store_gc(f->s, &freed, &err), 0);
	assert_true(freed > 0);
	assert_false(store_blob_has(f->s, loose));
	assert_true(store_blob_has(f->s, used));
}

static uint64_t du_bytes, du_inodes;

static int du_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	du_bytes += (uint64_t)st->st_blocks * 512;
	du_inodes++;
	return 0;
}

static void usage(void **state)
{
	struct fixture *f = *state;
	char layer[DIGEST_STR_LEN + 1], big[100000];
	struct store_blob_writer *w;
	struct store_usage u;
	struct err err = { 0 };

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put_blob(f->s, big, layer);
	add_image(f, ID_A, MD_A, layer, "app");
	assert_int_equal(store_blob_begin(f->s, MD_B, 1, &w, &err), 0);
	store_blob_abort(w);
	assert_int_equal(store_usage(f->s, &u, &err), 0);
	du_bytes = du_inodes = 0;
	nftw(f->root, du_entry, 16, FTW_PHYS);
	assert_int_equal(u.bytes, du_bytes);
	assert_int_equal(u.inodes, du_inodes);
	assert_true(u.bytes >= sizeof(big));
	assert_true(u.timestamp_ns > 0);
	assert_true(u.mountpoint[0] == '/');
	assert_true(!strncmp(f->root, u.mountpoint, strlen(u.mountpoint)));

	/* A second name for a file is not a second file. */
	{
		char from[512], to[512];
		struct store_usage again;

		snprintf(from, sizeof(from), "%s/blobs/sha256/%s", f->root, layer + 7);
		snprintf(to, sizeof(to), "%s/link", f->root);
		assert_int_equal(link(from, to), 0);
		assert_int_equal(store_usage(f->s, &again, &err), 0);
		assert_int_equal(again.bytes, u.bytes);
		assert_int_equal(again.inodes, u.inodes);
		assert_int_equal(unlink(to), 0);
	}
}

static void touch(const struct fixture *f, const char *name, const char *text)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->root, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void make_dir(const struct fixture *f, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", f->root, name);
	assert_int_equal(mkdir(path, 0700), 0);
}

static void reopen_after_crash(void **state)
{
	struct fixture *f = *state;
	char layer[DIGEST_STR_LEN + 1], loose[DIGEST_STR_LEN + 1], name[200];
	struct store *second;
	struct store_options opt = { .root = f->root };
	struct err err = { 0 };
	struct store_image img;

	put_blob(f->s, "layer", layer);
	put_blob(f->s, "loose", loose);
	add_image(f, ID_A, MD_A, layer, "app");
	/* One process at a time. */
	assert_int_equal(store_open(&opt, &second, &err), -EBUSY);
	store_close(f->s);
	f->s = NULL;

	/* What crashes leave at each step. */
	touch(f, "blobs/sha256/.tmp-aaaa-123456", "partial");
	touch(f, "refs.json.tmp-abcdef", "{");
	make_dir(f, "images/.del-"
		    "bbbb"
		    "-42");
	touch(f, "images/.del-bbbb-42/meta.json", "{}");
	/* An image directory the unpacker filled, meta.json never written. */
	snprintf(name, sizeof(name), "images/%s", ID_B + 7);
	make_dir(f, name);
	snprintf(name, sizeof(name), "images/%s/rootfs", ID_B + 7);
	make_dir(f, name);
	/* A complete image whose references were never written. */
	snprintf(name, sizeof(name), "images/%s", MD_B + 7);
	make_dir(f, name);
	snprintf(name, sizeof(name), "images/%s/meta.json", MD_B + 7);
	touch(f, name,
	      "{\"id\":\"" MD_B "\",\"manifest_digest\":\"" MD_A "\",\"size\":1,\"blobs\":[]}");
	snprintf(name, sizeof(name), "images/%s/meta.json.tmp-xyz", ID_A + 7);
	touch(f, name, "half");

	assert_int_equal(open_store(f), 0);
	expect(f, "app", ID_A);
	assert_int_equal(store_image_get(f->s, ID_A, &img, &err), 0);
	assert_int_equal(img.nr_blobs, 1);
	store_image_free(&img);
	expect(f, MD_B, NULL);
	expect(f, ID_B, NULL);
	assert_int_equal(count_entries(f, "images"), 1);
	snprintf(name, sizeof(name), "images/%s", ID_A + 7);
	assert_int_equal(count_entries(f, name), 1);	       /* meta.json only */
	assert_int_equal(count_entries(f, "blobs/sha256"), 1); /* the layer; loose collected */
	assert_true(store_blob_has(f->s, layer));
	assert_false(store_blob_has(f->s, loose));
	assert_int_equal(count_entries(f, ""), 4); /* blobs images lock refs.json */

	/* References to an image that is gone are dropped. */
	store_close(f->s);
	f->s = NULL;
	touch(f, "refs.json",
	      "{\"docker.io/library/app:latest\":\"" ID_A "\","
	      "\"docker.io/library/gone:latest\":\"" ID_B "\"}");
	assert_int_equal(open_store(f), 0);
	expect(f, "app", ID_A);
	expect(f, "gone", NULL);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(open_store(f), 0);
	expect(f, "gone", NULL);

	/* A root whose parents do not exist yet. */
	{
		struct store *deep;
		char path[512];

		snprintf(path, sizeof(path), "%s/a/b/images", f->root);
		opt.root = path;
		assert_int_equal(store_open(&opt, &deep, &err), 0);
		store_close(deep);
		opt.root = f->root;
	}

	/* A damaged refs.json is reported, not guessed at. */
	store_close(f->s);
	f->s = NULL;
	touch(f, "refs.json", "[");
	assert_int_equal(store_open(&opt, &f->s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "refs.json"));
	touch(f, "refs.json", "{}");
	assert_int_equal(open_store(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(lookups, setup, teardown),
		cmocka_unit_test_setup_teardown(list_and_move_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(remove_images, setup, teardown),
		cmocka_unit_test_setup_teardown(remove_deep_rootfs, setup, teardown),
		cmocka_unit_test_setup_teardown(huge_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(refs_save_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(pulls_in_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(threads, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage_collection, setup, teardown),
		cmocka_unit_test_setup_teardown(usage, setup, teardown),
		cmocka_unit_test_setup_teardown(reopen_after_crash, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
