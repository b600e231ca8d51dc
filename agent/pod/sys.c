// SPDX-License-Identifier: Apache-2.0
/* The real host under the pod layer: netns.c, cgroup.c and the image store (pods.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/image/store.h"
#include "agent/net/cni.h"
#include "agent/net/cni_conf.h"
#include "agent/net/dhcpd_start.h"
#include "agent/net/guestnet.h"
#include "agent/net/vmnet.h"
#include "agent/pod/cgroup.h"
#include "agent/pod/netns.h"
#include "agent/pod/pods.h"

static int host_netns_create(void *ctx, const char *path, struct err *err)
{
	(void)ctx;
	return pod_netns_create(path, err);
}

static int host_netns_remove(void *ctx, const char *path, struct err *err)
{
	(void)ctx;
	return pod_netns_remove(path, err);
}

static bool host_netns_alive(void *ctx, const char *path)
{
	(void)ctx;
	return pod_netns_alive(path);
}

static int host_cgroup_ensure(void *ctx, const char *cgroup_parent, struct err *err)
{
	struct pod_sys_host *h = ctx;

	return pod_cgroup_ensure(h->cgroup_root, cgroup_parent, err);
}

static int host_image_get(void *ctx, const char *name, struct store_image *img, char *dir,
			  size_t cap, struct err *err)
{
	struct pod_sys_host *h = ctx;
	int r;

	if (!h->store)
		return err_set(err, -ENXIO, "the image store is not open");
	if ((r = store_image_get(h->store, name, img, err)))
		return r;
	r = snprintf(dir, cap, "%s/images/%s", store_root(h->store), img->id + strlen("sha256:"));
	if (r < 0 || (size_t)r >= cap) {
		store_image_free(img);
		return err_set(err, -ENAMETOOLONG, "image directory: too long");
	}
	return 0;
}

static void host_image_put(void *ctx, struct store_image *img)
{
	(void)ctx;
	store_image_free(img);
}

/* ---- CNI (agent/net/cni.h) ----------------------------------------------- */

#define POD_MAX_PORTS 64
#define POD_TAP	      "tap0" /* the VM's TAP in its pod's namespace (one VM per pod) */

static void cni_opts(const struct pod_sys_host *h, struct cni_options *o)
{
	*o = (struct cni_options){ .conf_dir = h->cni_conf_dir,
				   .bin_dirs = h->cni_bin_dirs,
				   .cache_dir = h->cni_cache_dir,
				   .timeout_ms = h->cni_timeout_ms };
}

static const char *annotation(const Runtime__V1__PodSandboxConfig *cfg, const char *key)
{
	for (size_t i = 0; cfg && i < cfg->n_annotations; i++)
		if (cfg->annotations[i]->key && !strcmp(cfg->annotations[i]->key, key))
			return cfg->annotations[i]->value;
	return NULL;
}

/* What the CNI is told of the pod: CNI_ARGS, hostPorts, bandwidth. */
static int cni_pod_of(const char *id, const char *netns, const Runtime__V1__PodSandboxConfig *cfg,
		      struct cni_pod *pod, struct cni_port *ports, struct err *err)
{
	static const char *const proto[] = { "tcp", "udp", "sctp" };
	const Runtime__V1__PodSandboxMetadata *md = cfg ? cfg->metadata : NULL;
	const char *in = annotation(cfg, "kubernetes.io/ingress-bandwidth"),
		   *eg = annotation(cfg, "kubernetes.io/egress-bandwidth");

	*pod = (struct cni_pod){ .sandbox_id = id,
				 .netns = netns,
				 .ifname = "eth0",
				 .k8s_namespace = md ? md->namespace_ : "",
				 .k8s_name = md ? md->name : "",
				 .k8s_uid = md ? md->uid : "",
				 .ports = ports };
	for (size_t i = 0; cfg && i < cfg->n_port_mappings; i++) {
		const Runtime__V1__PortMapping *m = cfg->port_mappings[i];

		/* Only hostPorts go to portmap; a containerPort alone is informational. */
		if (m->host_port <= 0)
			continue;
		if (pod->nr_ports == POD_MAX_PORTS || (unsigned int)m->protocol > 2)
			return err_set(err, -EINVAL,
				       "port_mappings: at most %d hostPorts, tcp/udp/sctp",
				       POD_MAX_PORTS);
		ports[pod->nr_ports++] =
			(struct cni_port){ .host_port = m->host_port,
					   .container_port = m->container_port,
					   .protocol = proto[m->protocol],
					   .host_ip = m->host_ip ? m->host_ip : "" };
	}
	if (in && cni_bandwidth_parse(in, &pod->ingress_bps, err))
		return err_prefix(err, -EINVAL, "kubernetes.io/ingress-bandwidth: ");
	if (eg && cni_bandwidth_parse(eg, &pod->egress_bps, err))
		return err_prefix(err, -EINVAL, "kubernetes.io/egress-bandwidth: ");
	return 0;
}

static int host_net_add(void *ctx, const char *id, const char *netns,
			const Runtime__V1__PodSandboxConfig *cfg, struct err *err)
{
	struct pod_sys_host *h = ctx;
	struct cni_options o;
	struct cni_port ports[POD_MAX_PORTS];
	struct cni_pod pod;
	struct cni_result res;
	int r;

	cni_opts(h, &o);
	/*
	 * No configuration: NetworkReady is false and kubelet starts no such
	 * pod; the sandbox keeps loopback only, for nodes without a cluster
	 * network (tests, the demo).
	 */
	if (!cni_net_present(h->cni_conf_dir))
		return 0;
	if ((r = cni_pod_of(id, netns, cfg, &pod, ports, err)) ||
	    (r = cni_add(&o, &pod, &res, err)))
		return r;
	cni_result_free(&res);
	return 0;
}

static int host_net_del(void *ctx, const char *id, const char *netns,
			const Runtime__V1__PodSandboxConfig *cfg, struct err *err)
{
	struct pod_sys_host *h = ctx;
	struct cni_options o;
	struct cni_port ports[POD_MAX_PORTS];
	struct cni_pod pod;
	struct err ignored = { 0 };

	cni_opts(h, &o);
	/* The VM's TAP and the redirect first, or eth0 would keep sending to a TAP. */
	int r = vmnet_detach(netns, "eth0", POD_TAP, err);

	if (r)
		return r;
	/* DEL needs only the id and namespace; a config it cannot read must not block it. */
	if (cni_pod_of(id, netns, cfg, &pod, ports, &ignored))
		cni_pod_of(id, netns, NULL, &pod, ports, &ignored);
	return cni_del(&o, &pod, err);
}

static size_t host_net_ips(void *ctx, const char *id, char (*ips)[64], size_t max)
{
	struct pod_sys_host *h = ctx;
	struct cni_options o;
	struct cni_result res;
	struct err ignored = { 0 };
	size_t n = 0;

	cni_opts(h, &o);
	if (cni_cached(&o, id, "eth0", &res, &ignored))
		return 0;
	for (size_t i = 0; i < res.nr_ips && n < max; i++)
		cni_addr_text(&res.ips[i].addr, ips[n++], sizeof(ips[0]));
	cni_result_free(&res);
	return n;
}

static int host_net_guest(void *ctx, const char *id, const char *netns, char *kargs, size_t kcap,
			  char *netcfg, size_t ncap)
{
	struct pod_sys_host *h = ctx;
	struct cni_options o;
	struct cni_result res;
	struct vmnet_info eth;
	struct err ignored = { 0 };
	int r;

	cni_opts(h, &o);
	if ((r = cni_cached(&o, id, "eth0", &res, &ignored)))
		return r;
	r = guestnet_kernel_args(&res, NULL, kargs, kcap, &ignored);
	if (!r)
		r = vmnet_link(netns, "eth0", &eth, &ignored);
	if (!r)
		r = guestnet_cloud_init(&res, eth.mac, eth.mtu, netcfg, ncap, &ignored);
	cni_result_free(&res);
	return r;
}

static int host_net_dhcp_start(void *ctx, const char *id, const char *netns, struct err *err)
{
	struct pod_sys_host *h = ctx;
	struct cni_options o;
	struct cni_result res;
	struct vmnet_info eth;
	int r;

	if (!h->dhcpd_path)
		return 0;
	cni_opts(h, &o);
	if ((r = cni_cached(&o, id, "eth0", &res, err)))
		return r;
	r = vmnet_link(netns, "eth0", &eth, err);
	if (!r)
		r = dhcpd_start(h->dhcpd_path, netns, POD_TAP, eth.mac, eth.mtu, &res, err);
	cni_result_free(&res);
	return r == -ENOENT ? 0 : r; /* no IPv4 address: nothing to hand out */
}

static const struct pod_sys_ops host_ops = {
	.netns_create = host_netns_create,
	.netns_remove = host_netns_remove,
	.netns_alive = host_netns_alive,
	.cgroup_ensure = host_cgroup_ensure,
	.image_get = host_image_get,
	.image_put = host_image_put,
	.net_add = host_net_add,
	.net_del = host_net_del,
	.net_ips = host_net_ips,
	.net_guest = host_net_guest,
	.net_dhcp_start = host_net_dhcp_start,
};

/* The same without pod networking: no [cni] cache directory was set up. */
static const struct pod_sys_ops host_ops_no_net = {
	.netns_create = host_netns_create,
	.netns_remove = host_netns_remove,
	.netns_alive = host_netns_alive,
	.cgroup_ensure = host_cgroup_ensure,
	.image_get = host_image_get,
	.image_put = host_image_put,
};

void pod_sys_host(struct pod_sys_host *host, struct pod_sys *out)
{
	out->ops = host->cni_conf_dir && host->cni_cache_dir ? &host_ops : &host_ops_no_net;
	out->ctx = host;
}
