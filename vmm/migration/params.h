/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bodies of PUT /kvmlet/migration/send and /receive (docs/api.md),
 * parsed and checked into parameters; nothing is applied here. Any thread.
 */
#ifndef KVMLET_VMM_MIGRATION_PARAMS_H
#define KVMLET_VMM_MIGRATION_PARAMS_H

#include "lib/json.h"
#include "vmm/migration/source.h"
#include "vmm/migration/target.h"

int mig_send_params_parse(const cJSON *body, struct mig_send_params *p, struct err *err);
int mig_recv_params_parse(const cJSON *body, struct mig_recv_params *p, struct err *err);
/* --migrate-from and --migrate-token. */
int mig_recv_params_from_args(const char *from, const char *token, struct mig_recv_params *p,
			      struct err *err);

#endif
