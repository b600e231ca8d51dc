// SPDX-License-Identifier: Apache-2.0
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/registry.h"
#include "devices/stats.h"
#include "lib/clock.h"
#include "lib/prom.h"
#include "vmm/console.h"
#include "vmm/metrics.h"
#include "vmm/vm.h"

#define NS_PER_US    UINT64_C(1000)
#define NS_PER_SEC   UINT64_C(1000000000)
/* lifecycle.h has no count; every state from Not started to Halted is shown. */
#define NR_VM_STATES (VM_STATE_MIGRATED + 1)

/* Time from the VMM's start to a milestone, 0 until it happens. */
static uint64_t since_start_ns(uint64_t start, uint64_t at)
{
	return at > start ? at - start : 0;
}

/* Every device's samples, in registry order and each device's own order. */
static void metrics_walk_devices(const struct vm *vm, const struct device_stats_out *out)
{
	for (unsigned int i = 0; vm && i < vm->devices.nr; i++) {
		struct device *d = vm->devices.dev[i];

		if (d->ops->stats)
			d->ops->stats(d, out);
	}
}

/* ---- Prometheus text format 0.0.4 (lib/prom.h) ---- */

/* The VMM's own families; each device describes its own. */
static const struct prom_family fam_vm_state = {
	"kvmlet_vm_state", "1 for the VM's lifecycle state, 0 for the others.", PROM_GAUGE
};
static const struct prom_family fam_uptime = { "kvmlet_uptime_seconds",
					       "Time since the VMM process started.", PROM_GAUGE };
static const struct prom_family fam_instance_start = {
	"kvmlet_instance_start_seconds",
	"From the VMM's start until the vCPUs first ran (boot or snapshot load); absent before.",
	PROM_GAUGE
};
static const struct prom_family fam_boot_done = {
	"kvmlet_boot_done_seconds",
	"From the VMM's start until the guest wrote boot-done to the boot timer; absent before.",
	PROM_GAUGE
};
static const struct prom_family fam_vcpu_exits = { "kvmlet_vcpu_exits_total",
						   "Returns from KVM_RUN, by vCPU and reason.",
						   PROM_COUNTER };
static const struct prom_family fam_vcpu_run = { "kvmlet_vcpu_run_seconds_total",
						 "Time each vCPU spent inside KVM_RUN.",
						 PROM_COUNTER };
static const struct prom_family fam_pauses = { "kvmlet_pauses_total", "Times the VM was paused.",
					       PROM_COUNTER };
static const struct prom_family fam_resumes = { "kvmlet_resumes_total", "Times the VM was resumed.",
						PROM_COUNTER };
static const struct prom_family fam_pause_last = {
	"kvmlet_pause_last_seconds", "Last pause, from the request until every vCPU stopped.",
	PROM_GAUGE
};
static const struct prom_family fam_pause_max = { "kvmlet_pause_max_seconds",
						  "Longest pause so far.", PROM_GAUGE };
static const struct prom_family fam_snapshots = { "kvmlet_snapshots_total",
						  "Snapshots created, by type.", PROM_COUNTER };
static const struct prom_family fam_snapshot_failures = {
	"kvmlet_snapshot_failures_total", "Snapshot creations and loads that failed.", PROM_COUNTER
};
static const struct prom_family fam_snapshot_create_last = {
	"kvmlet_snapshot_create_last_seconds", "Duration of the last snapshot creation.", PROM_GAUGE
};
static const struct prom_family fam_snapshot_load_last = {
	"kvmlet_snapshot_load_last_seconds",
	"Last snapshot load, from the request until the guest could run.", PROM_GAUGE
};
static const struct prom_family fam_migrations = { "kvmlet_migrations_total",
						   "Live migrations, by role and result.",
						   PROM_COUNTER };
static const struct prom_family fam_migration_bytes = {
	"kvmlet_migration_bytes_total", "Live migration stream bytes sent or received.",
	PROM_COUNTER
};
static const struct prom_family fam_migration_iterations = {
	"kvmlet_migration_iterations_total", "Pre-copy passes of outgoing migrations.", PROM_COUNTER
};
static const struct prom_family fam_migration_downtime = {
	"kvmlet_migration_downtime_last_seconds",
	"Last completed outgoing migration, from the pause until the target ran the guest.",
	PROM_GAUGE
};
static const struct prom_family fam_api_requests = { "kvmlet_api_requests_total",
						     "Requests the control API answered.",
						     PROM_COUNTER };
static const struct prom_family fam_api_errors = { "kvmlet_api_errors_total",
						   "Control API error answers by status class.",
						   PROM_COUNTER };

static const struct prom_family fam_console_records = {
	"kvmlet_console_log_records_total", "CRI log records (lines and pieces) written.",
	PROM_COUNTER
};
static const struct prom_family fam_console_errors = {
	"kvmlet_console_log_errors_total",
	"CRI log records lost to a failed write (ENOSPC, EFBIG, ...).", PROM_COUNTER
};
static const struct prom_family fam_console_reopens = {
	"kvmlet_console_log_reopens_total", "Times the CRI log was reopened (log rotation).",
	PROM_COUNTER
};
static const struct prom_family fam_console_dropped = {
	"kvmlet_console_dropped_bytes_total",
	"Console output lost because the VMM fell more than its pipe behind.", PROM_COUNTER
};
static const struct prom_family fam_console_clients = { "kvmlet_console_clients",
							"Clients connected to the console socket.",
							PROM_GAUGE };
static const struct prom_family fam_console_clients_cut = {
	"kvmlet_console_clients_dropped_total",
	"Console clients dropped: too slow for the output, or over the limit.", PROM_COUNTER
};

/* Only a VM with a CRI log or a console socket has these. */
static void prom_console(struct prom *p, const struct vm *vm)
{
	struct console_stats cs;

	if (!vm->console)
		return;
	console_stats(vm->console, &cs);
	prom_u64(p, &fam_console_records, NULL, cs.log_records);
	prom_u64(p, &fam_console_errors, NULL, cs.log_errors);
	prom_u64(p, &fam_console_reopens, NULL, cs.reopens);
	prom_u64(p, &fam_console_dropped, NULL, cs.dropped);
	prom_u64(p, &fam_console_clients, NULL, cs.clients);
	prom_u64(p, &fam_console_clients_cut, NULL, cs.clients_cut);
}

static void prom_lifecycle(struct prom *p, const struct vm *vm, const struct vmm_stats *st,
			   enum vm_state state)
{
	uint64_t start = stats_get(st->start_ns), at;

	for (int s = 0; s < NR_VM_STATES; s++)
		prom_u64(p, &fam_vm_state, PROM_LABELS("state", vm_state_name(s)), s == (int)state);
	prom_seconds(p, &fam_uptime, NULL, since_start_ns(start, clock_ns(CLOCK_MONOTONIC)));
	at = stats_get(st->instance_start_ns);
	if (at)
		prom_seconds(p, &fam_instance_start, NULL, since_start_ns(start, at));
	/* The boot timer counts from its own start, set when the VM was made. */
	at = vm ? stats_get(vm->boot_timer.done_ns) : 0;
	if (at)
		prom_seconds(p, &fam_boot_done, NULL, since_start_ns(vm->boot_timer.start_ns, at));
}

static void prom_vcpus(struct prom *p, const struct vm *vm)
{
	char id[16];

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;

		snprintf(id, sizeof(id), "%u", vm->vcpus[i].id);
		for (int k = 0; k < VCPU_NR_EXIT_KINDS; k++)
			prom_u64(p, &fam_vcpu_exits,
				 PROM_LABELS("vcpu", id, "reason", vcpu_exit_kind_name(k)),
				 stats_get(s->exits[k]));
		prom_seconds(p, &fam_vcpu_run, PROM_LABELS("vcpu", id), stats_get(s->run_ns));
	}
}

static void prom_emit(void *ctx, const struct device *dev, const struct device_metric *m,
		      uint64_t value)
{
	prom_u64(ctx, m->family, m->labels, value);
}

static void prom_vmm(struct prom *p, const struct vmm_stats *st)
{
	prom_u64(p, &fam_pauses, NULL, stats_get(st->pauses));
	prom_u64(p, &fam_resumes, NULL, stats_get(st->resumes));
	prom_seconds(p, &fam_pause_last, NULL, stats_get(st->pause_ns_last));
	prom_seconds(p, &fam_pause_max, NULL, stats_get(st->pause_ns_max));
	prom_u64(p, &fam_snapshots, PROM_LABELS("type", "full"), stats_get(st->snapshots_full));
	prom_u64(p, &fam_snapshots, PROM_LABELS("type", "diff"), stats_get(st->snapshots_diff));
	prom_u64(p, &fam_snapshot_failures, NULL, stats_get(st->snapshot_failures));
	prom_seconds(p, &fam_snapshot_create_last, NULL, stats_get(st->snapshot_create_ns_last));
	prom_seconds(p, &fam_snapshot_load_last, NULL, stats_get(st->snapshot_load_ns_last));
	prom_u64(p, &fam_migrations, PROM_LABELS("result", "completed"),
		 stats_get(st->migrations_completed));
	prom_u64(p, &fam_migrations, PROM_LABELS("result", "failed"),
		 stats_get(st->migrations_failed));
	prom_u64(p, &fam_migrations, PROM_LABELS("result", "cancelled"),
		 stats_get(st->migrations_cancelled));
	prom_u64(p, &fam_migration_bytes, NULL, stats_get(st->migration_bytes));
	prom_u64(p, &fam_migration_iterations, NULL, stats_get(st->migration_iterations));
	prom_seconds(p, &fam_migration_downtime, NULL, stats_get(st->migration_downtime_ns_last));
	prom_u64(p, &fam_api_requests, NULL, stats_get(st->api_requests));
	prom_u64(p, &fam_api_errors, PROM_LABELS("class", "4xx"), stats_get(st->api_client_errors));
	prom_u64(p, &fam_api_errors, PROM_LABELS("class", "5xx"), stats_get(st->api_server_errors));
}

char *metrics_prometheus(const struct vm *vm, const struct vmm_stats *st, enum vm_state state,
			 size_t *len)
{
	struct prom *p = prom_new();

	if (!p)
		return NULL;
	prom_lifecycle(p, vm, st, state);
	if (vm) {
		prom_vcpus(p, vm);
		metrics_walk_devices(vm, &(struct device_stats_out){ prom_emit, p });
		prom_console(p, vm);
	}
	prom_vmm(p, st);
	return prom_finish(p, len);
}

/* ---- Firecracker's metrics file ---- */

static void totals_read(struct metrics_totals *t, const struct vm *vm, const struct vmm_stats *st,
			uint64_t missed)
{
	memset(t, 0, sizeof(*t));
	for (unsigned int i = 0; vm && i < vm->nr_vcpus; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;

		for (int k = 0; k < VCPU_NR_EXIT_KINDS; k++)
			t->vcpu_exits[k] += stats_get(s->exits[k]);
		t->vcpu_run_ns += stats_get(s->run_ns);
	}
	t->pauses = stats_get(st->pauses);
	t->resumes = stats_get(st->resumes);
	t->snapshots_full = stats_get(st->snapshots_full);
	t->snapshots_diff = stats_get(st->snapshots_diff);
	t->snapshot_failures = stats_get(st->snapshot_failures);
	t->api_requests = stats_get(st->api_requests);
	t->api_client_errors = stats_get(st->api_client_errors);
	t->api_server_errors = stats_get(st->api_server_errors);
	t->missed_flushes = missed;
}

/*
 * Integers as written, not through cJSON's double: a counter past 2^53 or
 * a round 10^17 would come out rounded or as 1e+17, which u64 readers
 * (Firecracker's own tooling uses serde) refuse.
 */
static void json_u64(cJSON *o, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	cJSON_AddRawToObject(o, key, num);
}

/* A counter as Firecracker reports it: what it grew by since the last line. */
#define DELTA(o, key, field) json_u64(o, key, cur->field - prev->field)

static cJSON *json_obj(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_CreateObject();

	if (o && !cJSON_AddItemToObject(parent, key, o)) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *json_obj_get(cJSON *parent, const char *key)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(parent, key);

	return o ? o : json_obj(parent, key);
}

/*
 * Objects Firecracker writes even without the device, with the fields it
 * sums over devices ("block" over every block_<id>); a device's samples
 * add to these, and any other object a device names appears when it does.
 */
#define JSON_MAX_FIELDS 8
static const struct {
	bool kvmlet;
	const char *object;
	const char *fields[JSON_MAX_FIELDS];
} json_fixed[] = {
	{ false,
	  "block",
	  { "read_count", "write_count", "read_bytes", "write_bytes", "flush_count",
	    "execute_fails", "invalid_reqs_count" } },
	{ false,
	  "net",
	  { "rx_bytes_count", "rx_packets_count", "tx_bytes_count", "tx_packets_count" } },
	{ false, "vsock", { "rx_bytes_count", "tx_bytes_count", "conns_added" } },
	{ false, "entropy", { "entropy_event_count", "entropy_bytes" } },
	{ false, "uart", { "write_count", "read_count" } },
	{ true, "vsock", { "conns_closed", "conns_reset", "invalid_packets" } },
};

#define JSON_MAX_SUMS 64

/* Deltas summed per (kvmlet?, object, field), written once the walk is done. */
struct json_sum {
	bool kvmlet;
	const char *object, *field;
	uint64_t delta;
};

struct json_walk {
	cJSON *root, *kvmlet;
	struct metrics_totals *now;
	const struct metrics_totals *prev;
	struct json_sum sum[JSON_MAX_SUMS];
	unsigned int nr_sum;
};

static void json_sum_add(struct json_walk *jw, bool kvmlet, const char *object, const char *field,
			 uint64_t delta)
{
	for (unsigned int i = 0; i < jw->nr_sum; i++) {
		struct json_sum *s = &jw->sum[i];

		if (s->kvmlet == kvmlet && !strcmp(s->object, object) && !strcmp(s->field, field)) {
			s->delta += delta;
			return;
		}
	}
	if (jw->nr_sum < JSON_MAX_SUMS)
		jw->sum[jw->nr_sum++] = (struct json_sum){ kvmlet, object, field, delta };
}

static void json_sums_init(struct json_walk *jw)
{
	for (size_t i = 0; i < sizeof(json_fixed) / sizeof(json_fixed[0]); i++)
		for (unsigned int f = 0; f < JSON_MAX_FIELDS && json_fixed[i].fields[f]; f++)
			json_sum_add(jw, json_fixed[i].kvmlet, json_fixed[i].object,
				     json_fixed[i].fields[f], 0);
}

static void json_sums_write(struct json_walk *jw)
{
	for (unsigned int i = 0; i < jw->nr_sum; i++) {
		const struct json_sum *s = &jw->sum[i];
		cJSON *o = json_obj_get(s->kvmlet ? jw->kvmlet : jw->root, s->object);

		if (o)
			json_u64(o, s->field, s->delta);
	}
}

/*
 * One device sample: its delta since the last line (the walk's order is
 * fixed once the VM is published, so the n-th sample is always the same
 * one), in "<object>_<id>" and, for Firecracker's fields, summed into
 * "<object>"; a device without an id writes "<object>" itself.
 */
static void json_emit(void *ctx, const struct device *dev, const struct device_metric *m,
		      uint64_t value)
{
	struct json_walk *jw = ctx;
	unsigned int n = jw->now->nr_dev;
	uint64_t prev = n < jw->prev->nr_dev ? jw->prev->dev[n] : 0;
	char key[96];
	cJSON *o;

	if (n < METRICS_MAX_DEVICE_VALUES) {
		jw->now->dev[n] = value;
		jw->now->nr_dev++;
	}
	if (!m->json_object)
		return;
	if (dev->id) {
		snprintf(key, sizeof(key), "%s_%s", m->json_object, dev->id);
		o = json_obj_get(m->json_kvmlet ? jw->kvmlet : jw->root, key);
		if (o)
			json_u64(o, m->json_field, value - prev);
		/* Firecracker sums its own fields over devices; kvmlet's stay per device. */
		if (m->json_kvmlet)
			return;
	}
	json_sum_add(jw, m->json_kvmlet, m->json_object, m->json_field, value - prev);
}

/* The start of "kvmlet", what Firecracker has no field for, in its units-in-the-name style. */
static void json_kvmlet_head(cJSON *k, const struct vm *vm, const struct vmm_stats *st,
			     enum vm_state state, const struct metrics_totals *cur,
			     const struct metrics_totals *prev)
{
	uint64_t start = stats_get(st->start_ns);
	char key[32];
	cJSON *o;

	cJSON_AddStringToObject(k, "state", vm_state_name(state));
	json_u64(k, "uptime_us", since_start_ns(start, clock_ns(CLOCK_MONOTONIC)) / NS_PER_US);
	json_u64(k, "instance_start_us",
		 since_start_ns(start, stats_get(st->instance_start_ns)) / NS_PER_US);
	json_u64(k, "boot_done_us",
		 vm ? since_start_ns(vm->boot_timer.start_ns, stats_get(vm->boot_timer.done_ns)) /
				 NS_PER_US
		    : 0);
	if ((o = json_obj(k, "vcpu"))) {
		for (int i = 0; i < VCPU_NR_EXIT_KINDS; i++) {
			snprintf(key, sizeof(key), "exit_%s", vcpu_exit_kind_name(i));
			DELTA(o, key, vcpu_exits[i]);
		}
		/* Rounded per total, not per delta, so the lines add up to the total. */
		json_u64(o, "run_time_us",
			 cur->vcpu_run_ns / NS_PER_US - prev->vcpu_run_ns / NS_PER_US);
	}
}

static void json_kvmlet_tail(cJSON *k, const struct vmm_stats *st, const struct metrics_totals *cur,
			     const struct metrics_totals *prev)
{
	DELTA(k, "pause_count", pauses);
	DELTA(k, "resume_count", resumes);
	json_u64(k, "pause_max_us", stats_get(st->pause_ns_max) / NS_PER_US);
	DELTA(k, "snapshot_full_count", snapshots_full);
	DELTA(k, "snapshot_diff_count", snapshots_diff);
	DELTA(k, "snapshot_fails", snapshot_failures);
	json_u64(k, "snapshot_create_us", stats_get(st->snapshot_create_ns_last) / NS_PER_US);
	DELTA(k, "api_requests_count", api_requests);
	DELTA(k, "api_4xx_count", api_client_errors);
	DELTA(k, "api_5xx_count", api_server_errors);
}

/* The VMM's own objects after the devices': vcpu, latencies_us and logger. */
static void json_vmm(cJSON *root, const struct vmm_stats *st, const struct metrics_totals *cur,
		     const struct metrics_totals *prev)
{
	cJSON *o;

	if ((o = json_obj(root, "vcpu")))
		json_u64(o, "failures",
			 cur->vcpu_exits[VCPU_EXIT_INTERNAL_ERROR] +
				 cur->vcpu_exits[VCPU_EXIT_FAIL_ENTRY] -
				 prev->vcpu_exits[VCPU_EXIT_INTERNAL_ERROR] -
				 prev->vcpu_exits[VCPU_EXIT_FAIL_ENTRY]);
	/* Firecracker's latencies are the last duration, not deltas. */
	if ((o = json_obj(root, "latencies_us"))) {
		json_u64(o, "pause_vm", stats_get(st->pause_ns_last) / NS_PER_US);
		json_u64(o, "load_snapshot", stats_get(st->snapshot_load_ns_last) / NS_PER_US);
	}
	if ((o = json_obj(root, "logger")))
		DELTA(o, "missed_metrics_count", missed_flushes);
}

/* One line and the totals it reports; fs is not advanced. */
static char *json_render(const struct vm *vm, const struct vmm_stats *st, enum vm_state state,
			 const struct metrics_flush_state *fs, struct metrics_totals *now,
			 size_t *len)
{
	const struct metrics_totals *cur = now, *prev = &fs->last;
	struct json_walk *jw = calloc(1, sizeof(*jw));
	char *text = NULL, *line = NULL;

	if (!jw)
		return NULL;
	totals_read(now, vm, st, fs->missed_flushes);
	jw->root = cJSON_CreateObject();
	jw->kvmlet = cJSON_CreateObject();
	jw->now = now;
	jw->prev = prev;
	if (!jw->root || !jw->kvmlet)
		goto out;
	/* Firecracker's first field, always. */
	json_u64(jw->root, "utc_timestamp_ms", clock_ns(CLOCK_REALTIME) / 1000000);
	json_kvmlet_head(jw->kvmlet, vm, st, state, cur, prev);
	json_sums_init(jw);
	metrics_walk_devices(vm, &(struct device_stats_out){ json_emit, jw });
	json_sums_write(jw);
	json_vmm(jw->root, st, cur, prev);
	json_kvmlet_tail(jw->kvmlet, st, cur, prev);
	if (cJSON_AddItemToObject(jw->root, "kvmlet", jw->kvmlet))
		jw->kvmlet = NULL;
	text = cJSON_PrintUnformatted(jw->root);
	if (!text)
		goto out;
	*len = strlen(text) + 1;
	line = malloc(*len + 1);
	if (line) {
		memcpy(line, text, *len - 1);
		line[*len - 1] = '\n';
		line[*len] = '\0';
	}
out:
	cJSON_free(text);
	cJSON_Delete(jw->kvmlet);
	cJSON_Delete(jw->root);
	free(jw);
	return line;
}

char *metrics_firecracker_json(const struct vm *vm, const struct vmm_stats *st, enum vm_state state,
			       struct metrics_flush_state *fs, size_t *len)
{
	struct metrics_totals *now = malloc(sizeof(*now));
	char *line = now ? json_render(vm, st, state, fs, now, len) : NULL;

	if (line)
		fs->last = *now;
	free(now);
	return line;
}

/* ---- the file ---- */

int metrics_sink_open(struct metrics_sink *s, const char *path, struct err *err)
{
	struct stat sb;
	int fd, e;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	/*
	 * As Firecracker: read-write so that a FIFO opens before anyone reads
	 * it (write-only would fail with ENXIO) and a reader going away never
	 * means EPIPE; non-blocking so a full pipe drops a line instead of
	 * stalling the API. No O_CREAT: Firecracker's docs have the user
	 * create the file or FIFO, and the API must not make files.
	 */
	fd = open(path, O_RDWR | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT)
			return err_set(err, -e,
				       "metrics_path '%s' does not exist: create the file or FIFO "
				       "first",
				       path);
		return err_set(err, -e, "cannot open metrics_path '%s': %s", path, strerror(e));
	}
	if (fstat(fd, &sb) < 0 || !(S_ISREG(sb.st_mode) || S_ISFIFO(sb.st_mode))) {
		close(fd);
		return err_set(err, -EINVAL, "metrics_path '%s' is not a regular file or a FIFO",
			       path);
	}
	s->fd = fd;
	return 0;
}

/* Returns bytes written, 0 for a full pipe, or -errno. */
static ssize_t sink_write(int fd, const char *buf, size_t len)
{
	ssize_t n;

	do
		n = write(fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return n;
}

static int sink_dropped(struct metrics_sink *s, struct err *err)
{
	s->fs.missed_flushes++;
	return err_set(err, -EAGAIN, "metrics pipe full: line dropped");
}

int metrics_sink_flush(struct metrics_sink *s, const struct vm *vm, const struct vmm_stats *st,
		       enum vm_state state, struct err *err)
{
	struct metrics_totals *now;
	char *line;
	size_t len;
	ssize_t n;

	if (s->fd < 0)
		return 0;
	/* A line cut in two would corrupt the stream: finish it or add nothing. */
	if (s->pending) {
		n = sink_write(s->fd, s->pending + s->pending_off, s->pending_len - s->pending_off);
		if (n < 0)
			return err_set(err, (int)n, "writing metrics: %s", strerror((int)-n));
		s->pending_off += (size_t)n;
		if (s->pending_off < s->pending_len)
			return sink_dropped(s, err);
		free(s->pending);
		s->pending = NULL;
	}
	now = malloc(sizeof(*now));
	line = now ? json_render(vm, st, state, &s->fs, now, &len) : NULL;
	if (!line) {
		free(now);
		return err_set(err, -ENOMEM, "rendering metrics: out of memory");
	}
	n = sink_write(s->fd, line, len);
	/* Not written: its deltas belong to the next line. */
	if (n > 0)
		s->fs.last = *now;
	free(now);
	if (n <= 0) {
		free(line);
		if (n < 0)
			return err_set(err, (int)n, "writing metrics: %s", strerror((int)-n));
		return sink_dropped(s, err);
	}
	if ((size_t)n < len) {
		s->pending = line;
		s->pending_len = len;
		s->pending_off = (size_t)n;
		return 0;
	}
	free(line);
	return 0;
}

void metrics_sink_close(struct metrics_sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->pending);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
