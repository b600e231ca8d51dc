// SPDX-License-Identifier: Apache-2.0
/* Restricted io_uring rings: allowed operations run, others are refused. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/uring.h"

/* Submits the one SQE prepared and returns its result. */
static int submit_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int res;

	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void only_the_policy_runs(void **state)
{
	static const uint8_t ops[] = { IORING_OP_READ };
	struct uring_policy policy = { ops, 1, 0 };
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	char buf[8];
	int ev = eventfd(0, EFD_CLOEXEC), fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);

	assert_true(ev >= 0 && fd >= 0);
	assert_int_equal(uring_init(&ring, 8, 0, ev, &policy), 0);

	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	assert_int_equal(submit_one(&ring), (int)sizeof(buf));

	/* An open through the ring would get around seccomp: refused. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	assert_int_equal(submit_one(&ring), -EACCES);

	/* A flag outside the policy is refused too. */
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, fd, buf, sizeof(buf), 0);
	sqe->flags |= IOSQE_IO_DRAIN;
	assert_int_equal(submit_one(&ring), -EACCES);

	/* And nothing more may be registered. */
	assert_int_equal(io_uring_register_eventfd(&ring, ev) < 0, 1);

	io_uring_queue_exit(&ring);
	close(fd);
	close(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(only_the_policy_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
