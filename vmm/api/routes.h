/* SPDX-License-Identifier: Apache-2.0 */
/* The control API's endpoints (docs/api.md), served on the API thread. */
#ifndef KVMLET_VMM_API_ROUTES_H
#define KVMLET_VMM_API_ROUTES_H

#include "lib/http_server.h"

/* An http_handler_fn; ctx is the struct vmm. */
void routes_handle(void *ctx, struct http_call *call);

/*
 * Calls fn for every (method, path) the table serves, read-only; any
 * thread. A path ending in '/' (other than "/" itself) is a prefix that an
 * {id} follows: "/drives/" serves /drives/{drive_id}. For the check of the
 * table against docs/api/kvmlet.yaml (tests/api_spec).
 */
void routes_for_each(void (*fn)(enum http_method method, const char *path, void *ctx), void *ctx);

#endif
