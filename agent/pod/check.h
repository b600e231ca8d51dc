/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every field of a sandbox or container config that the agent keeps or
 * acts on is checked here before anything is created: metadata present and
 * within Kubernetes' own bounds, labels and annotations bounded, map
 * entries well formed. Each error names the field (-EINVAL, err set), so
 * the CRI answer is a clear INVALID_ARGUMENT.
 *
 * The bounds (docs/cri.md, "Limits"): pod name 253 bytes (a DNS subdomain),
 * namespace 63 and container name 63 (DNS labels), uid 128; a label or
 * annotation key 317 (a 253-byte prefix, '/', a 63-byte name); a label
 * value 4 KiB; all annotations together 256 KiB, as the API server allows.
 *
 * Threads: pure functions.
 */
#ifndef KVMLET_AGENT_POD_CHECK_H
#define KVMLET_AGENT_POD_CHECK_H

#include "lib/err.h"
#include "runtime/v1/api.pb-c.h"

#define POD_NAME_MAX	    253
#define POD_NAMESPACE_MAX   63
#define POD_UID_MAX	    128
#define CONTAINER_NAME_MAX  63
#define POD_KEY_MAX	    317
#define POD_LABEL_VALUE_MAX 4096
#define POD_ANNOTATIONS_MAX (256 * 1024)

int pod_check_sandbox_config(const Runtime__V1__PodSandboxConfig *cfg, struct err *err);
int pod_check_container_config(const Runtime__V1__ContainerConfig *cfg, struct err *err);

#endif
