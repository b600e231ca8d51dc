/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CNI for a pod sandbox, as the CNI spec (1.0.0, and 0.3.x/0.4.0) has a
 * runtime do it (docs/networking.md, "CNI"): ADD runs the network's plugins
 * in order, each result passed to the next as prevResult, with the
 * runtimeConfig of the capabilities each plugin declares; the last result
 * is checked (cni_result.h), its interface looked up in the namespace, and
 * cached on disk atomically under the cache directory, so that DEL after an
 * agent restart has the configuration and result it needs. Any failure
 * after a plugin ran undoes the ADD with a DEL, so no interface is left
 * behind. DEL runs the plugins in reverse order, is idempotent and works
 * when the namespace is gone.
 *
 * Threads: any; calls for different sandboxes run in parallel. ADD and DEL
 * of one sandbox must not run at once (the pod layer's busy mark).
 */
#ifndef KVMLET_AGENT_NET_CNI_H
#define KVMLET_AGENT_NET_CNI_H

#include <stddef.h>
#include <stdint.h>

#include "agent/net/cni_result.h"
#include "lib/err.h"

#define CNI_DEFAULT_BIN_DIRS   "/opt/cni/bin:/usr/lib/cni"
#define CNI_DEFAULT_TIMEOUT_MS 60000

struct cni_options {
	const char *conf_dir;  /* [cni] conf_dir */
	const char *bin_dirs;  /* [cni] bin_dirs: ':'-separated, as CNI_PATH */
	const char *cache_dir; /* <agent root>/cni-cache */
	int timeout_ms;	       /* per plugin call */
};

struct cni_port {
	int32_t host_port, container_port;
	const char *protocol; /* "tcp", "udp", "sctp" */
	const char *host_ip;  /* "" for all */
};

struct cni_pod {
	const char *sandbox_id; /* CNI_CONTAINERID and K8S_POD_INFRA_CONTAINER_ID */
	const char *netns;	/* the namespace's path */
	const char *ifname;	/* "eth0" */
	const char *k8s_namespace, *k8s_name, *k8s_uid;
	const struct cni_port *ports;
	size_t nr_ports;
	uint64_t ingress_bps, egress_bps; /* bits per second; 0: no limit */
	const char *const *ips;		  /* requested addresses (capability "ips"), may be none */
	size_t nr_ips;
	const char *mac; /* requested MAC (capability "mac"), NULL for none */
};

/* ADD; the checked result into out (cni_result_free it). */
int cni_add(const struct cni_options *o, const struct cni_pod *pod, struct cni_result *out,
	    struct err *err);
/* DEL; 0 when there is nothing to delete. Only sandbox_id, netns and ifname are needed. */
int cni_del(const struct cni_options *o, const struct cni_pod *pod, struct err *err);
/* The cached ADD result of a sandbox; -ENOENT if none. */
int cni_cached(const struct cni_options *o, const char *sandbox_id, const char *ifname,
	       struct cni_result *out, struct err *err);
/* A Kubernetes quantity ("10M", "1Gi", "500k") as a rate in bits per second. */
int cni_bandwidth_parse(const char *quantity, uint64_t *bps, struct err *err);

#endif
