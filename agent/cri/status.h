/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A CRI call's outcome: a gRPC status code and a message, as a handler
 * gives it. The codes carry gRPC's numbers (the server passes them through
 * unchanged) but this header needs no gRPC: the method table and its
 * handlers build and fuzz without it.
 *
 * Errors inside the agent are negative errnos in a struct err (lib/err.h);
 * cri_status_from_err() turns one into the code containerd would answer:
 *
 *   -ENOENT            NOT_FOUND          (no such image, pod, container)
 *   -EINVAL            INVALID_ARGUMENT   (bad reference, missing field)
 *   -EEXIST            ALREADY_EXISTS     (a name already taken)
 *   -ETIMEDOUT         DEADLINE_EXCEEDED  (ExecSync timeout, slow pull)
 *   -ENOSYS, -EOPNOTSUPP UNIMPLEMENTED
 *   -EBUSY             FAILED_PRECONDITION (in use; a call the record's state refuses)
 *   -ENOTCONN, -ESRCH  FAILED_PRECONDITION (no guest agent; the VM is not running)
 *   -EAGAIN, -ENOMEM   RESOURCE_EXHAUSTED
 *   -ECANCELED         CANCELLED
 *   anything else      INTERNAL
 *
 * Threads: pure functions; a struct cri_status belongs to one call.
 */
#ifndef KVMLET_AGENT_CRI_STATUS_H
#define KVMLET_AGENT_CRI_STATUS_H

#include <stdarg.h>

#include "lib/err.h"

enum cri_code {
	CRI_OK = 0,
	CRI_CANCELLED = 1,
	CRI_UNKNOWN = 2,
	CRI_INVALID_ARGUMENT = 3,
	CRI_DEADLINE_EXCEEDED = 4,
	CRI_NOT_FOUND = 5,
	CRI_ALREADY_EXISTS = 6,
	CRI_PERMISSION_DENIED = 7,
	CRI_RESOURCE_EXHAUSTED = 8,
	CRI_FAILED_PRECONDITION = 9,
	CRI_ABORTED = 10,
	CRI_OUT_OF_RANGE = 11,
	CRI_UNIMPLEMENTED = 12,
	CRI_INTERNAL = 13,
	CRI_UNAVAILABLE = 14,
	CRI_DATA_LOSS = 15,
	CRI_UNAUTHENTICATED = 16,
	CRI_NR_CODES
};

struct cri_status {
	enum cri_code code;
	char message[256];
};

/* Records the first failure only, like err_set(); code must not be CRI_OK. */
void cri_status_set(struct cri_status *st, enum cri_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cri_status_vset(struct cri_status *st, enum cri_code code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* The code for a negative errno, per the table above. */
enum cri_code cri_code_from_errno(int code);
/* Sets st from e (its message verbatim); e->code must be negative. */
void cri_status_from_err(struct cri_status *st, const struct err *e);
/* gRPC's name, as in metrics and logs: "OK", "NotFound", ...; "Code(n)" never: NULL if unknown. */
const char *cri_code_name(enum cri_code code);

#endif
