// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the control API's request path, bytes to answer. The
 * input is parsed by the HTTP parser; a complete request goes through the
 * real routes (vmm/api/routes.c): routing, JSON parsing, the body checks and
 * the configuration they edit. What would reach outside the process (the
 * main thread's commands, the logger and metrics files) is replaced below
 * by recorders, so the fuzzer never opens a file a request names.
 *
 * Input: byte 0 picks the lifecycle state and whether a start is under way,
 * the rest is the connection's bytes. Checked: every complete request gets
 * exactly one answer, with a status the API uses; commands carry what their
 * kind needs; the configuration stays within its limits.
 */
#include "tests/fuzz/fuzzer.h"
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http.h"
#include "vmm/api/routes.h"
#include "vmm/vmm.h"

#define check(c)                          \
	do {                              \
		if (!(c))                 \
			__builtin_trap(); \
	} while (0)

struct http_call {
	const struct http_request *req;
	unsigned int answers;
	unsigned int status;
};

const struct http_request *http_call_request(const struct http_call *call)
{
	return call->req;
}

static void answer(struct http_call *call, unsigned int status)
{
	call->answers++;
	call->status = status;
}

void vmm_reply(struct vmm *m, struct http_call *call, unsigned int status, const char *ctype,
	       const void *body, size_t len)
{
	check(status == 200 || status == 204);
	check(status != 204 || len == 0);
	check(status != 200 || (body && len));
	answer(call, status);
}

void vmm_fault(struct vmm *m, struct http_call *call, unsigned int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	check(status == 400 || status == 500);
	check(msg[0]);
	answer(call, status);
}

static bool nonempty(const char *s)
{
	return s && *s;
}

void vmm_post(struct vmm *m, struct vmm_cmd *cmd)
{
	switch (cmd->kind) {
	case VMM_CMD_LOAD:
		check(nonempty(cmd->load.p.snapshot_path) && nonempty(cmd->load.p.mem_file_path));
		break;
	case VMM_CMD_SNAPSHOT:
		check(nonempty(cmd->snapshot.snapshot_path) &&
		      nonempty(cmd->snapshot.mem_file_path));
		break;
	case VMM_CMD_UPDATE_DRIVE:
		check(nonempty(cmd->update_drive.id) && nonempty(cmd->update_drive.path));
		break;
	default:
		check(!cmd->nr_strings);
	}
	answer(cmd->call, 204);
	vmm_cmd_free(cmd);
}

enum vm_state vmm_state(struct vmm *m)
{
	return m->state;
}

void vmm_sync_api_stats(struct vmm *m)
{
}

int vmm_metrics_open(struct vmm *m, const char *path, struct err *err)
{
	check(path && *path);
	return 0;
}

int vmm_metrics_flush(struct vmm *m, struct err *err)
{
	return 0;
}

int vmm_logger_set(struct vmm *m, const char *path, int level, struct err *err)
{
	check(!path || *path);
	return 0;
}

static struct vmm m;
static struct http_parser parser;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pthread_mutex_init(&m.lock, NULL);
	config_init(&m.cfg);
	if (http_parser_init(&parser, &(struct http_limits){ .max_body = HTTP_SERVER_MAX_BODY }))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum vm_state states[] = { VM_STATE_NOT_STARTED, VM_STATE_RUNNING,
						VM_STATE_PAUSED, VM_STATE_NOT_STARTED };
	size_t off = 1;

	if (!size)
		return 0;
	m.state = states[data[0] & 3];
	m.busy = data[0] & 4;
	config_free(&m.cfg);
	config_init(&m.cfg);
	http_parser_reset(&parser);
	while (off < size) {
		struct http_call call = { .req = &parser.req };

		off += http_parse(&parser, data + off, size - off);
		if (parser.state == HTTP_PARSE_EXPECT_CONTINUE)
			continue;
		if (parser.state != HTTP_PARSE_DONE)
			break;
		if (parser.req.method != HTTP_METHOD_OTHER) {
			routes_handle(&m, &call);
			check(call.answers == 1);
		}
		check(m.cfg.nr_drives <= CONFIG_MAX_DRIVES && m.cfg.nr_nets <= CONFIG_MAX_NETS);
		http_parser_reset(&parser);
	}
	return 0;
}
