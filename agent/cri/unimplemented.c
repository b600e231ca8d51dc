// SPDX-License-Identifier: Apache-2.0
/*
 * The methods that answer UNIMPLEMENTED for now, each with a message that
 * says why, so that kubelet's log tells an operator what is missing.
 */
#include "agent/cri/handlers.h"

void cri_alpha(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	cri_fail(c, CRI_UNIMPLEMENTED,
		 "not implemented: alpha CRI method, off by default in kubelet 1.29");
}

void cri_streaming_pending(struct cri_call *c, const ProtobufCMessage *req,
			   ProtobufCMessage *resp)
{
	cri_fail(c, CRI_UNIMPLEMENTED,
		 "not yet implemented: streaming (Exec, Attach, PortForward), issue 14");
}
