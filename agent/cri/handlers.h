/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI handlers the method table (methods.c) points to, one file per
 * group: runtime_info.c (Version, Status, UpdateRuntimeConfig),
 * image_service.c (ImageService), sandbox_service.c, container_service.c
 * and stats_service.c (the RuntimeService's pods), and unimplemented.c
 * (the alpha methods and streaming). Threads: as methods.h.
 */
#ifndef KVMLET_AGENT_CRI_HANDLERS_H
#define KVMLET_AGENT_CRI_HANDLERS_H

#include "agent/cri/methods.h"

void cri_version(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_status(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_update_runtime_config(struct cri_call *c, const ProtobufCMessage *req,
			       ProtobufCMessage *resp);

/* ImageService over rt->store (docs/cri.md). */
void cri_list_images(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_image_status(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_pull_image(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_remove_image(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_image_fs_info(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);

/* The RuntimeService's pods and containers over rt->pods (docs/cri.md, "Pods"). */
void cri_run_pod_sandbox(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_stop_pod_sandbox(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_remove_pod_sandbox(struct cri_call *c, const ProtobufCMessage *req,
			    ProtobufCMessage *resp);
void cri_pod_sandbox_status(struct cri_call *c, const ProtobufCMessage *req,
			    ProtobufCMessage *resp);
void cri_list_pod_sandbox(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_create_container(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_start_container(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_stop_container(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_remove_container(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_list_containers(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_container_status(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_update_container_resources(struct cri_call *c, const ProtobufCMessage *req,
				    ProtobufCMessage *resp);
void cri_reopen_container_log(struct cri_call *c, const ProtobufCMessage *req,
			      ProtobufCMessage *resp);
void cri_exec_sync(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_container_stats(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
void cri_list_container_stats(struct cri_call *c, const ProtobufCMessage *req,
			      ProtobufCMessage *resp);
void cri_pod_sandbox_stats(struct cri_call *c, const ProtobufCMessage *req,
			   ProtobufCMessage *resp);
void cri_list_pod_sandbox_stats(struct cri_call *c, const ProtobufCMessage *req,
				ProtobufCMessage *resp);

/* UNIMPLEMENTED: alpha in kubelet 1.29, off by its default feature gates. */
void cri_alpha(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
/* UNIMPLEMENTED: Exec, Attach and PortForward need the streaming server, issue 14. */
void cri_streaming_pending(struct cri_call *c, const ProtobufCMessage *req,
			   ProtobufCMessage *resp);

#endif
