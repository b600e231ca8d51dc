// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/image/reference.h"

#define D     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX64 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct good {
	const char *in, *full, *familiar;
};

static const struct good goods[] = {
	{ "busybox", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36" },
	{ "library/busybox", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest" },
	{ "index.docker.io/library/busybox:x", "docker.io/library/busybox:x", "busybox:x" },
	{ "user/app", "docker.io/user/app:latest", "user/app:latest" },
	{ "localhost/app", "localhost/app:latest", "localhost/app:latest" },
	{ "localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag" },
	{ "host:5000/a/b:tag", "host:5000/a/b:tag", "host:5000/a/b:tag" },
	{ "127.0.0.1:5000/kvmlet/disk:v1", "127.0.0.1:5000/kvmlet/disk:v1",
	  "127.0.0.1:5000/kvmlet/disk:v1" },
	{ "Registry.Example/a", "Registry.Example/a:latest", "Registry.Example/a:latest" },
	{ "quay.io/a_b/c__d/e-f/g--h/i.j:T_1.x-y", "quay.io/a_b/c__d/e-f/g--h/i.j:T_1.x-y",
	  "quay.io/a_b/c__d/e-f/g--h/i.j:T_1.x-y" },
	{ "busybox@" D, "docker.io/library/busybox@" D, "busybox@" D },
	{ "busybox:1.36@" D, "docker.io/library/busybox:1.36@" D, "busybox:1.36@" D },
	{ "my-host.example.com/x/y@" D, "my-host.example.com/x/y@" D,
	  "my-host.example.com/x/y@" D },
	{ "busybox:_", "docker.io/library/busybox:_", "busybox:_" },
	/* A path that starts like a domain keeps docker.io in the short form. */
	{ "docker.io/ker.io/aa", "docker.io/ker.io/aa:latest", "docker.io/ker.io/aa:latest" },
};

struct bad {
	const char *in, *msg;
};

static const struct bad bads[] = {
	{ "", "empty image reference" },
	{ "Busybox", "must be lowercase" },
	{ "docker.io/Library/busybox", "must be lowercase" },
	{ "busybox:", "empty tag" },
	{ "busybox:-x", "must start with" },
	{ "busybox:.x", "must start with" },
	{ "busybox:a/b", "bad port" }, /* "busybox:a" is read as a domain */
	{ "busybox:a+b", "invalid character" },
	{ "busybox@sha256:abc", "64 lowercase hex" },
	{ "busybox@sha512:" HEX64, "only sha256" },
	{ "busybox@", "64 lowercase hex" },
	{ "@" D, "has no name" },
	{ ":tag", "has no name" },
	{ HEX64, "64 hex digits" },
	{ "a//b", "empty component" },
	{ "a/", "empty component" },
	{ "/a", "empty component" },
	{ "a..b", "is invalid" },
	{ "a___b", "is invalid" },
	{ "-a", "is invalid" },
	{ "a-", "is invalid" },
	{ "a b", "is invalid" },
	{ "-host.io/a", "not a valid host name" },
	{ "host-.io/a", "not a valid host name" },
	{ "ho_st.io/a", "not a valid host name" },
	{ "host.io:/a", "bad port" },
	{ "host.io:12x/a", "bad port" },
	{ "host.io:123456/a", "bad port" },
	{ "a:b:c", "is invalid" },
};

static void good_references(void **state)
{
	char buf[REF_MAX + 1];

	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		struct image_ref ref;
		struct err err = { 0 };

		if (ref_parse(goods[i].in, &ref, &err))
			fail_msg("%s: %s", goods[i].in, err.msg);
		assert_true(ref_full(&ref, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, goods[i].full);
		assert_true(ref_familiar(&ref, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, goods[i].familiar);
		/* The normal form reads back as itself. */
		ref_full(&ref, buf, sizeof(buf));
		assert_int_equal(ref_parse(buf, &ref, &err), 0);
		ref_full(&ref, buf, sizeof(buf));
		assert_string_equal(buf, goods[i].full);
	}
}

static void bad_references(void **state)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct image_ref ref;
		struct err err = { 0 };

		if (ref_parse(bads[i].in, &ref, &err) != -EINVAL)
			fail_msg("'%s' was accepted", bads[i].in);
		if (!strstr(err.msg, bads[i].msg))
			fail_msg("'%s': '%s' lacks '%s'", bads[i].in, err.msg, bads[i].msg);
	}
}

static void parts_and_limits(void **state)
{
	char buf[REF_MAX + 1], name[300];
	struct image_ref ref;
	struct err err = { 0 };

	assert_int_equal(ref_parse("busybox:1.36@" D, &ref, &err), 0);
	assert_string_equal(ref.domain, "docker.io");
	assert_string_equal(ref.path, "library/busybox");
	assert_string_equal(ref.tag, "1.36");
	assert_string_equal(ref.digest, D);
	ref_name(&ref, buf, sizeof(buf));
	assert_string_equal(buf, "docker.io/library/busybox");
	ref_tagged(&ref, buf, sizeof(buf));
	assert_string_equal(buf, "docker.io/library/busybox:1.36");
	ref_digested(&ref, buf, sizeof(buf));
	assert_string_equal(buf, "docker.io/library/busybox@" D);
	assert_int_equal(ref_full(&ref, buf, 10), -ENAMETOOLONG);

	assert_int_equal(ref_parse("busybox@" D, &ref, &err), 0);
	assert_string_equal(ref.tag, "");
	assert_int_equal(ref_tagged(&ref, buf, sizeof(buf)), -EINVAL);

	/* 255 characters of name pass, 256 do not ("host.io/" + path). */
	memset(name, 'a', sizeof(name));
	memcpy(name, "host.io/", 8);
	name[255] = '\0';
	assert_int_equal(ref_parse(name, &ref, &err), 0);
	name[255] = 'a';
	name[256] = '\0';
	assert_int_equal(ref_parse(name, &ref, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than 255"));
	/* "library/" counts against the limit too. */
	memset(name, 'a', sizeof(name));
	name[250] = '\0';
	memset(&err, 0, sizeof(err));
	assert_int_equal(ref_parse(name, &ref, &err), -EINVAL);
	/* Tags: 128 characters pass, 129 do not. */
	memset(name, 'b', sizeof(name));
	memcpy(name, "a:", 2);
	name[130] = '\0';
	assert_int_equal(ref_parse(name, &ref, &err), 0);
	name[130] = 'b';
	name[131] = '\0';
	memset(&err, 0, sizeof(err));
	assert_int_equal(ref_parse(name, &ref, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "tag longer"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_references),
		cmocka_unit_test(bad_references),
		cmocka_unit_test(parts_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
