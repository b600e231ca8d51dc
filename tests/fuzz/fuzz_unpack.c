// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: any bytes as an image layer (tar+gzip when they start
 * with gzip's magic; otherwise plain tar, and the same gzipped, which must
 * end the same way), unpacked into a fresh directory
 * beside an empty one. Afterwards nothing may exist outside the destination
 * (the neighbour stays empty, the scratch directory holds only the two), a
 * failure must say why, and the tree must come apart without following
 * anything.
 */
#include "tests/fuzz/fuzzer.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "agent/image/unpack.h"

static int scratch = -1, blob = -1;
static char base[] = "/tmp/kvmlet-fuzz-unpack-XXXXXX";

static void remove_scratch(void)
{
	unpack_remove_tree(AT_FDCWD, base);
}

static int entries_in(int dirfd, const char *name, const char *allowed1, const char *allowed2)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd)))
		__builtin_trap();
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((!allowed1 || strcmp(de->d_name, allowed1)) &&
		    (!allowed2 || strcmp(de->d_name, allowed2)))
			__builtin_trap(); /* something escaped the destination */
		n++;
	}
	closedir(d);
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	if (!mkdtemp(base))
		abort();
	atexit(remove_scratch);
	scratch = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	blob = memfd_create("layer", MFD_CLOEXEC);
	if (scratch < 0 || blob < 0 || mkdirat(scratch, "sentinel", 0755))
		abort();
	return 0;
}

/* One unpack of blob's bytes into a fresh root/, checked; its result. */
static int unpack_once(const void *bytes, size_t len, const char *type)
{
	const struct unpack_limits lim = {
		.max_file_size = 1 << 20,
		.max_total_size = 4 << 20,
		.max_entries = 256,
		.keep_owner = false,
	};
	struct unpack_stats st = { 0 };
	struct err err = { 0 };
	int root, rc;

	if (ftruncate(blob, 0) || pwrite(blob, bytes, len, 0) != (ssize_t)len ||
	    lseek(blob, 0, SEEK_SET) || mkdirat(scratch, "root", 0755))
		abort();
	root = openat(scratch, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		abort();
	rc = unpack_layer(blob, type, root, &lim, NULL, NULL, &st, &err);
	close(root);
	if (rc && (rc != err.code || !err.msg[0]))
		__builtin_trap();
	if (!rc && st.tar_bytes > lim.max_total_size)
		__builtin_trap();
	entries_in(scratch, ".", "root", "sentinel");
	if (entries_in(scratch, "sentinel", NULL, NULL))
		__builtin_trap();
	if (unpack_remove_tree(scratch, "root"))
		__builtin_trap();
	return rc;
}

/* data gzipped (valid framing around whatever it is); its length, or 0. */
static size_t gzip_of(const uint8_t *data, size_t size, unsigned char **out)
{
	z_stream z = { 0 };
	size_t len = 0;

	if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	*out = malloc(deflateBound(&z, size) + 32);
	if (!*out)
		abort();
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)size;
	z.next_out = *out;
	z.avail_out = (uInt)(deflateBound(&z, size) + 32);
	if (deflate(&z, Z_FINISH) == Z_STREAM_END)
		len = z.total_out;
	deflateEnd(&z);
	return len;
}

/*
 * Bytes that start with gzip's magic go in as tar+gzip; others go in as a
 * plain tar, and then gzipped, where both must come to the same result.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *gz;
	size_t gz_len;
	int rc;

	if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
		unpack_once(data, size, UNPACK_MEDIA_TAR_GZIP);
		return 0;
	}
	rc = unpack_once(data, size, UNPACK_MEDIA_TAR);
	gz_len = gzip_of(data, size, &gz);
	if (!gz_len)
		abort();
	if (unpack_once(gz, gz_len, UNPACK_MEDIA_DOCKER_GZIP) != rc)
		__builtin_trap();
	free(gz);
	return 0;
}
