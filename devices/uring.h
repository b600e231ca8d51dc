/* SPDX-License-Identifier: Apache-2.0 */
/*
 * io_uring rings for device backends, locked down. seccomp cannot see the
 * operations a ring carries out, so a ring that could open files or connect
 * sockets would be a way around the VMM's filters. Each ring is created
 * disabled, gets its completion eventfd, and is then restricted to the SQE
 * opcodes and flags its device uses, with no further io_uring_register()
 * at all, before it is enabled.
 */
#ifndef KVMLET_DEVICES_URING_H
#define KVMLET_DEVICES_URING_H

#include <liburing.h>
#include <stdint.h>

struct uring_policy {
	const uint8_t *ops; /* IORING_OP_* the device submits */
	unsigned int nr_ops;
	uint8_t sqe_flags; /* IOSQE_* it sets */
};

/*
 * io_uring_queue_init() with flags, then the eventfd and the policy. On a
 * kernel without restrictions (before 5.10) the ring is left unrestricted.
 * Returns 0 or a negative errno; on failure nothing is left to free.
 */
int uring_init(struct io_uring *ring, unsigned int entries, unsigned int flags, int eventfd,
	       const struct uring_policy *policy);

#endif
