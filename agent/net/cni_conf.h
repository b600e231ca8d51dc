/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's CNI network: the lexically first *.conflist, *.conf or *.json
 * in the configuration directory (as libcni picks it), read bounded and
 * checked before anything runs: a supported cniVersion (0.3.0, 0.3.1,
 * 0.4.0, 1.0.0), a name, 1 to CNI_MAX_PLUGINS plugin objects each with a
 * plain "type" (a file name, no path), capabilities of booleans. A .conf
 * is a list of one plugin.
 *
 * Threads: a struct cni_net is immutable once loaded; any thread may read it.
 */
#ifndef KVMLET_AGENT_NET_CNI_CONF_H
#define KVMLET_AGENT_NET_CNI_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "lib/err.h"

#define CNI_MAX_PLUGINS 16
#define CNI_CONF_MAX	(1u << 20) /* a configuration file's size */

enum cni_cap {
	CNI_CAP_PORT_MAPPINGS = 1u << 0,
	CNI_CAP_BANDWIDTH = 1u << 1,
	CNI_CAP_IPS = 1u << 2,
	CNI_CAP_MAC = 1u << 3,
};

struct cni_plugin {
	const char *type;  /* points into conf */
	unsigned int caps; /* enum cni_cap the plugin declares */
	const cJSON *conf; /* the plugin's object */
};

struct cni_net {
	cJSON *root;
	char *text; /* the file as read: cached with the ADD result */
	const char *version, *name;
	char file[4096];
	struct cni_plugin plugins[CNI_MAX_PLUGINS];
	size_t nr_plugins;
};

/* The first configuration in dir; -ENOENT (err set) when there is none. */
int cni_net_load(const char *dir, struct cni_net *out, struct err *err);
/* The same checks over text (a .conflist if list, else a .conf); file names it in errors. */
int cni_net_parse(const char *text, size_t len, bool list, const char *file, struct cni_net *out,
		  struct err *err);
void cni_net_free(struct cni_net *n);
/* Whether dir holds a configuration file (Status' NetworkReady). */
bool cni_net_present(const char *dir);

#endif
