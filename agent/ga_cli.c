// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-ga-client: talks to the guest agent in a VM from the host.
 *
 *   kvmlet-ga-client [--timeout MS] ADDRESS COMMAND [ARGS]
 *
 * Exit status: 0 on success; for exec, the guest process's exit code (128+N
 * when signal N ended it); 1 when the agent failed the command or answered
 * badly or too late; 2 for usage and connection errors.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/ga_client.h"
#include "lib/log.h"
#include "lib/parse.h"

#define EXIT_AGENT 1
#define EXIT_USAGE 2
#define DEFAULT_TIMEOUT_MS 10000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvmlet-ga-client [--timeout MS] ADDRESS COMMAND [ARGS]\n"
		"\n"
		"ADDRESS:\n"
		"  PATH                     the VM's vsock socket, guest port %u\n"
		"  vsock-uds:PATH[:PORT]    the VM's vsock socket, guest port PORT\n"
		"  unix:PATH                a plain Unix socket the agent listens on\n"
		"\n"
		"COMMAND:\n"
		"  ping                     check that the agent answers\n"
		"  info                     agent version and commands\n"
		"  exec PATH [ARG...] [--input-data STR]\n"
		"                           run a program, print its output, exit with its\n"
		"                           status (-- ends options; --timeout covers the run)\n"
		"  raw JSON                 send {\"execute\": ..., \"arguments\": ...}, print the return\n"
		"\n"
		"--timeout MS bounds each request (default %d).\n",
		GA_DEFAULT_PORT, DEFAULT_TIMEOUT_MS);
}

static int usage_error(const char *msg)
{
	log_error("%s (see --help)", msg);
	return EXIT_USAGE;
}

static int agent_failed(const struct ga_error *err)
{
	if (err->class[0])
		log_error("%s (%s)", err->err.msg, err->class);
	else
		log_error("%s", err->err.msg);
	return EXIT_AGENT;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int cmd_ping(struct ga_conn *c, int timeout_ms, int argc, char **argv)
{
	struct ga_error err = { 0 };

	if (argc)
		return usage_error("ping takes no arguments");
	if (ga_ping(c, timeout_ms, &err) < 0)
		return agent_failed(&err);
	printf("ok\n");
	return 0;
}

static int cmd_info(struct ga_conn *c, int timeout_ms, int argc, char **argv)
{
	struct ga_error err = { 0 };
	struct ga_info info;
	size_t i;

	if (argc)
		return usage_error("info takes no arguments");
	if (ga_info(c, timeout_ms, &info, &err) < 0)
		return agent_failed(&err);
	/* Names come from the guest: ga_info() bounds them, print only what is printable. */
	printf("version %s\n", info.version);
	for (i = 0; i < info.ncommands; i++) {
		char name[260];
		size_t k;

		for (k = 0; info.commands[i].name[k] && k + 1 < sizeof(name); k++) {
			unsigned char ch = (unsigned char)info.commands[i].name[k];

			name[k] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
		}
		name[k] = '\0';
		printf("%s%s\n", name, info.commands[i].enabled ? "" : " (disabled)");
	}
	ga_info_free(&info);
	return 0;
}

static int cmd_exec(struct ga_conn *c, int timeout_ms, int argc, char **argv)
{
	struct ga_exec_request req = { .capture_output = true };
	struct ga_exec_status st;
	struct ga_error err = { 0 };
	const char **args;
	bool options = true;
	int i, nargs = 0, code;

	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args)
		return usage_error("out of memory");
	for (i = 0; i < argc; i++) {
		if (options && !strcmp(argv[i], "--")) {
			options = false;
		} else if (options && !strcmp(argv[i], "--input-data")) {
			if (i + 1 == argc) {
				free(args);
				return usage_error("--input-data needs a value");
			}
			req.input = argv[++i];
			req.input_len = strlen(argv[i]);
		} else if (!req.path) {
			req.path = argv[i];
		} else {
			args[nargs++] = argv[i];
		}
	}
	if (!req.path) {
		free(args);
		return usage_error("exec needs a PATH");
	}
	req.argv = args;
	if (ga_exec(c, &req, timeout_ms, &st, &err) < 0) {
		free(args);
		return agent_failed(&err);
	}
	free(args);
	fflush(stdout);
	if (st.out && write_all(STDOUT_FILENO, st.out, st.out_len) < 0)
		log_error("writing stdout: %s", strerror(errno));
	if (st.err && write_all(STDERR_FILENO, st.err, st.err_len) < 0)
		log_error("writing stderr: %s", strerror(errno));
	if (st.out_truncated || st.err_truncated)
		log_warn("the agent truncated the process's %s",
			 st.out_truncated && st.err_truncated ? "stdout and stderr"
			 : st.out_truncated ? "stdout" : "stderr");
	/* Like a shell: the low byte of the exit code, 128+N for signal N. */
	code = st.signal ? 128 + (st.signal & 127) : st.exitcode & 255;
	ga_exec_status_free(&st);
	return code;
}

static int cmd_raw(struct ga_conn *c, int timeout_ms, int argc, char **argv)
{
	struct ga_error err = { 0 };
	cJSON *req, *cmd, *args, *item, *ret = NULL;
	char *text;
	int r;

	if (argc != 1)
		return usage_error("raw takes one JSON object");
	req = cJSON_Parse(argv[0]);
	cmd = cJSON_GetObjectItemCaseSensitive(req, "execute");
	args = cJSON_GetObjectItemCaseSensitive(req, "arguments");
	if (!cJSON_IsObject(req) || !cJSON_IsString(cmd) || (args && !cJSON_IsObject(args))) {
		cJSON_Delete(req);
		return usage_error("raw needs {\"execute\": \"COMMAND\"[, \"arguments\": {...}]}");
	}
	cJSON_ArrayForEach(item, req) {
		if (strcmp(item->string, "execute") && strcmp(item->string, "arguments")) {
			log_error("raw: unexpected member '%s'", item->string);
			cJSON_Delete(req);
			return EXIT_USAGE;
		}
	}
	r = ga_call(c, cmd->valuestring, args, timeout_ms, &ret, &err);
	cJSON_Delete(req);
	if (r < 0)
		return agent_failed(&err);
	text = cJSON_PrintUnformatted(ret);
	cJSON_Delete(ret);
	if (!text) {
		log_error("out of memory");
		return EXIT_AGENT;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}

static const struct {
	const char *name;
	int (*run)(struct ga_conn *c, int timeout_ms, int argc, char **argv);
} commands[] = {
	{ "ping", cmd_ping },
	{ "info", cmd_info },
	{ "exec", cmd_exec },
	{ "raw", cmd_raw },
};

int main(int argc, char **argv)
{
	struct ga_error err = { 0 };
	int timeout_ms = DEFAULT_TIMEOUT_MS;
	struct ga_address addr;
	struct ga_conn *c;
	uint64_t v;
	size_t k;
	int i = 1, r;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--timeout")) {
			if (i + 1 == argc || parse_u64(argv[i + 1], 1, INT_MAX, &v) < 0)
				return usage_error("--timeout needs a number of milliseconds");
			timeout_ms = (int)v;
			i += 2;
			continue;
		}
		log_error("unknown option '%s' (see --help)", argv[i]);
		return EXIT_USAGE;
	}
	if (argc - i < 2)
		return usage_error("need an ADDRESS and a COMMAND");
	for (k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (!strcmp(argv[i + 1], commands[k].name))
			break;
	if (k == sizeof(commands) / sizeof(commands[0])) {
		log_error("unknown command '%s' (see --help)", argv[i + 1]);
		return EXIT_USAGE;
	}
	if (ga_parse_address(argv[i], &addr, &err) < 0) {
		log_error("%s: %s", argv[i], err.err.msg);
		return EXIT_USAGE;
	}
	c = ga_connect_addr(&addr, timeout_ms, &err);
	if (!c) {
		log_error("%s", err.err.msg);
		return EXIT_USAGE;
	}
	r = commands[k].run(c, timeout_ms, argc - i - 2, argv + i + 2);
	ga_close(c);
	return r;
}
