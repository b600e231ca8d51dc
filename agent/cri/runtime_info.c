// SPDX-License-Identifier: Apache-2.0
/*
 * The runtime-info calls: Version, Status and UpdateRuntimeConfig, answered
 * the way kubelet checks them (docs/cri.md) and containerd words them.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agent/cri/handlers.h"
#include "agent/cri/runtime.h"
#include "lib/log.h"
#include "runtime/v1/api.pb-c.h"

/* The CRI "version" containerd answers too; kubelet only needs it set. */
#define CRI_VERSION	    "0.1.0"
#define CRI_RUNTIME_NAME    "kvmlet"
#define CRI_API_VERSION	    "v1"
/* cri-api constants.go */
#define COND_RUNTIME_READY  "RuntimeReady"
#define COND_NETWORK_READY  "NetworkReady"
/* containerd's wording for a node without CNI configuration. */
#define NETWORK_NOT_READY   "NetworkPluginNotReady"
#define NETWORK_NOT_READY_M "Network plugin returns error: cni config uninitialized"

/* The extensions libcni loads from its configuration directory. */
static const char *const cni_exts[] = { ".conf", ".conflist", ".json" };

void cri_version(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	Runtime__V1__VersionResponse *r = (Runtime__V1__VersionResponse *)resp;

	r->version = CRI_STR(CRI_VERSION);
	r->runtime_name = CRI_STR(CRI_RUNTIME_NAME);
	r->runtime_version = CRI_STR(KVMLET_AGENT_VERSION);
	r->runtime_api_version = CRI_STR(CRI_API_VERSION);
}

static bool has_cni_ext(const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(cni_exts) / sizeof(cni_exts[0]); i++) {
		size_t e = strlen(cni_exts[i]);

		if (n > e && !strcmp(name + n - e, cni_exts[i]))
			return true;
	}
	return false;
}

/* Whether dir holds a CNI configuration file, as libcni would look for one. */
static bool cni_configured(const char *dir)
{
	DIR *d = dir && *dir ? opendir(dir) : NULL;
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d)))
		found = de->d_name[0] != '.' &&
			(de->d_type == DT_REG || de->d_type == DT_LNK ||
			 de->d_type == DT_UNKNOWN) &&
			has_cni_ext(de->d_name);
	closedir(d);
	return found;
}

static Runtime__V1__RuntimeCondition *condition(struct cri_call *c, const char *type, bool ok,
						const char *reason, const char *message)
{
	Runtime__V1__RuntimeCondition *cond = cri_alloc(c, sizeof(*cond));

	if (!cond)
		return NULL;
	runtime__v1__runtime_condition__init(cond);
	cond->type = (char *)type;
	cond->status = ok;
	cond->reason = (char *)reason;
	cond->message = (char *)message;
	return cond;
}

/* info["config"]: the agent's configuration with the pod CIDR kubelet sent. */
static char *config_dump(struct cri_call *c)
{
	struct cri_runtime *rt = c->rt;
	char cidr[CRI_POD_CIDR_MAX];
	cJSON *cfg = cJSON_Parse(rt->config_json ? rt->config_json : "{}");
	char *text = NULL, *out = NULL;

	cri_runtime_pod_cidr(rt, cidr, sizeof(cidr));
	if (!cfg || !cJSON_IsObject(cfg))
		cJSON_Delete(cfg), cfg = cJSON_CreateObject();
	if (cfg && cJSON_AddStringToObject(cfg, "podCIDR", cidr))
		text = cJSON_PrintUnformatted(cfg);
	cJSON_Delete(cfg);
	if (text)
		out = cri_strdup(c, text);
	else
		c->alloc_failed = true;
	cJSON_free(text);
	return out;
}

static void status_info(struct cri_call *c, Runtime__V1__StatusResponse *r, bool net_ok)
{
	Runtime__V1__StatusResponse__InfoEntry **info = cri_alloc(c, 2 * sizeof(*info));
	Runtime__V1__StatusResponse__InfoEntry *e = cri_alloc(c, 2 * sizeof(*e));
	char *cni;

	if (!info || !e)
		return;
	cni = net_ok ? CRI_STR("OK") : NULL;
	if (!cni) {
		char msg[512];

		snprintf(msg, sizeof(msg), "cni config load failed: no network config found in %s",
			 c->rt->cni_conf_dir ? c->rt->cni_conf_dir : "");
		cni = cri_strdup(c, msg);
	}
	for (int i = 0; i < 2; i++) {
		runtime__v1__status_response__info_entry__init(&e[i]);
		info[i] = &e[i];
	}
	e[0].key = CRI_STR("config");
	e[0].value = config_dump(c);
	e[1].key = CRI_STR("lastCNILoadStatus");
	e[1].value = cni;
	if (!e[0].value || !e[1].value)
		return;
	r->n_info = 2;
	r->info = info;
}

void cri_status(struct cri_call *c, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Runtime__V1__StatusRequest *q = (const Runtime__V1__StatusRequest *)req;
	Runtime__V1__StatusResponse *r = (Runtime__V1__StatusResponse *)resp;
	Runtime__V1__RuntimeStatus *st = cri_alloc(c, sizeof(*st));
	Runtime__V1__RuntimeCondition **conds = cri_alloc(c, 2 * sizeof(*conds));
	bool net_ok = cni_configured(c->rt->cni_conf_dir);

	if (!st || !conds)
		return;
	runtime__v1__runtime_status__init(st);
	conds[0] = condition(c, COND_RUNTIME_READY, true, "", "");
	conds[1] = condition(c, COND_NETWORK_READY, net_ok, net_ok ? "" : NETWORK_NOT_READY,
			     net_ok ? "" : NETWORK_NOT_READY_M);
	st->n_conditions = 2;
	st->conditions = conds;
	r->status = st;
	if (q->verbose)
		status_info(c, r, net_ok);
}

void cri_update_runtime_config(struct cri_call *c, const ProtobufCMessage *req,
			       ProtobufCMessage *resp)
{
	const Runtime__V1__UpdateRuntimeConfigRequest *q =
		(const Runtime__V1__UpdateRuntimeConfigRequest *)req;
	const char *cidr = NULL;

	if (q->runtime_config && q->runtime_config->network_config)
		cidr = q->runtime_config->network_config->pod_cidr;
	/* containerd ignores an update without a CIDR, and so do we. */
	if (!cidr || !*cidr)
		return;
	if (strlen(cidr) >= CRI_POD_CIDR_MAX) {
		cri_fail(c, CRI_INVALID_ARGUMENT, "pod CIDR is longer than %d bytes",
			 CRI_POD_CIDR_MAX - 1);
		return;
	}
	cri_runtime_set_pod_cidr(c->rt, cidr);
	log_fields(LOG_INFO, "pod CIDR updated", "pod_cidr", cidr, NULL);
}
