// SPDX-License-Identifier: Apache-2.0
/*
 * Snapshot state from a hostile file or migration stream: the frame
 * checks, the section walk, and the vCPU and VM state parsers that run
 * before anything reaches KVM. A state that parses must re-encode to bytes
 * that parse to the same encoding again.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdlib.h>
#include <string.h>

#include "lib/state.h"
#include "vmm/snapshot/file.h"
#include "vmm/snapshot/sections.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

static void check_same(const struct state_writer *a, const struct state_writer *b)
{
	if (a->len != b->len || memcmp(a->data, b->data, a->len))
		abort();
}

static void vcpu_roundtrip(const struct vcpu_state *s)
{
	struct state_writer w1, w2;
	struct state_reader r, body;
	struct vcpu_state again;
	struct err err = { 0 };
	uint32_t id, version;

	state_writer_init(&w1);
	state_writer_init(&w2);
	vcpu_state_encode(s, &w1);
	state_reader_init(&r, w1.data, w1.len);
	if (state_next_section(&r, &id, &version, &body) != 1 ||
	    vcpu_state_parse(&body, version, &again, &err))
		abort();
	vcpu_state_encode(&again, &w2);
	check_same(&w1, &w2);
	vcpu_state_free(&again);
	state_writer_fini(&w1);
	state_writer_fini(&w2);
}

static void vm_roundtrip(const struct vm_state *s)
{
	struct state_writer w1, w2;
	struct state_reader r, body;
	struct vm_state again;
	struct err err = { 0 };
	uint32_t id, version;

	state_writer_init(&w1);
	state_writer_init(&w2);
	vm_state_encode(s, &w1);
	state_reader_init(&r, w1.data, w1.len);
	if (state_next_section(&r, &id, &version, &body) != 1 ||
	    vm_state_parse(&body, version, &again, &err))
		abort();
	vm_state_encode(&again, &w2);
	check_same(&w1, &w2);
	state_writer_fini(&w1);
	state_writer_fini(&w2);
}

static void walk(const void *data, size_t len)
{
	struct state_reader r, body;
	uint32_t id, version;

	state_reader_init(&r, data, len);
	while (state_next_section(&r, &id, &version, &body) == 1) {
		struct err err = { 0 };

		if (id == SNAPSHOT_SECTION_VCPU) {
			struct vcpu_state s;

			if (!vcpu_state_parse(&body, version, &s, &err)) {
				vcpu_roundtrip(&s);
				vcpu_state_free(&s);
			}
		} else if (id == SNAPSHOT_SECTION_VM) {
			struct vm_state s;

			if (!vm_state_parse(&body, version, &s, &err))
				vm_roundtrip(&s);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err err = { 0 };
	const void *body;
	size_t body_len;
	uint64_t announced;

	snapshot_header_parse(data, size, &announced, &err);
	if (!snapshot_frame_parse(data, size, &body, &body_len, &err))
		walk(body, body_len);
	/* Also as a bare body, so mutations need not forge a CRC to reach the parsers. */
	walk(data, size);
	return 0;
}
