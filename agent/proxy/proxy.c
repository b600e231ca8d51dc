// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI proxy's router (proxy.h). One function per policy of the routing
 * table (route.h), chosen through policy_fns[]; the owner map learns from
 * the answers as the table says.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cri/methods.h"
#include "agent/proxy/idmap.h"
#include "agent/proxy/merge.h"
#include "agent/proxy/proxy.h"
#include "agent/proxy/route.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "runtime/v1/api.pb-c.h"

#define PATH_SANDBOX_STATUS   "/runtime.v1.RuntimeService/PodSandboxStatus"
#define PATH_CONTAINER_STATUS "/runtime.v1.RuntimeService/ContainerStatus"

struct proxy {
	struct cri_runtime *rt;
	proxy_upstream_fn *upstream;
	void *upstream_ctx;
	char *name;
	const char *const *prefixes;
	uint64_t default_timeout_ns;
	struct idmap *map;
	const struct route **routes; /* [cri_nr_methods] */
	_Atomic uint64_t *forwarded; /* [cri_nr_methods][CRI_NR_CODES] */
	atomic_int up;		     /* -1 unknown, 0 down, 1 up */
};

/* One call on its way through the proxy. */
struct pcall {
	struct proxy *p;
	const struct cri_method *m;
	const struct route *route;
	const uint8_t *req;
	size_t len;
	uint64_t timeout_ns;
	uint8_t **out;
	size_t *out_len;
	struct cri_status *st;
};

static const struct prom_family fam_forwarded = {
	"kvmlet_agent_proxy_forwarded_total",
	"CRI calls forwarded to the upstream runtime, by method and the upstream's gRPC code.",
	PROM_COUNTER
};
static const struct prom_family fam_up = {
	"kvmlet_agent_proxy_upstream_up",
	"1 if the last call to the upstream runtime reached it, 0 if it was unavailable.",
	PROM_GAUGE
};
static const struct prom_family fam_owners = {
	"kvmlet_agent_proxy_owners",
	"Entries in the proxy's owner map (sandboxes, containers, "
	"pods, images).",
	PROM_GAUGE
};

static void set_up(struct proxy *p, bool up, const char *why)
{
	int old = atomic_exchange(&p->up, up ? 1 : 0);

	if (old == (up ? 1 : 0))
		return;
	if (up)
		log_fields(LOG_INFO, "CRI proxy: upstream up", "upstream", p->name, NULL);
	else
		log_fields(LOG_WARN, "CRI proxy: upstream down", "upstream", p->name, "error", why,
			   NULL);
}

/* The call's method, request and deadline, to the upstream. */
static enum cri_code forward_path(struct pcall *c, size_t method, const char *path,
				  const uint8_t *req, size_t len, uint8_t **out, size_t *out_len,
				  struct cri_status *st)
{
	struct proxy *p = c->p;
	enum cri_code code =
		p->upstream(p->upstream_ctx, path, req, len, c->timeout_ns, out, out_len, st);

	if ((unsigned int)code < CRI_NR_CODES)
		atomic_fetch_add_explicit(&p->forwarded[method * CRI_NR_CODES + code], 1,
					  memory_order_relaxed);
	set_up(p, code != CRI_UNAVAILABLE, st->message);
	return code;
}

static enum cri_code forward(struct pcall *c)
{
	return forward_path(c, cri_method_index(c->m), c->m->path, c->req, c->len, c->out,
			    c->out_len, c->st);
}

static enum cri_code local(struct pcall *c)
{
	return cri_method_invoke(c->m, c->p->rt, c->req, c->len, c->out, c->out_len, c->st);
}

static enum cri_code call_owner(struct pcall *c, enum proxy_owner o)
{
	return o == PROXY_LOCAL ? local(c) : forward(c);
}

static void drop_answer(struct pcall *c)
{
	free(*c->out);
	*c->out = NULL;
	*c->out_len = 0;
}

/*
 * Records a new id's owner. A collision (an id the other runtime already
 * has) is refused: the call fails, as two objects cannot share an id.
 * Failing to write the map is only logged: an id missing from it is found
 * again by asking both.
 */
static void learn(struct pcall *c, enum idmap_kind kind, const char *id, enum proxy_owner o,
		  const char *parent, bool replace)
{
	struct err err = { 0 };
	int r = idmap_put(c->p->map, kind, id, o, parent, replace, &err);

	if (r == -EEXIST) {
		log_fields(LOG_ERROR, "CRI proxy: id collision; refused", "method", c->m->name,
			   "id", id, "error", err.msg, NULL);
		drop_answer(c);
		cri_status_set(c->st, CRI_INTERNAL,
			       "id collision: %s returned an id %s already owns (%s); refused",
			       proxy_owner_name(o),
			       proxy_owner_name(o == PROXY_LOCAL ? PROXY_UPSTREAM : PROXY_LOCAL),
			       id);
	} else if (r) {
		log_fields(LOG_WARN, "CRI proxy: owner map not updated", "error", err.msg, NULL);
	}
}

static void forget(struct pcall *c, enum idmap_kind kind, const char *id)
{
	struct err err = { 0 };

	if (idmap_forget(c->p->map, kind, id, &err))
		log_fields(LOG_WARN, "CRI proxy: owner map not updated", "error", err.msg, NULL);
}

static enum cri_code route_local(struct pcall *c)
{
	return local(c);
}

static enum cri_code route_run_pod(struct pcall *c)
{
	Runtime__V1__RunPodSandboxRequest *req =
		runtime__v1__run_pod_sandbox_request__unpack(NULL, c->len, c->req);
	Runtime__V1__RunPodSandboxResponse *resp;
	const Runtime__V1__PodSandboxMetadata *md;
	enum proxy_owner o;

	if (!req) /* the local handler says why */
		return local(c);
	o = route_handler(req->runtime_handler);
	md = req->config ? req->config->metadata : NULL;
	log_fields(LOG_INFO, "CRI proxy: pod routed", "handler", req->runtime_handler, "runtime",
		   proxy_owner_name(o), "pod", md ? md->name : "", "namespace",
		   md ? md->namespace_ : "", NULL);
	if (call_owner(c, o) == CRI_OK) {
		resp = runtime__v1__run_pod_sandbox_response__unpack(NULL, *c->out_len, *c->out);
		if (resp && resp->pod_sandbox_id[0]) {
			learn(c, IDMAP_SANDBOX, resp->pod_sandbox_id, o, NULL, false);
			if (c->st->code == CRI_OK && md && md->uid[0])
				learn(c, IDMAP_POD, md->uid, o, resp->pod_sandbox_id, true);
		}
		if (resp)
			runtime__v1__run_pod_sandbox_response__free_unpacked(resp, NULL);
	}
	runtime__v1__run_pod_sandbox_request__free_unpacked(req, NULL);
	return c->st->code;
}

/* A string field of a decoded message, by name; NULL if it has none. */
static const char *string_field(const ProtobufCMessage *msg, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);

	if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
		return NULL;
	return *(const char *const *)((const char *)msg + f->offset);
}

/* Asks kvmlet, then the upstream, which has the sandbox or container id. */
static enum proxy_owner discover(struct pcall *c, enum idmap_kind kind, const char *id,
				 struct cri_status *why)
{
	Runtime__V1__PodSandboxStatusRequest sr = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	Runtime__V1__ContainerStatusRequest cr = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	const ProtobufCMessage *probe = kind == IDMAP_SANDBOX ? &sr.base : &cr.base;
	const char *path = kind == IDMAP_SANDBOX ? PATH_SANDBOX_STATUS : PATH_CONTAINER_STATUS;
	const struct cri_method *m = cri_method_find(path);
	struct cri_status st;
	enum proxy_owner o = PROXY_NONE;
	uint8_t buf[IDMAP_KEY_MAX + 16], *out = NULL;
	size_t len, out_len = 0;

	memset(why, 0, sizeof(*why));
	sr.pod_sandbox_id = (char *)id;
	cr.container_id = (char *)id;
	if (!m || protobuf_c_message_get_packed_size(probe) > sizeof(buf))
		return PROXY_NONE;
	len = protobuf_c_message_pack(probe, buf);
	if (cri_method_invoke(m, c->p->rt, buf, len, &out, &out_len, &st) == CRI_OK)
		o = PROXY_LOCAL;
	free(out);
	out = NULL;
	if (o == PROXY_NONE &&
	    forward_path(c, cri_method_index(m), path, buf, len, &out, &out_len, &st) == CRI_OK)
		o = PROXY_UPSTREAM;
	else if (o == PROXY_NONE && st.code == CRI_UNAVAILABLE)
		*why = st;
	free(out);
	if (o != PROXY_NONE) {
		log_fields(LOG_INFO, "CRI proxy: owner found", "id", id, "runtime",
			   proxy_owner_name(o), NULL);
		learn(c, kind, id, o, NULL, false);
	}
	return o;
}

/* Calls naming a sandbox or a container: to the runtime that owns it. */
static enum cri_code route_by_id(struct pcall *c)
{
	enum idmap_kind kind = c->route->policy == ROUTE_SANDBOX ? IDMAP_SANDBOX : IDMAP_CONTAINER;
	ProtobufCMessage *req = protobuf_c_message_unpack(c->m->request, NULL, c->len, c->req);
	const char *id =
		req ? string_field(req, kind == IDMAP_SANDBOX ? "pod_sandbox_id" : "container_id")
		    : NULL;
	struct cri_status why;
	enum proxy_owner o;

	if (!id || !id[0]) { /* the local handler says what is wrong */
		if (req)
			protobuf_c_message_free_unpacked(req, NULL);
		return local(c);
	}
	o = idmap_get(c->p->map, kind, id);
	if (o == PROXY_NONE)
		o = discover(c, kind, id, &why);
	if (o == PROXY_NONE && why.code) {
		cri_status_set(c->st, why.code, "owner of %s unknown: %s", id, why.message);
		protobuf_c_message_free_unpacked(req, NULL);
		return c->st->code;
	}
	if (o == PROXY_NONE) /* neither has it: kvmlet's handler answers (NotFound, or OK) */
		o = PROXY_LOCAL;
	if (call_owner(c, o) == CRI_OK) {
		const char *new_id = NULL;
		ProtobufCMessage *resp = NULL;

		switch (c->route->learn) {
		case LEARN_CONTAINER:
			resp = protobuf_c_message_unpack(c->m->response, NULL, *c->out_len,
							 *c->out);
			new_id = resp ? string_field(resp, "container_id") : NULL;
			if (new_id && new_id[0])
				learn(c, IDMAP_CONTAINER, new_id, o, id, false);
			break;
		case FORGET_SANDBOX:
		case FORGET_CONTAINER:
			forget(c, kind, id);
			break;
		default:
			break;
		}
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	}
	protobuf_c_message_free_unpacked(req, NULL);
	return c->st->code;
}

/*
 * Both runtimes' lists as one. kvmlet answering UNIMPLEMENTED or
 * UNAVAILABLE has no such layer (no VM backend, no image store): it has
 * nothing to list, so its half is empty. The upstream's failure fails the
 * list: half an answer would tell kubelet its containers are gone.
 */
static enum cri_code route_merge(struct pcall *c)
{
	uint8_t *lout = NULL, *uout = NULL;
	size_t llen = 0, ulen = 0;
	struct cri_status lst, ust;
	int r;

	if (cri_method_invoke(c->m, c->p->rt, c->req, c->len, &lout, &llen, &lst) != CRI_OK &&
	    lst.code != CRI_UNIMPLEMENTED && lst.code != CRI_UNAVAILABLE) {
		*c->st = lst;
		return lst.code;
	}
	if (forward_path(c, cri_method_index(c->m), c->m->path, c->req, c->len, &uout, &ulen,
			 &ust) != CRI_OK) {
		free(lout);
		*c->st = ust;
		return ust.code;
	}
	r = merge_lists(c->m->response, c->route->merge, lout, llen, uout, ulen, c->out,
			c->out_len);
	free(lout);
	free(uout);
	if (r == -ENOMEM)
		cri_status_set(c->st, CRI_INTERNAL, "%s: out of memory", c->m->name);
	else if (r)
		cri_status_set(c->st, CRI_INTERNAL, "%s: the upstream's answer does not decode",
			       c->m->name);
	else
		memset(c->st, 0, sizeof(*c->st));
	return c->st->code;
}

/* Both must take it (UpdateRuntimeConfig): kvmlet first, then the upstream. */
static enum cri_code route_both(struct pcall *c)
{
	uint8_t *out = NULL;
	size_t len = 0;

	if (local(c) != CRI_OK)
		return c->st->code;
	drop_answer(c);
	if (forward_path(c, cri_method_index(c->m), c->m->path, c->req, c->len, &out, &len,
			 c->st) == CRI_OK) {
		*c->out = out;
		*c->out_len = len;
	}
	return c->st->code;
}

static enum cri_code route_status(struct pcall *c)
{
	uint8_t *lout = NULL, *uout = NULL;
	size_t llen = 0, ulen = 0;
	struct cri_status ust;
	int r;

	if (cri_method_invoke(c->m, c->p->rt, c->req, c->len, &lout, &llen, c->st) != CRI_OK)
		return c->st->code;
	forward_path(c, cri_method_index(c->m), c->m->path, c->req, c->len, &uout, &ulen, &ust);
	r = merge_status(lout, llen, uout, ulen, c->p->name,
			 ust.code == CRI_OK ? NULL : ust.message, c->out, c->out_len);
	free(lout);
	free(uout);
	if (r)
		cri_status_set(c->st, CRI_INTERNAL, "Status: %s",
			       r == -ENOMEM ? "out of memory" : "an answer does not decode");
	return c->st->code;
}

/* ImageStatus, PullImage and RemoveImage: by route_image()'s rules. */
static enum cri_code route_images(struct pcall *c)
{
	ProtobufCMessage *req = protobuf_c_message_unpack(c->m->request, NULL, c->len, c->req);
	const ProtobufCFieldDescriptor *f =
		req ? protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "image")
		    : NULL;
	const Runtime__V1__ImageSpec *spec =
		f ? *(Runtime__V1__ImageSpec *const *)((const char *)req + f->offset) : NULL;
	const Runtime__V1__PullImageRequest *pull = NULL;
	enum proxy_owner pod = PROXY_NONE, name_owner, o;
	const char *why;

	if (!spec || !spec->image[0]) { /* the local handler says what is wrong */
		if (req)
			protobuf_c_message_free_unpacked(req, NULL);
		return local(c);
	}
	if (c->route->learn == LEARN_IMAGE) {
		pull = (const Runtime__V1__PullImageRequest *)req;
		if (pull->sandbox_config && pull->sandbox_config->metadata)
			pod = idmap_get(c->p->map, IDMAP_POD, pull->sandbox_config->metadata->uid);
	}
	name_owner = idmap_get(c->p->map, IDMAP_IMAGE, spec->image);
	o = route_image(spec->runtime_handler, pod, name_owner, spec->image, c->p->prefixes, &why);
	if (pull)
		log_fields(LOG_INFO, "CRI proxy: pull routed", "image", spec->image, "runtime",
			   proxy_owner_name(o), "by", why, NULL);
	if (call_owner(c, o) == CRI_OK) {
		if (c->route->learn == LEARN_IMAGE) {
			Runtime__V1__PullImageResponse *resp =
				runtime__v1__pull_image_response__unpack(NULL, *c->out_len,
									 *c->out);

			learn(c, IDMAP_IMAGE, spec->image, o, NULL, true);
			if (resp && resp->image_ref[0])
				learn(c, IDMAP_IMAGE, resp->image_ref, o, NULL, true);
			if (resp)
				runtime__v1__pull_image_response__free_unpacked(resp, NULL);
		} else if (c->route->learn == FORGET_IMAGE) {
			forget(c, IDMAP_IMAGE, spec->image);
		}
	}
	protobuf_c_message_free_unpacked(req, NULL);
	return c->st->code;
}

typedef enum cri_code (*policy_fn)(struct pcall *c);

static const policy_fn policy_fns[NR_ROUTE_POLICIES] = {
	[ROUTE_LOCAL] = route_local,   [ROUTE_HANDLER] = route_run_pod,
	[ROUTE_SANDBOX] = route_by_id, [ROUTE_CONTAINER] = route_by_id,
	[ROUTE_MERGE] = route_merge,   [ROUTE_BOTH] = route_both,
	[ROUTE_STATUS] = route_status, [ROUTE_IMAGE] = route_images,
};

enum cri_code proxy_route(void *ctx, const struct cri_method *m, const uint8_t *req, size_t len,
			  uint64_t timeout_ns, uint8_t **out, size_t *out_len,
			  struct cri_status *st)
{
	struct proxy *p = ctx;
	size_t i = cri_method_index(m);
	struct pcall c = {
		.p = p,
		.m = m,
		.route = i < cri_nr_methods ? p->routes[i] : NULL,
		.req = req,
		.len = len,
		.timeout_ns = timeout_ns ? timeout_ns : p->default_timeout_ns,
		.out = out,
		.out_len = out_len,
		.st = st,
	};

	memset(st, 0, sizeof(*st));
	*out = NULL;
	*out_len = 0;
	if (!c.route) {
		cri_status_set(st, CRI_UNIMPLEMENTED, "%s: no route in the CRI proxy", m->name);
		return st->code;
	}
	return policy_fns[c.route->policy](&c);
}

int proxy_new(struct proxy **out, const struct proxy_opts *o, struct err *err)
{
	struct proxy *p;
	int r;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(err, -ENOMEM, "out of memory");
	p->rt = o->rt;
	p->upstream = o->upstream;
	p->upstream_ctx = o->upstream_ctx;
	p->prefixes = o->vm_image_prefixes;
	p->default_timeout_ns = o->default_timeout_ns;
	atomic_init(&p->up, -1);
	p->name = strdup(o->upstream_name);
	p->routes = calloc(cri_nr_methods, sizeof(*p->routes));
	p->forwarded = calloc(cri_nr_methods * CRI_NR_CODES, sizeof(*p->forwarded));
	if (!p->name || !p->routes || !p->forwarded) {
		proxy_free(p);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < cri_nr_methods; i++) {
		p->routes[i] = route_find(cri_methods[i].name);
		if (!p->routes[i]) {
			proxy_free(p);
			return err_set(err, -EINVAL, "CRI proxy: no route for %s",
				       cri_methods[i].name);
		}
	}
	r = idmap_open(&p->map, o->state_dir, err);
	if (r) {
		proxy_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void proxy_free(struct proxy *p)
{
	if (!p)
		return;
	idmap_close(p->map);
	free(p->routes);
	free(p->forwarded);
	free(p->name);
	free(p);
}

void proxy_metrics_write(struct proxy *p, struct prom *pr)
{
	int up = atomic_load(&p->up);

	for (size_t i = 0; i < cri_nr_methods; i++)
		for (int code = 0; code < CRI_NR_CODES; code++) {
			uint64_t n = atomic_load_explicit(&p->forwarded[i * CRI_NR_CODES + code],
							  memory_order_relaxed);

			if (n)
				prom_u64(pr, &fam_forwarded,
					 PROM_LABELS("method", cri_methods[i].name, "code",
						     cri_code_name(code)),
					 n);
		}
	if (up >= 0)
		prom_u64(pr, &fam_up, PROM_LABELS("upstream", p->name), (uint64_t)up);
	prom_u64(pr, &fam_owners, NULL, idmap_count(p->map));
}
