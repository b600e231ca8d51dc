// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: arbitrary bytes from a guest agent client, through the
 * stream framing and the JSON command dispatch. Commands that change the
 * system (exec, files, fsfreeze, shutdown) are disabled by safe mode; the
 * read-only ones (osinfo, interfaces, fsinfo, ...) run for real.
 *
 * Every reply must be one line of JSON (after an optional 0xFF) that is an
 * object with exactly one of "return" or "error". Each input gets a fresh
 * agent, so no state (file handles, freeze) carries over between inputs.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ga.h"

static void check_reply(void *opaque, const char *data, size_t len)
{
	json_object *o, *v;
	size_t off = 0;

	if (len && (unsigned char)data[0] == 0xff)
		off = 1;
	if (len < off + 2 || data[len - 1] != '\n' || memchr(data + off, '\n', len - off - 1))
		__builtin_trap();
	o = json_tokener_parse(data + off);
	if (!o || !json_object_is_type(o, json_type_object))
		__builtin_trap();
	if (json_object_object_get_ex(o, "return", &v) == json_object_object_get_ex(o, "error", &v))
		__builtin_trap();
	json_object_put(o);
	++*(size_t *)opaque;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ga_config cfg = { .safe = true, .no_shutdown = true };
	struct ga_stream s = { 0 };
	size_t replies = 0;
	struct ga *ga = ga_create(&cfg);

	if (!ga)
		return 0;
	/* Two feeds split at a data-chosen point: framing must not depend on read boundaries. */
	size_t cut = size ? data[0] % (size + 1) : 0;

	ga_stream_feed(&s, ga, (const char *)data, cut, check_reply, &replies);
	ga_stream_feed(&s, ga, (const char *)data + cut, size - cut, check_reply, &replies);
	ga_stream_free(&s);

	/* The whole input as one request, as a caller of ga_dispatch() would pass it. */
	size_t n;
	char *r = ga_dispatch(ga, (const char *)data, size, &n);

	if (r)
		check_reply(&replies, r, n);
	free(r);
	ga_destroy(ga);
	return 0;
}
