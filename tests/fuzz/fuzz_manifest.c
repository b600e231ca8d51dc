// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the manifest, index and config parsers on any bytes. The
 * first byte picks the Content-Type a registry might send. A parse either
 * fails saying why, or gives results inside every bound with valid digests.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdlib.h>
#include <string.h>

#include "agent/image/manifest.h"

static const char *const content_types[] = {
	NULL,		MT_OCI_MANIFEST,    MT_OCI_INDEX,      MT_DOCKER_MANIFEST,
	MT_DOCKER_LIST, "application/json", MT_DOCKER_SCHEMA1,
};

static void check_error(const struct err *err)
{
	if (!err->code || !err->msg[0])
		__builtin_trap();
}

static void check_descriptor(const struct descriptor *d)
{
	if (!digest_valid(d->digest) || d->size > DESCRIPTOR_MAX_SIZE || !d->media_type[0])
		__builtin_trap();
}

static void try_manifest(const char *ct, const char *buf, size_t size)
{
	struct manifest m;
	struct err err = { 0 };

	if (manifest_parse(ct, buf, size, &m, &err)) {
		check_error(&err);
		return;
	}
	if (manifest_kind_is_index(m.kind) || !m.nr_layers || m.nr_layers > MANIFEST_MAX_LAYERS)
		__builtin_trap();
	check_descriptor(&m.config);
	for (size_t i = 0; i < m.nr_layers; i++)
		check_descriptor(&m.layers[i]);
	manifest_free(&m);
}

static void try_index(const char *ct, const char *buf, size_t size)
{
	const struct descriptor *d;
	struct image_index idx;
	struct err err = { 0 };

	if (index_parse(ct, buf, size, &idx, &err)) {
		check_error(&err);
		return;
	}
	for (size_t i = 0; i < idx.nr_entries; i++)
		check_descriptor(&idx.entries[i].desc);
	memset(&err, 0, sizeof(err));
	if (index_select(&idx, "linux", "amd64", &d, &err))
		check_error(&err);
	else if (d < &idx.entries[0].desc || d > &idx.entries[idx.nr_entries - 1].desc)
		__builtin_trap();
	index_free(&idx);
}

static void try_config(const char *buf, size_t size, size_t nr_layers)
{
	struct image_config c;
	struct err err = { 0 };

	if (image_config_parse(buf, size, nr_layers, &c, &err)) {
		check_error(&err);
		return;
	}
	if (c.nr_diff_ids != nr_layers || (c.has_uid && c.username))
		__builtin_trap();
	for (size_t i = 0; i < 2 * c.nr_labels; i++)
		if (!c.labels[i])
			__builtin_trap();
	image_config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *ct;
	char *buf;

	if (!size)
		return 0;
	ct = content_types[data[0] % (sizeof(content_types) / sizeof(content_types[0]))];
	data++, size--;
	/* An exact-size copy, so reading past the length is caught by ASan. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	try_manifest(ct, buf, size);
	try_index(ct, buf, size);
	try_config(buf, size, 1);
	try_config(buf, size, 2);
	free(buf);
	return 0;
}
