/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The jailed VMM's cgroup, through libcgroup: one group named
 * <parent>/<id> in the v2 unified hierarchy, or in every v1 hierarchy that
 * holds a controller the operator set a value for.
 */
#ifndef KVMLET_JAILER_CGROUP_H
#define KVMLET_JAILER_CGROUP_H

#include <stdbool.h>

#include "lib/err.h"

#define JAIL_CGROUP_MAX_SETTINGS    32
#define JAIL_CGROUP_MAX_CONTROLLERS 16
#define JAIL_CGROUP_PATH_MAX	    256

struct jail_cgroup_setting {
	char key[64];
	const char *value;
	unsigned int controller; /* index into controllers[] */
};

struct jail_cgroup_controller {
	char name[32];
	char mount[JAIL_CGROUP_PATH_MAX]; /* the hierarchy's root */
	bool created;			  /* the leaf did not exist before us */
};

struct jail_cgroup {
	int version;			 /* 1 or 2 */
	char path[JAIL_CGROUP_PATH_MAX]; /* "<parent>/<id>", relative to each hierarchy root */
	unsigned int nr_settings, nr_controllers;
	struct jail_cgroup_setting settings[JAIL_CGROUP_MAX_SETTINGS];
	struct jail_cgroup_controller controllers[JAIL_CGROUP_MAX_CONTROLLERS];
	char lib_msg[160]; /* libcgroup's last error message, for our own */
};

/*
 * Checks KEY=VALUE settings and finds each controller's hierarchy; creates
 * nothing. version is 1, 2, or 0 to use the one mounted at /sys/fs/cgroup.
 * With no settings the jail gets no cgroup (nr_controllers stays 0).
 */
int jail_cgroup_prepare(struct jail_cgroup *jc, int version, const char *parent, const char *id,
			const char *const *settings, unsigned int nr, struct err *err);

/* Creates the group and writes every value; on failure removes what it created. */
int jail_cgroup_create(struct jail_cgroup *jc, struct err *err);

/* Removes the group again if jail_cgroup_create() made it (nothing may be in it). */
void jail_cgroup_remove(struct jail_cgroup *jc);

/* Moves the calling process, every thread of it, into the group. */
int jail_cgroup_attach(struct jail_cgroup *jc, struct err *err);

#endif
