// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/image/manifest.h"

#define H1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

/* What skopeo writes for an OCI layout: no mediaType at the top, annotations. */
static const char oci_manifest[] =
	"{\n"
	"  \"schemaVersion\": 2,\n"
	"  \"config\": {\n"
	"    \"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n"
	"    \"digest\": \"" H1 "\",\n"
	"    \"size\": 412\n"
	"  },\n"
	"  \"layers\": [\n"
	"    {\n"
	"      \"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\",\n"
	"      \"digest\": \"" H2 "\",\n"
	"      \"size\": 1048576,\n"
	"      \"annotations\": {\"org.opencontainers.image.title\": \"disk.img\"}\n"
	"    },\n"
	"    {\n"
	"      \"mediaType\": \"application/vnd.oci.image.layer.v1.tar\",\n"
	"      \"digest\": \"" H3 "\",\n"
	"      \"size\": 0,\n"
	"      \"urls\": [\"https://example.com/x\"]\n"
	"    }\n"
	"  ],\n"
	"  \"annotations\": {\"org.opencontainers.image.created\": \"2026-12-07T00:00:00Z\"},\n"
	"  \"futureField\": [1, 2, 3]\n"
	"}\n";

static const char docker_manifest[] =
	"{\"schemaVersion\":2,"
	"\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
	"\"size\":1469,\"digest\":\"" H1 "\"},"
	"\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
	"\"size\":2811478,\"digest\":\"" H2 "\"}]}";

static const char docker_list[] =
	"{\"manifests\":["
	"{\"digest\":\"" H1
	"\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"},\"size\":528},"
	"{\"digest\":\"" H2
	"\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\",\"variant\":\"v3\"},\"size\":"
	"528},"
	"{\"digest\":\"" H3
	"\",\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
	"\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.17763."
	"5329\"},"
	"\"size\":528}],"
	"\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","
	"\"schemaVersion\":2}";

/* An OCI index with an attestation manifest (buildkit's), which is never chosen. */
static const char oci_index[] =
	"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
	"\"manifests\":["
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" H3 "\","
	"\"size\":566,\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"},"
	"\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"}},"
	"{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" H1 "\","
	"\"size\":480,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}";

static const char config_json[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\","
	"\"created\":\"2026-12-07T00:00:00Z\","
	"\"config\":{\"User\":\"107:107\",\"Env\":[\"PATH=/bin\"],"
	"\"Labels\":{\"io.kvmlet.kernel\":\"/boot/vmlinux\",\"a\":\"b\"}},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" H2 "\",\"" H3 "\"]},"
	"\"history\":[{\"created_by\":\"kvmlet-image build\"}]}";

static void parse_oci_manifest(void **state)
{
	struct manifest m;
	struct err err = { 0 };
	enum manifest_kind kind;

	assert_int_equal(
		manifest_kind_detect(NULL, oci_manifest, strlen(oci_manifest), &kind, &err), 0);
	assert_int_equal(kind, MANIFEST_OCI);
	assert_int_equal(
		manifest_parse(MT_OCI_MANIFEST, oci_manifest, strlen(oci_manifest), &m, &err), 0);
	assert_int_equal(m.kind, MANIFEST_OCI);
	assert_string_equal(m.config.digest, H1);
	assert_int_equal(m.config.size, 412);
	assert_int_equal(m.nr_layers, 2);
	assert_string_equal(m.layers[0].media_type, MT_OCI_LAYER_GZIP);
	assert_string_equal(m.layers[1].digest, H3);
	assert_int_equal(m.layers[0].size, 1048576);
	manifest_free(&m);
	/* A generic Content-Type with parameters leaves it to the body. */
	assert_int_equal(manifest_parse("application/json; charset=utf-8", oci_manifest,
					strlen(oci_manifest), &m, &err),
			 0);
	manifest_free(&m);
}

static void parse_docker_manifest(void **state)
{
	struct manifest m;
	struct err err = { 0 };

	assert_int_equal(manifest_parse(MT_DOCKER_MANIFEST, docker_manifest,
					strlen(docker_manifest), &m, &err),
			 0);
	assert_int_equal(m.kind, MANIFEST_DOCKER);
	assert_string_equal(m.config.media_type, MT_DOCKER_CONFIG);
	assert_int_equal(m.nr_layers, 1);
	manifest_free(&m);
	/* The header and the body disagree. */
	assert_int_equal(
		manifest_parse(MT_OCI_MANIFEST, docker_manifest, strlen(docker_manifest), &m, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "but mediaType"));
}

static void select_platform(void **state)
{
	const struct descriptor *d;
	struct image_index idx;
	struct err err = { 0 };
	enum manifest_kind kind;

	assert_int_equal(
		manifest_kind_detect(MT_DOCKER_LIST, docker_list, strlen(docker_list), &kind, &err),
		0);
	assert_true(manifest_kind_is_index(kind));
	assert_int_equal(index_parse(NULL, docker_list, strlen(docker_list), &idx, &err), 0);
	assert_int_equal(idx.nr_entries, 3);
	assert_int_equal(index_select(&idx, "linux", "amd64", &d, &err), 0);
	assert_string_equal(d->digest, H2); /* variant v3 ignored */
	assert_int_equal(index_select(&idx, "linux", "riscv64", &d, &err), -ENOENT);
	assert_null(d);
	assert_non_null(strstr(err.msg, "linux/arm/v7, linux/amd64/v3, windows/amd64"));
	index_free(&idx);

	assert_int_equal(index_parse(MT_OCI_INDEX, oci_index, strlen(oci_index), &idx, &err), 0);
	assert_int_equal(index_select(&idx, "linux", "amd64", &d, &err), 0);
	assert_string_equal(d->digest, H1);
	index_free(&idx);
	/* A manifest is not an index, nor an index a manifest. */
	assert_int_equal(index_parse(NULL, oci_manifest, strlen(oci_manifest), &idx, &err),
			 -EINVAL);
	struct manifest m;
	memset(&err, 0, sizeof(err));
	assert_int_equal(manifest_parse(NULL, oci_index, strlen(oci_index), &m, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "an index where"));
}

static void parse_config(void **state)
{
	struct image_config c;
	struct err err = { 0 };

	assert_int_equal(image_config_parse(config_json, strlen(config_json), 2, &c, &err), 0);
	assert_true(c.has_uid);
	assert_int_equal(c.uid, 107);
	assert_null(c.username);
	assert_int_equal(c.nr_labels, 2);
	assert_string_equal(c.labels[0], "io.kvmlet.kernel");
	assert_string_equal(c.labels[1], "/boot/vmlinux");
	assert_int_equal(c.nr_diff_ids, 2);
	image_config_free(&c);
	assert_int_equal(image_config_parse(config_json, strlen(config_json), 3, &c, &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "2 diff_ids for 3 layers"));
}

static void users(void **state)
{
	static const struct {
		const char *in;
		bool has_uid;
		int64_t uid;
		const char *name;
	} cases[] = {
		{ "123", true, 123, NULL },	  { "123:456", true, 123, NULL },
		{ "nobody", false, 0, "nobody" }, { "qemu:kvm", false, 0, "qemu" },
		{ "", false, 0, NULL },		  { "-1", true, -1, NULL },
		{ "1x", false, 0, "1x" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool has_uid;
		int64_t uid;
		const char *name;
		size_t len;

		image_user_split(cases[i].in, &has_uid, &uid, &name, &len);
		assert_int_equal(has_uid, cases[i].has_uid);
		assert_int_equal(uid, cases[i].uid);
		if (cases[i].name) {
			assert_non_null(name);
			assert_int_equal(len, strlen(cases[i].name));
			assert_memory_equal(name, cases[i].name, len);
		} else {
			assert_null(name);
		}
	}
}

struct bad {
	const char *ct, *body, *msg;
};

#define CFG_OCI		  "{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" H1 "\",\"size\":1}"
#define LAYER(mt, dg, sz) "{\"mediaType\":\"" mt "\",\"digest\":\"" dg "\",\"size\":" sz "}"

static const struct bad bad_manifests[] = {
	{ NULL, "", "manifest" },
	{ NULL, "[]", "expected an object" },
	{ NULL, "{\"schemaVersion\":1,\"fsLayers\":[]}", "schema 1" },
	{ MT_DOCKER_SCHEMA1_SIGNED, "{\"schemaVersion\":2}", "schema 1" },
	{ NULL, "{\"schemaVersion\":3}", "is not 2" },
	{ NULL, "{\"schemaVersion\":\"2\"}", "expected" },
	{ NULL, "{}", "missing field 'schemaVersion'" },
	{ "application/vnd.cncf.helm.config.v1+json", "{\"schemaVersion\":2}",
	  "unsupported media type" },
	{ NULL, "{\"schemaVersion\":2,\"mediaType\":7}", "expected a string" },
	{ NULL, "{\"schemaVersion\":2}", "neither" },
	{ NULL, "{\"schemaVersion\":2,\"layers\":[]}", "missing field 'config'" },
	{ NULL, "{\"schemaVersion\":2,\"config\":" CFG_OCI ",\"layers\":{}}", "expected an array" },
	{ NULL, "{\"schemaVersion\":2,\"config\":" CFG_OCI ",\"layers\":[]}", "no layers" },
	{ NULL,
	  "{\"schemaVersion\":2,\"config\":" CFG_OCI
	  ",\"layers\":[" LAYER(MT_OCI_LAYER_GZIP, H2, "-1") "]}",
	  "layers[0]" },
	{ NULL,
	  "{\"schemaVersion\":2,\"config\":" CFG_OCI
	  ",\"layers\":[" LAYER(MT_OCI_LAYER_GZIP, H2, "1.5") "]}",
	  "layers[0]" },
	{ NULL,
	  "{\"schemaVersion\":2,\"config\":" CFG_OCI
	  ",\"layers\":[" LAYER(MT_OCI_LAYER_GZIP, H2, "2199023255553") "]}",
	  "layers[0]" },
	{ NULL,
	  "{\"schemaVersion\":2,\"config\":" CFG_OCI
	  ",\"layers\":[" LAYER(MT_OCI_LAYER_GZIP, "sha256:../../etc/passwd", "1") "]}",
	  "64 lowercase hex" },
	{ NULL,
	  "{\"schemaVersion\":2,\"config\":" CFG_OCI ",\"layers\":[" LAYER(
		  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", H2, "1") "]}",
	  "unsupported layer media type" },
	{ NULL,
	  "{\"schemaVersion\":2,\"config\":" LAYER("application/vnd.cncf.helm.config.v1+json", H1,
						   "1") ",\"layers\":[" LAYER(MT_OCI_LAYER, H2,
									      "1") "]}",
	  "is not an image config" },
	{ MT_DOCKER_MANIFEST,
	  "{\"schemaVersion\":2,\"config\":" CFG_OCI
	  ",\"layers\":[" LAYER(MT_OCI_LAYER, H2, "1") "]}",
	  "is not an image config" },
};

static void bad_documents(void **state)
{
	for (size_t i = 0; i < sizeof(bad_manifests) / sizeof(bad_manifests[0]); i++) {
		const struct bad *b = &bad_manifests[i];
		struct manifest m;
		struct err err = { 0 };
		int r = manifest_parse(b->ct, b->body, strlen(b->body), &m, &err);

		if (r >= 0)
			fail_msg("%zu: accepted", i);
		if (!strstr(err.msg, b->msg))
			fail_msg("%zu: '%s' lacks '%s'", i, err.msg, b->msg);
		assert_null(m.layers);
	}
}

static void bad_configs(void **state)
{
	static const struct {
		const char *body, *msg;
	} cases[] = {
		{ "{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		  "\"diff_ids\":[]}}",
		  "linux/arm64, not linux/amd64" },
		{ "{\"os\":\"linux\"}", "missing field 'architecture'" },
		{ "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":[],\"rootfs\":{}}",
		  "config.config: expected an object" },
		{ "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":5}}",
		  "User: expected a string" },
		{ "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"a\":1}}}",
		  "Labels.a: expected a string" },
		{ "{\"architecture\":\"amd64\",\"os\":\"linux\"}", "rootfs: expected an object" },
		{ "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"x\","
		  "\"diff_ids\":[]}}",
		  "is not 'layers'" },
		{ "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		  "\"diff_ids\":[\"sha256:00\"]}}",
		  "diff_ids[0]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct image_config c;
		struct err err = { 0 };

		if (image_config_parse(cases[i].body, strlen(cases[i].body), 1, &c, &err) >= 0)
			fail_msg("%zu: accepted", i);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("%zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
	}
}

static void size_bounds(void **state)
{
	size_t len = MANIFEST_MAX_SIZE + 1;
	char *big = malloc(len);
	struct manifest m;
	struct image_config c;
	struct err err = { 0 };
	char *many;
	size_t used;

	assert_non_null(big);
	memset(big, ' ', len);
	assert_int_equal(manifest_parse(NULL, big, len, &m, &err), -EFBIG);
	free(big);

	/* 257 layers are one too many. */
	many = malloc(1 << 20);
	assert_non_null(many);
	used = (size_t)sprintf(many, "{\"schemaVersion\":2,\"config\":" CFG_OCI ",\"layers\":[");
	for (int i = 0; i <= MANIFEST_MAX_LAYERS; i++)
		used += (size_t)sprintf(many + used, "%s" LAYER(MT_OCI_LAYER, H2, "1"),
					i ? "," : "");
	used += (size_t)sprintf(many + used, "]}");
	memset(&err, 0, sizeof(err));
	assert_int_equal(manifest_parse(NULL, many, used, &m, &err), -E2BIG);
	free(many);
	(void)c;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_oci_manifest),
		cmocka_unit_test(parse_docker_manifest),
		cmocka_unit_test(select_platform),
		cmocka_unit_test(parse_config),
		cmocka_unit_test(users),
		cmocka_unit_test(bad_documents),
		cmocka_unit_test(bad_configs),
		cmocka_unit_test(size_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
