// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: image references. A parse either fails saying why, or
 * gives a reference whose normal form reads back as itself, with a name no
 * longer than the limit, and no '/' or ".." smuggled into a digest.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdlib.h>
#include <string.h>

#include "agent/image/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char full[REF_MAX + 1], again[REF_MAX + 1], fam[REF_MAX + 1];
	struct image_ref ref, ref2;
	struct err err = { 0 };

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ref_parse(s, &ref, &err)) {
		if (!err.code || !err.msg[0])
			__builtin_trap();
		free(s);
		return 0;
	}
	if (strlen(ref.domain) + 1 + strlen(ref.path) > REF_NAME_MAX)
		__builtin_trap();
	if (ref.digest[0] && !digest_valid(ref.digest))
		__builtin_trap();
	if (!ref.tag[0] && !ref.digest[0])
		__builtin_trap();
	if (ref_full(&ref, full, sizeof(full)) < 0 || ref_familiar(&ref, fam, sizeof(fam)) < 0)
		__builtin_trap();
	/* Both forms name the same image. */
	if (ref_parse(full, &ref2, &err) || ref_full(&ref2, again, sizeof(again)) < 0 ||
	    strcmp(full, again))
		__builtin_trap();
	if (ref_parse(fam, &ref2, &err) || ref_full(&ref2, again, sizeof(again)) < 0 ||
	    strcmp(full, again))
		__builtin_trap();
	free(s);
	return 0;
}
