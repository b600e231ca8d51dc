/* SPDX-License-Identifier: Apache-2.0 */
/* The control API's endpoints (docs/api.md), served on the API thread. */
#ifndef KVMLET_VMM_API_ROUTES_H
#define KVMLET_VMM_API_ROUTES_H

#include "lib/http_server.h"

/* An http_handler_fn; ctx is the struct vmm. */
void routes_handle(void *ctx, struct http_call *call);

#endif
