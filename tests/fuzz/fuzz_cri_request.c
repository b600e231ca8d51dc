// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: a CRI request as the server hands it on, without gRPC.
 * The first byte picks a row of the method table, the rest is the request
 * body: protobuf-c unpacks it and the handler answers. A call either fails
 * with a code and a message, or its response unpacks again as the method's
 * response type. The runtime points at no CNI directory and logging is off,
 * so a handler touches nothing outside the process.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdlib.h>

#include "agent/cri/methods.h"
#include "agent/cri/runtime.h"
#include "lib/log.h"

static struct cri_runtime rt;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_OFF);
	cri_runtime_init(&rt, NULL, "{\"root\":\"/fuzz\"}");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cri_method *m;
	struct cri_status st;
	ProtobufCMessage *back;
	uint8_t *out;
	size_t len;

	if (!size)
		return 0;
	m = &cri_methods[data[0] % cri_nr_methods];
	if (cri_method_invoke(m, &rt, data + 1, size - 1, &out, &len, &st) != CRI_OK) {
		if (out || len || !st.message[0] || !cri_code_name(st.code))
			__builtin_trap();
		return 0;
	}
	back = protobuf_c_message_unpack(m->response, NULL, len, out);
	if (!back)
		__builtin_trap();
	protobuf_c_message_free_unpacked(back, NULL);
	free(out);
	return 0;
}
