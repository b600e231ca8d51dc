// SPDX-License-Identifier: Apache-2.0
/*
 * The control API's endpoints: Firecracker's paths, bodies, status codes
 * and {"fault_message"} errors, and kvmlet's additions (docs/api.md).
 *
 * Runs on the API thread. Configuration before boot is edited here under
 * vmm->lock; anything that touches the running VM becomes a command for
 * the main thread, which replies when it is done. Nothing here waits.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kvmlet/version.h"
#include "lib/json.h"
#include "lib/log.h"
#include "vmm/api/routes.h"
#include "vmm/config_file.h"
#include "vmm/metrics.h"
#include "vmm/migration/params.h"
#include "vmm/vmm.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define JSON_TYPE	"application/json"
#define PROMETHEUS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Firecracker's InstanceInfo.id when it is started without --id. */
#define INSTANCE_ID "anonymous-instance"

/* Firecracker's fault_message for these, word for word. */
#define FC_EMPTY_PATCH "Empty PATCH request."
#define FC_NOT_PREBOOT "The requested operation is not supported before starting the microVM."

struct route_ctx {
	struct vmm *m;
	struct http_call *call;
	const struct http_request *req;
	const char *id; /* the {id} of /drives/{id} and /network-interfaces/{id} */
};

typedef void (*route_fn)(struct route_ctx *rc, cJSON *body);

static void reply_json(struct route_ctx *rc, cJSON *obj)
{
	char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;

	cJSON_Delete(obj);
	if (!text) {
		vmm_fault(rc->m, rc->call, 500, "out of memory");
		return;
	}
	vmm_reply(rc->m, rc->call, 200, JSON_TYPE, text, strlen(text));
	free(text);
}

static void reply_ok(struct route_ctx *rc)
{
	vmm_reply(rc->m, rc->call, 204, NULL, NULL, 0);
}

static void reply_err(struct route_ctx *rc, const struct err *err)
{
	vmm_fault(rc->m, rc->call, 400, "%s", err->msg);
}

/* Before boot only, and not while a start is being carried out; replies if not. */
static bool may_configure(struct route_ctx *rc)
{
	char msg[160];

	if (rc->m->busy) {
		vmm_fault(rc->m, rc->call, 400, "cannot configure the VM: it is being started");
		return false;
	}
	if (vm_action_allowed(rc->m->state, VM_ACTION_CONFIGURE, msg, sizeof(msg)))
		return true;
	vmm_fault(rc->m, rc->call, 400, "%s", msg);
	return false;
}

/*
 * Like Firecracker, files a resource names are checked when it is PUT, so
 * a typo is reported by the call that made it, not by InstanceStart.
 */
static int check_file(const char *what, const char *path, bool block_ok, struct err *err)
{
	struct stat st;

	if (!path)
		return 0;
	if (stat(path, &st) < 0)
		return err_set(err, -errno, "%s '%s': %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !(block_ok && S_ISBLK(st.st_mode)))
		return err_set(err, -EINVAL, "%s '%s' is not a regular file%s", what, path,
			       block_ok ? " or block device" : "");
	return 0;
}

static int check_parent_dir(const char *what, const char *path, struct err *err)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) + (slash == path), path);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return err_set(err, -ENOENT, "%s '%s': directory '%s' does not exist", what, path,
			       dir);
	return 0;
}

/* The files a body named, once it passed the configuration's checks. */
static int check_files(const struct vm_config *cfg, struct err *err)
{
	int r = check_file("boot-source.kernel_image_path", cfg->kernel_path, false, err);

	if (!r)
		r = check_file("boot-source.initrd_path", cfg->initrd_path, false, err);
	for (unsigned int i = 0; !r && i < cfg->nr_drives; i++)
		r = check_file("drive.path_on_host", cfg->drives[i].path, true, err);
	if (!r && cfg->has_vsock)
		r = check_parent_dir("vsock.uds_path", cfg->vsock.uds_path, err);
	return r;
}

/* How a pre-boot PUT or PATCH changes the configuration: exactly one of the two. */
struct edit {
	int (*section)(struct vm_config *cfg, const cJSON *body, struct err *err);
	/* A drive or interface; one with the path's id is replaced. */
	int (*item)(struct vm_config *cfg, const char *what, const cJSON *body, struct err *err);
	const char *what;
};

static int edit_apply(const struct edit *e, const char *id, struct vm_config *cfg,
		      const cJSON *body, struct err *err)
{
	if (e->section)
		return e->section(cfg, body, err);
	/* Refused before the old drive is removed, so it stays. */
	if (e->item == config_apply_drive && cJSON_IsTrue(json_member(body, "is_root_device")) &&
	    cfg->has_root_drive && strcmp(cfg->drives[0].id, id))
		return err_set(err, -EINVAL, "%s: a second root device ('%s' is the first)",
			       e->what, cfg->drives[0].id);
	config_remove_device(cfg, id);
	return e->item(cfg, e->what, body, err);
}

/*
 * Applies the edit to an empty scratch configuration first, so that a bad
 * body (or a missing file it names) changes nothing, then to the real one
 * under the lock, if the VM may still be configured; replies either way.
 */
static void configure(struct route_ctx *rc, const cJSON *body, const struct edit *e)
{
	struct vm_config scratch;
	struct err err = { 0 };
	int r;

	config_init(&scratch);
	r = edit_apply(e, rc->id, &scratch, body, &err);
	if (!r)
		r = check_files(&scratch, &err);
	config_free(&scratch);
	if (r) {
		reply_err(rc, &err);
		return;
	}
	pthread_mutex_lock(&rc->m->lock);
	if (!may_configure(rc)) {
		pthread_mutex_unlock(&rc->m->lock);
		return;
	}
	r = edit_apply(e, rc->id, &rc->m->cfg, body, &err);
	if (!r)
		rc->m->configured = true;
	pthread_mutex_unlock(&rc->m->lock);
	if (r)
		reply_err(rc, &err);
	else
		reply_ok(rc);
}

static struct vmm_cmd *cmd_new(struct route_ctx *rc, enum vmm_cmd_kind kind)
{
	struct vmm_cmd *c = vmm_cmd_new(kind, rc->call);

	if (!c)
		vmm_fault(rc->m, rc->call, 500, "out of memory");
	return c;
}

/* Takes copies of the strings c's member points to; replies and frees c if it cannot. */
static bool cmd_own(struct route_ctx *rc, struct vmm_cmd *c, const char **a, const char **b)
{
	if (!vmm_cmd_own(c, a) && !vmm_cmd_own(c, b))
		return true;
	vmm_cmd_free(c);
	vmm_fault(rc->m, rc->call, 500, "out of memory");
	return false;
}

/* ---- GET ------------------------------------------------------------------ */

static void get_instance_info(struct route_ctx *rc, cJSON *body)
{
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "id", INSTANCE_ID);
		cJSON_AddStringToObject(o, "state", vm_state_name(vmm_state(rc->m)));
		cJSON_AddStringToObject(o, "vmm_version", KVMLET_VERSION);
		cJSON_AddStringToObject(o, "app_name", "kvmlet");
	}
	reply_json(rc, o);
}

/* A GET of (part of) the configuration, which the API thread may be editing. */
static void reply_config(struct route_ctx *rc, cJSON *(*to_json)(const struct vm_config *))
{
	cJSON *o;

	pthread_mutex_lock(&rc->m->lock);
	o = to_json(&rc->m->cfg);
	pthread_mutex_unlock(&rc->m->lock);
	reply_json(rc, o);
}

static void get_machine_config(struct route_ctx *rc, cJSON *body)
{
	reply_config(rc, config_machine_to_json);
}

static void get_vm_config(struct route_ctx *rc, cJSON *body)
{
	reply_config(rc, config_to_json);
}

static void get_metrics(struct route_ctx *rc, cJSON *body)
{
	struct vmm *m = rc->m;
	const struct vm *vm = __atomic_load_n(&m->vm_built, __ATOMIC_ACQUIRE) ? &m->vm : NULL;
	size_t len;
	char *text;

	vmm_sync_api_stats(m);
	text = metrics_prometheus(vm, &m->stats, vmm_state(m), &len);

	if (!text) {
		vmm_fault(m, rc->call, 500, "out of memory");
		return;
	}
	vmm_reply(m, rc->call, 200, PROMETHEUS_TYPE, text, len);
	free(text);
}

/* kvmlet's addition: the lifecycle state with what InstanceInfo cannot say. */
static void get_kvmlet_state(struct route_ctx *rc, cJSON *body)
{
	struct vmm *m = rc->m;
	cJSON *o = cJSON_CreateObject();

	if (o) {
		cJSON_AddStringToObject(o, "state", vm_state_name(vmm_state(m)));
		cJSON_AddBoolToObject(o, "starting", __atomic_load_n(&m->busy, __ATOMIC_ACQUIRE));
		cJSON_AddNumberToObject(o, "pauses", (double)stats_get(m->stats.pauses));
		cJSON_AddNumberToObject(o, "last_pause_us",
					(double)stats_get(m->stats.pause_ns_last) / 1e3);
		cJSON_AddNumberToObject(o, "last_snapshot_create_ms",
					(double)stats_get(m->stats.snapshot_create_ns_last) / 1e6);
		cJSON_AddNumberToObject(o, "last_snapshot_load_ms",
					(double)stats_get(m->stats.snapshot_load_ns_last) / 1e6);
		pthread_mutex_lock(&m->mig.lock);
		cJSON_AddStringToObject(o, "migration", mig_phase_name(m->mig.phase));
		pthread_mutex_unlock(&m->mig.lock);
		/* Written before the state became Halted, and never again. */
		if (vmm_state(m) == VM_STATE_HALTED || vmm_state(m) == VM_STATE_MIGRATED) {
			cJSON_AddNumberToObject(o, "exit_code", m->exit_code);
			cJSON_AddStringToObject(o, "halt_reason", m->vm.exit_reason);
		}
	}
	reply_json(rc, o);
}

/* ---- pre-boot configuration ------------------------------------------------ */

static void put_boot_source(struct route_ctx *rc, cJSON *body)
{
	configure(rc, body, &(struct edit){ .section = config_apply_boot_source });
}

static void put_machine_config(struct route_ctx *rc, cJSON *body)
{
	configure(rc, body, &(struct edit){ .section = config_apply_machine_config });
}

/* PATCH: the given fields over the current ones, then the same checks as PUT. */
static int patch_machine(struct vm_config *cfg, const cJSON *body, struct err *err)
{
	static const char *const names[] = { "vcpu_count",	  "mem_size_mib", "smt",
					     "track_dirty_pages", "cpu_template", "huge_pages" };
	cJSON *merged;
	int r = json_check_members("machine-config", body, names, ARRAY_SIZE(names), err);

	if (r)
		return r;
	merged = config_machine_to_json(cfg);
	if (!merged)
		return err_set(err, -ENOMEM, "out of memory");
	/* null means absent: it keeps the current value. */
	for (const cJSON *c = body->child; c; c = c->next)
		if (json_present(c))
			cJSON_ReplaceItemInObjectCaseSensitive(merged, c->string,
							       cJSON_Duplicate(c, true));
	r = config_apply_machine_config(cfg, merged, err);
	cJSON_Delete(merged);
	return r;
}

/* A PATCH that names no field (null ones are absent). */
static bool patch_is_empty(const cJSON *body)
{
	for (const cJSON *c = body->child; c; c = c->next)
		if (json_present(c))
			return false;
	return true;
}

static void patch_machine_config(struct route_ctx *rc, cJSON *body)
{
	/* Firecracker refuses it while parsing, whatever the state. */
	if (patch_is_empty(body)) {
		vmm_fault(rc->m, rc->call, 400, "%s", FC_EMPTY_PATCH);
		return;
	}
	configure(rc, body, &(struct edit){ .section = patch_machine });
}

/* A second PUT /vsock replaces the device, as Firecracker's does. */
static int replace_vsock(struct vm_config *cfg, const cJSON *body, struct err *err)
{
	free(cfg->vsock.uds_path);
	cfg->vsock.uds_path = NULL;
	cfg->has_vsock = false;
	return config_apply_vsock(cfg, body, err);
}

static void put_vsock(struct route_ctx *rc, cJSON *body)
{
	configure(rc, body, &(struct edit){ .section = replace_vsock });
}

static void put_entropy(struct route_ctx *rc, cJSON *body)
{
	configure(rc, body, &(struct edit){ .section = config_apply_entropy });
}

/* The body's id field must name the resource of the path, as Firecracker checks. */
static bool id_matches(struct route_ctx *rc, const cJSON *body, const char *field)
{
	const cJSON *v = json_member(body, field);

	if (v && cJSON_IsString(v) && strcmp(v->valuestring, rc->id)) {
		vmm_fault(rc->m, rc->call, 400,
			  "%s '%s' in the body does not match '%s' in the path", field,
			  v->valuestring, rc->id);
		return false;
	}
	return true;
}

/* PUT of a drive or interface that exists replaces it. */
static void put_device(struct route_ctx *rc, cJSON *body, const char *id_field,
		       const struct edit *e)
{
	if (id_matches(rc, body, id_field))
		configure(rc, body, e);
}

static void put_drive(struct route_ctx *rc, cJSON *body)
{
	put_device(rc, body, "drive_id",
		   &(struct edit){ .item = config_apply_drive, .what = "drive" });
}

static void put_network_interface(struct route_ctx *rc, cJSON *body)
{
	put_device(rc, body, "iface_id",
		   &(struct edit){ .item = config_apply_network_interface,
				   .what = "network-interface" });
}

/* ---- process settings ------------------------------------------------------ */

static int log_level_parse(const char *s, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level level;
	} levels[] = {
		{ "Error", LOG_ERROR }, { "Warning", LOG_WARN }, { "Info", LOG_INFO },
		{ "Debug", LOG_DEBUG }, { "Trace", LOG_DEBUG },	 { "Off", LOG_OFF },
	};

	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		if (!strcasecmp(s, levels[i].name)) {
			*out = levels[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

/* The logger and metrics are process settings, but Firecracker takes them before boot only. */
static int check_configurable(struct route_ctx *rc, struct err *err)
{
	char msg[160];

	if (vm_action_allowed(vmm_state(rc->m), VM_ACTION_CONFIGURE, msg, sizeof(msg)))
		return 0;
	return err_set(err, -EPERM, "%s", msg);
}

/* Firecracker's logger: where the log goes and how much of it. */
static void put_logger(struct route_ctx *rc, cJSON *body)
{
	static const char *const names[] = { "log_path", "level", "show_level", "show_log_origin",
					     "module" };
	const char *path, *level, *module;
	enum log_level lvl = LOG_INFO;
	bool show = false, origin = false;
	struct err err = { 0 };
	int r;

	r = json_check_members("logger", body, names, ARRAY_SIZE(names), &err);
	if (!r)
		r = json_get_nonempty_string("logger", body, "log_path", false, &path, &err);
	if (!r)
		r = json_get_string("logger", body, "level", false, &level, &err);
	if (!r && level && log_level_parse(level, &lvl))
		r = err_set(&err, -EINVAL,
			    "logger.level '%s': expected Error, Warning, Info, Debug, Trace or Off",
			    level);
	if (!r)
		r = json_get_bool("logger", body, "show_level", false, &show, &err);
	if (!r)
		r = json_get_bool("logger", body, "show_log_origin", false, &origin, &err);
	if (!r)
		r = json_get_string("logger", body, "module", false, &module, &err);
	if (!r)
		r = check_configurable(rc, &err);
	if (!r)
		r = vmm_logger_set(rc->m, path, level ? (int)lvl : -2, &err);
	if (r)
		reply_err(rc, &err);
	else
		reply_ok(rc);
}

static void put_metrics(struct route_ctx *rc, cJSON *body)
{
	static const char *const names[] = { "metrics_path" };
	struct err err = { 0 };
	const char *path;
	int r;

	r = json_check_members("metrics", body, names, ARRAY_SIZE(names), &err);
	if (!r)
		r = json_get_nonempty_string("metrics", body, "metrics_path", true, &path, &err);
	if (!r)
		r = check_configurable(rc, &err);
	if (!r)
		r = vmm_metrics_open(rc->m, path, &err);
	if (r)
		reply_err(rc, &err);
	else
		reply_ok(rc);
}

/* ---- actions ---------------------------------------------------------------- */

static void action_start(struct route_ctx *rc)
{
	struct vmm *m = rc->m;
	struct vmm_cmd *c;
	char msg[160];

	pthread_mutex_lock(&m->lock);
	if (m->busy)
		snprintf(msg, sizeof(msg), "cannot start the VM: it is already being started");
	if (m->busy || !vm_action_allowed(m->state, VM_ACTION_START, msg, sizeof(msg))) {
		pthread_mutex_unlock(&m->lock);
		vmm_fault(m, rc->call, 400, "%s", msg);
		return;
	}
	if (!m->cfg.kernel_path) {
		pthread_mutex_unlock(&m->lock);
		vmm_fault(m, rc->call, 400,
			  "cannot start the VM: no kernel (PUT /boot-source first)");
		return;
	}
	c = cmd_new(rc, VMM_CMD_START);
	if (c)
		m->busy = true;
	pthread_mutex_unlock(&m->lock);
	if (c)
		vmm_post(m, c);
}

/* A body of one required string field (/actions, /vm); replies if it is not. */
static const char *only_string(struct route_ctx *rc, const cJSON *body, const char *what,
			       const char *field)
{
	const char *const names[] = { field };
	struct err err = { 0 };
	const char *v = NULL;
	int r;

	r = json_check_members(what, body, names, 1, &err);
	if (!r)
		r = json_get_string(what, body, field, true, &v, &err);
	if (r)
		reply_err(rc, &err);
	return r ? NULL : v;
}

static void put_actions(struct route_ctx *rc, cJSON *body)
{
	const char *type = only_string(rc, body, "action", "action_type");
	struct err err = { 0 };
	struct vmm_cmd *c;

	if (!type)
		return;
	if (!strcmp(type, "InstanceStart")) {
		action_start(rc);
	} else if (!strcmp(type, "SendCtrlAltDel")) {
		c = cmd_new(rc, VMM_CMD_CTRL_ALT_DEL);
		if (c)
			vmm_post(rc->m, c);
	} else if (!strcmp(type, "FlushMetrics")) {
		enum vm_state st = vmm_state(rc->m);
		char msg[160];

		if (!vm_action_allowed(st, VM_ACTION_FLUSH_METRICS, msg, sizeof(msg)))
			vmm_fault(rc->m, rc->call, 400, "%s",
				  st == VM_STATE_NOT_STARTED ? FC_NOT_PREBOOT : msg);
		else if (vmm_metrics_flush(rc->m, &err) && err.code != -EAGAIN)
			reply_err(rc, &err);
		else
			reply_ok(rc);
	} else {
		vmm_fault(
			rc->m, rc->call, 400,
			"action_type '%s': expected InstanceStart, SendCtrlAltDel or FlushMetrics",
			type);
	}
}

static void patch_vm(struct route_ctx *rc, cJSON *body)
{
	const char *state = only_string(rc, body, "vm", "state");
	struct vmm_cmd *c;

	if (!state)
		return;
	if (strcmp(state, "Paused") && strcmp(state, "Resumed")) {
		vmm_fault(rc->m, rc->call, 400, "vm.state '%s': expected Paused or Resumed", state);
		return;
	}
	c = cmd_new(rc, strcmp(state, "Paused") ? VMM_CMD_RESUME : VMM_CMD_PAUSE);
	if (c)
		vmm_post(rc->m, c);
}

/* PATCH /drives/{id}: a new backing file for a started VM's drive. */
static void patch_drive(struct route_ctx *rc, cJSON *body)
{
	static const char *const names[] = { "drive_id", "path_on_host", "rate_limiter" };
	struct err err = { 0 };
	const char *id, *path;
	struct vmm_cmd *c;
	char msg[160];
	int r;

	r = json_check_members("drive", body, names, ARRAY_SIZE(names), &err);
	if (!r)
		r = json_get_nonempty_string("drive", body, "drive_id", true, &id, &err);
	if (!r)
		r = json_get_nonempty_string("drive", body, "path_on_host", false, &path, &err);
	if (!r)
		r = config_check_rate_limiter("drive", body, "rate_limiter", &err);
	if (r) {
		reply_err(rc, &err);
		return;
	}
	if (!id_matches(rc, body, "drive_id"))
		return;
	/* Checked here too, so that a call that changes nothing is refused alike. */
	if (!vm_action_allowed(vmm_state(rc->m), VM_ACTION_UPDATE_DRIVE, msg, sizeof(msg))) {
		vmm_fault(rc->m, rc->call, 400, "%s", msg);
		return;
	}
	if (!path) {
		/* Nothing to change. */
		reply_ok(rc);
		return;
	}
	c = cmd_new(rc, VMM_CMD_UPDATE_DRIVE);
	if (!c)
		return;
	c->update_drive = (struct vmm_cmd_update_drive){ .id = id, .path = path };
	if (cmd_own(rc, c, &c->update_drive.id, &c->update_drive.path))
		vmm_post(rc->m, c);
}

static bool has_network_interface(struct vmm *m, const char *id)
{
	bool found;

	pthread_mutex_lock(&m->lock);
	found = config_find_net(&m->cfg, id) >= 0;
	pthread_mutex_unlock(&m->lock);
	return found;
}

/*
 * PATCH /network-interfaces/{id}: Firecracker's rate limiter update. The
 * only limiters kvmlet takes limit nothing, which is what every interface
 * has, so a valid call changes nothing.
 */
static void patch_network_interface(struct route_ctx *rc, cJSON *body)
{
	static const char *const names[] = { "iface_id", "rx_rate_limiter", "tx_rate_limiter" };
	const char *what = "network-interface", *id;
	struct err err = { 0 };
	char msg[160];
	int r;

	r = json_check_members(what, body, names, ARRAY_SIZE(names), &err);
	if (!r)
		r = json_get_nonempty_string(what, body, "iface_id", true, &id, &err);
	if (!r)
		r = config_check_rate_limiter(what, body, "rx_rate_limiter", &err);
	if (!r)
		r = config_check_rate_limiter(what, body, "tx_rate_limiter", &err);
	if (r) {
		reply_err(rc, &err);
		return;
	}
	if (!id_matches(rc, body, "iface_id"))
		return;
	if (!vm_action_allowed(vmm_state(rc->m), VM_ACTION_UPDATE_NET, msg, sizeof(msg))) {
		vmm_fault(rc->m, rc->call, 400, "%s", msg);
		return;
	}
	/* The set of interfaces is fixed once the VM is started: no race with a PUT. */
	if (!has_network_interface(rc->m, id)) {
		vmm_fault(rc->m, rc->call, 400, "network-interface '%s' does not exist", id);
		return;
	}
	reply_ok(rc);
}

/* ---- snapshots -------------------------------------------------------------- */

static void put_snapshot_create(struct route_ctx *rc, cJSON *body)
{
	static const char *const names[] = { "snapshot_type", "snapshot_path", "mem_file_path",
					     "version" };
	const char *what = "snapshot-create", *type, *state, *mem, *version;
	struct err err = { 0 };
	struct vmm_cmd *c;
	int r;

	r = json_check_members(what, body, names, ARRAY_SIZE(names), &err);
	if (!r)
		r = json_get_string(what, body, "snapshot_type", false, &type, &err);
	if (!r && type && strcmp(type, "Full") && strcmp(type, "Diff"))
		r = err_set(&err, -EINVAL, "%s.snapshot_type '%s': expected Full or Diff", what,
			    type);
	if (!r)
		r = json_get_nonempty_string(what, body, "snapshot_path", true, &state, &err);
	if (!r)
		r = json_get_nonempty_string(what, body, "mem_file_path", true, &mem, &err);
	/* Older Firecracker clients send the target version; there is only one. */
	if (!r)
		r = json_get_string(what, body, "version", false, &version, &err);
	if (r) {
		reply_err(rc, &err);
		return;
	}
	c = cmd_new(rc, VMM_CMD_SNAPSHOT);
	if (!c)
		return;
	c->snapshot = (struct snapshot_create_params){
		.snapshot_path = state,
		.mem_file_path = mem,
		.diff = type && !strcmp(type, "Diff"),
	};
	if (cmd_own(rc, c, &c->snapshot.snapshot_path, &c->snapshot.mem_file_path))
		vmm_post(rc->m, c);
}

/* mem_backend {backend_type, backend_path}, or the older mem_file_path. */
static int load_mem_path(const char *what, const cJSON *body, const char **path, struct err *err)
{
	static const char *const names[] = { "backend_type", "backend_path" };
	const cJSON *be = json_member(body, "mem_backend");
	const char *old, *type;
	int r;

	r = json_get_nonempty_string(what, body, "mem_file_path", false, &old, err);
	if (r)
		return r;
	if (!be == !old)
		return err_set(err, -EINVAL,
			       "%s: give exactly one of mem_backend and mem_file_path", what);
	if (old) {
		*path = old;
		return 0;
	}
	r = json_check_members("snapshot-load.mem_backend", be, names, ARRAY_SIZE(names), err);
	if (!r)
		r = json_get_string("snapshot-load.mem_backend", be, "backend_type", true, &type,
				    err);
	if (!r && strcmp(type, "File"))
		r = err_set(err, -EINVAL,
			    "snapshot-load.mem_backend.backend_type '%s': only File is supported",
			    type);
	if (!r)
		r = json_get_nonempty_string("snapshot-load.mem_backend", be, "backend_path", true,
					     path, err);
	return r;
}

static void put_snapshot_load(struct route_ctx *rc, cJSON *body)
{
	static const char *const names[] = { "snapshot_path",	  "mem_file_path",
					     "mem_backend",	  "enable_diff_snapshots",
					     "track_dirty_pages", "resume_vm",
					     "network_overrides" };
	const char *what = "snapshot-load", *state, *mem;
	bool diff = false, track = false, resume = false;
	struct vmm *m = rc->m;
	struct err err = { 0 };
	struct vmm_cmd *c;
	char msg[160];
	int r;

	r = json_check_members(what, body, names, ARRAY_SIZE(names), &err);
	if (!r)
		r = json_get_nonempty_string(what, body, "snapshot_path", true, &state, &err);
	if (!r)
		r = load_mem_path(what, body, &mem, &err);
	if (!r)
		r = json_get_bool(what, body, "enable_diff_snapshots", false, &diff, &err);
	if (!r)
		r = json_get_bool(what, body, "track_dirty_pages", false, &track, &err);
	if (!r)
		r = json_get_bool(what, body, "resume_vm", false, &resume, &err);
	if (!r && cJSON_GetArraySize(json_member(body, "network_overrides")) > 0)
		r = err_set(&err, -EINVAL, "%s.network_overrides: not supported yet", what);
	if (r) {
		reply_err(rc, &err);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (m->busy)
		snprintf(msg, sizeof(msg), "cannot load a snapshot: the VM is being started");
	if (m->busy || !vm_action_allowed(m->state, VM_ACTION_LOAD, msg, sizeof(msg))) {
		pthread_mutex_unlock(&m->lock);
		vmm_fault(m, rc->call, 400, "%s", msg);
		return;
	}
	/* The snapshot describes the whole VM, as in Firecracker: nothing else may. */
	if (m->configured) {
		pthread_mutex_unlock(&m->lock);
		vmm_fault(
			m, rc->call, 400,
			"cannot load a snapshot after configuring the VM (boot-source, "
			"machine-config, drives, ...): the snapshot brings its own configuration");
		return;
	}
	c = cmd_new(rc, VMM_CMD_LOAD);
	if (c) {
		c->load = (struct vmm_cmd_load){
			.p = { .snapshot_path = state,
			       .mem_file_path = mem,
			       .track_dirty_pages = diff || track },
			.resume = resume,
		};
	}
	if (c && cmd_own(rc, c, &c->load.p.snapshot_path, &c->load.p.mem_file_path)) {
		m->busy = true;
		pthread_mutex_unlock(&m->lock);
		vmm_post(m, c);
		return;
	}
	pthread_mutex_unlock(&m->lock);
}

/* ---- kvmlet's console ------------------------------------------------------- */

/* kubelet's log rotation: the agent made a new file at the CRI log's path. */
static void put_console_reopen(struct route_ctx *rc, cJSON *body)
{
	struct vmm_cmd *c = cmd_new(rc, VMM_CMD_CONSOLE_REOPEN);

	if (c)
		vmm_post(rc->m, c);
}

/* ---- live migration (docs/migration.md) ------------------------------------- */

static void get_migration(struct route_ctx *rc, cJSON *body)
{
	reply_json(rc, mig_progress_json(&rc->m->mig));
}

static void put_migration_send(struct route_ctx *rc, cJSON *body)
{
	struct mig_send_params p;
	struct err err = { 0 };
	struct vmm_cmd *c;

	if (mig_send_params_parse(body, &p, &err)) {
		reply_err(rc, &err);
		return;
	}
	/* The main thread checks the state: it changes there. */
	c = cmd_new(rc, VMM_CMD_MIGRATE_SEND);
	if (!c)
		return;
	c->migrate_send = p;
	vmm_post(rc->m, c);
}

static void put_migration_receive(struct route_ctx *rc, cJSON *body)
{
	struct vmm *m = rc->m;
	struct mig_recv_params p;
	struct err err = { 0 };
	struct vmm_cmd *c;
	char msg[160];

	if (mig_recv_params_parse(body, &p, &err)) {
		reply_err(rc, &err);
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (m->busy)
		snprintf(msg, sizeof(msg),
			 "cannot receive a migrating VM: the VM is being started");
	if (m->busy || !vm_action_allowed(m->state, VM_ACTION_MIGRATE_RECEIVE, msg, sizeof(msg))) {
		pthread_mutex_unlock(&m->lock);
		vmm_fault(m, rc->call, 400, "%s", msg);
		return;
	}
	/* The source's configuration is the whole VM, as a snapshot's is. */
	if (m->configured) {
		pthread_mutex_unlock(&m->lock);
		vmm_fault(m, rc->call, 400,
			  "cannot receive a migrating VM after configuring one: the source "
			  "sends its own configuration");
		return;
	}
	c = cmd_new(rc, VMM_CMD_MIGRATE_RECEIVE);
	if (c) {
		c->migrate_receive = p;
		m->busy = true;
	}
	pthread_mutex_unlock(&m->lock);
	if (c)
		vmm_post(m, c);
}

static void put_migration_cancel(struct route_ctx *rc, cJSON *body)
{
	struct err err = { 0 };
	char msg[160];

	if (json_check_members("migration-cancel", body, NULL, 0, &err)) {
		reply_err(rc, &err);
		return;
	}
	if (!mig_progress_request_cancel(&rc->m->mig, msg, sizeof(msg))) {
		vmm_fault(rc->m, rc->call, 400, "%s", msg);
		return;
	}
	reply_ok(rc);
}

/* ---- routing ---------------------------------------------------------------- */

/* BODY_EMPTY: nothing, or the empty object {}. */
enum body_rule { BODY_NONE, BODY_JSON, BODY_EMPTY };

static const struct route {
	enum http_method method;
	const char *path; /* ending in '/': a prefix followed by an {id} */
	route_fn fn;
	enum body_rule body;
} routes[] = {
	{ HTTP_METHOD_GET, "/", get_instance_info, BODY_NONE },
	{ HTTP_METHOD_PUT, "/boot-source", put_boot_source, BODY_JSON },
	{ HTTP_METHOD_GET, "/machine-config", get_machine_config, BODY_NONE },
	{ HTTP_METHOD_PUT, "/machine-config", put_machine_config, BODY_JSON },
	{ HTTP_METHOD_PATCH, "/machine-config", patch_machine_config, BODY_JSON },
	{ HTTP_METHOD_PUT, "/drives/", put_drive, BODY_JSON },
	{ HTTP_METHOD_PATCH, "/drives/", patch_drive, BODY_JSON },
	{ HTTP_METHOD_PUT, "/network-interfaces/", put_network_interface, BODY_JSON },
	{ HTTP_METHOD_PATCH, "/network-interfaces/", patch_network_interface, BODY_JSON },
	{ HTTP_METHOD_PUT, "/vsock", put_vsock, BODY_JSON },
	{ HTTP_METHOD_PUT, "/entropy", put_entropy, BODY_JSON },
	{ HTTP_METHOD_PUT, "/logger", put_logger, BODY_JSON },
	{ HTTP_METHOD_PUT, "/metrics", put_metrics, BODY_JSON },
	{ HTTP_METHOD_GET, "/metrics", get_metrics, BODY_NONE },
	{ HTTP_METHOD_PUT, "/actions", put_actions, BODY_JSON },
	{ HTTP_METHOD_PATCH, "/vm", patch_vm, BODY_JSON },
	{ HTTP_METHOD_GET, "/vm/config", get_vm_config, BODY_NONE },
	{ HTTP_METHOD_PUT, "/snapshot/create", put_snapshot_create, BODY_JSON },
	{ HTTP_METHOD_PUT, "/snapshot/load", put_snapshot_load, BODY_JSON },
	{ HTTP_METHOD_GET, "/kvmlet/state", get_kvmlet_state, BODY_NONE },
	{ HTTP_METHOD_PUT, "/kvmlet/console/reopen", put_console_reopen, BODY_EMPTY },
	{ HTTP_METHOD_GET, "/kvmlet/migration", get_migration, BODY_NONE },
	{ HTTP_METHOD_PUT, "/kvmlet/migration/send", put_migration_send, BODY_JSON },
	{ HTTP_METHOD_PUT, "/kvmlet/migration/receive", put_migration_receive, BODY_JSON },
	{ HTTP_METHOD_PUT, "/kvmlet/migration/cancel", put_migration_cancel, BODY_JSON },
};

void routes_for_each(void (*fn)(enum http_method method, const char *path, void *ctx), void *ctx)
{
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++)
		fn(routes[i].method, routes[i].path, ctx);
}

/* Matches path against r; for an {id} route sets *id to the rest. */
static bool route_match(const struct route *r, const char *path, const char **id)
{
	size_t n = strlen(r->path);

	if (r->path[n - 1] != '/' || n == 1)
		return !strcmp(path, r->path);
	if (strncmp(path, r->path, n) || !path[n] || strchr(path + n, '/'))
		return false;
	*id = path + n;
	return true;
}

void routes_handle(void *ctx, struct http_call *call)
{
	struct route_ctx rc = { .m = ctx, .call = call, .req = http_call_request(call) };
	const struct route *found = NULL;
	bool path_known = false;
	struct err err = { 0 };
	cJSON *body = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(routes) && !found; i++) {
		const char *id = NULL;

		if (!route_match(&routes[i], rc.req->path, &id))
			continue;
		path_known = true;
		if (routes[i].method == rc.req->method) {
			found = &routes[i];
			rc.id = id;
		}
	}
	if (!found) {
		/* Firecracker answers both with 400 and this message. */
		vmm_fault(rc.m, call, 400, "Invalid request method and/or path: %s %s%s",
			  rc.req->method_name, rc.req->path,
			  path_known ? " (the path exists; not with this method)" : "");
		return;
	}
	if (found->body == BODY_NONE && rc.req->body_len) {
		vmm_fault(rc.m, call, 400, "%s %s takes no body", rc.req->method_name,
			  rc.req->path);
		return;
	}
	if (found->body == BODY_EMPTY && rc.req->body_len) {
		body = json_parse((const char *)rc.req->body, rc.req->body_len, &err);
		if (!body || !cJSON_IsObject(body) || body->child) {
			cJSON_Delete(body);
			vmm_fault(rc.m, call, 400, "%s %s takes no body, or {}",
				  rc.req->method_name, rc.req->path);
			return;
		}
	}
	if (found->body == BODY_JSON) {
		if (!rc.req->body_len) {
			vmm_fault(rc.m, call, 400, "%s needs a JSON body", rc.req->path);
			return;
		}
		body = json_parse((const char *)rc.req->body, rc.req->body_len, &err);
		if (!body) {
			reply_err(&rc, &err);
			return;
		}
		if (!cJSON_IsObject(body)) {
			cJSON_Delete(body);
			vmm_fault(rc.m, call, 400, "the body must be a JSON object");
			return;
		}
	}
	found->fn(&rc, body);
	cJSON_Delete(body);
}
