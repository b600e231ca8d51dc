// SPDX-License-Identifier: Apache-2.0
/*
 * A hostile live migration stream, as the target reads it: frames from up
 * to eight connections (a byte before each frame says which), their
 * header, length and CRC checks, the HELLO and START decoders, and every
 * other frame applied to a small guest RAM (pages bounded to it, the order
 * of MEM_END, STATE and COMPLETE). Anything written outside RAM is caught
 * by ASan; a frame that parses must re-encode to the same header.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdlib.h>
#include <string.h>

#include "vmm/migration/stream.h"
#include "vmm/migration/target.h"

#define RAM_BYTES (1u << 20)

static struct guest_memory gm;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct err err = { 0 };

	if (gm_alloc(&gm, RAM_BYTES, MEM_BACKEND_ANON, &err))
		abort();
	return 0;
}

static void decode_payload(const struct mig_header *h, const uint8_t *p)
{
	struct mig_start *st;
	struct mig_hello hello;
	struct err err = { 0 };

	if (h->type == MIG_MSG_HELLO) {
		mig_hello_decode(p, h->length, &hello, &err);
	} else if (h->type == MIG_MSG_START) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return;
		mig_start_decode(p, h->length, st, &err);
		mig_start_free(st);
		free(st);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_apply *a;
	unsigned int conns;
	size_t off = 1;

	if (size < 1)
		return 0;
	conns = data[0] % MIG_MAX_CONNECTIONS + 1;
	a = mig_apply_new(&gm, conns);
	if (!a)
		return 0;
	while (off + 1 < size) {
		unsigned int conn = data[off++] % (conns + 1); /* one past: a bad index */
		const uint8_t *payload;
		struct mig_header h;
		struct err err = { 0 };
		uint8_t again[MIG_HEADER_SIZE];
		size_t used;
		int r;

		if (mig_frame_parse(data + off, size - off, &h, &payload, &used, &err))
			break;
		mig_header_encode(&h, again);
		if (memcmp(again, data + off, MIG_HEADER_SIZE))
			abort();
		off += used;
		if (h.type == MIG_MSG_HELLO || h.type == MIG_MSG_START) {
			decode_payload(&h, payload);
			continue;
		}
		r = mig_apply_frame(a, conn, &h, payload, &err);
		if (r)
			break;
	}
	mig_apply_free(a);
	return 0;
}
