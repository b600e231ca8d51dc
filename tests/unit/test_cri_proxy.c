// SPDX-License-Identifier: Apache-2.0
/*
 * The CRI proxy without gRPC: the routing table covers every CRI method,
 * the image rules, the owner map's persistence (restart, collisions,
 * children forgotten, a damaged file), list and Status merging, and the
 * router over a fake upstream (where each call goes, ids learned and
 * discovered, deadlines, an upstream that is down).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/cri/methods.h"
#include "agent/cri/runtime.h"
#include "agent/proxy/idmap.h"
#include "agent/proxy/merge.h"
#include "agent/proxy/proxy.h"
#include "agent/proxy/route.h"
#include "runtime/v1/api.pb-c.h"

#define RS   "/runtime.v1.RuntimeService/"
#define IS   "/runtime.v1.ImageService/"
#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/kvmlet-proxy-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void rmtree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *dir)
{
	static char buf[8192];
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/owners", dir);
	f = fopen(path, "r");
	if (!f)
		return strcpy(buf, "");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_table_covers_every_method(void **state)
{
	size_t n;
	const struct route *t = route_table(&n);

	assert_int_equal(n, cri_nr_methods);
	for (size_t i = 0; i < cri_nr_methods; i++) {
		const struct route *r = route_find(cri_methods[i].name);

		assert_non_null(r);
		assert_true(r->policy < NR_ROUTE_POLICIES);
		for (size_t j = 0; r->merge[j]; j++) {
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field_by_name(
					cri_methods[i].response, r->merge[j]);

			assert_non_null(f);
			assert_int_equal(f->label, PROTOBUF_C_LABEL_REPEATED);
			assert_int_equal(f->type, PROTOBUF_C_TYPE_MESSAGE);
		}
		if (r->policy == ROUTE_MERGE)
			assert_non_null(r->merge[0]);
		/* A by-id route needs the id field in its request. */
		if (r->policy == ROUTE_SANDBOX || r->policy == ROUTE_CONTAINER)
			assert_non_null(protobuf_c_message_descriptor_get_field_by_name(
				cri_methods[i].request,
				r->policy == ROUTE_SANDBOX ? "pod_sandbox_id" : "container_id"));
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(t[i].method, t[j].method);
	assert_null(route_find("Nope"));
	assert_int_equal(route_find("Version")->policy, ROUTE_LOCAL);
	assert_int_equal(route_find("RunPodSandbox")->policy, ROUTE_HANDLER);
	assert_int_equal(route_find("Exec")->policy, ROUTE_CONTAINER);
	assert_int_equal(route_find("PortForward")->policy, ROUTE_SANDBOX);
	assert_int_equal(route_find("ListImages")->policy, ROUTE_MERGE);
}

static void test_handler_and_image_rules(void **state)
{
	const char *const pre[] = { "reg.local/vm/", "", NULL };
	const char *why;

	assert_int_equal(route_handler("kvmlet"), PROXY_LOCAL);
	assert_int_equal(route_handler(""), PROXY_UPSTREAM);
	assert_int_equal(route_handler("runc"), PROXY_UPSTREAM);
	assert_int_equal(route_handler("kvmlet2"), PROXY_UPSTREAM);
	assert_int_equal(route_handler(NULL), PROXY_UPSTREAM);

	assert_true(route_prefix_match("reg.local/vm/fw:v1", pre));
	assert_false(route_prefix_match("reg.local/vmx", pre)); /* "" matches nothing */
	assert_false(route_prefix_match("busybox", NULL));
	/* The image's own runtime_handler first. */
	assert_int_equal(
		route_image("kvmlet", PROXY_UPSTREAM, PROXY_UPSTREAM, "busybox", pre, &why),
		PROXY_LOCAL);
	assert_int_equal(route_image("runc", PROXY_LOCAL, PROXY_LOCAL, "reg.local/vm/x", pre, &why),
			 PROXY_UPSTREAM);
	/* Then the pulling pod's runtime, then an earlier pull, then the prefixes. */
	assert_int_equal(route_image("", PROXY_LOCAL, PROXY_UPSTREAM, "busybox", pre, &why),
			 PROXY_LOCAL);
	assert_string_equal(why, "pulling pod's runtime");
	assert_int_equal(route_image("", PROXY_NONE, PROXY_UPSTREAM, "reg.local/vm/x", pre, &why),
			 PROXY_UPSTREAM);
	assert_int_equal(route_image("", PROXY_NONE, PROXY_NONE, "reg.local/vm/x", pre, &why),
			 PROXY_LOCAL);
	assert_string_equal(why, "vm_image_prefixes");
	assert_int_equal(route_image("", PROXY_NONE, PROXY_NONE, "busybox", pre, &why),
			 PROXY_UPSTREAM);
	assert_string_equal(why, "default");
}

static void test_idmap_persists(void **state)
{
	char *dir = tmpdir();
	struct idmap *m;
	struct err err = { 0 };

	assert_int_equal(idmap_open(&m, dir, &err), 0);
	assert_int_equal(idmap_get(m, IDMAP_SANDBOX, ID_A), PROXY_NONE);
	assert_int_equal(idmap_put(m, IDMAP_SANDBOX, ID_A, PROXY_UPSTREAM, NULL, false, &err), 0);
	assert_int_equal(idmap_put(m, IDMAP_CONTAINER, ID_B, PROXY_UPSTREAM, ID_A, false, &err), 0);
	assert_int_equal(idmap_put(m, IDMAP_POD, "uid-1", PROXY_UPSTREAM, ID_A, true, &err), 0);
	assert_int_equal(idmap_put(m, IDMAP_SANDBOX, ID_C, PROXY_LOCAL, NULL, false, &err), 0);
	assert_int_equal(idmap_put(m, IDMAP_IMAGE, "busybox", PROXY_UPSTREAM, NULL, true, &err), 0);
	/* The same owner again is fine; the other runtime is a collision. */
	assert_int_equal(idmap_put(m, IDMAP_SANDBOX, ID_A, PROXY_UPSTREAM, NULL, false, &err), 0);
	assert_int_equal(idmap_put(m, IDMAP_SANDBOX, ID_A, PROXY_LOCAL, NULL, false, &err),
			 -EEXIST);
	memset(&err, 0, sizeof(err));
	/* Image names move: the last pull wins. */
	assert_int_equal(idmap_put(m, IDMAP_IMAGE, "busybox", PROXY_LOCAL, NULL, true, &err), 0);
	/* Keys: no spaces, not empty, not too long. */
	assert_int_equal(idmap_put(m, IDMAP_IMAGE, "a b", PROXY_LOCAL, NULL, true, &err), -EINVAL);
	memset(&err, 0, sizeof(err));
	assert_int_equal(idmap_put(m, IDMAP_IMAGE, "", PROXY_LOCAL, NULL, true, &err), -EINVAL);
	memset(&err, 0, sizeof(err));
	assert_int_equal(idmap_count(m), 5);
	idmap_close(m);

	/* A restart finds it all, as written. */
	assert_non_null(strstr(slurp(dir), "container " ID_B " upstream " ID_A "\n"));
	assert_int_equal(idmap_open(&m, dir, &err), 0);
	assert_int_equal(idmap_count(m), 5);
	assert_int_equal(idmap_get(m, IDMAP_SANDBOX, ID_A), PROXY_UPSTREAM);
	assert_int_equal(idmap_get(m, IDMAP_CONTAINER, ID_B), PROXY_UPSTREAM);
	assert_int_equal(idmap_get(m, IDMAP_SANDBOX, ID_C), PROXY_LOCAL);
	assert_int_equal(idmap_get(m, IDMAP_IMAGE, "busybox"), PROXY_LOCAL);
	assert_int_equal(idmap_get(m, IDMAP_CONTAINER, ID_A), PROXY_NONE); /* kinds apart */
	/* Forgetting a sandbox forgets its containers and its pod uid. */
	assert_int_equal(idmap_forget(m, IDMAP_SANDBOX, ID_A, &err), 0);
	assert_int_equal(idmap_get(m, IDMAP_CONTAINER, ID_B), PROXY_NONE);
	assert_int_equal(idmap_get(m, IDMAP_POD, "uid-1"), PROXY_NONE);
	assert_int_equal(idmap_count(m), 2);
	assert_int_equal(idmap_forget(m, IDMAP_SANDBOX, ID_A, &err), 0); /* idempotent */
	idmap_close(m);
	assert_null(strstr(slurp(dir), ID_A));
	rmtree(dir);
	free(dir);
}

static void test_idmap_damaged_file(void **state)
{
	char *dir = tmpdir(), path[512];
	struct idmap *m;
	struct err err = { 0 };
	FILE *f;

	snprintf(path, sizeof(path), "%s/owners", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("# comment\n"
	      "sandbox " ID_A " upstream -\n"
	      "sandbox " ID_B " martian -\n"	    /* bad owner */
	      "whatever " ID_B " kvmlet -\n"	    /* bad kind */
	      "container " ID_C " kvmlet\n"	    /* too few fields */
	      "container " ID_C " kvmlet - extra\n" /* too many */
	      "sandbox " ID_A " kvmlet -\n"	    /* a second entry for one key */
	      "\n"
	      "container " ID_C " kvmlet " ID_B "\n",
	      f);
	for (int i = 0; i < 3000; i++) /* a line longer than any entry */
		fputc('x', f);
	fputs("\nimage busybox upstream -", f); /* no newline at the end */
	fclose(f);
	assert_int_equal(idmap_open(&m, dir, &err), 0);
	assert_int_equal(idmap_count(m), 3);
	assert_int_equal(idmap_get(m, IDMAP_SANDBOX, ID_A), PROXY_UPSTREAM);
	assert_int_equal(idmap_get(m, IDMAP_CONTAINER, ID_C), PROXY_LOCAL);
	assert_int_equal(idmap_get(m, IDMAP_IMAGE, "busybox"), PROXY_UPSTREAM);
	assert_int_equal(idmap_get(m, IDMAP_SANDBOX, ID_B), PROXY_NONE);
	idmap_close(m);
	rmtree(dir);
	free(dir);
}

static size_t pack_sandboxes(uint8_t *buf, const char *const *ids)
{
	Runtime__V1__ListPodSandboxResponse r = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;
	Runtime__V1__PodSandbox pods[4], *ptr[4];
	size_t n = 0;

	for (; ids[n]; n++) {
		runtime__v1__pod_sandbox__init(&pods[n]);
		pods[n].id = (char *)ids[n];
		ptr[n] = &pods[n];
	}
	r.n_items = n;
	r.items = ptr;
	return runtime__v1__list_pod_sandbox_response__pack(&r, buf);
}

static void test_merge_lists(void **state)
{
	const char *const fields[] = { "items", NULL }, *const bad[] = { "nope", NULL };
	const char *const a[] = { ID_A, NULL }, *const b[] = { ID_B, ID_C, NULL },
			  *const none[] = { NULL };
	uint8_t ba[512], bb[512], *out;
	size_t la = pack_sandboxes(ba, a), lb = pack_sandboxes(bb, b), lo;
	Runtime__V1__ListPodSandboxResponse *r;

	assert_int_equal(merge_lists(&runtime__v1__list_pod_sandbox_response__descriptor, fields,
				     ba, la, bb, lb, &out, &lo),
			 0);
	r = runtime__v1__list_pod_sandbox_response__unpack(NULL, lo, out);
	assert_non_null(r);
	assert_int_equal(r->n_items, 3);
	assert_string_equal(r->items[0]->id, ID_A);
	assert_string_equal(r->items[1]->id, ID_B);
	assert_string_equal(r->items[2]->id, ID_C);
	runtime__v1__list_pod_sandbox_response__free_unpacked(r, NULL);
	free(out);
	/* An empty half (kvmlet without pods), either way round. */
	assert_int_equal(merge_lists(&runtime__v1__list_pod_sandbox_response__descriptor, fields,
				     NULL, 0, bb, lb, &out, &lo),
			 0);
	assert_int_equal(lo, lb);
	assert_memory_equal(out, bb, lb);
	free(out);
	lo = pack_sandboxes(ba, none);
	assert_int_equal(lo, 0);
	/* Garbage from the upstream, or a field that is not a repeated message. */
	assert_int_equal(merge_lists(&runtime__v1__list_pod_sandbox_response__descriptor, fields,
				     ba, la, (const uint8_t *)"\xff\xff\xff", 3, &out, &lo),
			 -EINVAL);
	assert_int_equal(merge_lists(&runtime__v1__list_pod_sandbox_response__descriptor, bad, ba,
				     la, bb, lb, &out, &lo),
			 -EINVAL);
}

static size_t pack_status(uint8_t *buf, int runtime_ok, int network_ok, const char *info_key)
{
	Runtime__V1__StatusResponse r = RUNTIME__V1__STATUS_RESPONSE__INIT;
	Runtime__V1__RuntimeStatus s = RUNTIME__V1__RUNTIME_STATUS__INIT;
	Runtime__V1__RuntimeCondition c[2], *cp[2] = { &c[0], &c[1] };
	Runtime__V1__StatusResponse__InfoEntry e = RUNTIME__V1__STATUS_RESPONSE__INFO_ENTRY__INIT,
					       *ep = &e;

	runtime__v1__runtime_condition__init(&c[0]);
	runtime__v1__runtime_condition__init(&c[1]);
	c[0].type = (char *)"RuntimeReady";
	c[0].status = runtime_ok;
	c[1].type = (char *)"NetworkReady";
	c[1].status = network_ok;
	if (!network_ok) {
		c[1].reason = (char *)"NetworkPluginNotReady";
		c[1].message = (char *)"cni plugin not initialized";
	}
	s.n_conditions = 2;
	s.conditions = cp;
	r.status = &s;
	e.key = (char *)info_key;
	e.value = (char *)"{}";
	r.n_info = 1;
	r.info = &ep;
	return runtime__v1__status_response__pack(&r, buf);
}

static const Runtime__V1__RuntimeCondition *cond(const Runtime__V1__StatusResponse *r,
						 const char *type)
{
	for (size_t i = 0; i < r->status->n_conditions; i++)
		if (!strcmp(r->status->conditions[i]->type, type))
			return r->status->conditions[i];
	fail();
	return NULL;
}

static void test_merge_status(void **state)
{
	uint8_t l[512], u[512], *out;
	size_t ll = pack_status(l, 1, 1, "config"), lu = pack_status(u, 1, 0, "config"), lo;
	Runtime__V1__StatusResponse *r;

	assert_int_equal(merge_status(l, ll, u, lu, "unix:///ctrd.sock", NULL, &out, &lo), 0);
	r = runtime__v1__status_response__unpack(NULL, lo, out);
	assert_non_null(r);
	assert_true(cond(r, "RuntimeReady")->status);
	assert_false(cond(r, "NetworkReady")->status);
	assert_string_equal(cond(r, "NetworkReady")->reason, "NetworkPluginNotReady");
	assert_string_equal(cond(r, "NetworkReady")->message,
			    "upstream unix:///ctrd.sock: cni plugin not initialized");
	assert_int_equal(r->n_info, 2);
	assert_string_equal(r->info[0]->key, "config");
	assert_string_equal(r->info[1]->key, "upstream.config");
	runtime__v1__status_response__free_unpacked(r, NULL);
	free(out);

	/* The upstream failed: nothing it would say is true. */
	assert_int_equal(merge_status(l, ll, NULL, 0, "u",
				      "upstream u: failed to connect to all addresses", &out, &lo),
			 0);
	r = runtime__v1__status_response__unpack(NULL, lo, out);
	assert_false(cond(r, "RuntimeReady")->status);
	assert_string_equal(cond(r, "RuntimeReady")->reason, "UpstreamUnavailable");
	assert_string_equal(cond(r, "RuntimeReady")->message,
			    "upstream u: failed to connect to all addresses");
	assert_int_equal(r->n_info, 1);
	runtime__v1__status_response__free_unpacked(r, NULL);
	free(out);

	/* kvmlet's own false condition keeps its own reason. */
	ll = pack_status(l, 1, 0, "config");
	lu = pack_status(u, 1, 1, "config");
	assert_int_equal(merge_status(l, ll, u, lu, "u", NULL, &out, &lo), 0);
	r = runtime__v1__status_response__unpack(NULL, lo, out);
	assert_string_equal(cond(r, "NetworkReady")->message, "cni plugin not initialized");
	runtime__v1__status_response__free_unpacked(r, NULL);
	free(out);
}

/* The fake upstream: answers by path from a small script, and records what it saw. */
struct fake {
	char paths[32][96];
	uint64_t timeouts[32];
	int n;
	enum cri_code code;	/* for every call, unless OK */
	const char *sandbox_id; /* RunPodSandbox's answer */
	const char *known;	/* the one sandbox or container id it has */
};

static enum cri_code fake_call(void *ctx, const char *path, const uint8_t *req, size_t len,
			       uint64_t timeout_ns, uint8_t **out, size_t *out_len,
			       struct cri_status *st)
{
	struct fake *f = ctx;
	const struct cri_method *m = cri_method_find(path);
	ProtobufCMessage *in, *resp;
	const ProtobufCFieldDescriptor *fd;

	assert_non_null(m);
	assert_true(f->n < 32);
	snprintf(f->paths[f->n], sizeof(f->paths[0]), "%s", m->name);
	f->timeouts[f->n++] = timeout_ns;
	memset(st, 0, sizeof(*st));
	*out = NULL;
	*out_len = 0;
	if (f->code != CRI_OK) {
		cri_status_set(st, f->code, "upstream fake: down");
		return st->code;
	}
	in = protobuf_c_message_unpack(m->request, NULL, len, req);
	assert_non_null(in);
	/* A status call for an id it does not have is NotFound, as containerd's. */
	fd = protobuf_c_message_descriptor_get_field_by_name(m->request, "pod_sandbox_id");
	if (!fd)
		fd = protobuf_c_message_descriptor_get_field_by_name(m->request, "container_id");
	if (fd && strcmp(m->name, "CreateContainer") &&
	    (!f->known || strcmp(*(char **)((char *)in + fd->offset), f->known))) {
		protobuf_c_message_free_unpacked(in, NULL);
		cri_status_set(st, CRI_NOT_FOUND, "not found");
		return st->code;
	}
	protobuf_c_message_free_unpacked(in, NULL);
	resp = calloc(1, m->response->sizeof_message);
	protobuf_c_message_init(m->response, resp);
	if (!strcmp(m->name, "RunPodSandbox"))
		((Runtime__V1__RunPodSandboxResponse *)resp)->pod_sandbox_id =
			(char *)f->sandbox_id;
	if (!strcmp(m->name, "CreateContainer"))
		((Runtime__V1__CreateContainerResponse *)resp)->container_id = (char *)ID_B;
	*out_len = protobuf_c_message_get_packed_size(resp);
	*out = malloc(*out_len + 1);
	protobuf_c_message_pack(resp, *out);
	free(resp);
	return CRI_OK;
}

struct world {
	char *dir;
	struct cri_runtime rt;
	struct fake fake;
	struct proxy *p;
};

static void world_open(struct world *w)
{
	struct proxy_opts o = {
		.rt = &w->rt,
		.upstream = fake_call,
		.upstream_ctx = &w->fake,
		.upstream_name = "unix:///fake.sock",
		.state_dir = w->dir,
		.default_timeout_ns = 7000000000u,
	};
	struct err err = { 0 };

	assert_int_equal(proxy_new(&w->p, &o, &err), 0);
}

static void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->dir = tmpdir();
	cri_runtime_init(&w->rt, "/nonexistent", "{}");
	world_open(w);
}

static void world_fini(struct world *w)
{
	proxy_free(w->p);
	cri_runtime_destroy(&w->rt);
	rmtree(w->dir);
	free(w->dir);
}

static enum cri_code route(struct world *w, const char *path, const ProtobufCMessage *req,
			   uint64_t timeout_ns, struct cri_status *st)
{
	const struct cri_method *m = cri_method_find(path);
	uint8_t buf[4096], *out = NULL;
	size_t len = req ? protobuf_c_message_pack(req, buf) : 0, out_len;
	enum cri_code code;

	assert_non_null(m);
	code = proxy_route(w->p, m, buf, len, timeout_ns, &out, &out_len, st);
	free(out);
	return code;
}

static void test_router(void **state)
{
	Runtime__V1__RunPodSandboxRequest run = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__StopPodSandboxRequest stop = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__RemovePodSandboxRequest rm = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
	Runtime__V1__CreateContainerRequest cc = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
	Runtime__V1__ContainerStatusRequest cs = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
	struct cri_status st;
	struct world w;

	world_init(&w);
	/* Version is kvmlet's: the upstream is not asked. */
	assert_int_equal(route(&w, RS "Version", NULL, 0, &st), CRI_OK);
	assert_int_equal(w.fake.n, 0);

	/* A pod with handler "" goes upstream; its id and pod uid are learned. */
	md.uid = (char *)"uid-1";
	cfg.metadata = &md;
	run.config = &cfg;
	w.fake.sandbox_id = ID_A;
	w.fake.known = ID_A;
	assert_int_equal(route(&w, RS "RunPodSandbox", &run.base, 0, &st), CRI_OK);
	assert_string_equal(w.fake.paths[0], "RunPodSandbox");
	assert_int_equal(w.fake.timeouts[0], 7000000000u); /* no deadline: the default */
	assert_non_null(strstr(slurp(w.dir), "sandbox " ID_A " upstream -\n"));
	assert_non_null(strstr(slurp(w.dir), "pod uid-1 upstream " ID_A "\n"));

	/* Calls naming it follow it, with the caller's deadline. */
	stop.pod_sandbox_id = (char *)ID_A;
	assert_int_equal(route(&w, RS "StopPodSandbox", &stop.base, 1234, &st), CRI_OK);
	assert_int_equal(w.fake.n, 2);
	assert_int_equal(w.fake.timeouts[1], 1234);
	cc.pod_sandbox_id = (char *)ID_A;
	assert_int_equal(route(&w, RS "CreateContainer", &cc.base, 0, &st), CRI_OK);
	assert_non_null(strstr(slurp(w.dir), "container " ID_B " upstream " ID_A "\n"));

	/* A pod with handler "kvmlet" stays here (this build's answer, whatever it is). */
	run.runtime_handler = (char *)"kvmlet";
	route(&w, RS "RunPodSandbox", &run.base, 0, &st);
	assert_int_equal(w.fake.n, 3);

	/* The upstream down: its pod's calls are UNAVAILABLE; kvmlet's keep working. */
	w.fake.code = CRI_UNAVAILABLE;
	assert_int_equal(route(&w, RS "StopPodSandbox", &stop.base, 0, &st), CRI_UNAVAILABLE);
	assert_int_equal(route(&w, RS "Version", NULL, 0, &st), CRI_OK);
	assert_int_equal(route(&w, RS "ListPodSandbox", NULL, 0, &st), CRI_UNAVAILABLE);
	assert_int_equal(route(&w, RS "Status", NULL, 0, &st), CRI_OK); /* combined: false */
	w.fake.code = CRI_OK;

	/* Remove forgets the sandbox, its container and its pod. */
	rm.pod_sandbox_id = (char *)ID_A;
	assert_int_equal(route(&w, RS "RemovePodSandbox", &rm.base, 0, &st), CRI_OK);
	assert_null(strstr(slurp(w.dir), ID_A));

	/* An id the map lacks: kvmlet is asked, then the upstream, and the owner recorded. */
	w.fake.n = 0;
	w.fake.known = ID_C;
	cs.container_id = (char *)ID_C;
	assert_int_equal(route(&w, RS "ContainerStatus", &cs.base, 0, &st), CRI_OK);
	assert_int_equal(w.fake.n, 2); /* the probe, then the call */
	assert_non_null(strstr(slurp(w.dir), "container " ID_C " upstream -\n"));
	/* Known to neither: kvmlet's handler answers, the upstream is asked once. */
	w.fake.n = 0;
	cs.container_id = (char *)ID_A;
	assert_int_not_equal(route(&w, RS "ContainerStatus", &cs.base, 0, &st), CRI_OK);
	assert_int_equal(w.fake.n, 1);
	assert_null(strstr(slurp(w.dir), "container " ID_A));
	/* Unknown while the upstream is down: UNAVAILABLE, saying so. */
	w.fake.code = CRI_UNAVAILABLE;
	assert_int_equal(route(&w, RS "ContainerStatus", &cs.base, 0, &st), CRI_UNAVAILABLE);
	assert_non_null(strstr(st.message, "owner of " ID_A " unknown"));
	w.fake.code = CRI_OK;

	/* The map survives a restart of the proxy. */
	proxy_free(w.p);
	world_open(&w);
	w.fake.n = 0;
	cs.container_id = (char *)ID_C;
	assert_int_equal(route(&w, RS "ContainerStatus", &cs.base, 0, &st), CRI_OK);
	assert_int_equal(w.fake.n, 1); /* no probe needed */
	world_fini(&w);
}

static void test_collision_refused(void **state)
{
	Runtime__V1__RunPodSandboxRequest run = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
	struct cri_status st;
	struct world w;
	char path[512];
	FILE *f;

	memset(&w, 0, sizeof(w));
	w.dir = tmpdir();
	snprintf(path, sizeof(path), "%s/owners", w.dir);
	f = fopen(path, "w");
	fputs("sandbox " ID_A " kvmlet -\n", f);
	fclose(f);
	cri_runtime_init(&w.rt, "/nonexistent", "{}");
	world_open(&w);
	w.fake.sandbox_id = ID_A; /* the upstream answers with kvmlet's id */
	assert_int_equal(route(&w, RS "RunPodSandbox", &run.base, 0, &st), CRI_INTERNAL);
	assert_non_null(strstr(st.message, "id collision"));
	assert_non_null(strstr(slurp(w.dir), "sandbox " ID_A " kvmlet -\n"));
	world_fini(&w);
}

static void test_images_routed(void **state)
{
	Runtime__V1__PullImageRequest pull = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
	Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
	Runtime__V1__RemoveImageRequest rm = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
	struct cri_status st;
	struct world w;

	world_init(&w);
	spec.image = (char *)"busybox";
	pull.image = &spec;
	assert_int_equal(route(&w, IS "PullImage", &pull.base, 0, &st), CRI_OK);
	assert_string_equal(w.fake.paths[0], "PullImage");
	assert_non_null(strstr(slurp(w.dir), "image busybox upstream -\n"));
	rm.image = &spec;
	assert_int_equal(route(&w, IS "RemoveImage", &rm.base, 0, &st), CRI_OK);
	assert_int_equal(w.fake.n, 2);
	assert_null(strstr(slurp(w.dir), "busybox"));
	/* runtime_handler "kvmlet" on the image: kvmlet's store (none here: UNAVAILABLE). */
	spec.runtime_handler = (char *)"kvmlet";
	assert_int_equal(route(&w, IS "ImageStatus", &rm.base, 0, &st), CRI_UNAVAILABLE);
	assert_int_equal(w.fake.n, 2);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_covers_every_method),
		cmocka_unit_test(test_handler_and_image_rules),
		cmocka_unit_test(test_idmap_persists),
		cmocka_unit_test(test_idmap_damaged_file),
		cmocka_unit_test(test_merge_lists),
		cmocka_unit_test(test_merge_status),
		cmocka_unit_test(test_router),
		cmocka_unit_test(test_collision_refused),
		cmocka_unit_test(test_images_routed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
