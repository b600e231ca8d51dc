// SPDX-License-Identifier: Apache-2.0
/*
 * What goes into a running guest (vm.h): the console's log reopened after
 * rotation, and ExecSync through the guest agent.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/ga_client.h"
#include "agent/vm/host_priv.h"
#include "agent/vm/logfile.h"
#include "agent/vm/vm.h"
#include "lib/log.h"

/* Reaching the agent: apart from the command's own timeout, which starts after. */
#define EXEC_CONNECT_MS 2000

int host_reopen_log(void *ctx, const char *id, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	struct vm_exit e;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	long status;
	int r = host_load(h, id, state, sizeof(state), &rec, err);

	if (r)
		return r;
	if (host_liveness(state, &rec, &e) != LIVE_RUNNING) {
		vm_record_free(&rec);
		return err_set(err, -ESRCH, "VM '%s' is not running", id);
	}
	if (!*rec.log_path) {
		vm_record_free(&rec);
		return 0;
	}
	/* kubelet renamed the file away: a new one, the VM's own, at the same path. */
	r = vm_log_prepare(rec.log_directory, vm_record_log_relpath(&rec), rec.uid, NULL, err);
	if (!r && host_jail_paths(h, id, jail_dir, root, sizeof(root)))
		r = err_set(err, -ENAMETOOLONG, "VM '%s': jail path too long", id);
	if (!r)
		r = host_api_call(root, "PUT", "/kvmlet/console/reopen", "{}", 5000, &status, NULL,
				  err);
	if (!r)
		log_fields(LOG_INFO, "VM log reopened", "id", id, NULL);
	vm_record_free(&rec);
	return r;
}

void vm_exec_result_free(struct vm_exec_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
	r->out_len = r->err_len = 0;
}

static uint8_t *copy_capped(const unsigned char *p, size_t len, size_t cap, size_t *out_len)
{
	size_t n = len < cap ? len : cap;
	uint8_t *b = malloc(n + 1);

	if (!b)
		return NULL;
	if (n)
		memcpy(b, p, n);
	b[n] = 0;
	*out_len = n;
	return b;
}

int host_exec(void *ctx, const char *id, const char *const *argv, size_t argc, int64_t timeout_ms,
	      size_t cap, struct vm_exec_result *out, struct err *err)
{
	struct vm_host *h = ctx;
	struct vm_record rec;
	struct vm_exit ex;
	char state[PATH_MAX], jail_dir[PATH_MAX], root[PATH_MAX];
	struct ga_address addr = { .transport = GA_VSOCK_UDS, .port = GA_DEFAULT_PORT };
	struct ga_error ge = { 0 };
	struct ga_exec_status st = { 0 };
	struct ga_conn *c;
	const char **args;
	int sockfd, timeout, r = host_load(h, id, state, sizeof(state), &rec, err);

	memset(out, 0, sizeof(*out));
	if (r)
		return r;
	r = host_liveness(state, &rec, &ex) == LIVE_RUNNING ? 0 : -ESRCH;
	vm_record_free(&rec);
	if (r)
		return err_set(err, r, "VM '%s' is not running", id);
	if (!argc || !argv[0] || !*argv[0])
		return err_set(err, -EINVAL, "exec: no command");
	timeout = timeout_ms <= 0 || timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms;
	if (host_jail_paths(h, id, jail_dir, root, sizeof(root)))
		return err_set(err, -ENAMETOOLONG, "VM '%s': jail path too long", id);
	sockfd = host_jail_socket(root, "vsock.sock", addr.path, sizeof(addr.path));
	if (sockfd < 0)
		return err_set(err, -ENOTCONN,
			       "the guest has no agent on vsock port %u (no vsock socket: %s)",
			       GA_DEFAULT_PORT, strerror(-sockfd));
	c = ga_connect_addr(&addr, EXEC_CONNECT_MS, &ge);
	close(sockfd);
	if (!c)
		return err_set(err, -ENOTCONN, "the guest has no agent on vsock port %u (%s)",
			       GA_DEFAULT_PORT, ge.err.msg);
	args = calloc(argc, sizeof(*args));
	if (!args) {
		ga_close(c);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 1; i < argc; i++)
		args[i - 1] = argv[i];
	struct ga_exec_request req = { .path = argv[0], .argv = args, .capture_output = true };
	r = ga_exec(c, &req, timeout, &st, &ge);
	free(args);
	ga_close(c);
	if (r == -ETIMEDOUT)
		return err_set(err, -ETIMEDOUT, "exec in VM '%s' timed out after %d ms", id,
			       timeout);
	if (r)
		return err_set(err, r, "exec in VM '%s': %s", id, ge.err.msg);
	out->exit_code = st.signal ? 128 + st.signal : st.exitcode;
	out->out = copy_capped(st.out, st.out_len, cap, &out->out_len);
	out->err = copy_capped(st.err, st.err_len, cap, &out->err_len);
	ga_exec_status_free(&st);
	if (!out->out || !out->err) {
		vm_exec_result_free(out);
		return err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}
