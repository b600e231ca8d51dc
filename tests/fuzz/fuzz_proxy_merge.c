// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the CRI proxy merges kvmlet's answer with the
 * upstream's, whose bytes are not ours. Any pair of byte strings, as the
 * answers of any merged method and of Status, either merges into an
 * answer that decodes as that method's response with as many list
 * elements as both together, or is refused with -EINVAL (always when
 * either does not decode); never a crash or a leak. The first byte picks the method, the next two where the input is
 * split.
 */
#include "tests/fuzz/fuzzer.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cri/methods.h"
#include "agent/proxy/merge.h"
#include "agent/proxy/route.h"

/* The repeated fields' element count of a packed message; -1 if it does not decode. */
static long count(const ProtobufCMessageDescriptor *d, const char *const *fields,
		  const uint8_t *buf, size_t len)
{
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, buf);
	long n = 0;

	if (!m)
		return -1;
	for (size_t i = 0; fields[i]; i++) {
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(d, fields[i]);

		n += (long)*(size_t *)((char *)m + f->quantifier_offset);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return n;
}

static const struct cri_method *method_named(const char *name)
{
	for (size_t i = 0; i < cri_nr_methods; i++)
		if (!strcmp(cri_methods[i].name, name))
			return &cri_methods[i];
	__builtin_trap();
}

/* a and b as the answers of route's method: merged, or refused when one does not decode. */
static void check_lists(const struct route *route, const uint8_t *a, size_t alen, const uint8_t *b,
			size_t blen)
{
	const struct cri_method *m = method_named(route->method);
	long na = count(m->response, route->merge, a, alen);
	long nb = count(m->response, route->merge, b, blen);
	uint8_t *out = NULL;
	size_t out_len = 0;
	int r = merge_lists(m->response, route->merge, a, alen, b, blen, &out, &out_len);

	/* Both decode, yet the result may not (merge.c's pack()): refused, never sent. */
	if (((na < 0 || nb < 0) && r != -EINVAL) || (r && r != -EINVAL))
		__builtin_trap();
	if (!r && count(m->response, route->merge, out, out_len) != na + nb)
		__builtin_trap();
	free(out);
}

static void check_status(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
			 const char *up_error)
{
	uint8_t *out = NULL;
	size_t out_len = 0;
	int r = merge_status(a, alen, b, blen, "u", up_error, &out, &out_len);

	if (r && r != -EINVAL)
		__builtin_trap();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct route *merged[8];
	size_t n = 0, nt, split;
	const struct route *t = route_table(&nt);

	if (size < 3)
		return 0;
	for (size_t i = 0; i < nt && n < 8; i++)
		if (t[i].policy == ROUTE_MERGE)
			merged[n++] = &t[i];
	split = ((size_t)data[1] << 8 | data[2]) % (size - 2);
	check_lists(merged[data[0] % n], data + 3, split, data + 3 + split, size - 3 - split);
	check_status(data + 3, split, data + 3 + split, size - 3 - split, NULL);
	check_status(data + 3, size - 3, NULL, 0, "upstream u: down");
	return 0;
}
