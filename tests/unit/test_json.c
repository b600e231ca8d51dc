// SPDX-License-Identifier: Apache-2.0
/*
 * lib/json: serde's rules on cJSON trees. Unknown, repeated and mistyped
 * fields are refused with the object and field named; integers are exact
 * over all of int64 and uint64; "\u0000" never reaches a C string.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/json.h"

static cJSON *parse(const char *text)
{
	struct err err = { 0 };
	cJSON *root = json_parse(text, strlen(text), &err);

	if (!root)
		fail_msg("json_parse(%s): %s", text, err.msg);
	return root;
}

static void parse_fails(const char *text, const char *want)
{
	struct err err = { 0 };
	cJSON *root = json_parse(text, strlen(text), &err);

	if (root)
		fail_msg("json_parse(%s) succeeded", text);
	assert_int_equal(err.code, -EINVAL);
	if (!strstr(err.msg, want))
		fail_msg("json_parse(%s): '%s' does not mention '%s'", text, err.msg, want);
}

static void parsing(void **state)
{
	cJSON *root;

	parse_fails("{\"a\": \"x\\u0000y\"}", "NUL");
	parse_fails("[\"\\u0000\"]", "NUL");
	parse_fails("{\n  \"a\": }", "line 2, column 8");
	parse_fails("{} {}", "data after the end");
	parse_fails("", "line 1, column 1");

	/* An escaped backslash followed by "u0000" is six ordinary characters. */
	root = parse("{\"a\": \"\\\\u0000\"} \n");
	assert_string_equal(json_member(root, "a")->valuestring, "\\u0000");
	cJSON_Delete(root);

	/* The text need not end in a NUL: only len bytes are read. */
	{
		struct err err = { 0 };

		root = json_parse("{\"a\": 1}garbage", 8, &err);
		assert_non_null(root);
		cJSON_Delete(root);
	}
}

static void members(void **state)
{
	static const char *const names[] = { "a", "b" };
	struct err err = { 0 };
	cJSON *root = parse("{\"a\": 1, \"b\": null, \"a\": 2}");

	assert_int_equal(json_check_members("thing", root, names, 2, &err), -EINVAL);
	assert_string_equal(err.msg, "thing: field 'a' appears twice");
	cJSON_Delete(root);

	memset(&err, 0, sizeof(err));
	root = parse("{\"a\": 1, \"c\": 2}");
	assert_int_equal(json_check_members("thing", root, names, 2, &err), -EINVAL);
	assert_string_equal(err.msg, "thing: unknown field 'c'");
	cJSON_Delete(root);

	memset(&err, 0, sizeof(err));
	root = parse("[1]");
	assert_int_equal(json_check_members("thing", root, names, 2, &err), -EINVAL);
	assert_string_equal(err.msg, "thing: expected an object");
	cJSON_Delete(root);

	/* null means absent. */
	root = parse("{\"a\": null, \"b\": 0}");
	assert_int_equal(json_check_members("thing", root, names, 2, NULL), 0);
	assert_null(json_member(root, "a"));
	assert_non_null(json_member(root, "b"));
	cJSON_Delete(root);
}

static void getters(void **state)
{
	cJSON *root = parse("{\"s\": \"x\", \"e\": \"\", \"b\": true, \"n\": 5, \"z\": null}");
	const char *s = "unset";
	struct err err = { 0 };
	uint64_t u = 7;
	bool b = false;

	assert_int_equal(json_get_string("o", root, "s", true, &s, &err), 0);
	assert_string_equal(s, "x");
	assert_int_equal(json_get_string("o", root, "z", false, &s, &err), 0);
	assert_null(s);
	assert_int_equal(json_get_bool("o", root, "b", true, &b, &err), 0);
	assert_true(b);
	assert_int_equal(json_get_uint("o", root, "missing", false, 0, 9, &u, &err), 0);
	assert_int_equal(u, 7); /* the default stays */
	assert_int_equal(err.code, 0);

	assert_int_equal(json_get_string("o", root, "z", true, &s, &err), -EINVAL);
	assert_string_equal(err.msg, "o: missing field 'z'");
	memset(&err, 0, sizeof(err));
	assert_int_equal(json_get_nonempty_string("o", root, "e", false, &s, &err), -EINVAL);
	assert_string_equal(err.msg, "o.e: must not be empty");
	memset(&err, 0, sizeof(err));
	assert_int_equal(json_get_string("o", root, "n", false, &s, &err), -EINVAL);
	assert_string_equal(err.msg, "o.n: expected a string");
	memset(&err, 0, sizeof(err));
	assert_int_equal(json_get_bool("o", root, "s", false, &b, &err), -EINVAL);
	assert_string_equal(err.msg, "o.s: expected true or false");
	memset(&err, 0, sizeof(err));
	assert_int_equal(json_get_uint("o", root, "n", false, 6, 9, &u, &err), -EINVAL);
	assert_string_equal(err.msg, "o.n: expected an integer from 6 to 9");
	memset(&err, 0, sizeof(err));
	assert_int_equal(json_get_uint("o", root, "b", false, 0, 9, &u, &err), -EINVAL);
	assert_string_equal(err.msg, "o.b: expected an integer from 0 to 9");
	cJSON_Delete(root);
}

/* The integer value of {"v": text} read as uint64 and as int64, or "no". */
static bool read_uint(const char *text, uint64_t *out)
{
	char doc[128];
	cJSON *root;
	bool ok;

	snprintf(doc, sizeof(doc), "{\"v\": %s}", text);
	root = parse(doc);
	ok = json_uint_value(json_member(root, "v"), 0, UINT64_MAX, out);
	cJSON_Delete(root);
	return ok;
}

static bool read_int(const char *text, int64_t *out)
{
	char doc[128];
	cJSON *root;
	bool ok;

	snprintf(doc, sizeof(doc), "{\"v\": %s}", text);
	root = parse(doc);
	ok = json_int_value(json_member(root, "v"), INT64_MIN, INT64_MAX, out);
	cJSON_Delete(root);
	return ok;
}

static void int_ok(const char *text, int64_t want)
{
	int64_t v = 12345;

	if (!read_int(text, &v))
		fail_msg("int64 %s refused", text);
	if (v != want)
		fail_msg("int64 %s read as %lld", text, (long long)v);
}

static void int_bad(const char *text)
{
	int64_t v = 12345;

	if (read_int(text, &v))
		fail_msg("int64 %s accepted as %lld", text, (long long)v);
	assert_int_equal(v, 12345);
}

static void uint_ok(const char *text, uint64_t want)
{
	uint64_t v = 12345;

	if (!read_uint(text, &v))
		fail_msg("uint64 %s refused", text);
	if (v != want)
		fail_msg("uint64 %s read as %llu", text, (unsigned long long)v);
}

static void uint_bad(const char *text)
{
	uint64_t v = 12345;

	if (read_uint(text, &v))
		fail_msg("uint64 %s accepted as %llu", text, (unsigned long long)v);
	assert_int_equal(v, 12345);
}

static void exact_integers(void **state)
{
	int_ok("9223372036854775807", INT64_MAX);
	int_bad("9223372036854775808");
	int_ok("-9223372036854775808", INT64_MIN);
	int_bad("-9223372036854775809");
	int_ok("9007199254740993", 9007199254740993LL); /* 2^53 + 1: no double holds it */
	int_ok("-0", 0);
	int_ok("-1", -1);
	int_ok("1e3", 1000);
	int_ok("1000.0", 1000);
	int_bad("1000.5");
	int_bad("1e300");
	int_bad("\"1\"");
	int_bad("true");
	int_bad("99999999999999999999999");

	uint_ok("18446744073709551615", UINT64_MAX);
	uint_bad("18446744073709551616");
	uint_ok("9223372036854775808", 1ULL << 63);
	uint_ok("-0", 0);
	uint_bad("-1");
	uint_ok("1E2", 100);
	uint_bad("0.5");
	uint_bad("-0.5");
	/* An exponent form is read from its double: exact below 2^53 only. */
	uint_ok("9007199254740991e0", 9007199254740991ULL);
	uint_bad("1e16");
}

static void ranges(void **state)
{
	cJSON *root = parse("{\"a\": -5, \"b\": 10}");
	struct err err = { 0 };
	int64_t i = 0;
	uint64_t u = 0;

	assert_int_equal(json_get_int("o", root, "a", true, -5, 5, &i, &err), 0);
	assert_int_equal(i, -5);
	assert_int_equal(json_get_int("o", root, "a", true, -4, 5, &i, &err), -EINVAL);
	assert_string_equal(err.msg, "o.a: expected an integer from -4 to 5");
	assert_false(json_uint_value(json_member(root, "a"), 0, 10, &u));
	assert_true(json_uint_value(json_member(root, "b"), 10, 10, &u));
	assert_int_equal(u, 10);
	assert_false(json_uint_value(json_member(root, "b"), 0, 9, &u));
	assert_false(json_uint_value(NULL, 0, 9, &u));
	cJSON_Delete(root);
}

/* Trees from elsewhere (cJSON_Parse, built or changed by hand) have only doubles. */
static void trees_not_from_json_parse(void **state)
{
	cJSON *root = cJSON_Parse("{\"big\": 9007199254740993, \"ok\": 9007199254740991}");
	cJSON *copy;
	int64_t v = 0;

	assert_non_null(root);
	assert_false(json_int_value(json_member(root, "big"), 0, INT64_MAX, &v));
	assert_true(json_int_value(json_member(root, "ok"), 0, INT64_MAX, &v));
	assert_int_equal(v, 9007199254740991LL);
	cJSON_Delete(root);

	/* A copy keeps the exact value; a number changed afterwards reads as changed. */
	root = parse("{\"n\": 9223372036854775807}");
	copy = cJSON_Duplicate(root, true);
	assert_true(json_int_value(json_member(copy, "n"), 0, INT64_MAX, &v));
	assert_int_equal(v, INT64_MAX);
	cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(root, "n"), 42);
	assert_true(json_int_value(json_member(root, "n"), 0, INT64_MAX, &v));
	assert_int_equal(v, 42);
	cJSON_Delete(copy);
	cJSON_Delete(root);
}

/* Numbers are matched to their text in order, whatever the nesting and the keys look like. */
static void nesting(void **state)
{
	cJSON *root = parse("{\"-1\": [1, -2, {\"9\": 3e0, \"x\\\"7\": 18446744073709551615}],"
			    " \"s\": \"12 -3\", \"t\": [true, null, [[-9223372036854775808]]]}");
	const cJSON *a = json_member(root, "-1");
	int64_t i = 0;
	uint64_t u = 0;

	assert_true(json_int_value(cJSON_GetArrayItem(a, 1), INT64_MIN, INT64_MAX, &i));
	assert_int_equal(i, -2);
	assert_true(json_uint_value(json_member(cJSON_GetArrayItem(a, 2), "9"), 0, 9, &u));
	assert_int_equal(u, 3);
	assert_true(
		json_uint_value(json_member(cJSON_GetArrayItem(a, 2), "x\"7"), 0, UINT64_MAX, &u));
	assert_int_equal(u, UINT64_MAX);
	a = cJSON_GetArrayItem(cJSON_GetArrayItem(json_member(root, "t"), 2), 0);
	assert_true(json_int_value(cJSON_GetArrayItem(a, 0), INT64_MIN, 0, &i));
	assert_int_equal(i, INT64_MIN);
	cJSON_Delete(root);
}

struct pod {
	const char *name;
	const char *ns;
	bool ready;
	uint64_t cpus;
	int64_t offset;
	const cJSON *labels;
	const cJSON *ports;
};

static const struct json_field pod_fields[] = {
	JSON_FIELD("name", JSON_NONEMPTY_STRING, true, struct pod, name),
	JSON_FIELD("namespace", JSON_STRING, false, struct pod, ns),
	JSON_FIELD("ready", JSON_BOOL, false, struct pod, ready),
	JSON_FIELD_UINT("cpus", true, struct pod, cpus, 1, 64),
	JSON_FIELD_INT("offset", false, struct pod, offset, INT64_MIN, INT64_MAX),
	JSON_FIELD("labels", JSON_OBJECT, false, struct pod, labels),
	JSON_FIELD("ports", JSON_ARRAY, false, struct pod, ports),
};

static int decode_pod(const char *text, struct pod *p, struct err *err)
{
	cJSON *root = parse(text);
	int r;

	*p = (struct pod){ .ns = "default", .ready = true, .offset = -1 };
	r = json_decode("pod", root, pod_fields, sizeof(pod_fields) / sizeof(pod_fields[0]), p,
			err);
	/* Strings and nodes point into the tree: look before it goes. */
	if (!r) {
		assert_string_equal(p->name, "web");
		p->name = NULL;
		p->labels = p->labels ? (const cJSON *)1 : NULL;
		p->ports = p->ports ? (const cJSON *)1 : NULL;
		if (strcmp(p->ns, "default"))
			p->ns = "other";
	}
	cJSON_Delete(root);
	return r;
}

static void decode_fails(const char *text, const char *want)
{
	struct err err = { 0 };
	struct pod p;

	if (decode_pod(text, &p, &err) != -EINVAL)
		fail_msg("%s decoded", text);
	if (strcmp(err.msg, want))
		fail_msg("%s: '%s', expected '%s'", text, err.msg, want);
}

static void schema(void **state)
{
	struct err err = { 0 };
	struct pod p;

	assert_int_equal(decode_pod("{\"name\": \"web\", \"cpus\": 2}", &p, &err), 0);
	assert_string_equal(p.ns, "default");
	assert_true(p.ready);
	assert_int_equal(p.cpus, 2);
	assert_int_equal(p.offset, -1);
	assert_null(p.labels);

	assert_int_equal(decode_pod("{\"name\": \"web\", \"cpus\": 64, \"ready\": false, "
				    "\"namespace\": \"kube\", \"offset\": -9223372036854775808, "
				    "\"labels\": {}, \"ports\": [], \"namespace\": null}",
				    &p, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "pod: field 'namespace' appears twice");
	memset(&err, 0, sizeof(err));
	assert_int_equal(decode_pod("{\"name\": \"web\", \"cpus\": 64, \"ready\": false, "
				    "\"namespace\": \"kube\", \"offset\": -9223372036854775808, "
				    "\"labels\": {}, \"ports\": []}",
				    &p, &err),
			 0);
	assert_false(p.ready);
	assert_int_equal(p.cpus, 64);
	assert_int_equal(p.offset, INT64_MIN);
	assert_string_equal(p.ns, "other");
	assert_non_null(p.labels);
	assert_non_null(p.ports);

	decode_fails("{\"cpus\": 1}", "pod: missing field 'name'");
	decode_fails("{\"name\": \"web\"}", "pod: missing field 'cpus'");
	decode_fails("{\"name\": \"web\", \"cpus\": null}", "pod: missing field 'cpus'");
	decode_fails("{\"name\": \"\", \"cpus\": 1}", "pod.name: must not be empty");
	decode_fails("{\"name\": \"web\", \"cpus\": 65}",
		     "pod.cpus: expected an integer from 1 to 64");
	decode_fails("{\"name\": \"web\", \"cpus\": 1.5}",
		     "pod.cpus: expected an integer from 1 to 64");
	decode_fails("{\"name\": \"web\", \"cpus\": 1, \"offset\": 9223372036854775808}",
		     "pod.offset: expected an integer from -9223372036854775808 to "
		     "9223372036854775807");
	decode_fails("{\"name\": \"web\", \"cpus\": 1, \"labels\": []}",
		     "pod.labels: expected an object");
	decode_fails("{\"name\": \"web\", \"cpus\": 1, \"ports\": {}}",
		     "pod.ports: expected an array");
	decode_fails("{\"name\": \"web\", \"cpus\": 1, \"ready\": 1}",
		     "pod.ready: expected true or false");
	decode_fails("{\"name\": \"web\", \"cpus\": 1, \"extra\": 1}",
		     "pod: unknown field 'extra'");
	/* Members are checked before values, then fields in table order. */
	decode_fails("{\"cpus\": 0, \"name\": 3, \"x\": 1}", "pod: unknown field 'x'");
	decode_fails("{\"cpus\": 0, \"name\": 3}", "pod.name: expected a string");
	decode_fails("[]", "pod: expected an object");
}

/* A schema nests by decoding an object field with its own table. */
struct container {
	const char *image;
	const cJSON *resources;
};

struct resources {
	uint64_t memory;
};

static void nested_schema(void **state)
{
	static const struct json_field container_fields[] = {
		JSON_FIELD("image", JSON_NONEMPTY_STRING, true, struct container, image),
		JSON_FIELD("resources", JSON_OBJECT, false, struct container, resources),
	};
	static const struct json_field resource_fields[] = {
		JSON_FIELD_UINT("memory", true, struct resources, memory, 1, UINT64_MAX),
	};
	cJSON *root = parse("{\"image\": \"i\", \"resources\": {\"memory\": 18446744073709551615,"
			    " \"memory\": 1}}");
	struct container c = { 0 };
	struct resources res = { 0 };
	struct err err = { 0 };

	assert_int_equal(json_decode("container", root, container_fields, 2, &c, &err), 0);
	assert_int_equal(
		json_decode("container.resources", c.resources, resource_fields, 1, &res, &err),
		-EINVAL);
	assert_string_equal(err.msg, "container.resources: field 'memory' appears twice");
	cJSON_Delete(root);

	memset(&err, 0, sizeof(err));
	root = parse("{\"image\": \"i\", \"resources\": {\"memory\": 18446744073709551615}}");
	assert_int_equal(json_decode("container", root, container_fields, 2, &c, &err), 0);
	assert_int_equal(
		json_decode("container.resources", c.resources, resource_fields, 1, &res, &err), 0);
	assert_int_equal(res.memory, UINT64_MAX);
	cJSON_Delete(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parsing),	 cmocka_unit_test(members),
		cmocka_unit_test(getters),	 cmocka_unit_test(exact_integers),
		cmocka_unit_test(ranges),	 cmocka_unit_test(trees_not_from_json_parse),
		cmocka_unit_test(nesting),	 cmocka_unit_test(schema),
		cmocka_unit_test(nested_schema),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
