// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libcgroup.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "jailer/cgroup.h"

#define CGROUP_ROOT	  "/sys/fs/cgroup"
#define CGROUP_VALUE_MAX  4095 /* libcgroup's CG_CONTROL_VALUE_MAX, less the NUL */
#define CGROUP_PARENT_MAX 128

/* libcgroup logs to stdout by default; keep its last error for our message instead. */
static void jail_cgroup_log(void *userdata, int level, const char *fmt, va_list ap)
{
	struct jail_cgroup *jc = userdata;
	size_t n;

	if (level != CGROUP_LOG_ERROR)
		return;
	vsnprintf(jc->lib_msg, sizeof(jc->lib_msg), fmt, ap);
	n = strlen(jc->lib_msg);
	while (n && (jc->lib_msg[n - 1] == '\n' || jc->lib_msg[n - 1] == ' '))
		jc->lib_msg[--n] = '\0';
}

/* The errno behind a libcgroup error code, when there is one. */
static int jail_cgroup_errno(int code)
{
	int e = cgroup_get_last_errno();

	if (code == ECGOTHER && e)
		return e;
	if (code == ECGROUPVALUENOTEXIST || code == ECGROUPNOTEXIST)
		return ENOENT;
	return e ? e : EIO;
}

static const char *jail_cgroup_reason(struct jail_cgroup *jc, int code)
{
	if (code == ECGOTHER && cgroup_get_last_errno())
		return strerror(cgroup_get_last_errno());
	if (jc->lib_msg[0])
		return jc->lib_msg;
	return cgroup_strerror(code);
}

static bool jail_cgroup_name_ok(const char *s, size_t len, bool dots)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];

		if (!(islower(c) || isdigit(c) || c == '_' || (dots && (isalnum(c) || c == '.'))))
			return false;
	}
	return true;
}

/* A relative path of plain names: nothing that could climb out of the hierarchy. */
static int jail_cgroup_check_parent(const char *parent, struct err *err)
{
	const char *p = parent;

	if (!*parent || strlen(parent) > CGROUP_PARENT_MAX)
		return err_set(err, -EINVAL, "--parent-cgroup '%s': must be 1 to %d characters",
			       parent, CGROUP_PARENT_MAX);
	while (*p) {
		size_t n = strcspn(p, "/");

		if (!n || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return err_set(err, -EINVAL,
				       "--parent-cgroup '%s': must be a relative path of names, "
				       "without empty, '.' or '..' parts",
				       parent);
		for (size_t i = 0; i < n; i++)
			if (!isalnum((unsigned char)p[i]) && !strchr("_-.", p[i]))
				return err_set(err, -EINVAL,
					       "--parent-cgroup '%s': only letters, digits, '_', "
					       "'-', '.' and '/' are allowed",
					       parent);
		p += n;
		if (*p == '/' && p[1] == '\0')
			return err_set(err, -EINVAL, "--parent-cgroup '%s': trailing '/'", parent);
		if (*p == '/')
			p++;
	}
	return 0;
}

static int jail_cgroup_add_setting(struct jail_cgroup *jc, const char *arg, struct err *err)
{
	const char *eq = strchr(arg, '='), *dot;
	struct jail_cgroup_setting *s;
	size_t klen;
	unsigned int c;

	if (!eq)
		return err_set(err, -EINVAL,
			       "--cgroup '%s': expected FILE=VALUE, e.g. memory.max=256M", arg);
	klen = eq - arg;
	dot = memchr(arg, '.', klen);
	if (klen >= sizeof(s->key) || !dot || !jail_cgroup_name_ok(arg, dot - arg, false) ||
	    !jail_cgroup_name_ok(dot + 1, eq - dot - 1, true))
		return err_set(err, -EINVAL,
			       "--cgroup '%.*s': not a controller file name "
			       "(<controller>.<name>, letters, digits, '_' and '.')",
			       (int)(klen < 64 ? klen : 64), arg);
	if (dot - arg == 6 && !memcmp(arg, "cgroup", 6))
		return err_set(err, -EINVAL, "--cgroup '%.*s': cgroup core files are not settable",
			       (int)klen, arg);
	if (!eq[1] || strlen(eq + 1) > CGROUP_VALUE_MAX || strchr(eq + 1, '\n'))
		return err_set(err, -EINVAL,
			       "--cgroup '%.*s': the value must be 1 to %d characters on one line",
			       (int)klen, arg, CGROUP_VALUE_MAX);
	for (unsigned int i = 0; i < jc->nr_settings; i++)
		if (strlen(jc->settings[i].key) == klen && !memcmp(jc->settings[i].key, arg, klen))
			return err_set(err, -EINVAL, "--cgroup '%.*s' given twice", (int)klen, arg);
	if (jc->nr_settings == JAIL_CGROUP_MAX_SETTINGS)
		return err_set(err, -E2BIG, "--cgroup: at most %d values",
			       JAIL_CGROUP_MAX_SETTINGS);

	s = &jc->settings[jc->nr_settings++];
	memcpy(s->key, arg, klen);
	s->key[klen] = '\0';
	s->value = eq + 1;
	for (c = 0; c < jc->nr_controllers; c++)
		if (strlen(jc->controllers[c].name) == (size_t)(dot - arg) &&
		    !memcmp(jc->controllers[c].name, arg, dot - arg))
			break;
	if (c == jc->nr_controllers) {
		if (c == JAIL_CGROUP_MAX_CONTROLLERS ||
		    (size_t)(dot - arg) >= sizeof(jc->controllers[c].name))
			return err_set(err, -E2BIG, "--cgroup '%s': too many controllers", s->key);
		memcpy(jc->controllers[c].name, arg, dot - arg);
		jc->controllers[c].name[dot - arg] = '\0';
		jc->nr_controllers++;
	}
	s->controller = c;
	return 0;
}

static const char *jail_cgroup_fs_name(long type)
{
	if (type == CGROUP2_SUPER_MAGIC)
		return "cgroup v2";
	if (type == CGROUP_SUPER_MAGIC)
		return "cgroup v1";
	return "not a cgroup file system";
}

/* Where the controller is mounted, and that it is a hierarchy of the wanted version. */
static int jail_cgroup_find(struct jail_cgroup *jc, struct jail_cgroup_controller *c,
			    struct err *err)
{
	long want = jc->version == 2 ? CGROUP2_SUPER_MAGIC : CGROUP_SUPER_MAGIC;
	char *mount = NULL;
	struct statfs fs;
	int r;

	r = cgroup_get_subsys_mount_point(c->name, &mount);
	if (r || !mount) {
		free(mount);
		return err_set(err, -ENOENT, "--cgroup %s.*: no '%s' cgroup controller is mounted",
			       c->name, c->name);
	}
	if (strlen(mount) >= sizeof(c->mount)) {
		free(mount);
		return err_set(err, -ENAMETOOLONG, "--cgroup %s.*: mount point path too long",
			       c->name);
	}
	strcpy(c->mount, mount);
	free(mount);
	if (statfs(c->mount, &fs) < 0)
		return err_set(err, -errno, "--cgroup %s.*: %s: %s", c->name, c->mount,
			       strerror(errno));
	if (fs.f_type != want)
		return err_set(err, -ENOENT,
			       "--cgroup %s.*: the '%s' controller is not available in cgroup v%d "
			       "here (it is in %s, %s)",
			       c->name, c->name, jc->version, c->mount,
			       jail_cgroup_fs_name(fs.f_type));
	return 0;
}

int jail_cgroup_prepare(struct jail_cgroup *jc, int version, const char *parent, const char *id,
			const char *const *settings, unsigned int nr, struct err *err)
{
	struct statfs fs;
	int r;

	memset(jc, 0, sizeof(*jc));
	r = jail_cgroup_check_parent(parent, err);
	if (r)
		return r;
	snprintf(jc->path, sizeof(jc->path), "%s/%s", parent, id);
	for (unsigned int i = 0; i < nr; i++) {
		r = jail_cgroup_add_setting(jc, settings[i], err);
		if (r)
			return r;
	}
	if (!jc->nr_settings)
		return 0;

	jc->version = version;
	if (!version) {
		/* Unified mode mounts v2 right there; legacy and hybrid mount a tmpfs of v1 dirs. */
		if (statfs(CGROUP_ROOT, &fs) < 0)
			return err_set(err, -errno,
				       "--cgroup: cannot tell the cgroup version: " CGROUP_ROOT
				       ": %s (give --cgroup-version)",
				       strerror(errno));
		jc->version = fs.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
	}
	cgroup_set_logger(jail_cgroup_log, CGROUP_LOG_ERROR, jc);
	r = cgroup_init();
	if (r)
		return err_set(err, -jail_cgroup_errno(r), "--cgroup: libcgroup: %s",
			       jail_cgroup_reason(jc, r));
	for (unsigned int i = 0; i < jc->nr_controllers; i++) {
		r = jail_cgroup_find(jc, &jc->controllers[i], err);
		if (r)
			return r;
	}
	return 0;
}

static int jail_cgroup_write(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int e;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	e = errno;
	close(fd);
	if (n < 0)
		return -e;
	return (size_t)n == strlen(value) ? 0 : -EIO;
}

static int jail_cgroup_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static int jail_cgroup_mkdir(const char *dir, struct err *err)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return err_set(err, -errno, "cgroup: cannot create %s: %s", dir, strerror(errno));
	return 0;
}

/*
 * cgroup v2 hands a controller to a child only when every ancestor lists
 * it in cgroup.subtree_control, and libcgroup 2.0 enables it in the direct
 * parent only. So walk down from the root, creating the parent levels.
 */
static int jail_cgroup_delegate_v2(struct jail_cgroup *jc, struct err *err)
{
	char dir[PATH_MAX], file[PATH_MAX + 32], word[40];
	const char *mount = jc->controllers[0].mount;
	const char *p = jc->path;
	int r;

	snprintf(dir, sizeof(dir), "%s", mount);
	for (;;) {
		snprintf(file, sizeof(file), "%s/cgroup.subtree_control", dir);
		for (unsigned int i = 0; i < jc->nr_controllers; i++) {
			snprintf(word, sizeof(word), "+%s", jc->controllers[i].name);
			r = jail_cgroup_write(file, word);
			if (r == -EBUSY)
				return err_set(err, r,
					       "cgroup v2: cannot hand the '%s' controller down "
					       "from %s: it holds processes itself "
					       "(the no-internal-processes rule)",
					       jc->controllers[i].name, dir);
			if (r)
				return err_set(err, r, "cgroup v2: cannot enable '%s' in %s: %s",
					       jc->controllers[i].name, file, strerror(-r));
		}
		p = strchr(p, '/');
		if (!p)
			return 0; /* the leaf is libcgroup's to create */
		snprintf(dir, sizeof(dir), "%s/%.*s", mount, (int)(p - jc->path), jc->path);
		r = jail_cgroup_mkdir(dir, err);
		if (r)
			return r;
		p++;
	}
}

/*
 * A new v1 cpuset group starts with no CPUs and no memory nodes, and no task
 * may join it until both are set: inherit the parent's at every level.
 */
static int jail_cgroup_cpuset_v1(struct jail_cgroup *jc, const struct jail_cgroup_controller *c,
				 struct err *err)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char dir[PATH_MAX], parent[PATH_MAX], file[PATH_MAX + 32], val[4096];
	const char *p = jc->path;
	int r;

	snprintf(parent, sizeof(parent), "%s", c->mount);
	do {
		p = strchr(p, '/');
		snprintf(dir, sizeof(dir), "%s/%.*s", c->mount,
			 p ? (int)(p - jc->path) : (int)strlen(jc->path), jc->path);
		r = jail_cgroup_mkdir(dir, err);
		if (r)
			return r;
		for (unsigned int i = 0; i < 2; i++) {
			snprintf(file, sizeof(file), "%s/%s", dir, files[i]);
			r = jail_cgroup_read(file, val, sizeof(val));
			if (!r && val[0])
				continue;
			snprintf(file, sizeof(file), "%s/%s", parent, files[i]);
			if (!r)
				r = jail_cgroup_read(file, val, sizeof(val));
			snprintf(file, sizeof(file), "%s/%s", dir, files[i]);
			if (!r)
				r = jail_cgroup_write(file, val);
			if (r)
				return err_set(err, r, "cgroup: cannot inherit %s in %s: %s",
					       files[i], dir, strerror(-r));
		}
		snprintf(parent, sizeof(parent), "%s", dir);
	} while (p++);
	return 0;
}

static struct cgroup *jail_cgroup_new(struct jail_cgroup *jc, int only)
{
	struct cgroup *cg = cgroup_new_cgroup(jc->path);

	for (unsigned int i = 0; cg && i < jc->nr_controllers; i++)
		if ((only < 0 || (unsigned int)only == i) &&
		    !cgroup_add_controller(cg, jc->controllers[i].name)) {
			cgroup_free(&cg);
			return NULL;
		}
	return cg;
}

static int jail_cgroup_set(struct jail_cgroup *jc, const struct jail_cgroup_setting *s,
			   struct err *err)
{
	struct cgroup *cg = jail_cgroup_new(jc, s->controller);
	struct cgroup_controller *ctl;
	int r;

	if (!cg)
		return err_set(err, -ENOMEM, "cgroup: out of memory");
	jc->lib_msg[0] = '\0';
	ctl = cgroup_get_controller(cg, jc->controllers[s->controller].name);
	r = cgroup_add_value_string(ctl, s->key, s->value);
	if (!r)
		r = cgroup_modify_cgroup(cg);
	cgroup_free(&cg);
	if (!r)
		return 0;
	if (jail_cgroup_errno(r) == ENOENT)
		return err_set(err, -EINVAL, "--cgroup %s: no such file in cgroup %s (%s)", s->key,
			       jc->path, jc->controllers[s->controller].mount);
	return err_set(err, -EINVAL, "--cgroup %s=%s: refused: %s", s->key, s->value,
		       jail_cgroup_reason(jc, r));
}

int jail_cgroup_create(struct jail_cgroup *jc, struct err *err)
{
	char leaf[PATH_MAX];
	struct cgroup *cg;
	int r = 0;

	if (!jc->nr_controllers)
		return 0;
	for (unsigned int i = 0; i < jc->nr_controllers; i++) {
		struct jail_cgroup_controller *c = &jc->controllers[i];

		snprintf(leaf, sizeof(leaf), "%s/%s", c->mount, jc->path);
		c->created = access(leaf, F_OK) < 0;
		if (c->created && errno != ENOENT)
			return err_set(err, -errno, "cgroup: %s: %s", leaf, strerror(errno));
	}
	if (jc->version == 2)
		r = jail_cgroup_delegate_v2(jc, err);
	for (unsigned int i = 0; !r && jc->version == 1 && i < jc->nr_controllers; i++)
		if (!strcmp(jc->controllers[i].name, "cpuset"))
			r = jail_cgroup_cpuset_v1(jc, &jc->controllers[i], err);
	if (!r) {
		cg = jail_cgroup_new(jc, -1);
		if (!cg) {
			r = err_set(err, -ENOMEM, "cgroup: out of memory");
		} else {
			jc->lib_msg[0] = '\0';
			r = cgroup_create_cgroup(cg, 0);
			cgroup_free(&cg);
			if (r)
				r = err_set(err, -jail_cgroup_errno(r),
					    "cgroup: cannot create %s: %s", jc->path,
					    jail_cgroup_reason(jc, r));
		}
	}
	for (unsigned int i = 0; !r && i < jc->nr_settings; i++)
		r = jail_cgroup_set(jc, &jc->settings[i], err);
	if (r)
		jail_cgroup_remove(jc);
	return r;
}

void jail_cgroup_remove(struct jail_cgroup *jc)
{
	char leaf[PATH_MAX];

	for (unsigned int i = 0; i < jc->nr_controllers; i++) {
		if (!jc->controllers[i].created)
			continue;
		snprintf(leaf, sizeof(leaf), "%s/%s", jc->controllers[i].mount, jc->path);
		rmdir(leaf); /* ENOENT when a co-mounted controller took it already */
		jc->controllers[i].created = false;
	}
}

int jail_cgroup_attach(struct jail_cgroup *jc, struct err *err)
{
	const char *names[JAIL_CGROUP_MAX_CONTROLLERS + 1] = { 0 };
	int r;

	if (!jc->nr_controllers)
		return 0;
	for (unsigned int i = 0; i < jc->nr_controllers; i++)
		names[i] = jc->controllers[i].name;
	jc->lib_msg[0] = '\0';
	/* Unlike cgroup_attach_task(), this moves every thread of the process. */
	r = cgroup_change_cgroup_path(jc->path, getpid(), names);
	if (r)
		return err_set(err, -jail_cgroup_errno(r), "cgroup: cannot move into %s: %s",
			       jc->path, jail_cgroup_reason(jc, r));
	return 0;
}
