// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "devices/uring.h"
#include "lib/log.h"

#define URING_MAX_RULES 16

/*
 * Raw io_uring_register(2): Debian's liburing 2.3 declares
 * io_uring_register_restrictions() and io_uring_enable_rings() but does
 * not export them.
 */
static int uring_register(struct io_uring *ring, unsigned int op, void *arg, unsigned int nr)
{
	long r = syscall(__NR_io_uring_register, ring->ring_fd, op, arg, nr);

	return r < 0 ? -errno : 0;
}

static int uring_restrict(struct io_uring *ring, const struct uring_policy *p)
{
	struct io_uring_restriction res[URING_MAX_RULES + 1];
	unsigned int n = 0;

	if (p->nr_ops > URING_MAX_RULES)
		return -EINVAL;
	memset(res, 0, sizeof(res));
	for (unsigned int i = 0; i < p->nr_ops; i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = p->ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
	res[n++].sqe_flags = p->sqe_flags;
	return uring_register(ring, IORING_REGISTER_RESTRICTIONS, res, n);
}

int uring_init(struct io_uring *ring, unsigned int entries, unsigned int flags, int eventfd,
	       const struct uring_policy *policy)
{
	bool restricted = true;
	int r = io_uring_queue_init(entries, ring, flags | IORING_SETUP_R_DISABLED);

	if (r == -EINVAL) {
		/* Too old for R_DISABLED (or for flags: the caller retries without). */
		r = io_uring_queue_init(entries, ring, flags);
		restricted = false;
		if (!r)
			log_debug("io_uring: this kernel cannot restrict rings");
	}
	if (r)
		return r;
	r = io_uring_register_eventfd(ring, eventfd);
	if (!r && restricted)
		r = uring_restrict(ring, policy);
	if (!r && restricted)
		r = uring_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (r)
		io_uring_queue_exit(ring);
	return r;
}
