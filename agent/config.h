/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kvmlet-agent's configuration: one file, /etc/kvmlet/agent.conf, in an
 * INI-like format (docs/cri.md, "Configuration"):
 *
 *	# comment
 *	[agent]
 *	listen = unix:///run/kvmlet/kvmlet.sock
 *
 * Sections and keys come from one table; an unknown section or key, a
 * repeated key, a value out of range or a line that is none of these is an
 * error naming the file and line. Command-line options override the file
 * through agent_config_set(), with the same checks.
 *
 * Threads: a struct agent_config belongs to its thread; the agent reads it
 * only after parsing, from any thread.
 */
#ifndef KVMLET_AGENT_CONFIG_H
#define KVMLET_AGENT_CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "lib/err.h"
#include "lib/log.h"

#define AGENT_CONFIG_PATH "/etc/kvmlet/agent.conf"

struct agent_config {
	char listen[PATH_MAX];		/* [agent] listen: the CRI socket */
	char root[PATH_MAX];		/* [agent] root: state and images */
	char metrics_listen[PATH_MAX];	/* [agent] metrics_listen: a Unix socket; "" = off */
	enum log_level log_level;	/* [agent] log_level */
	unsigned int workers;		/* [cri] workers */
	unsigned int queue;		/* [cri] queue */
	unsigned int shutdown_grace_ms; /* [cri] shutdown_grace_ms */
	char cni_conf_dir[PATH_MAX];	/* [cni] conf_dir */
	char cni_bin_dirs[PATH_MAX];	/* [cni] bin_dirs: plugin directories, ':'-separated */
	unsigned int cni_plugin_timeout_ms; /* [cni] plugin_timeout_ms: per plugin call */
	char image_root[PATH_MAX];	/* [images] root; "" = <root>/images */
	/* [images] insecure_registries: "host[:port]" reached over plain HTTP, comma-separated */
	char insecure_registries[PATH_MAX];
	/* [proxy]: the CRI proxy (docs/proxy.md); "" upstream = no proxy, every pod is a VM */
	char proxy_upstream[PATH_MAX];		/* [proxy] upstream: unix:///path or "" */
	char proxy_vm_image_prefixes[PATH_MAX]; /* [proxy] vm_image_prefixes, comma-separated */
	unsigned int proxy_timeout_ms; /* [proxy] timeout_ms: for calls without a deadline */
	/* [vm]: the VM backend (agent/vm/vm.h); "" paths are found (agent_config_vm_paths) */
	char vm_jail_base[PATH_MAX];	    /* [vm] jail_base; "" = <root>/jail */
	char vm_vmm_path[PATH_MAX];	    /* [vm] vmm */
	char vm_jailer_path[PATH_MAX];	    /* [vm] jailer */
	char vm_shim_path[PATH_MAX];	    /* [vm] shim */
	unsigned int vm_uid_base;	    /* [vm] uid_base */
	unsigned int vm_uid_count;	    /* [vm] uid_count */
	unsigned int vm_default_memory_mib; /* [vm] default_memory_mib */
	unsigned int vm_overhead_mib;	    /* [vm] overhead_mib */
};

void agent_config_defaults(struct agent_config *c);
/*
 * Applies text[0..len) (a whole file; name is used in errors) over c.
 * Keys absent from the text keep their value.
 */
int agent_config_parse(struct agent_config *c, const char *text, size_t len, const char *name,
		       struct err *err);
/* Reads and parses path; -ENOENT (with err set) if it does not exist. */
int agent_config_load(struct agent_config *c, const char *path, struct err *err);
/* One key, as the file would set it: section "agent", key "listen". */
int agent_config_set(struct agent_config *c, const char *section, const char *key,
		     const char *value, struct err *err);
/*
 * Splits insecure_registries into at most max entries of out (pointers
 * into buf, a copy), NULL-terminated; returns how many.
 */
size_t agent_config_insecure(const struct agent_config *c, char *buf, size_t cap, const char **out,
			     size_t max);
/* As agent_config_insecure(), for [proxy] vm_image_prefixes. */
size_t agent_config_vm_image_prefixes(const struct agent_config *c, char *buf, size_t cap,
				      const char **out, size_t max);
/*
 * Fills the [vm] paths left "": jail_base is <root>/jail; each program
 * (kvmlet-vmm, kvmlet-jailer, kvmlet-shim) is taken from the directory of
 * self (the agent's own binary), else /usr/libexec/kvmlet, else /usr/bin,
 * the first where it is executable. -ENOENT naming a program found nowhere.
 */
int agent_config_vm_paths(struct agent_config *c, const char *self, struct err *err);
/* The configuration as a JSON object (malloc'd), for Status's verbose info; NULL without memory. */
char *agent_config_json(const struct agent_config *c);

#endif
