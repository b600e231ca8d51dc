// SPDX-License-Identifier: Apache-2.0
/* System facts (OS, host name, time, users) and guest-shutdown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include "ga_internal.h"

/* One os-release value: unquotes "..." and '...' and drops shell escapes. */
static char *os_release_value(char *v)
{
	char *o = v, *r = v, q = 0;

	v[strcspn(v, "\n")] = '\0';
	if (*r == '"' || *r == '\'')
		q = *r++;
	for (; *r && *r != q; r++) {
		if (q == '"' && *r == '\\' && r[1])
			r++;
		*o++ = *r;
	}
	*o = '\0';
	return v;
}

json_object *cmd_get_osinfo(struct ga *ga, json_object *args, char **err)
{
	static const struct {
		const char *key, *field;
	} fields[] = {
		{ "ID", "id" },
		{ "NAME", "name" },
		{ "PRETTY_NAME", "pretty-name" },
		{ "VERSION", "version" },
		{ "VERSION_ID", "version-id" },
		{ "VARIANT", "variant" },
		{ "VARIANT_ID", "variant-id" },
	};
	json_object *r = json_object_new_object();
	struct utsname u;
	char line[1024];
	FILE *f;

	if (uname(&u) == 0) {
		json_object_object_add(r, "kernel-release", json_object_new_string(u.release));
		json_object_object_add(r, "kernel-version", json_object_new_string(u.version));
		json_object_object_add(r, "machine", json_object_new_string(u.machine));
	}
	f = fopen("/etc/os-release", "re");
	if (!f)
		f = fopen("/usr/lib/os-release", "re");
	while (f && fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');

		if (!eq)
			continue;
		*eq = '\0';
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
			if (!strcmp(line, fields[i].key)) {
				json_object_object_add(
					r, fields[i].field,
					json_object_new_string(os_release_value(eq + 1)));
				break;
			}
		}
	}
	if (f)
		fclose(f);
	return r;
}

json_object *cmd_get_host_name(struct ga *ga, json_object *args, char **err)
{
	char name[256] = "";
	json_object *r;

	if (gethostname(name, sizeof(name) - 1) < 0)
		return ga_fail(err, "failed to get host name: %s", strerror(errno));
	r = json_object_new_object();
	json_object_object_add(r, "host-name", json_object_new_string(name));
	return r;
}

json_object *cmd_get_time(struct ga *ga, json_object *args, char **err)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return ga_fail(err, "failed to get time: %s", strerror(errno));
	return json_object_new_int64((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

json_object *cmd_get_timezone(struct ga *ga, json_object *args, char **err)
{
	time_t now = time(NULL);
	json_object *r;
	struct tm tm;

	tzset();
	if (!localtime_r(&now, &tm))
		return ga_fail(err, "failed to get local time");
	r = json_object_new_object();
	if (tm.tm_zone)
		json_object_object_add(r, "zone", json_object_new_string(tm.tm_zone));
	json_object_object_add(r, "offset", json_object_new_int64(tm.tm_gmtoff));
	return r;
}

/* One entry per user, with the earliest login time, as QGA reports it. */
json_object *cmd_get_users(struct ga *ga, json_object *args, char **err)
{
	json_object *list = json_object_new_array();
	struct utmpx *u;

	setutxent();
	while ((u = getutxent())) {
		char user[sizeof(u->ut_user) + 1];
		double t = u->ut_tv.tv_sec + u->ut_tv.tv_usec / 1e6;
		size_t i, n = json_object_array_length(list);

		if (u->ut_type != USER_PROCESS)
			continue;
		memcpy(user, u->ut_user, sizeof(u->ut_user));
		user[sizeof(u->ut_user)] = '\0';
		for (i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(list, i), *v, *lt;

			json_object_object_get_ex(e, "user", &v);
			if (!strcmp(json_object_get_string(v), user)) {
				json_object_object_get_ex(e, "login-time", &lt);
				if (t < json_object_get_double(lt))
					json_object_set_double(lt, t);
				break;
			}
		}
		if (i == n) {
			json_object *e = json_object_new_object();

			json_object_object_add(e, "user", json_object_new_string(user));
			json_object_object_add(e, "login-time", json_object_new_double(t));
			json_object_array_add(list, e);
		}
	}
	endutxent();
	return list;
}

/*
 * The system's shutdown(8) first, so services stop cleanly; reboot(2) when
 * there is none (a minimal image whose init is this agent's parent shell).
 */
json_object *cmd_shutdown(struct ga *ga, json_object *args, char **err)
{
	const char *mode = ga_arg_str(args, "mode");
	const char *flag;
	int cmd, status;
	pid_t pid;

	if (!mode || !strcmp(mode, "powerdown")) {
		mode = "powerdown";
		flag = "-P";
		cmd = RB_POWER_OFF;
	} else if (!strcmp(mode, "halt")) {
		flag = "-H";
		cmd = RB_HALT_SYSTEM;
	} else if (!strcmp(mode, "reboot")) {
		flag = "-r";
		cmd = RB_AUTOBOOT;
	} else {
		return ga_fail(err, "mode is invalid (valid values are: halt|powerdown|reboot)");
	}
	if (ga->cfg.no_shutdown) {
		fprintf(stderr,
			"kvmlet-guest-agent: guest-shutdown mode=%s: would run "
			"/sbin/shutdown %s +0 (--no-shutdown)\n",
			mode, flag);
		return json_object_new_object();
	}
	if (access("/sbin/shutdown", X_OK) == 0) {
		pid = fork();
		if (pid == 0) {
			execl("/sbin/shutdown", "shutdown", flag, "+0",
			      "hypervisor initiated shutdown", (char *)NULL);
			_exit(127);
		}
		if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			return json_object_new_object();
	}
	sync();
	reboot(cmd);
	return ga_fail(err, "failed to shut down: %s", strerror(errno));
}
