// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI gRPC server with a test method table whose handler blocks until
 * the test lets it go, driven by a gRPC C core client: a slow call holds
 * one worker and never another call, and a full queue answers
 * RESOURCE_EXHAUSTED at once instead of growing.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "agent/cri/methods.h"
#include "agent/cri/server.h"
#include "runtime/v1/api.pb-c.h"

#define SLOW "/test.Test/Slow"
#define FAST "/test.Test/Fast"

/* The slow handler's gate: it says it has started, then waits to be let go. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int entered;
	bool open;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };

static void slow(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	pthread_mutex_lock(&gate.lock);
	gate.entered++;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.open)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
	((Runtime__V1__VersionResponse *)resp)->runtime_name = CRI_STR("slow");
}

static unsigned int fast_runs; /* atomic */

static void fast(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	__atomic_add_fetch(&fast_runs, 1, __ATOMIC_RELAXED);
	((Runtime__V1__VersionResponse *)resp)->runtime_name = CRI_STR("fast");
}

static const struct cri_method table[] = {
	{ SLOW, "Slow", &runtime__v1__version_request__descriptor,
	  &runtime__v1__version_response__descriptor, slow },
	{ FAST, "Fast", &runtime__v1__version_request__descriptor,
	  &runtime__v1__version_response__descriptor, fast },
};

static void gate_wait_entered(unsigned int n)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	pthread_mutex_lock(&gate.lock);
	while (gate.entered < n)
		assert_int_not_equal(pthread_cond_timedwait(&gate.cond, &gate.lock, &dl),
				     ETIMEDOUT);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.open = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* One client call, all its ops in one batch. */
struct ccall {
	grpc_call *call;
	grpc_metadata_array md_initial, md_trailing;
	grpc_byte_buffer *send, *recv;
	grpc_status_code status;
	grpc_slice details;
	bool done;
};

struct client {
	grpc_channel *ch;
	grpc_completion_queue *cq;
};

static void client_open(struct client *cl, const char *path)
{
	char addr[160];
	grpc_channel_credentials *cr = grpc_insecure_credentials_create();

	snprintf(addr, sizeof(addr), "unix:%s", path);
	cl->ch = grpc_channel_create(addr, cr, NULL);
	grpc_channel_credentials_release(cr);
	cl->cq = grpc_completion_queue_create_for_next(NULL);
}

static void client_close(struct client *cl)
{
	grpc_channel_destroy(cl->ch);
	grpc_completion_queue_shutdown(cl->cq);
	while (grpc_completion_queue_next(cl->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cl->cq);
}

static void call_start(struct client *cl, struct ccall *cc, const char *method)
{
	grpc_slice m = grpc_slice_from_static_string(method);
	grpc_slice empty = grpc_empty_slice();
	grpc_op ops[6];

	memset(cc, 0, sizeof(*cc));
	memset(ops, 0, sizeof(ops));
	cc->call = grpc_channel_create_call(
		cl->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cl->cq, m, NULL,
		gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(20, GPR_TIMESPAN)),
		NULL);
	assert_non_null(cc->call);
	grpc_metadata_array_init(&cc->md_initial);
	grpc_metadata_array_init(&cc->md_trailing);
	cc->send = grpc_raw_byte_buffer_create(&empty, 1);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = cc->send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &cc->md_initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &cc->recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.status = &cc->status;
	ops[5].data.recv_status_on_client.status_details = &cc->details;
	ops[5].data.recv_status_on_client.trailing_metadata = &cc->md_trailing;
	assert_int_equal(grpc_call_start_batch(cc->call, ops, 6, cc, NULL), GRPC_CALL_OK);
}

/* Waits for cc to finish (others finishing meanwhile are marked done). */
static void call_wait(struct client *cl, struct ccall *cc)
{
	gpr_timespec dl =
		gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(20, GPR_TIMESPAN));

	while (!cc->done) {
		grpc_event ev = grpc_completion_queue_next(cl->cq, dl, NULL);

		assert_int_equal(ev.type, GRPC_OP_COMPLETE);
		((struct ccall *)ev.tag)->done = true;
	}
}

static void call_free(struct ccall *cc)
{
	grpc_metadata_array_destroy(&cc->md_initial);
	grpc_metadata_array_destroy(&cc->md_trailing);
	grpc_byte_buffer_destroy(cc->send);
	if (cc->recv)
		grpc_byte_buffer_destroy(cc->recv);
	grpc_slice_unref(cc->details);
	grpc_call_unref(cc->call);
}

static char sock_dir[] = "/tmp/kvmlet-cri-server-XXXXXX";
static char sock[128];

static struct cri_server *start(unsigned int workers, unsigned int queue)
{
	struct cri_server_opts o = {
		.listen = sock,
		.workers = workers,
		.queue = queue,
		.methods = table,
		.nr_methods = sizeof(table) / sizeof(table[0]),
	};
	struct cri_server *s;
	struct err err = { 0 };

	if (cri_server_start(&s, &o, &err))
		fail_msg("start: %s", err.msg);
	gate.entered = 0;
	gate.open = false;
	return s;
}

/* Two workers: a slow call in progress does not delay a fast one. */
static void test_slow_call_blocks_nothing(void **state)
{
	struct cri_server *s = start(2, 4);
	struct client cl;
	struct ccall a, b;

	client_open(&cl, sock);
	call_start(&cl, &a, SLOW);
	gate_wait_entered(1);
	call_start(&cl, &b, FAST);
	call_wait(&cl, &b);
	assert_int_equal(b.status, GRPC_STATUS_OK);
	assert_false(a.done);
	gate_open();
	call_wait(&cl, &a);
	assert_int_equal(a.status, GRPC_STATUS_OK);
	assert_non_null(a.recv);
	call_free(&a);
	call_free(&b);
	client_close(&cl);
	cri_server_stop(s, 1000);
	assert_int_equal(access(sock, F_OK), -1);
}

/*
 * A call reaches the queue without a completion the client could see: poll
 * the server until n calls wait there.
 */
static void wait_queued(struct cri_server *s, unsigned int n)
{
	struct cri_server_stats st;

	for (int i = 0; i < 10000; i++) {
		cri_server_stats(s, &st);
		if (st.queued == n)
			break;
		usleep(1000);
	}
	assert_int_equal(st.queued, n);
}

/* One worker, a queue of one: the third call is refused at once. */
static void test_full_queue(void **state)
{
	struct cri_server *s = start(1, 1);
	struct cri_server_stats st;
	struct client cl;
	struct ccall a, b, c;

	client_open(&cl, sock);
	call_start(&cl, &a, SLOW);
	gate_wait_entered(1);
	call_start(&cl, &b, SLOW);
	wait_queued(s, 1);
	call_start(&cl, &c, FAST);
	call_wait(&cl, &c);
	assert_int_equal(c.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
	cri_server_stats(s, &st);
	assert_int_equal(st.rejected, 1);
	assert_false(a.done);
	assert_false(b.done);
	gate_open();
	call_wait(&cl, &a);
	call_wait(&cl, &b);
	assert_int_equal(a.status, GRPC_STATUS_OK);
	assert_int_equal(b.status, GRPC_STATUS_OK);
	call_free(&a);
	call_free(&b);
	call_free(&c);
	client_close(&cl);
	cri_server_stop(s, 1000);
}

static void *stop_thread(void *arg)
{
	cri_server_stop(arg, 0);
	return NULL;
}

/*
 * Stop with no grace while a slow call runs and a fast one waits in the
 * queue: neither client hears OK (the C core's cancel reaches them as
 * CANCELLED or UNAVAILABLE), the replies the worker still
 * starts after the server shut down do not abort the process, and the
 * queued handler never runs.
 */
static void test_stop_cancels_queued(void **state)
{
	struct cri_server *s = start(1, 1);
	struct client cl;
	struct ccall a, b;
	pthread_t t;

	__atomic_store_n(&fast_runs, 0, __ATOMIC_RELAXED);
	client_open(&cl, sock);
	call_start(&cl, &a, SLOW);
	gate_wait_entered(1);
	call_start(&cl, &b, FAST);
	wait_queued(s, 1);
	assert_int_equal(pthread_create(&t, NULL, stop_thread, s), 0);
	/* Both answers follow cancel_all_calls, which stop makes after marking the queue. */
	call_wait(&cl, &a);
	call_wait(&cl, &b);
	assert_int_not_equal(a.status, GRPC_STATUS_OK);
	assert_int_not_equal(b.status, GRPC_STATUS_OK);
	gate_open();
	pthread_join(t, NULL);
	assert_int_equal(__atomic_load_n(&fast_runs, __ATOMIC_RELAXED), 0);
	call_free(&a);
	call_free(&b);
	client_close(&cl);
}

static int setup(void **state)
{
	if (!mkdtemp(sock_dir))
		return -1;
	snprintf(sock, sizeof(sock), "%s/cri.sock", sock_dir);
	return 0;
}

static int teardown(void **state)
{
	rmdir(sock_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slow_call_blocks_nothing),
		cmocka_unit_test(test_full_queue),
		cmocka_unit_test(test_stop_cancels_queued),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
