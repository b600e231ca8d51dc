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

#include "devices/legacy/serial.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/rng/rng.h"
#include "devices/virtio/vsock/vsock.h"
#include "lib/clock.h"
#include "vmm/metrics.h"
#include "vmm/vm.h"

#define NS_PER_US    UINT64_C(1000)
#define NS_PER_SEC   UINT64_C(1000000000)
/* lifecycle.h has no count; every state from Not started to Halted is shown. */
#define NR_VM_STATES (VM_STATE_HALTED + 1)

/* Time from the VMM's start to a milestone, 0 until it happens. */
static uint64_t since_start_ns(uint64_t start, uint64_t at)
{
	return at > start ? at - start : 0;
}

/* ---- reading the counters, the same way for both formats ---- */

static void blk_read(struct blk_stats *o, const struct blk_stats *s)
{
	o->read_ops = stats_get(s->read_ops);
	o->write_ops = stats_get(s->write_ops);
	o->flush_ops = stats_get(s->flush_ops);
	o->discard_ops = stats_get(s->discard_ops);
	o->write_zeroes_ops = stats_get(s->write_zeroes_ops);
	o->get_id_ops = stats_get(s->get_id_ops);
	o->read_bytes = stats_get(s->read_bytes);
	o->write_bytes = stats_get(s->write_bytes);
	o->io_errors = stats_get(s->io_errors);
	o->invalid_requests = stats_get(s->invalid_requests);
}

static void net_read(struct net_stats *o, const struct net_stats *s)
{
	o->tx_packets = stats_get(s->tx_packets);
	o->tx_bytes = stats_get(s->tx_bytes);
	o->tx_drops = stats_get(s->tx_drops);
	o->rx_packets = stats_get(s->rx_packets);
	o->rx_bytes = stats_get(s->rx_bytes);
	o->rx_drops = stats_get(s->rx_drops);
	o->errors = stats_get(s->errors);
}

static bool vsock_read(struct vsock_stats *o, const struct vm *vm)
{
	const struct vsock_stats *s;

	if (!vm || !vm->vsock)
		return false;
	s = virtio_vsock_stats(vm->vsock);
	o->conns_opened = stats_get(s->conns_opened);
	o->conns_closed = stats_get(s->conns_closed);
	o->conns_reset = stats_get(s->conns_reset);
	o->tx_bytes = stats_get(s->tx_bytes);
	o->rx_bytes = stats_get(s->rx_bytes);
	o->invalid_packets = stats_get(s->invalid_packets);
	return true;
}

static bool rng_read(struct rng_stats *o, const struct vm *vm)
{
	const struct rng_stats *s;

	if (!vm || !vm->rng)
		return false;
	s = virtio_rng_stats(vm->rng);
	o->requests = stats_get(s->requests);
	o->bytes = stats_get(s->bytes);
	return true;
}

static bool serial_read(uint64_t *tx, uint64_t *rx, const struct vm *vm)
{
	if (!vm || !vm->serial)
		return false;
	serial_stats(vm->serial, tx, rx);
	return true;
}

/* ---- Prometheus text format 0.0.4 ---- */

enum family {
	F_VM_STATE,
	F_UPTIME,
	F_INSTANCE_START,
	F_BOOT_DONE,
	F_VCPU_EXITS,
	F_VCPU_RUN,
	F_BLK_OPS,
	F_BLK_BYTES,
	F_BLK_IO_ERRORS,
	F_BLK_INVALID,
	F_NET_PACKETS,
	F_NET_BYTES,
	F_NET_DROPS,
	F_NET_ERRORS,
	F_VSOCK_CONNS,
	F_VSOCK_BYTES,
	F_VSOCK_INVALID,
	F_RNG_REQUESTS,
	F_RNG_BYTES,
	F_SERIAL_BYTES,
	F_PAUSES,
	F_RESUMES,
	F_PAUSE_LAST,
	F_PAUSE_MAX,
	F_SNAPSHOTS,
	F_SNAPSHOT_FAILURES,
	F_SNAPSHOT_CREATE_LAST,
	F_SNAPSHOT_LOAD_LAST,
	F_API_REQUESTS,
	F_API_ERRORS,
	NR_FAMILIES
};

static const struct {
	const char *name, *type, *help;
} families[NR_FAMILIES] = {
	[F_VM_STATE] = { "kvmlet_vm_state", "gauge",
			 "1 for the VM's lifecycle state, 0 for the others." },
	[F_UPTIME] = { "kvmlet_uptime_seconds", "gauge", "Time since the VMM process started." },
	[F_INSTANCE_START] = { "kvmlet_instance_start_seconds", "gauge",
			       "From the VMM's start until the vCPUs first ran (boot or "
			       "snapshot load); absent before." },
	[F_BOOT_DONE] = { "kvmlet_boot_done_seconds", "gauge",
			  "From the VMM's start until the guest wrote boot-done to the boot "
			  "timer; absent before." },
	[F_VCPU_EXITS] = { "kvmlet_vcpu_exits_total", "counter",
			   "Returns from KVM_RUN, by vCPU and reason." },
	[F_VCPU_RUN] = { "kvmlet_vcpu_run_seconds_total", "counter",
			 "Time each vCPU spent inside KVM_RUN." },
	[F_BLK_OPS] = { "kvmlet_block_requests_total", "counter",
			"Successful virtio-blk requests by drive and operation." },
	[F_BLK_BYTES] = { "kvmlet_block_bytes_total", "counter",
			  "Bytes read from and written to each drive's backend." },
	[F_BLK_IO_ERRORS] = { "kvmlet_block_io_errors_total", "counter",
			      "Requests answered VIRTIO_BLK_S_IOERR for a backend failure." },
	[F_BLK_INVALID] = { "kvmlet_block_invalid_requests_total", "counter",
			    "Malformed or unsupported requests." },
	[F_NET_PACKETS] = { "kvmlet_net_packets_total", "counter",
			    "Frames by interface; rx is to the guest, tx from it." },
	[F_NET_BYTES] = { "kvmlet_net_bytes_total", "counter",
			  "Frame bytes by interface; rx is to the guest, tx from it." },
	[F_NET_DROPS] = { "kvmlet_net_drops_total", "counter",
			  "Frames dropped by interface and direction." },
	[F_NET_ERRORS] = { "kvmlet_net_errors_total", "counter",
			   "Malformed chains and TAP failures by interface." },
	[F_VSOCK_CONNS] = { "kvmlet_vsock_connections_total", "counter",
			    "vsock connections opened, closed and reset." },
	[F_VSOCK_BYTES] = { "kvmlet_vsock_bytes_total", "counter",
			    "vsock stream bytes; rx is to the guest, tx from it." },
	[F_VSOCK_INVALID] = { "kvmlet_vsock_invalid_packets_total", "counter",
			      "vsock packets the device refused." },
	[F_RNG_REQUESTS] = { "kvmlet_rng_requests_total", "counter",
			     "virtio-rng requests served." },
	[F_RNG_BYTES] = { "kvmlet_rng_bytes_total", "counter", "Random bytes given to the guest." },
	[F_SERIAL_BYTES] = { "kvmlet_serial_bytes_total", "counter",
			     "Serial port bytes; rx is to the guest, tx from it." },
	[F_PAUSES] = { "kvmlet_pauses_total", "counter", "Times the VM was paused." },
	[F_RESUMES] = { "kvmlet_resumes_total", "counter", "Times the VM was resumed." },
	[F_PAUSE_LAST] = { "kvmlet_pause_last_seconds", "gauge",
			   "Last pause, from the request until every vCPU stopped." },
	[F_PAUSE_MAX] = { "kvmlet_pause_max_seconds", "gauge", "Longest pause so far." },
	[F_SNAPSHOTS] = { "kvmlet_snapshots_total", "counter", "Snapshots created, by type." },
	[F_SNAPSHOT_FAILURES] = { "kvmlet_snapshot_failures_total", "counter",
				  "Snapshot creations and loads that failed." },
	[F_SNAPSHOT_CREATE_LAST] = { "kvmlet_snapshot_create_last_seconds", "gauge",
				     "Duration of the last snapshot creation." },
	[F_SNAPSHOT_LOAD_LAST] = { "kvmlet_snapshot_load_last_seconds", "gauge",
				   "Last snapshot load, from the request until the guest could "
				   "run." },
	[F_API_REQUESTS] = { "kvmlet_api_requests_total", "counter",
			     "Requests the control API answered." },
	[F_API_ERRORS] = { "kvmlet_api_errors_total", "counter",
			   "Control API error answers by status class." },
};

struct prom {
	FILE *f;
	bool started[NR_FAMILIES];
};

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void prom_escape(FILE *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else if (*s == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*s, f);
	}
}

/*
 * Starts a sample line. HELP and TYPE come before a family's first sample,
 * so families without samples (no such device) leave nothing behind; the
 * callers emit each family's samples together, as the format requires.
 * Labels are name/value pairs, NULL-terminated.
 */
static void prom_line(struct prom *p, enum family fam, const char *const *labels)
{
	FILE *f = p->f;

	if (!p->started[fam]) {
		p->started[fam] = true;
		fprintf(f, "# HELP %s ", families[fam].name);
		prom_escape(f, families[fam].help, false);
		fprintf(f, "\n# TYPE %s %s\n", families[fam].name, families[fam].type);
	}
	fputs(families[fam].name, f);
	for (unsigned int i = 0; labels && labels[i]; i += 2) {
		fprintf(f, "%s%s=\"", i ? "," : "{", labels[i]);
		prom_escape(f, labels[i + 1], true);
		fputc('"', f);
		if (!labels[i + 2])
			fputc('}', f);
	}
	fputc(' ', f);
}

static void prom_u64(struct prom *p, enum family fam, const char *const *labels, uint64_t v)
{
	prom_line(p, fam, labels);
	fprintf(p->f, "%" PRIu64 "\n", v);
}

/* Exact decimal seconds: a double would round nanoseconds away. */
static void prom_secs(struct prom *p, enum family fam, const char *const *labels, uint64_t ns)
{
	prom_line(p, fam, labels);
	fprintf(p->f, "%" PRIu64 ".%09" PRIu64 "\n", ns / NS_PER_SEC, ns % NS_PER_SEC);
}

#define LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void prom_lifecycle(struct prom *p, const struct vm *vm, const struct vmm_stats *st,
			   enum vm_state state)
{
	uint64_t start = stats_get(st->start_ns), at;

	for (int s = 0; s < NR_VM_STATES; s++)
		prom_u64(p, F_VM_STATE, LABELS("state", vm_state_name(s)), s == (int)state);
	prom_secs(p, F_UPTIME, NULL, since_start_ns(start, clock_ns(CLOCK_MONOTONIC)));
	at = stats_get(st->instance_start_ns);
	if (at)
		prom_secs(p, F_INSTANCE_START, NULL, since_start_ns(start, at));
	/* The boot timer counts from its own start, set when the VM was made. */
	at = vm ? stats_get(vm->boot_timer.done_ns) : 0;
	if (at)
		prom_secs(p, F_BOOT_DONE, NULL, since_start_ns(vm->boot_timer.start_ns, at));
}

static void prom_vcpus(struct prom *p, const struct vm *vm)
{
	char id[16];

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		const struct vcpu_stats *s = &vm->vcpus[i].stats;

		snprintf(id, sizeof(id), "%u", vm->vcpus[i].id);
		for (int k = 0; k < VCPU_NR_EXIT_KINDS; k++)
			prom_u64(p, F_VCPU_EXITS,
				 LABELS("vcpu", id, "reason", vcpu_exit_kind_name(k)),
				 stats_get(s->exits[k]));
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		snprintf(id, sizeof(id), "%u", vm->vcpus[i].id);
		prom_secs(p, F_VCPU_RUN, LABELS("vcpu", id), stats_get(vm->vcpus[i].stats.run_ns));
	}
}

static void prom_blk(struct prom *p, const struct vm *vm)
{
	struct blk_stats b[CONFIG_MAX_DRIVES];
	const char *id[CONFIG_MAX_DRIVES];
	unsigned int n = vm->nr_blk;

	for (unsigned int i = 0; i < n; i++) {
		blk_read(&b[i], virtio_blk_stats(vm->blk[i]));
		id[i] = virtio_blk_id(vm->blk[i]);
	}
	for (unsigned int i = 0; i < n; i++) {
		const struct {
			const char *op;
			uint64_t v;
		} ops[] = {
			{ "read", b[i].read_ops },
			{ "write", b[i].write_ops },
			{ "flush", b[i].flush_ops },
			{ "discard", b[i].discard_ops },
			{ "write_zeroes", b[i].write_zeroes_ops },
			{ "get_id", b[i].get_id_ops },
		};

		for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
			prom_u64(p, F_BLK_OPS, LABELS("drive", id[i], "op", ops[k].op), ops[k].v);
	}
	for (unsigned int i = 0; i < n; i++) {
		prom_u64(p, F_BLK_BYTES, LABELS("drive", id[i], "op", "read"), b[i].read_bytes);
		prom_u64(p, F_BLK_BYTES, LABELS("drive", id[i], "op", "write"), b[i].write_bytes);
	}
	for (unsigned int i = 0; i < n; i++)
		prom_u64(p, F_BLK_IO_ERRORS, LABELS("drive", id[i]), b[i].io_errors);
	for (unsigned int i = 0; i < n; i++)
		prom_u64(p, F_BLK_INVALID, LABELS("drive", id[i]), b[i].invalid_requests);
}

static void prom_net(struct prom *p, const struct vm *vm)
{
	struct net_stats s[CONFIG_MAX_NETS];
	const char *id[CONFIG_MAX_NETS];
	unsigned int n = vm->nr_net;

	for (unsigned int i = 0; i < n; i++) {
		net_read(&s[i], virtio_net_stats(vm->net[i]));
		id[i] = virtio_net_id(vm->net[i]);
	}
	for (unsigned int i = 0; i < n; i++) {
		prom_u64(p, F_NET_PACKETS, LABELS("iface", id[i], "direction", "rx"),
			 s[i].rx_packets);
		prom_u64(p, F_NET_PACKETS, LABELS("iface", id[i], "direction", "tx"),
			 s[i].tx_packets);
	}
	for (unsigned int i = 0; i < n; i++) {
		prom_u64(p, F_NET_BYTES, LABELS("iface", id[i], "direction", "rx"), s[i].rx_bytes);
		prom_u64(p, F_NET_BYTES, LABELS("iface", id[i], "direction", "tx"), s[i].tx_bytes);
	}
	for (unsigned int i = 0; i < n; i++) {
		prom_u64(p, F_NET_DROPS, LABELS("iface", id[i], "direction", "rx"), s[i].rx_drops);
		prom_u64(p, F_NET_DROPS, LABELS("iface", id[i], "direction", "tx"), s[i].tx_drops);
	}
	for (unsigned int i = 0; i < n; i++)
		prom_u64(p, F_NET_ERRORS, LABELS("iface", id[i]), s[i].errors);
}

static void prom_devices(struct prom *p, const struct vm *vm)
{
	struct vsock_stats vs;
	struct rng_stats rs;
	uint64_t tx, rx;

	prom_blk(p, vm);
	prom_net(p, vm);
	if (vsock_read(&vs, vm)) {
		prom_u64(p, F_VSOCK_CONNS, LABELS("event", "opened"), vs.conns_opened);
		prom_u64(p, F_VSOCK_CONNS, LABELS("event", "closed"), vs.conns_closed);
		prom_u64(p, F_VSOCK_CONNS, LABELS("event", "reset"), vs.conns_reset);
		prom_u64(p, F_VSOCK_BYTES, LABELS("direction", "rx"), vs.rx_bytes);
		prom_u64(p, F_VSOCK_BYTES, LABELS("direction", "tx"), vs.tx_bytes);
		prom_u64(p, F_VSOCK_INVALID, NULL, vs.invalid_packets);
	}
	if (rng_read(&rs, vm)) {
		prom_u64(p, F_RNG_REQUESTS, NULL, rs.requests);
		prom_u64(p, F_RNG_BYTES, NULL, rs.bytes);
	}
	if (serial_read(&tx, &rx, vm)) {
		prom_u64(p, F_SERIAL_BYTES, LABELS("direction", "rx"), rx);
		prom_u64(p, F_SERIAL_BYTES, LABELS("direction", "tx"), tx);
	}
}

static void prom_vmm(struct prom *p, const struct vmm_stats *st)
{
	prom_u64(p, F_PAUSES, NULL, stats_get(st->pauses));
	prom_u64(p, F_RESUMES, NULL, stats_get(st->resumes));
	prom_secs(p, F_PAUSE_LAST, NULL, stats_get(st->pause_ns_last));
	prom_secs(p, F_PAUSE_MAX, NULL, stats_get(st->pause_ns_max));
	prom_u64(p, F_SNAPSHOTS, LABELS("type", "full"), stats_get(st->snapshots_full));
	prom_u64(p, F_SNAPSHOTS, LABELS("type", "diff"), stats_get(st->snapshots_diff));
	prom_u64(p, F_SNAPSHOT_FAILURES, NULL, stats_get(st->snapshot_failures));
	prom_secs(p, F_SNAPSHOT_CREATE_LAST, NULL, stats_get(st->snapshot_create_ns_last));
	prom_secs(p, F_SNAPSHOT_LOAD_LAST, NULL, stats_get(st->snapshot_load_ns_last));
	prom_u64(p, F_API_REQUESTS, NULL, stats_get(st->api_requests));
	prom_u64(p, F_API_ERRORS, LABELS("class", "4xx"), stats_get(st->api_client_errors));
	prom_u64(p, F_API_ERRORS, LABELS("class", "5xx"), stats_get(st->api_server_errors));
}

char *metrics_prometheus(const struct vm *vm, const struct vmm_stats *st, enum vm_state state,
			 size_t *len)
{
	struct prom p = { 0 };
	char *buf = NULL;
	size_t n = 0;
	bool bad;

	p.f = open_memstream(&buf, &n);
	if (!p.f)
		return NULL;
	prom_lifecycle(&p, vm, st, state);
	if (vm) {
		prom_vcpus(&p, vm);
		prom_devices(&p, vm);
	}
	prom_vmm(&p, st);
	/* A stream that ran out of memory says so here, and only here. */
	bad = ferror(p.f);
	if (fclose(p.f) || bad) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* ---- Firecracker's metrics file ---- */

static void totals_read(struct metrics_totals *t, const struct vm *vm, const struct vmm_stats *st,
			uint64_t missed)
{
	memset(t, 0, sizeof(*t));
	if (vm) {
		for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
			const struct vcpu_stats *s = &vm->vcpus[i].stats;

			for (int k = 0; k < VCPU_NR_EXIT_KINDS; k++)
				t->vcpu_exits[k] += stats_get(s->exits[k]);
			t->vcpu_run_ns += stats_get(s->run_ns);
		}
		for (unsigned int i = 0; i < vm->nr_blk; i++)
			blk_read(&t->blk[i], virtio_blk_stats(vm->blk[i]));
		for (unsigned int i = 0; i < vm->nr_net; i++)
			net_read(&t->net[i], virtio_net_stats(vm->net[i]));
		vsock_read(&t->vsock, vm);
		rng_read(&t->rng, vm);
		serial_read(&t->serial_tx, &t->serial_rx, vm);
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

/* Firecracker's BlockDeviceMetrics fields that kvmlet counts the same way. */
static void json_blk(cJSON *o, const struct blk_stats *cur, const struct blk_stats *prev)
{
	DELTA(o, "read_count", read_ops);
	DELTA(o, "write_count", write_ops);
	DELTA(o, "read_bytes", read_bytes);
	DELTA(o, "write_bytes", write_bytes);
	DELTA(o, "flush_count", flush_ops);
	DELTA(o, "execute_fails", io_errors);
	DELTA(o, "invalid_reqs_count", invalid_requests);
}

static void json_net(cJSON *o, const struct net_stats *cur, const struct net_stats *prev)
{
	DELTA(o, "rx_bytes_count", rx_bytes);
	DELTA(o, "rx_packets_count", rx_packets);
	DELTA(o, "tx_bytes_count", tx_bytes);
	DELTA(o, "tx_packets_count", tx_packets);
}

static void blk_sum(struct blk_stats *a, const struct blk_stats *b)
{
	a->read_ops += b->read_ops;
	a->write_ops += b->write_ops;
	a->flush_ops += b->flush_ops;
	a->read_bytes += b->read_bytes;
	a->write_bytes += b->write_bytes;
	a->io_errors += b->io_errors;
	a->invalid_requests += b->invalid_requests;
}

static void net_sum(struct net_stats *a, const struct net_stats *b)
{
	a->rx_bytes += b->rx_bytes;
	a->rx_packets += b->rx_packets;
	a->tx_bytes += b->tx_bytes;
	a->tx_packets += b->tx_packets;
}

/*
 * block_<id>, net_<id> and the "block"/"net" aggregates, which Firecracker
 * writes even without devices.
 */
static void json_devices(cJSON *root, const struct vm *vm, const struct metrics_totals *cur,
			 const struct metrics_totals *prev)
{
	struct blk_stats bc = { 0 }, bp = { 0 };
	struct net_stats nc = { 0 }, np = { 0 };
	char key[8 + BLK_ID_MAX + NET_ID_MAX];
	cJSON *o;

	for (unsigned int i = 0; vm && i < vm->nr_blk; i++) {
		snprintf(key, sizeof(key), "block_%s", virtio_blk_id(vm->blk[i]));
		if ((o = json_obj(root, key)))
			json_blk(o, &cur->blk[i], &prev->blk[i]);
		blk_sum(&bc, &cur->blk[i]);
		blk_sum(&bp, &prev->blk[i]);
	}
	if ((o = json_obj(root, "block")))
		json_blk(o, &bc, &bp);
	for (unsigned int i = 0; vm && i < vm->nr_net; i++) {
		snprintf(key, sizeof(key), "net_%s", virtio_net_id(vm->net[i]));
		if ((o = json_obj(root, key)))
			json_net(o, &cur->net[i], &prev->net[i]);
		net_sum(&nc, &cur->net[i]);
		net_sum(&np, &prev->net[i]);
	}
	if ((o = json_obj(root, "net")))
		json_net(o, &nc, &np);
	if ((o = json_obj(root, "vsock"))) {
		DELTA(o, "rx_bytes_count", vsock.rx_bytes);
		DELTA(o, "tx_bytes_count", vsock.tx_bytes);
		DELTA(o, "conns_added", vsock.conns_opened);
	}
	if ((o = json_obj(root, "entropy"))) {
		DELTA(o, "entropy_event_count", rng.requests);
		DELTA(o, "entropy_bytes", rng.bytes);
	}
	/* Firecracker's UART counts a write or read per byte. */
	if ((o = json_obj(root, "uart"))) {
		DELTA(o, "write_count", serial_tx);
		DELTA(o, "read_count", serial_rx);
	}
}

/* What Firecracker has no field for, in its units-in-the-name style. */
static void json_kvmlet(cJSON *root, const struct vm *vm, const struct vmm_stats *st,
			enum vm_state state, const struct metrics_totals *cur,
			const struct metrics_totals *prev)
{
	uint64_t start = stats_get(st->start_ns);
	char key[16 + BLK_ID_MAX + NET_ID_MAX];
	cJSON *k = json_obj(root, "kvmlet"), *o;

	if (!k)
		return;
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
	for (unsigned int i = 0; vm && i < vm->nr_blk; i++) {
		snprintf(key, sizeof(key), "block_%s", virtio_blk_id(vm->blk[i]));
		if ((o = json_obj(k, key))) {
			DELTA(o, "discard_count", blk[i].discard_ops);
			DELTA(o, "write_zeroes_count", blk[i].write_zeroes_ops);
			DELTA(o, "get_id_count", blk[i].get_id_ops);
		}
	}
	for (unsigned int i = 0; vm && i < vm->nr_net; i++) {
		snprintf(key, sizeof(key), "net_%s", virtio_net_id(vm->net[i]));
		if ((o = json_obj(k, key))) {
			DELTA(o, "rx_drops", net[i].rx_drops);
			DELTA(o, "tx_drops", net[i].tx_drops);
			DELTA(o, "errors", net[i].errors);
		}
	}
	if ((o = json_obj(k, "vsock"))) {
		DELTA(o, "conns_closed", vsock.conns_closed);
		DELTA(o, "conns_reset", vsock.conns_reset);
		DELTA(o, "invalid_packets", vsock.invalid_packets);
	}
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

char *metrics_firecracker_json(const struct vm *vm, const struct vmm_stats *st, enum vm_state state,
			       struct metrics_flush_state *fs, size_t *len)
{
	struct metrics_totals now;
	const struct metrics_totals *cur = &now, *prev = &fs->last;
	cJSON *root = cJSON_CreateObject(), *o;
	char *text, *line = NULL;

	if (!root)
		return NULL;
	totals_read(&now, vm, st, fs->missed_flushes);
	/* Firecracker's first field, always. */
	json_u64(root, "utc_timestamp_ms", clock_ns(CLOCK_REALTIME) / 1000000);
	json_devices(root, vm, cur, prev);
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
	json_kvmlet(root, vm, st, state, cur, prev);

	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return NULL;
	*len = strlen(text) + 1;
	line = malloc(*len + 1);
	if (line) {
		memcpy(line, text, *len - 1);
		line[*len - 1] = '\n';
		line[*len] = '\0';
		fs->last = now;
	}
	cJSON_free(text);
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
	struct metrics_totals before;
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
	before = s->fs.last;
	line = metrics_firecracker_json(vm, st, state, &s->fs, &len);
	if (!line)
		return err_set(err, -ENOMEM, "rendering metrics: out of memory");
	n = sink_write(s->fd, line, len);
	if (n <= 0) {
		/* Not written: its deltas belong to the next line. */
		s->fs.last = before;
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
