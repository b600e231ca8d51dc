// SPDX-License-Identifier: Apache-2.0
/*
 * kvmlet-agent: the node agent kubelet talks to, a CRI runtime.v1 gRPC
 * server (docs/cri.md). This file reads the configuration, starts the CRI
 * server and the metrics listener, and waits for SIGTERM or SIGINT to stop
 * them: no new calls, the running ones finish (bounded), exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "agent/cri/metrics.h"
#include "agent/cri/runtime.h"
#include "agent/cri/server.h"
#include "agent/image/pull.h"
#include "agent/image/store.h"
#include "agent/metrics.h"
#include "agent/pod/pods.h"
#include "agent/proxy/proxy.h"
#include "agent/proxy/upstream.h"
#include "agent/vm/vm.h"
#include "lib/err.h"
#include "lib/http_client.h"
#include "lib/log.h"
#include "lib/mkdir_p.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_INSECURE  64
#define MAX_PREFIXES  64

enum { OPT_CONFIG = 256, OPT_VERSION };

/* Options that set a configuration key, checked as the file's are. */
static const struct {
	struct option opt;
	const char *section, *key, *help;
} key_opts[] = {
	{ { "listen", required_argument, NULL, 'l' },
	  "agent",
	  "listen",
	  "CRI socket (unix:///run/kvmlet/kvmlet.sock)" },
	{ { "root", required_argument, NULL, 'r' },
	  "agent",
	  "root",
	  "state and image directory (/var/lib/kvmlet)" },
	{ { "metrics-listen", required_argument, NULL, 'm' },
	  "agent",
	  "metrics_listen",
	  "Unix socket for GET /metrics, \"\" for none (/run/kvmlet/metrics.sock)" },
	{ { "log-level", required_argument, NULL, 'L' },
	  "agent",
	  "log_level",
	  "error, warn, info or debug (info)" },
	{ { "cni-conf-dir", required_argument, NULL, 'n' },
	  "cni",
	  "conf_dir",
	  "CNI configuration directory for NetworkReady (/etc/cni/net.d)" },
	{ { "image-root", required_argument, NULL, 'i' },
	  "images",
	  "root",
	  "the image store (ROOT/images)" },
	{ { "insecure-registries", required_argument, NULL, 'I' },
	  "images",
	  "insecure_registries",
	  "registries pulled from over plain HTTP, \"host[:port],...\" (none)" },
	{ { "upstream", required_argument, NULL, 'u' },
	  "proxy",
	  "upstream",
	  "forward pods of other runtime handlers to this CRI socket, \"\" for none (none)" },
	{ { "workers", required_argument, NULL, 'w' },
	  "cri",
	  "workers",
	  "threads running CRI handlers (4)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kvmlet-agent [options]\n\n"
		   "The kvmlet node agent: a CRI runtime.v1 gRPC server for kubelet.\n\n"
		   "  --config FILE          configuration file (" AGENT_CONFIG_PATH
		   "; optional at that path)\n");
	for (size_t i = 0; i < ARRAY_SIZE(key_opts); i++) {
		char name[40];

		snprintf(name, sizeof(name), "%s VALUE", key_opts[i].opt.name);
		fprintf(f, "  --%-21s%s [%s.%s]\n", name, key_opts[i].help, key_opts[i].section,
			key_opts[i].key);
	}
	fprintf(f, "  --version              print the version and exit\n"
		   "  --help                 this text\n\n"
		   "Command-line options override the file. See docs/cri.md.\n");
}

static void options_table(struct option *opts)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(key_opts); i++)
		opts[n++] = key_opts[i].opt;
	opts[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	opts[n++] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n] = (struct option){ 0 };
}

/* The file first (--config or the default), then the options over it. */
static int load_config(struct agent_config *cfg, int argc, char **argv, struct err *err)
{
	struct option opts[ARRAY_SIZE(key_opts) + 4];
	const char *path = NULL;
	int c, r;

	options_table(opts);
	agent_config_defaults(cfg);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
	}
	r = agent_config_load(cfg, path ? path : AGENT_CONFIG_PATH, err);
	if (r == -ENOENT && !path) {
		memset(err, 0, sizeof(*err));
		r = 0;
	}
	if (r)
		return r;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == OPT_CONFIG)
			continue;
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == OPT_VERSION) {
			printf("kvmlet-agent %s\n", KVMLET_AGENT_VERSION);
			exit(0);
		}
		size_t i = 0;

		while (i < ARRAY_SIZE(key_opts) && key_opts[i].opt.val != c)
			i++;
		if (i == ARRAY_SIZE(key_opts)) {
			usage(stderr);
			exit(2);
		}
		r = agent_config_set(cfg, key_opts[i].section, key_opts[i].key, optarg, err);
		if (r)
			return err_prefix(err, r, "--%s: ", key_opts[i].opt.name);
	}
	if (optind < argc)
		return err_set(err, -EINVAL, "unexpected argument '%s'", argv[optind]);
	return 0;
}

struct agent {
	struct agent_config cfg;
	char *config_json;
	struct cri_runtime rt;
	bool rt_ready;
	struct cri_metrics *metrics;
	struct cri_server *srv;
	struct agent_metrics *http;
	char insecure_buf[PATH_MAX];
	const char *insecure[MAX_INSECURE + 1];
	struct store *store;
	struct puller *puller;
	struct pull_stats pull_stats;
	struct upstream *upstream;
	struct proxy *proxy;
	char prefix_buf[PATH_MAX];
	const char *prefixes[MAX_PREFIXES + 1];
	char vm_dir[PATH_MAX], pods_dir[PATH_MAX], netns_dir[PATH_MAX], cni_cache_dir[PATH_MAX];
	char dhcpd_path[PATH_MAX]; /* kvmlet-dhcpd next to kvmlet-agent, "" if absent */
	struct vm_backend backend;
	bool backend_open;
	struct pod_sys_host host;
	struct pods *pods;
};

/* The image store asks before removing an image: a container's VM may use it. */
static bool agent_image_in_use(const char *id, void *ctx)
{
	struct agent *a = ctx;

	return a->pods && pods_image_in_use(a->pods, id);
}

static int agent_pull(void *ctx, const char *ref, const struct registry_auth *auth,
		      char id[DIGEST_STR_LEN + 1], struct err *err)
{
	return pull_image(ctx, ref, auth, id, err);
}

/* The store under [images] root and the puller with the insecure registries. */
static int images_start(struct agent *a, struct err *err)
{
	struct store_options so = { 0 };
	struct puller_options po = { .stats = &a->pull_stats };
	char root[PATH_MAX];
	int r;

	if (a->cfg.image_root[0])
		snprintf(root, sizeof(root), "%s", a->cfg.image_root);
	else if (snprintf(root, sizeof(root), "%s/images", a->cfg.root) >= (int)sizeof(root))
		return err_set(err, -ENAMETOOLONG, "root %s: too long", a->cfg.root);
	so.root = root;
	so.in_use = agent_image_in_use;
	so.in_use_ctx = a;
	agent_config_insecure(&a->cfg, a->insecure_buf, sizeof(a->insecure_buf), a->insecure,
			      ARRAY_SIZE(a->insecure));
	if ((r = http_client_global_init(err)) || (r = store_open(&so, &a->store, err)))
		return r;
	po.store = a->store;
	po.registry.insecure = a->insecure;
	if ((r = puller_new(&po, &a->puller, err)))
		return r;
	cri_runtime_set_images(&a->rt, a->store, agent_pull, a->puller);
	return 0;
}

static int dir_under_root(char *buf, const char *root, const char *name, struct err *err)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", root, name) >= PATH_MAX)
		return err_set(err, -ENAMETOOLONG, "root %s: too long", root);
	return 0;
}

/* The VM backend ([vm]), then the pods over it, loaded back from <root>/pods. */
static int pods_start(struct agent *a, struct err *err)
{
	struct pods_options po = { .root = a->pods_dir, .netns_dir = a->netns_dir };
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int r;

	self[n > 0 ? n : 0] = '\0';
	if ((r = dir_under_root(a->vm_dir, a->cfg.root, "vms", err)) ||
	    (r = dir_under_root(a->pods_dir, a->cfg.root, "pods", err)) ||
	    (r = dir_under_root(a->netns_dir, a->cfg.root, "netns", err)) ||
	    (r = dir_under_root(a->cni_cache_dir, a->cfg.root, "cni-cache", err)) ||
	    (r = agent_config_vm_paths(&a->cfg, self, err)))
		return r;
	r = vm_host_open(
		&(struct vm_host_config){ .state_dir = a->vm_dir,
					  .jail_base = a->cfg.vm_jail_base,
					  .vmm_path = a->cfg.vm_vmm_path,
					  .jailer_path = a->cfg.vm_jailer_path,
					  .shim_path = a->cfg.vm_shim_path,
					  .uid_base = a->cfg.vm_uid_base,
					  .uid_count = a->cfg.vm_uid_count,
					  .default_memory_mib = a->cfg.vm_default_memory_mib,
					  .overhead_mib = a->cfg.vm_overhead_mib },
		&a->backend, err);
	if (r)
		return r;
	a->backend_open = true;
	/* The guests' DHCP responder is installed beside the agent (docs/networking.md). */
	{
		const char *slash = strrchr(self, '/');

		if (snprintf(a->dhcpd_path, sizeof(a->dhcpd_path), "%.*s/kvmlet-dhcpd",
			     slash ? (int)(slash - self) : 1, slash ? self : ".") >=
			    (int)sizeof(a->dhcpd_path) ||
		    access(a->dhcpd_path, X_OK))
			a->dhcpd_path[0] = '\0';
	}
	a->host = (struct pod_sys_host){ .cgroup_root = "/sys/fs/cgroup",
					 .store = a->store,
					 .cni_conf_dir = a->cfg.cni_conf_dir,
					 .cni_bin_dirs = a->cfg.cni_bin_dirs,
					 .cni_cache_dir = a->cni_cache_dir,
					 .cni_timeout_ms = (int)a->cfg.cni_plugin_timeout_ms,
					 .dhcpd_path = a->dhcpd_path[0] ? a->dhcpd_path : NULL };
	po.backend = a->backend;
	pod_sys_host(&a->host, &po.sys);
	if ((r = pods_open(&po, &a->pods, err)))
		return r;
	cri_runtime_set_pods(&a->rt, a->pods, a->vm_dir);
	return 0;
}

static enum cri_code agent_upstream_call(void *ctx, const char *path, const uint8_t *req,
					 size_t len, uint64_t timeout_ns, uint8_t **out,
					 size_t *out_len, struct cri_status *st)
{
	return upstream_call(ctx, path, req, len, timeout_ns, out, out_len, st);
}

/* The CRI proxy, when [proxy] upstream is set (docs/proxy.md). */
static int proxy_start(struct agent *a, struct cri_server_opts *so, struct err *err)
{
	struct proxy_opts po = {
		.rt = &a->rt,
		.upstream = agent_upstream_call,
		.upstream_name = a->cfg.proxy_upstream,
		.vm_image_prefixes = a->prefixes,
		.default_timeout_ns = (uint64_t)a->cfg.proxy_timeout_ms * 1000000u,
	};
	char dir[PATH_MAX];
	int r;

	if (!a->cfg.proxy_upstream[0])
		return 0;
	if (snprintf(dir, sizeof(dir), "%s/proxy", a->cfg.root) >= (int)sizeof(dir))
		return err_set(err, -ENAMETOOLONG, "root %s: too long", a->cfg.root);
	agent_config_vm_image_prefixes(&a->cfg, a->prefix_buf, sizeof(a->prefix_buf), a->prefixes,
				       ARRAY_SIZE(a->prefixes));
	if ((r = upstream_open(&a->upstream, a->cfg.proxy_upstream, err)))
		return r;
	po.upstream_ctx = a->upstream;
	po.state_dir = dir;
	if ((r = proxy_new(&a->proxy, &po, err)))
		return r;
	so->route = proxy_route;
	so->route_ctx = a->proxy;
	log_fields(LOG_INFO, "CRI proxy on", "upstream", a->cfg.proxy_upstream, "vm_image_prefixes",
		   a->cfg.proxy_vm_image_prefixes, NULL);
	return 0;
}

static int agent_start(struct agent *a, struct err *err)
{
	struct cri_server_opts so = {
		.listen = a->cfg.listen,
		.workers = a->cfg.workers,
		.queue = a->cfg.queue,
		.rt = &a->rt,
	};
	int r;

	if ((r = mkdir_p(a->cfg.root, 0700)))
		return err_set(err, r, "root %s: cannot create it: %s", a->cfg.root, strerror(-r));
	a->config_json = agent_config_json(&a->cfg);
	a->metrics = cri_metrics_new();
	if (!a->config_json || !a->metrics)
		return err_set(err, -ENOMEM, "out of memory");
	cri_runtime_init(&a->rt, a->cfg.cni_conf_dir, a->config_json);
	a->rt_ready = true;
	if ((r = images_start(a, err)))
		return r;
	if ((r = pods_start(a, err))) {
		if (!a->cfg.proxy_upstream[0])
			return r;
		/* Fronting containerd, the node still runs its container pods (docs/proxy.md). */
		log_fields(LOG_ERROR, "VM pods unavailable; serving the upstream's pods only",
			   "error", err->msg, NULL);
		memset(err, 0, sizeof(*err));
	}
	if ((r = proxy_start(a, &so, err)))
		return r;
	so.metrics = a->metrics;
	r = cri_server_start(&a->srv, &so, err);
	if (r || !a->cfg.metrics_listen[0])
		return r;
	if ((r = mkdir_parents(a->cfg.metrics_listen, 0750)))
		return err_set(err, r, "metrics_listen %s: cannot create its directory: %s",
			       a->cfg.metrics_listen, strerror(-r));
	return agent_metrics_start(&a->http, a->cfg.metrics_listen,
				   &(struct agent_metrics_sources){ .srv = a->srv,
								    .cri = a->metrics,
								    .store = a->store,
								    .pulls = &a->pull_stats,
								    .pods = a->pods,
								    .proxy = a->proxy },
				   err);
}

static void agent_stop(struct agent *a)
{
	/*
	 * The metrics listener first: its handler reads the CRI server's
	 * counters (cri_server_stats), so it must be gone before that is freed.
	 */
	agent_metrics_stop(a->http);
	cri_server_stop(a->srv, a->cfg.shutdown_grace_ms);
	cri_metrics_free(a->metrics);
	proxy_free(a->proxy);
	upstream_close(a->upstream);
	/* VMs keep running: they do not depend on the agent (docs/cri.md, "Restart"). */
	pods_close(a->pods);
	if (a->backend_open)
		vm_host_close(&a->backend);
	puller_free(a->puller);
	store_close(a->store);
	if (a->rt_ready)
		cri_runtime_destroy(&a->rt);
	free(a->config_json);
}

int main(int argc, char **argv)
{
	struct agent a = { 0 };
	struct err err = { 0 };
	sigset_t sigs;
	int sig = 0;

	log_set_format(LOG_FORMAT_LOGFMT);
	if (load_config(&a.cfg, argc, argv, &err)) {
		log_error("%s", err.msg);
		return 1;
	}
	log_set_level(a.cfg.log_level);
	/* Every thread inherits the mask; only sigwait() below sees these. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (agent_start(&a, &err)) {
		log_error("%s", err.msg);
		agent_stop(&a);
		return 1;
	}
	log_fields(LOG_INFO, "kvmlet-agent started", "version", KVMLET_AGENT_VERSION, "listen",
		   a.cfg.listen, "metrics", a.cfg.metrics_listen, "root", a.cfg.root, NULL);
	sigwait(&sigs, &sig);
	log_fields(LOG_INFO, "kvmlet-agent stopping", "signal", sigabbrev_np(sig), NULL);
	agent_stop(&a);
	log_fields(LOG_INFO, "kvmlet-agent stopped", NULL);
	return 0;
}
