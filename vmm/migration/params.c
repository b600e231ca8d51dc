// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/migration/params.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define MAX_DOWNTIME_MS 600000
#define MAX_TIMEOUT_S	(7 * 24 * 3600)
#define MAX_BANDWIDTH	(1u << 20) /* MiB/s: a TiB a second */

static int parse_token(const char *what, const char *token, char *out, size_t cap, struct err *err)
{
	/* The token itself never goes into a message: it is a secret. */
	if (!mig_token_valid(token))
		return err_set(err, -EINVAL, "%s.token: expected 1 to %d printable characters",
			       what, MIG_MAX_TOKEN);
	snprintf(out, cap, "%s", token);
	return 0;
}

int mig_send_params_parse(const cJSON *body, struct mig_send_params *p, struct err *err)
{
	static const char *const names[] = { "destination",   "token",
					     "downtime_ms",   "max_bandwidth_mibps",
					     "auto_converge", "connections",
					     "timeout_s" };
	const char *what = "migration-send", *dest, *token;
	uint64_t conns = 1;
	int r;

	memset(p, 0, sizeof(*p));
	p->downtime_ms = MIG_DEFAULT_DOWNTIME_MS;
	r = json_check_members(what, body, names, ARRAY_SIZE(names), err);
	if (!r)
		r = json_get_nonempty_string(what, body, "destination", true, &dest, err);
	if (!r)
		r = json_get_string(what, body, "token", true, &token, err);
	if (!r)
		r = json_get_uint(what, body, "downtime_ms", false, 1, MAX_DOWNTIME_MS,
				  &p->downtime_ms, err);
	if (!r)
		r = json_get_uint(what, body, "max_bandwidth_mibps", false, 0, MAX_BANDWIDTH,
				  &p->max_bandwidth_mibps, err);
	if (!r)
		r = json_get_bool(what, body, "auto_converge", false, &p->auto_converge, err);
	if (!r)
		r = json_get_uint(what, body, "connections", false, 1, MIG_MAX_CONNECTIONS, &conns,
				  err);
	if (!r)
		r = json_get_uint(what, body, "timeout_s", false, 0, MAX_TIMEOUT_S, &p->timeout_s,
				  err);
	if (!r)
		r = parse_token(what, token, p->token, sizeof(p->token), err);
	if (!r) {
		r = mig_addr_parse(dest, &p->dest, err);
		err_prefix(err, r, "%s.destination: ", what);
	}
	p->connections = (unsigned int)conns;
	return r;
}

int mig_recv_params_parse(const cJSON *body, struct mig_recv_params *p, struct err *err)
{
	static const char *const names[] = { "listen", "token", "max_vcpus", "max_memory_mib" };
	const char *what = "migration-receive", *listen, *token;
	uint64_t vcpus = 0;
	int r;

	memset(p, 0, sizeof(*p));
	r = json_check_members(what, body, names, ARRAY_SIZE(names), err);
	if (!r)
		r = json_get_nonempty_string(what, body, "listen", true, &listen, err);
	if (!r)
		r = json_get_string(what, body, "token", true, &token, err);
	if (!r)
		r = json_get_uint(what, body, "max_vcpus", false, 0, 254, &vcpus, err);
	if (!r)
		r = json_get_uint(what, body, "max_memory_mib", false, 0, UINT32_MAX,
				  &p->max_memory_mib, err);
	if (!r)
		r = parse_token(what, token, p->token, sizeof(p->token), err);
	if (!r) {
		r = mig_addr_parse(listen, &p->listen, err);
		err_prefix(err, r, "%s.listen: ", what);
	}
	p->max_vcpus = (unsigned int)vcpus;
	return r;
}

int mig_recv_params_from_args(const char *from, const char *token, struct mig_recv_params *p,
			      struct err *err)
{
	int r;

	memset(p, 0, sizeof(*p));
	if (!token)
		return err_set(err, -EINVAL, "--migrate-from needs --migrate-token");
	r = parse_token("--migrate-token", token, p->token, sizeof(p->token), err);
	if (!r) {
		r = mig_addr_parse(from, &p->listen, err);
		err_prefix(err, r, "--migrate-from: ");
	}
	return r;
}
