// SPDX-License-Identifier: Apache-2.0
/* CRI status codes: errno mapping and names (status.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "agent/cri/status.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* containerd's mapping of its errdefs onto gRPC codes, for our errnos. */
static const struct {
	int err;
	enum cri_code code;
} errno_codes[] = {
	{ ENOENT, CRI_NOT_FOUND },	    { EINVAL, CRI_INVALID_ARGUMENT },
	{ EEXIST, CRI_ALREADY_EXISTS },	    { ETIMEDOUT, CRI_DEADLINE_EXCEEDED },
	{ ENOSYS, CRI_UNIMPLEMENTED },	    { EOPNOTSUPP, CRI_UNIMPLEMENTED },
	{ EBUSY, CRI_FAILED_PRECONDITION }, { EAGAIN, CRI_RESOURCE_EXHAUSTED },
	{ ENOMEM, CRI_RESOURCE_EXHAUSTED }, { ECANCELED, CRI_CANCELLED },
	/* vm.h: the guest has no agent answering; the container is not running. */
	{ ENOTCONN, CRI_FAILED_PRECONDITION }, { ESRCH, CRI_FAILED_PRECONDITION },
};

/* The names grpc-go's codes.Code.String() gives, which containerd logs. */
static const char *const code_names[CRI_NR_CODES] = {
	[CRI_OK] = "OK",
	[CRI_CANCELLED] = "Canceled",
	[CRI_UNKNOWN] = "Unknown",
	[CRI_INVALID_ARGUMENT] = "InvalidArgument",
	[CRI_DEADLINE_EXCEEDED] = "DeadlineExceeded",
	[CRI_NOT_FOUND] = "NotFound",
	[CRI_ALREADY_EXISTS] = "AlreadyExists",
	[CRI_PERMISSION_DENIED] = "PermissionDenied",
	[CRI_RESOURCE_EXHAUSTED] = "ResourceExhausted",
	[CRI_FAILED_PRECONDITION] = "FailedPrecondition",
	[CRI_ABORTED] = "Aborted",
	[CRI_OUT_OF_RANGE] = "OutOfRange",
	[CRI_UNIMPLEMENTED] = "Unimplemented",
	[CRI_INTERNAL] = "Internal",
	[CRI_UNAVAILABLE] = "Unavailable",
	[CRI_DATA_LOSS] = "DataLoss",
	[CRI_UNAUTHENTICATED] = "Unauthenticated",
};

void cri_status_vset(struct cri_status *st, enum cri_code code, const char *fmt, va_list ap)
{
	if (st->code != CRI_OK)
		return;
	st->code = code == CRI_OK ? CRI_INTERNAL : code;
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
}

void cri_status_set(struct cri_status *st, enum cri_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cri_status_vset(st, code, fmt, ap);
	va_end(ap);
}

enum cri_code cri_code_from_errno(int code)
{
	for (size_t i = 0; i < ARRAY_SIZE(errno_codes); i++)
		if (-errno_codes[i].err == code)
			return errno_codes[i].code;
	return CRI_INTERNAL;
}

void cri_status_from_err(struct cri_status *st, const struct err *e)
{
	cri_status_set(st, cri_code_from_errno(e->code), "%s", e->msg);
}

const char *cri_code_name(enum cri_code code)
{
	if ((unsigned int)code >= CRI_NR_CODES)
		return NULL;
	return code_names[code];
}
