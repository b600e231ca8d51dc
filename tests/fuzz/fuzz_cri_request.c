// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: a CRI request as the server hands it on, without gRPC.
 * The first byte picks a row of the method table, the rest is the request
 * body: protobuf-c unpacks it and the handler answers. A call either fails
 * with a code and a message, or its response unpacks again as the method's
 * response type. The runtime points at no CNI directory and logging is off;
 * the ImageService runs over an empty image store in a temporary directory
 * (names are resolved, nothing is found), and pulls are refused without
 * touching the network. The RuntimeService's pods run over the unit tests'
 * fake VM backend (tests/unit/fake_vm.h), with their records in the same
 * temporary directory, so a handler touches nothing else outside the
 * process.
 */
#include "tests/fuzz/fuzzer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/cri/methods.h"
#include "agent/cri/runtime.h"
#include "agent/image/store.h"
#include "agent/pod/pods.h"
#include "lib/log.h"
#include "tests/unit/fake_vm.h"

static struct cri_runtime rt;
static struct store *store;
static struct fake fake;
static struct pods *pods;

static int no_pull(void *ctx, const char *ref, const struct registry_auth *auth,
		   char id[DIGEST_STR_LEN + 1], struct err *err)
{
	return err_set(err, -ENETUNREACH, "pulling %s: no network in the fuzzer", ref);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char root[] = "/tmp/kvmlet-fuzz-cri-XXXXXX";
	struct store_options so = { .root = root };
	struct err err = { 0 };

	log_set_level(LOG_OFF);
	cri_runtime_init(&rt, NULL, "{\"root\":\"/fuzz\"}");
	if (!mkdtemp(root) || store_open(&so, &store, &err)) {
		fprintf(stderr, "fuzz_cri_request: no image store: %s\n", err.msg);
		abort();
	}
	cri_runtime_set_images(&rt, store, no_pull, NULL);
	{
		static char pods_root[sizeof(root) + 8], netns[sizeof(root) + 8];
		struct pods_options po = { .root = pods_root, .netns_dir = netns };

		snprintf(pods_root, sizeof(pods_root), "%s/pods", root);
		snprintf(netns, sizeof(netns), "%s/netns", root);
		fake_init(&fake);
		fake_backend(&fake, &po.backend);
		fake_sys(&fake, &po.sys);
		if (pods_open(&po, &pods, &err)) {
			fprintf(stderr, "fuzz_cri_request: no pods: %s\n", err.msg);
			abort();
		}
		cri_runtime_set_pods(&rt, pods, root);
	}
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
