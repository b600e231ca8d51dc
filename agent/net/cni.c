// SPDX-License-Identifier: Apache-2.0
#include "agent/net/cni.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>

#include "agent/net/cni_conf.h"
#include "agent/net/cni_exec.h"
#include "agent/net/vmnet.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"
#include "lib/replace_file.h"

#define CACHE_KIND "kvmletCniCacheV1"

/* What one ADD or DEL of a network needs, from the configuration or the cache. */
struct cni_call {
	const struct cni_options *o;
	const struct cni_pod *pod;
	const struct cni_net *net;
	const char *netns;	     /* "" when the namespace is gone (DEL) */
	const cJSON *runtime_config; /* every capability argument of the pod */
	char args[1024];	     /* CNI_ARGS */
};

/* ---- checks on what reaches a plugin's environment ---------------------- */

static bool arg_value_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ';' || s[i] == '=' || !isprint((unsigned char)s[i]))
			return false;
	return true;
}

static bool container_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 128 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

static int pod_check(const struct cni_pod *p, struct err *err)
{
	const char *ns = p->k8s_namespace ? p->k8s_namespace : "",
		   *name = p->k8s_name ? p->k8s_name : "", *uid = p->k8s_uid ? p->k8s_uid : "";

	if (!container_id_ok(p->sandbox_id))
		return err_set(err, -EINVAL, "CNI: sandbox id '%.64s' is not a container id",
			       p->sandbox_id);
	if (!p->ifname || !*p->ifname || strlen(p->ifname) > 15 || !arg_value_ok(p->ifname, 15) ||
	    strchr(p->ifname, '/'))
		return err_set(err, -EINVAL, "CNI: interface name must be 1 to 15 characters");
	if (!arg_value_ok(ns, 253) || !arg_value_ok(name, 253) || !arg_value_ok(uid, 128))
		return err_set(err, -EINVAL,
			       "CNI: pod namespace, name or uid too long or holds ';' or '='");
	return 0;
}

static void args_text(struct cni_call *c)
{
	const struct cni_pod *p = c->pod;

	snprintf(c->args, sizeof(c->args),
		 "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;"
		 "K8S_POD_INFRA_CONTAINER_ID=%s;K8S_POD_UID=%s",
		 p->k8s_namespace ? p->k8s_namespace : "", p->k8s_name ? p->k8s_name : "",
		 p->sandbox_id, p->k8s_uid ? p->k8s_uid : "");
}

/* ---- runtimeConfig ------------------------------------------------------ */

static cJSON *runtime_config(const struct cni_pod *p)
{
	cJSON *rc = cJSON_CreateObject();

	if (!rc)
		return NULL;
	if (p->nr_ports) {
		cJSON *a = cJSON_AddArrayToObject(rc, "portMappings");

		for (size_t i = 0; a && i < p->nr_ports; i++) {
			const struct cni_port *pm = &p->ports[i];
			cJSON *m = cJSON_CreateObject();

			cJSON_AddNumberToObject(m, "hostPort", pm->host_port);
			cJSON_AddNumberToObject(m, "containerPort", pm->container_port);
			cJSON_AddStringToObject(m, "protocol", pm->protocol ? pm->protocol : "tcp");
			cJSON_AddStringToObject(m, "hostIP", pm->host_ip ? pm->host_ip : "");
			cJSON_AddItemToArray(a, m);
		}
	}
	if (p->ingress_bps || p->egress_bps) {
		cJSON *b = cJSON_AddObjectToObject(rc, "bandwidth");

		/* Bursts without a limit of their own, as containerd sends them. */
		if (p->ingress_bps) {
			cJSON_AddNumberToObject(b, "ingressRate", (double)p->ingress_bps);
			cJSON_AddNumberToObject(b, "ingressBurst", (double)INT32_MAX);
		}
		if (p->egress_bps) {
			cJSON_AddNumberToObject(b, "egressRate", (double)p->egress_bps);
			cJSON_AddNumberToObject(b, "egressBurst", (double)INT32_MAX);
		}
	}
	if (p->nr_ips) {
		cJSON *a = cJSON_AddArrayToObject(rc, "ips");

		for (size_t i = 0; a && i < p->nr_ips; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(p->ips[i]));
	}
	if (p->mac && *p->mac)
		cJSON_AddStringToObject(rc, "mac", p->mac);
	return rc;
}

static const char *const cap_names[] = { "portMappings", "bandwidth", "ips", "mac" };
static const unsigned int cap_bits[] = { CNI_CAP_PORT_MAPPINGS, CNI_CAP_BANDWIDTH, CNI_CAP_IPS,
					 CNI_CAP_MAC };

/* The plugin's stdin: its object, the list's version and name, prevResult, runtimeConfig. */
static char *plugin_stdin(const struct cni_call *c, const struct cni_plugin *pl, const char *prev)
{
	cJSON *conf = cJSON_Duplicate(pl->conf, true);
	char *text = NULL;

	if (!conf)
		return NULL;
	cJSON_DeleteItemFromObjectCaseSensitive(conf, "cniVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(conf, "name");
	cJSON_DeleteItemFromObjectCaseSensitive(conf, "prevResult");
	cJSON_DeleteItemFromObjectCaseSensitive(conf, "runtimeConfig");
	cJSON_AddStringToObject(conf, "cniVersion", c->net->version);
	cJSON_AddStringToObject(conf, "name", c->net->name);
	if (prev) {
		cJSON *p = cJSON_Parse(prev);

		if (!p)
			goto out;
		cJSON_AddItemToObject(conf, "prevResult", p);
	}
	cJSON *rc = cJSON_CreateObject();

	for (size_t i = 0; rc && c->runtime_config && i < 4; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->runtime_config, cap_names[i]);

		if (v && (pl->caps & cap_bits[i]))
			cJSON_AddItemToObject(rc, cap_names[i], cJSON_Duplicate(v, true));
	}
	if (rc && rc->child)
		cJSON_AddItemToObject(conf, "runtimeConfig", rc);
	else
		cJSON_Delete(rc);
	text = cJSON_PrintUnformatted(conf);
out:
	cJSON_Delete(conf);
	return text;
}

/* ---- running one plugin ------------------------------------------------- */

static int plugin_path(const char *dirs, const char *type, char *out, size_t cap, struct err *err)
{
	const char *d = dirs;

	while (*d) {
		size_t n = strcspn(d, ":");
		struct stat st;

		if (n && snprintf(out, cap, "%.*s/%s", (int)n, d, type) < (int)cap &&
		    stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
		d += n;
		if (*d == ':')
			d++;
	}
	return err_set(err, -ENOENT, "CNI plugin '%s' not found in %s", type, dirs);
}

/* The plugin's error JSON {code, msg, details}, or its exit status and stderr. */
static int plugin_failed(const char *type, const char *cmd, const struct cni_exec *x,
			 struct err *err)
{
	cJSON *e = x->out_len ? cJSON_Parse(x->out) : NULL;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code"),
		    *msg = cJSON_GetObjectItemCaseSensitive(e, "msg"),
		    *det = cJSON_GetObjectItemCaseSensitive(e, "details");
	int r;

	if (cJSON_IsNumber(code) && cJSON_IsString(msg)) {
		r = err_set(err, -EIO, "CNI plugin %s %s failed (code %d): %.120s%s%.80s", type,
			    cmd, code->valueint, msg->valuestring, cJSON_IsString(det) ? ": " : "",
			    cJSON_IsString(det) ? det->valuestring : "");
	} else {
		const char *tail = x->errtail;
		size_t n = strlen(tail);

		/* The last line of stderr says most. */
		while (n && tail[n - 1] == '\n')
			n--;
		const char *nl = memrchr(tail, '\n', n);
		const char *line = nl ? nl + 1 : tail;

		r = err_set(err, -EIO, "CNI plugin %s %s failed (%s %d)%s%.*s", type, cmd,
			    WIFEXITED(x->status) ? "exit status" : "signal",
			    WIFEXITED(x->status) ? WEXITSTATUS(x->status) : WTERMSIG(x->status),
			    n ? ": " : "",
			    (int)(n - (size_t)(line - tail)) > 160
				    ? 160
				    : (int)(n - (size_t)(line - tail)),
			    line);
	}
	cJSON_Delete(e);
	return r;
}

static int plugin_run(const struct cni_call *c, const struct cni_plugin *pl, const char *cmd,
		      const char *prev, struct cni_exec *x, struct err *err)
{
	char path[4096], e_cmd[32], e_id[160], e_ns[4200], e_if[32], e_args[1100], e_path[4200];
	const char *dirs =
		c->o->bin_dirs && *c->o->bin_dirs ? c->o->bin_dirs : CNI_DEFAULT_BIN_DIRS;
	int r = plugin_path(dirs, pl->type, path, sizeof(path), err);

	if (r)
		return r;
	snprintf(e_cmd, sizeof(e_cmd), "CNI_COMMAND=%s", cmd);
	snprintf(e_id, sizeof(e_id), "CNI_CONTAINERID=%s", c->pod->sandbox_id);
	snprintf(e_ns, sizeof(e_ns), "CNI_NETNS=%s", c->netns);
	snprintf(e_if, sizeof(e_if), "CNI_IFNAME=%s", c->pod->ifname);
	snprintf(e_args, sizeof(e_args), "CNI_ARGS=%s", c->args);
	snprintf(e_path, sizeof(e_path), "CNI_PATH=%s", dirs);
	/* PATH: portmap and others run iptables; nothing else of the agent's environment. */
	char *const envp[] = {
		e_cmd,
		e_id,
		e_ns,
		e_if,
		e_args,
		e_path,
		(char *)"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		NULL
	};
	char *in = plugin_stdin(c, pl, prev);

	if (!in)
		return err_set(err, -ENOMEM, "CNI plugin %s: cannot build its configuration",
			       pl->type);
	int timeout = c->o->timeout_ms > 0 ? c->o->timeout_ms : CNI_DEFAULT_TIMEOUT_MS;

	r = cni_exec_run(path, envp, in, strlen(in), timeout, x, err);
	free(in);
	if (r)
		return err_prefix(err, r, "CNI plugin %s %s: ", pl->type, cmd);
	if (x->timed_out) {
		cni_exec_free(x);
		return err_set(err, -ETIMEDOUT, "CNI plugin %s %s: no answer in %d ms (killed)",
			       pl->type, cmd, timeout);
	}
	if (!WIFEXITED(x->status) || WEXITSTATUS(x->status)) {
		r = plugin_failed(pl->type, cmd, x, err);
		cni_exec_free(x);
		return r;
	}
	if (x->out_cut) {
		cni_exec_free(x);
		return err_set(err, -EMSGSIZE, "CNI plugin %s %s: more than %u bytes of output",
			       pl->type, cmd, CNI_OUTPUT_MAX);
	}
	return 0;
}

/* ---- the cache ---------------------------------------------------------- */

static int cache_path(const struct cni_options *o, const char *id, const char *ifname, char *out,
		      size_t cap, struct err *err)
{
	if (snprintf(out, cap, "%s/%s-%s.json", o->cache_dir, id, ifname) >= (int)cap)
		return err_set(err, -ENAMETOOLONG, "CNI cache path: too long");
	return 0;
}

static int cache_write(const struct cni_call *c, bool list, const char *result, struct err *err)
{
	char path[4096];
	struct replace_file f;
	cJSON *o = cJSON_CreateObject();
	int r = cache_path(c->o, c->pod->sandbox_id, c->pod->ifname, path, sizeof(path), err);

	if (r || !o) {
		cJSON_Delete(o);
		return r ? r : err_set(err, -ENOMEM, "CNI cache: out of memory");
	}
	cJSON_AddStringToObject(o, "kind", CACHE_KIND);
	cJSON_AddStringToObject(o, "containerId", c->pod->sandbox_id);
	cJSON_AddStringToObject(o, "ifName", c->pod->ifname);
	cJSON_AddStringToObject(o, "networkName", c->net->name);
	cJSON_AddStringToObject(o, "configFile", c->net->file);
	cJSON_AddBoolToObject(o, "configList", list);
	cJSON_AddStringToObject(o, "config", c->net->text);
	cJSON_AddStringToObject(o, "cniArgs", c->args);
	cJSON_AddItemToObject(o, "runtimeConfig", cJSON_Duplicate(c->runtime_config, true));
	cJSON_AddItemToObject(o, "result", cJSON_Parse(result));
	char *text = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (!text)
		return err_set(err, -ENOMEM, "CNI cache: out of memory");
	if (mkdir_p(c->o->cache_dir, 0700) < 0) {
		free(text);
		return err_set(err, -errno, "CNI cache %s: %s", c->o->cache_dir, strerror(errno));
	}
	r = replace_file_open(&f, path, "CNI cache", err);
	if (!r) {
		size_t len = strlen(text), off = 0;

		while (off < len) {
			ssize_t n = write(f.fd, text + off, len - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				r = err_set(err, -errno, "CNI cache %s: %s", path, strerror(errno));
				break;
			}
			off += (size_t)n;
		}
		if (r)
			replace_file_abort(&f);
		else
			r = replace_file_commit(&f, err);
	}
	free(text);
	return r;
}

/* The cache record of a sandbox: its tree (cJSON_Delete it); -ENOENT if none. */
static int cache_read(const struct cni_options *o, const char *id, const char *ifname, cJSON **out,
		      struct err *err)
{
	char path[4096];
	int r = cache_path(o, id, ifname, path, sizeof(path), err);

	if (r)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return errno == ENOENT
			       ? -ENOENT
			       : err_set(err, -errno, "CNI cache %s: %s", path, strerror(errno));
	char *buf = malloc(2 * CNI_CONF_MAX + 1);
	size_t len = 0;
	ssize_t n;

	if (!buf) {
		close(fd);
		return err_set(err, -ENOMEM, "CNI cache: out of memory");
	}
	while (len < 2 * CNI_CONF_MAX && (n = read(fd, buf + len, 2 * CNI_CONF_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	*out = json_parse(buf, len, err);
	free(buf);
	if (!*out)
		return err_prefix(err, -EINVAL, "CNI cache %s: ", path);
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(*out, "kind");

	if (!cJSON_IsString(kind) || strcmp(kind->valuestring, CACHE_KIND)) {
		cJSON_Delete(*out);
		return err_set(err, -EINVAL, "CNI cache %s: not a %s record", path, CACHE_KIND);
	}
	return 0;
}

static void cache_remove(const struct cni_options *o, const char *id, const char *ifname)
{
	char path[4096];
	struct err ignored = { 0 };

	if (!cache_path(o, id, ifname, path, sizeof(path), &ignored))
		unlink(path);
}

int cni_cached(const struct cni_options *o, const char *sandbox_id, const char *ifname,
	       struct cni_result *out, struct err *err)
{
	cJSON *c;
	int r = cache_read(o, sandbox_id, ifname, &c, err);

	if (r)
		return r;
	char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(c, "result"));

	cJSON_Delete(c);
	if (!text)
		return err_set(err, -EINVAL, "CNI cache of %s: no result", sandbox_id);
	r = cni_result_parse(text, strlen(text), out, err);
	free(text);
	return r;
}

/* ---- ADD and DEL -------------------------------------------------------- */

static bool netns_alive(const char *path)
{
	struct statfs fs;

	return path && *path && statfs(path, &fs) == 0 && fs.f_type == NSFS_MAGIC;
}

/* DEL of every plugin in reverse order; the first failure is reported, the rest still run. */
static int del_plugins(struct cni_call *c, const char *prev, struct err *err)
{
	int first = 0;
	/* CNI 0.3.x has no prevResult on DEL. */
	bool with_prev = prev && strncmp(c->net->version, "0.3.", 4);

	for (size_t i = c->net->nr_plugins; i-- > 0;) {
		struct cni_exec x;
		struct err e = { 0 };
		int r = plugin_run(c, &c->net->plugins[i], "DEL", with_prev ? prev : NULL, &x, &e);

		if (!r)
			cni_exec_free(&x);
		else if (!first)
			first = err_set(err, r, "%s", e.msg);
	}
	return first;
}

static int add_plugins(struct cni_call *c, struct cni_result *out, struct err *err)
{
	char *prev = NULL;
	int r = 0;

	for (size_t i = 0; i < c->net->nr_plugins && !r; i++) {
		const struct cni_plugin *pl = &c->net->plugins[i];
		struct cni_exec x;
		struct cni_result res;

		r = plugin_run(c, pl, "ADD", prev, &x, err);
		if (r)
			break;
		r = cni_result_parse(x.out, x.out_len, &res, err);
		cni_exec_free(&x);
		if (r) {
			err_prefix(err, r, "CNI plugin %s ADD: ", pl->type);
			break;
		}
		free(prev);
		prev = res.json;
		res.json = NULL;
	}
	if (!r)
		r = cni_result_parse(prev, strlen(prev), out, err);
	free(prev);
	return r;
}

/* The ADD result matches the namespace: the interface is there, with the MAC it claims. */
static int result_verify(const struct cni_call *c, const struct cni_result *res, struct err *err)
{
	struct vmnet_info link;
	int r = cni_result_check(res, c->pod->ifname, c->netns, err);

	if (r)
		return r;
	r = vmnet_link(c->netns, c->pod->ifname, &link, err);
	if (r)
		return err_prefix(err, r, "CNI result names %s, but ", c->pod->ifname);
	for (size_t i = 0; i < res->nr_ifaces; i++)
		if (!strcmp(res->ifaces[i].name, c->pod->ifname) &&
		    !strcmp(res->ifaces[i].sandbox, c->netns) &&
		    strcasecmp(res->ifaces[i].mac, link.mac))
			return err_set(err, -EINVAL, "CNI result: %s has mac %s, not %s",
				       c->pod->ifname, link.mac, res->ifaces[i].mac);
	return 0;
}

int cni_add(const struct cni_options *o, const struct cni_pod *pod, struct cni_result *out,
	    struct err *err)
{
	struct cni_net net;
	struct cni_call c = { .o = o, .pod = pod, .net = &net, .netns = pod->netns };
	int r = pod_check(pod, err);

	memset(out, 0, sizeof(*out));
	if (r)
		return r;
	if (!netns_alive(pod->netns))
		return err_set(err, -EINVAL, "CNI ADD: %s is not a network namespace", pod->netns);
	r = cni_net_load(o->conf_dir, &net, err);
	if (r)
		return r;
	args_text(&c);
	cJSON *rc = runtime_config(pod);

	c.runtime_config = rc;
	if (!rc) {
		r = err_set(err, -ENOMEM, "CNI: out of memory");
		goto out;
	}
	r = add_plugins(&c, out, err);
	if (!r)
		r = result_verify(&c, out, err);
	if (!r)
		r = cache_write(&c, net.file[0] && strstr(net.file, ".conflist"), out->json, err);
	if (r) {
		struct err e = { 0 };
		/* Undo, so that nothing is left; the plugins must bear a DEL of a partial ADD. */
		int d = del_plugins(&c, out->json, &e);

		cni_result_free(out);
		if (d) {
			size_t n = strlen(err->msg);

			/* Both said, the ADD's failure first; the rest is cut to fit. */
			if (n + 1 < sizeof(err->msg))
				snprintf(err->msg + n, sizeof(err->msg) - n,
					 "; its DEL failed: %.*s", (int)(sizeof(err->msg) - n - 1),
					 e.msg);
		}
	}
out:
	cJSON_Delete(rc);
	cni_net_free(&net);
	return r;
}

/* The network of the cached ADD: the configuration as it was then. */
static int net_from_cache(const cJSON *cache, struct cni_net *net, struct err *err)
{
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(cache, "config");
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(cache, "configList");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(cache, "configFile");

	if (!cJSON_IsString(text) || !cJSON_IsBool(list))
		return err_set(err, -EINVAL, "CNI cache: no configuration");
	int r = cni_net_parse(text->valuestring, strlen(text->valuestring), cJSON_IsTrue(list),
			      cJSON_IsString(file) ? file->valuestring : "cached configuration",
			      net, err);

	if (r)
		return r;
	net->text = strdup(text->valuestring);
	return net->text ? 0 : err_set(err, -ENOMEM, "CNI cache: out of memory");
}

int cni_del(const struct cni_options *o, const struct cni_pod *pod, struct err *err)
{
	struct cni_net net = { 0 };
	struct cni_call c = { .o = o, .pod = pod, .net = &net };
	cJSON *cache = NULL;
	char *prev = NULL;
	int r = pod_check(pod, err);

	if (r)
		return r;
	c.netns = netns_alive(pod->netns) ? pod->netns : "";
	args_text(&c);
	r = cache_read(o, pod->sandbox_id, pod->ifname, &cache, err);
	if (r == 0) {
		r = net_from_cache(cache, &net, err);
		c.runtime_config = cJSON_GetObjectItemCaseSensitive(cache, "runtimeConfig");
		prev = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(cache, "result"));
	} else {
		/*
		 * No ADD recorded (or the agent died before caching), or a record
		 * that cannot be read: DEL with today's network, so that a sandbox
		 * can always be removed.
		 */
		if (r != -ENOENT)
			log_fields(LOG_WARN,
				   "CNI cache unusable; DEL with the current configuration",
				   "sandbox", pod->sandbox_id, "error", err->msg, NULL);
		memset(err, 0, sizeof(*err));
		r = cni_net_load(o->conf_dir, &net, err);
		if (r == -ENOENT) {
			r = 0;
			goto out;
		}
	}
	if (r)
		goto out;
	r = del_plugins(&c, prev, err);
	if (!r)
		cache_remove(o, pod->sandbox_id, pod->ifname);
out:
	free(prev);
	cJSON_Delete(cache);
	cni_net_free(&net);
	return r;
}

int cni_bandwidth_parse(const char *q, uint64_t *bps, struct err *err)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{ "Ki", 1ull << 10 },	{ "Mi", 1ull << 20 },	   { "Gi", 1ull << 30 },
		{ "Ti", 1ull << 40 },	{ "k", 1000ull },	   { "M", 1000000ull },
		{ "G", 1000000000ull }, { "T", 1000000000000ull }, { "", 1 },
	};
	char *end;

	if (!q || !isdigit((unsigned char)q[0]))
		return err_set(err, -EINVAL, "bandwidth '%.32s': not a quantity", q ? q : "");
	errno = 0;
	unsigned long long v = strtoull(q, &end, 10);

	for (size_t i = 0; !errno && i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix))
			continue;
		if (v > UINT64_MAX / units[i].mult)
			break;
		*bps = v * units[i].mult;
		/* The bandwidth plugin's limits: 1 kbit/s to 1 Pbit/s, as kubelet checks them. */
		if (*bps < 1000 || *bps > 1000000000000000ull)
			break;
		return 0;
	}
	return err_set(err, -EINVAL, "bandwidth '%.32s': not a rate from 1k to 1P", q);
}
