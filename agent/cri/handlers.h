/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI handlers the method table (methods.c) points to, one file per
 * group: runtime_info.c (Version, Status, UpdateRuntimeConfig) and
 * image_service.c (ImageService) and unimplemented.c (the alpha methods
 * and the pod methods of the next issue). Threads: as methods.h.
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

/* UNIMPLEMENTED: alpha in kubelet 1.29, off by its default feature gates. */
void cri_alpha(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);
/* UNIMPLEMENTED: VM pods and containers, issue 12. */
void cri_pods_pending(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp);

#endif
