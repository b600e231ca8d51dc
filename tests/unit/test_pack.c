// SPDX-License-Identifier: Apache-2.0
/*
 * pack_write_layout() and the unpacker together: a packed image, read back
 * through its index, manifest and config, unpacks (with its diff_ids
 * checked) to exactly the files given, and packing again gives the same
 * digests.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "agent/image/pack.h"
#include "agent/image/unpack.h"

static char base[] = "/tmp/pack-test-XXXXXX";

static void put(const char *rel, const char *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static char *slurp(const char *path, size_t *len)
{
	struct stat sb;
	char *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	assert_int_equal(read(fd, buf, (size_t)sb.st_size), sb.st_size);
	buf[sb.st_size] = '\0';
	close(fd);
	if (len)
		*len = (size_t)sb.st_size;
	return buf;
}

static cJSON *blob_json(const char *layout, const char *digest)
{
	char path[PATH_MAX];
	char *text;
	cJSON *j;

	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, digest_hex(digest));
	text = slurp(path, NULL);
	assert_non_null(text);
	j = cJSON_Parse(text);
	free(text);
	assert_non_null(j);
	return j;
}

static const char *str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static void pack(const char *layout, char manifest[DIGEST_STR_LEN + 1])
{
	char kernel[PATH_MAX], initrd[PATH_MAX], disk[PATH_MAX];
	struct pack_file boot[2], disks[1];
	struct pack_layer layers[2];
	struct pack_image img = {
		.layers = layers, .n_layers = 2, .cmdline = "console=ttyS0", .tag = "v1", .mtime = 0
	};
	struct err err = { 0 };

	snprintf(kernel, sizeof(kernel), "%s/kernel", base);
	snprintf(initrd, sizeof(initrd), "%s/initrd", base);
	snprintf(disk, sizeof(disk), "%s/root.img", base);
	boot[0] = (struct pack_file){ initrd, "boot/initrd", 0, 0, 0444 };
	boot[1] = (struct pack_file){ kernel, "boot/vmlinuz", 0, 0, 0444 };
	disks[0] = (struct pack_file){ disk, "disk/root.img", 107, 107, 0444 };
	layers[0] = (struct pack_layer){ boot, 2 };
	layers[1] = (struct pack_layer){ disks, 1 };
	if (pack_write_layout(layout, &img, manifest, &err))
		fail_msg("pack: %s", err.msg);
}

static void round_trip(void **state)
{
	char layout[128], again[128], dest[128], path[PATH_MAX];
	char digest[DIGEST_STR_LEN + 1], digest2[DIGEST_STR_LEN + 1];
	static char big[3 << 20];
	const char *diff_ids[2];
	struct unpack_source src[2];
	cJSON *index, *man, *config;
	const cJSON *layers, *ids;
	struct err err = { 0 };
	struct stat sb;
	char *text;
	size_t len;
	int i;

	assert_non_null(mkdtemp(base));
	for (size_t k = 0; k < sizeof(big); k++)
		big[k] = (char)(k * 7919 >> 5);
	put("kernel", "KERNEL", 6);
	put("initrd", "INITRD", 6);
	put("root.img", big, sizeof(big));
	snprintf(layout, sizeof(layout), "%s/layout", base);
	snprintf(again, sizeof(again), "%s/again", base);
	pack(layout, digest);
	pack(again, digest2);
	assert_string_equal(digest, digest2);

	snprintf(path, sizeof(path), "%s/oci-layout", layout);
	text = slurp(path, NULL);
	assert_string_equal(text, "{\"imageLayoutVersion\":\"1.0.0\"}");
	free(text);
	snprintf(path, sizeof(path), "%s/index.json", layout);
	text = slurp(path, NULL);
	index = cJSON_Parse(text);
	free(text);
	const cJSON *desc = cJSON_GetArrayItem(cJSON_GetObjectItem(index, "manifests"), 0);
	assert_string_equal(str(desc, "digest"), digest);
	assert_string_equal(str(cJSON_GetObjectItem(desc, "annotations"), PACK_REF_NAME), "v1");
	man = blob_json(layout, digest);
	config = blob_json(layout, str(cJSON_GetObjectItem(man, "config"), "digest"));
	assert_string_equal(str(config, "architecture"), "amd64");
	assert_string_equal(
		str(cJSON_GetObjectItem(cJSON_GetObjectItem(config, "config"), "Labels"),
		    PACK_LABEL_CMDLINE),
		"console=ttyS0");
	layers = cJSON_GetObjectItem(man, "layers");
	ids = cJSON_GetObjectItem(cJSON_GetObjectItem(config, "rootfs"), "diff_ids");
	assert_int_equal(cJSON_GetArraySize(layers), 2);
	assert_int_equal(cJSON_GetArraySize(ids), 2);
	for (i = 0; i < 2; i++) {
		const cJSON *l = cJSON_GetArrayItem(layers, i);

		assert_string_equal(str(l, "mediaType"), UNPACK_MEDIA_TAR_GZIP);
		snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout,
			 digest_hex(str(l, "digest")));
		src[i] = (struct unpack_source){ open(path, O_RDONLY), UNPACK_MEDIA_TAR_GZIP };
		assert_true(src[i].fd >= 0);
		assert_int_equal(fstat(src[i].fd, &sb), 0);
		assert_int_equal(sb.st_size, cJSON_GetObjectItem(l, "size")->valuedouble);
		diff_ids[i] = cJSON_GetArrayItem(ids, i)->valuestring;
	}

	snprintf(dest, sizeof(dest), "%s/unpacked", base);
	if (unpack_image(src, 2, dest, NULL, diff_ids, NULL, &err))
		fail_msg("unpack: %s", err.msg);
	snprintf(path, sizeof(path), "%s/boot/vmlinuz", dest);
	text = slurp(path, NULL);
	assert_string_equal(text, "KERNEL");
	free(text);
	snprintf(path, sizeof(path), "%s/boot/initrd", dest);
	text = slurp(path, NULL);
	assert_string_equal(text, "INITRD");
	free(text);
	snprintf(path, sizeof(path), "%s/disk/root.img", dest);
	text = slurp(path, &len);
	assert_int_equal(len, sizeof(big));
	assert_memory_equal(text, big, sizeof(big));
	free(text);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0444);
	if (geteuid() == 0)
		assert_int_equal(sb.st_uid, 107);
	for (i = 0; i < 2; i++)
		close(src[i].fd);
	cJSON_Delete(index);
	cJSON_Delete(man);
	cJSON_Delete(config);
	assert_int_equal(unpack_remove_tree(AT_FDCWD, base), 0);
}

static void missing_input(void **state)
{
	struct pack_file f = { "/nonexistent/kernel", "boot/vmlinuz", 0, 0, 0444 };
	struct pack_layer l = { &f, 1 };
	struct pack_image img = { .layers = &l, .n_layers = 1, .tag = "v1" };
	char dir[] = "/tmp/pack-test-XXXXXX", layout[64];
	struct err err = { 0 };

	assert_non_null(mkdtemp(dir));
	snprintf(layout, sizeof(layout), "%s/out", dir);
	assert_int_equal(pack_write_layout(layout, &img, NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "layer 1: '/nonexistent/kernel'"));
	/* No half blob and no index naming one. */
	snprintf(layout, sizeof(layout), "%s/out/index.json", dir);
	assert_int_equal(access(layout, F_OK), -1);
	snprintf(layout, sizeof(layout), "%s/out/blobs/sha256", dir);
	assert_int_equal(rmdir(layout), 0);
	assert_int_equal(unpack_remove_tree(AT_FDCWD, dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(missing_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
