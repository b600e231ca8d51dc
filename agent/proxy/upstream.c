// SPDX-License-Identifier: Apache-2.0
/*
 * The upstream client (upstream.h), after the gRPC C core's unary client
 * pattern: one batch {send metadata, message, close; receive metadata,
 * message, status} on a call of its own, plucked from a completion queue
 * of its own, so worker threads never wait on each other's calls.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "agent/cri/server.h"
#include "agent/proxy/upstream.h"

_Static_assert(CRI_UNAVAILABLE == (int)GRPC_STATUS_UNAVAILABLE, "gRPC codes");
_Static_assert(CRI_DEADLINE_EXCEEDED == (int)GRPC_STATUS_DEADLINE_EXCEEDED, "gRPC codes");

/*
 * Completion queues for calls, kept for the next call rather than made and
 * destroyed each time (their pollsets are not free): at most as many as
 * calls ever ran at once, bounded by the CRI server's workers.
 */
struct cq_slot {
	grpc_completion_queue *cq;
	struct cq_slot *next;
};

struct upstream {
	grpc_channel *ch;
	char name[128];
	pthread_mutex_t lock; /* idle */
	struct cq_slot *idle;
};

static struct cq_slot *cq_get(struct upstream *u)
{
	struct cq_slot *s;

	pthread_mutex_lock(&u->lock);
	s = u->idle;
	if (s)
		u->idle = s->next;
	pthread_mutex_unlock(&u->lock);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (s)
		s->cq = grpc_completion_queue_create_for_pluck(NULL);
	if (s && !s->cq) {
		free(s);
		s = NULL;
	}
	return s;
}

static void cq_put(struct upstream *u, struct cq_slot *s)
{
	pthread_mutex_lock(&u->lock);
	s->next = u->idle;
	u->idle = s;
	pthread_mutex_unlock(&u->lock);
}

static void cq_destroy(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

int upstream_open(struct upstream **out, const char *target, struct err *err)
{
	grpc_arg args[] = {
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		  .value.integer = CRI_MAX_MESSAGE },
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		  .value.integer = CRI_MAX_MESSAGE },
		/* A containerd that comes back is found within a second, not minutes. */
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
		  .value.integer = 100 },
		/*
		 * gRPC core takes this as the shortest time one connection
		 * attempt (connect + HTTP/2 SETTINGS) may take, not as a
		 * backoff: at 100 ms a loaded node timed out a healthy containerd.
		 */
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
		  .value.integer = 5000 },
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
		  .value.integer = 1000 },
		/* Forwarded calls are not retried behind kubelet's back: it retries itself. */
		{ .type = GRPC_ARG_INTEGER,
		  .key = (char *)GRPC_ARG_ENABLE_RETRIES,
		  .value.integer = 0 },
	};
	grpc_channel_args ca = { .num_args = sizeof(args) / sizeof(args[0]), .args = args };
	grpc_channel_credentials *creds;
	const char *path = cri_listen_path(target);
	char addr[160];
	struct upstream *u;

	*out = NULL;
	if (!path)
		return err_set(err, -EINVAL, "upstream '%s' is not unix:///absolute/path", target);
	u = calloc(1, sizeof(*u));
	if (!u)
		return err_set(err, -ENOMEM, "out of memory");
	snprintf(u->name, sizeof(u->name), "%s", target);
	pthread_mutex_init(&u->lock, NULL);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	grpc_init();
	creds = grpc_insecure_credentials_create();
	u->ch = grpc_channel_create(addr, creds, &ca);
	grpc_channel_credentials_release(creds);
	if (!u->ch) {
		pthread_mutex_destroy(&u->lock);
		free(u);
		grpc_shutdown();
		return err_set(err, -ENOMEM, "upstream %s: cannot create a channel", target);
	}
	*out = u;
	return 0;
}

void upstream_close(struct upstream *u)
{
	if (!u)
		return;
	while (u->idle) {
		struct cq_slot *s = u->idle;

		u->idle = s->next;
		cq_destroy(s->cq);
		free(s);
	}
	grpc_channel_destroy(u->ch);
	pthread_mutex_destroy(&u->lock);
	free(u);
	grpc_shutdown();
}

const char *upstream_name(const struct upstream *u)
{
	return u->name;
}

static void read_answer(grpc_byte_buffer *bb, uint8_t **out, size_t *out_len, struct cri_status *st)
{
	grpc_byte_buffer_reader reader;
	grpc_slice s;

	if (!grpc_byte_buffer_reader_init(&reader, bb)) {
		cri_status_set(st, CRI_INTERNAL, "upstream answer unreadable (compression?)");
		return;
	}
	s = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	if (GRPC_SLICE_LENGTH(s)) {
		*out = malloc(GRPC_SLICE_LENGTH(s));
		if (!*out)
			cri_status_set(st, CRI_INTERNAL, "out of memory");
		else {
			memcpy(*out, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
			*out_len = GRPC_SLICE_LENGTH(s);
		}
	}
	grpc_slice_unref(s);
}

/* The upstream's own status, or the channel's, named so the caller knows who failed. */
static void set_status(struct upstream *u, struct cri_status *st, grpc_status_code code,
		       grpc_slice details)
{
	char *msg = grpc_slice_to_c_string(details);

	if (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_DEADLINE_EXCEEDED)
		cri_status_set(st, (enum cri_code)code, "upstream %s: %s", u->name, msg);
	else
		cri_status_set(st, (enum cri_code)code, "%s", msg);
	gpr_free(msg);
}

enum cri_code upstream_call(struct upstream *u, const char *path, const uint8_t *req, size_t len,
			    uint64_t timeout_ns, uint8_t **out, size_t *out_len,
			    struct cri_status *st)
{
	struct cq_slot *slot = cq_get(u);
	grpc_completion_queue *cq = slot ? slot->cq : NULL;
	gpr_timespec deadline =
		timeout_ns ? gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					  gpr_time_from_nanos((int64_t)timeout_ns, GPR_TIMESPAN))
			   : gpr_inf_future(GPR_CLOCK_MONOTONIC);
	grpc_slice method = grpc_slice_from_static_string(path);
	grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, len);
	grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1), *recv = NULL;
	grpc_metadata_array initial, trailing;
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_call *call;
	grpc_op ops[6];
	grpc_event ev;
	int tag;

	memset(st, 0, sizeof(*st));
	*out = NULL;
	*out_len = 0;
	grpc_slice_unref(body);
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	call = cq ? grpc_channel_create_call(u->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
					     NULL, deadline, NULL)
		  : NULL;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &code;
	ops[5].data.recv_status_on_client.status_details = &details;
	if (!call || grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
		cri_status_set(st, CRI_INTERNAL, "upstream %s: cannot start a call", u->name);
	} else {
		ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME),
						 NULL);
		if (ev.type != GRPC_OP_COMPLETE || !ev.success)
			cri_status_set(st, CRI_INTERNAL, "upstream %s: the call failed", u->name);
		else if (code != GRPC_STATUS_OK)
			set_status(u, st, code, details);
		else if (recv)
			read_answer(recv, out, out_len, st);
		else
			cri_status_set(st, CRI_INTERNAL, "upstream %s: OK without an answer",
				       u->name);
	}
	if (call)
		grpc_call_unref(call);
	if (slot) /* its one event was plucked: it is empty, ready for the next call */
		cq_put(u, slot);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_byte_buffer_destroy(send);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	if (st->code != CRI_OK) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	return st->code;
}
