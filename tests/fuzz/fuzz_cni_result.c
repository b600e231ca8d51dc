// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: a CNI plugin's ADD result (agent/net/cni_result.c).
 * A parse either fails saying why or gives a result within its bounds,
 * whose addresses print back, and whose guest renderings fit or fail.
 */
#include "tests/fuzz/fuzzer.h"
#include <string.h>

#include "agent/net/cni_result.h"
#include "agent/net/guestnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cni_result r;
	struct err err = { 0 };
	char out[4096];

	if (cni_result_parse((const char *)data, size, &r, &err)) {
		if (!err.code || !err.msg[0])
			__builtin_trap();
		return 0;
	}
	if (r.nr_ips > CNI_MAX_IPS || r.nr_ifaces > CNI_MAX_IFACES ||
	    r.nr_routes > CNI_MAX_ROUTES || r.nr_dns > CNI_MAX_DNS)
		__builtin_trap();
	for (size_t i = 0; i < r.nr_ips; i++)
		if (r.ips[i].iface >= (int)r.nr_ifaces ||
		    r.ips[i].prefix > (r.ips[i].addr.family == 2 ? 32u : 128u))
			__builtin_trap();
	memset(&err, 0, sizeof(err));
	if (!guestnet_kernel_args(&r, "vm", out, sizeof(out), &err) && strlen(out) >= sizeof(out))
		__builtin_trap();
	memset(&err, 0, sizeof(err));
	if (!guestnet_cloud_init(&r, "02:00:00:00:00:01", 1500, out, sizeof(out), &err) &&
	    strlen(out) >= sizeof(out))
		__builtin_trap();
	memset(&err, 0, sizeof(err));
	cni_result_check(&r, "eth0", "/run/netns/x", &err);
	cni_result_free(&r);
	return 0;
}
