// SPDX-License-Identifier: Apache-2.0
/*
 * Metrics: the Prometheus text checked line by line against the exposition
 * format, Firecracker's JSON line parsed back, deltas between flushes, and
 * the metrics file on a FIFO nobody reads. The VM is assembled by hand:
 * fake vCPUs with set counters and real devices (no KVM, no TAP).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/legacy/serial.h"
#include "devices/stats.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/rng/rng.h"
#include "devices/virtio/vsock/vsock.h"
#include "tests/unit/images.h"
#include "vmm/metrics.h"
#include "vmm/vm.h"

#define NR_VCPUS    2
#define DRIVE_ID    "d\"q\\x" /* d"q\x: both characters labels must escape */
#define DRIVE_LABEL "drive=\"d\\\"q\\\\x\""

struct fx {
	char dir[64];
	char img[96], uds[96];
	struct guest_memory gm;
	struct vm *vm;
	struct vcpu vcpus[NR_VCPUS];
	struct vmm_stats st;
	struct blk_stats *blk_stats; /* the drive's own counters, to move them */
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct blk_params bp = { .id = (char *)DRIVE_ID, .queues = 1 };
	struct vsock_params vp = { .guest_cid = 3 };
	struct err err = { 0 };
	struct virtio_blk *blk;
	struct virtio_vsock *vsock;
	struct virtio_rng *rng;
	struct serial *serial;
	int fd;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/kvmlet-metrics-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->img, sizeof(f->img), "%s/disk.img", f->dir);
	snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
	fd = open(f->img, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	test_gm_alloc(&f->gm, 16 << 20);

	f->vm = calloc(1, sizeof(*f->vm));
	assert_non_null(f->vm);
	for (unsigned int i = 0; i < NR_VCPUS; i++) {
		f->vcpus[i].id = i;
		f->vcpus[i].stats.exits[VCPU_EXIT_IO] = 10 * (i + 1);
		f->vcpus[i].stats.exits[VCPU_EXIT_MMIO] = 7;
		f->vcpus[i].stats.run_ns = 1500000000ULL; /* 1.5 s */
	}
	f->vm->vcpus = f->vcpus;
	f->vm->nr_vcpus = NR_VCPUS;
	bp.path = f->img;
	/* In the board's order: virtio devices, then the legacy ones. */
	blk = virtio_blk_create(&bp, &f->gm, &err);
	if (!blk)
		fail_msg("virtio_blk_create: %s", err.msg);
	assert_int_equal(registry_add(&f->vm->devices, virtio_device(virtio_blk_dev(blk))), 0);
	f->blk_stats = (struct blk_stats *)virtio_blk_stats(blk);
	vp.uds_path = f->uds;
	vsock = virtio_vsock_create(&vp, &f->gm, &err);
	if (!vsock)
		fail_msg("virtio_vsock_create: %s", err.msg);
	assert_int_equal(registry_add(&f->vm->devices, virtio_device(virtio_vsock_dev(vsock))), 0);
	rng = virtio_rng_create(&f->gm);
	assert_non_null(rng);
	assert_int_equal(registry_add(&f->vm->devices, virtio_device(virtio_rng_dev(rng))), 0);
	serial = serial_create(-1, -1, (struct irq_line){ 0 });
	assert_non_null(serial);
	assert_int_equal(registry_add(&f->vm->devices, serial_device(serial)), 0);
	f->vm->boot_timer.start_ns = 1000;
	f->vm->boot_timer.done_ns = 1000 + 250000000ULL; /* boot done after 0.25 s */

	f->st.start_ns = 5000;
	f->st.instance_start_ns = 5000 + 2000000ULL; /* 2 ms */
	f->st.api_requests = 12;
	f->st.api_client_errors = 3;
	f->st.api_server_errors = 1;
	f->st.pauses = 2;
	f->st.pause_ns_last = 4000000; /* 4 ms */
	f->st.pause_ns_max = 9000000;
	f->st.snapshots_full = 1;
	f->st.snapshot_load_ns_last = 30000000;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	registry_destroy(&f->vm->devices);
	free(f->vm);
	gm_free(&f->gm);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- a checker for the text exposition format 0.0.4 ---- */

struct family_seen {
	char name[96];
	bool help, type, samples, closed;
};

struct expo {
	struct family_seen fam[64];
	unsigned int nr_fam;
	char *series[512];
	unsigned int nr_series;
	int cur; /* family whose lines are being read, -1 before any */
};

static bool name_char(char c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

static struct family_seen *family(struct expo *e, const char *name, size_t len)
{
	for (unsigned int i = 0; i < e->nr_fam; i++)
		if (strlen(e->fam[i].name) == len && !memcmp(e->fam[i].name, name, len))
			return &e->fam[i];
	assert_true(e->nr_fam < 64 && len < sizeof(e->fam[0].name));
	memcpy(e->fam[e->nr_fam].name, name, len);
	return &e->fam[e->nr_fam++];
}

/* Switches to family fam; a family met again after another one is an error. */
static void enter(struct expo *e, struct family_seen *fam, const char *line)
{
	int idx = (int)(fam - e->fam);

	if (idx == e->cur)
		return;
	if (e->cur >= 0)
		e->fam[e->cur].closed = true;
	if (fam->closed)
		fail_msg("family %s is not contiguous: %s", fam->name, line);
	e->cur = idx;
}

static void check_comment(struct expo *e, const char *line)
{
	const char *p = line + 7, *name = p;
	struct family_seen *fam;
	bool help = !strncmp(line, "# HELP ", 7);

	if (!help && strncmp(line, "# TYPE ", 7))
		fail_msg("unexpected comment: %s", line);
	while (name_char(*p, p == name))
		p++;
	if (p == name || *p != ' ')
		fail_msg("bad metric name: %s", line);
	fam = family(e, name, (size_t)(p - name));
	enter(e, fam, line);
	if (fam->samples)
		fail_msg("HELP/TYPE after samples: %s", line);
	if (help) {
		if (fam->help || fam->type)
			fail_msg("HELP repeated or after TYPE: %s", line);
		fam->help = true;
		/* Only \\ and \n may be escaped in HELP. */
		for (p++; *p; p++)
			if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
				fail_msg("bad escape in HELP: %s", line);
			else if (*p == '\\')
				p++;
		return;
	}
	if (fam->type)
		fail_msg("TYPE repeated: %s", line);
	p++;
	if (strcmp(p, "counter") && strcmp(p, "gauge"))
		fail_msg("bad type: %s", line);
	if (!strcmp(p, "counter") && strcmp(fam->name + strlen(fam->name) - 6, "_total"))
		fail_msg("counter not named *_total: %s", line);
	fam->type = true;
}

/* name{label="value",...} value, with the value a number. */
static void check_sample(struct expo *e, const char *line)
{
	const char *p = line, *end;
	struct family_seen *fam;
	char *num_end;
	size_t series_len;

	while (name_char(*p, p == line))
		p++;
	if (p == line)
		fail_msg("bad sample name: %s", line);
	fam = family(e, line, (size_t)(p - line));
	enter(e, fam, line);
	if (!fam->help || !fam->type)
		fail_msg("sample before HELP and TYPE: %s", line);
	fam->samples = true;
	if (*p == '{') {
		do {
			const char *ln = ++p;

			while (name_char(*p, p == ln) && *p != ':')
				p++;
			if (p == ln || p[0] != '=' || p[1] != '"')
				fail_msg("bad label: %s", line);
			for (p += 2; *p != '"'; p++) {
				if (!*p || *p == '\n')
					fail_msg("unterminated label value: %s", line);
				if (*p == '\\') {
					p++;
					if (*p != '\\' && *p != '"' && *p != 'n')
						fail_msg("bad escape in label value: %s", line);
				}
			}
			p++;
		} while (*p == ',');
		if (*p++ != '}')
			fail_msg("bad label set: %s", line);
	}
	series_len = (size_t)(p - line);
	if (*p++ != ' ')
		fail_msg("no value: %s", line);
	end = p;
	strtod(end, &num_end);
	if (num_end == end || *num_end)
		fail_msg("bad value: %s", line);
	for (unsigned int i = 0; i < e->nr_series; i++)
		if (strlen(e->series[i]) == series_len && !memcmp(e->series[i], line, series_len))
			fail_msg("duplicate series: %s", line);
	assert_true(e->nr_series < 512);
	e->series[e->nr_series++] = strndup(line, series_len);
}

/* Checks the whole text; returns the number of samples. */
static unsigned int expo_check(const char *text, size_t len)
{
	struct expo e = { .cur = -1 };
	char *copy = strndup(text, len), *save = NULL, *line;
	unsigned int n;

	assert_int_equal(strlen(text), len);
	assert_true(len > 0 && text[len - 1] == '\n');
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			check_comment(&e, line);
		else
			check_sample(&e, line);
	}
	for (unsigned int i = 0; i < e.nr_fam; i++)
		if (!e.fam[i].help || !e.fam[i].type)
			fail_msg("family %s lacks HELP or TYPE", e.fam[i].name);
	n = e.nr_series;
	for (unsigned int i = 0; i < e.nr_series; i++)
		free(e.series[i]);
	free(copy);
	return n;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define assert_line(text, line)                                              \
	do {                                                                 \
		if (!has_line(text, line))                                   \
			fail_msg("missing line \"%s\" in:\n%s", line, text); \
	} while (0)

/* ---- Prometheus ---- */

static void prometheus_before_boot(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *t = metrics_prometheus(NULL, &f->st, VM_STATE_NOT_STARTED, &len);

	assert_non_null(t);
	expo_check(t, len);
	assert_line(t, "kvmlet_vm_state{state=\"Not started\"} 1");
	assert_line(t, "kvmlet_vm_state{state=\"Running\"} 0");
	assert_line(t, "kvmlet_api_requests_total 12");
	assert_line(t, "kvmlet_api_errors_total{class=\"4xx\"} 3");
	assert_line(t, "kvmlet_api_errors_total{class=\"5xx\"} 1");
	assert_null(strstr(t, "kvmlet_vcpu_"));
	assert_null(strstr(t, "kvmlet_block_"));
	assert_null(strstr(t, "kvmlet_boot_done_seconds"));
	free(t);

	/* Not yet started: no instance start time at all, not a 0. */
	f->st.instance_start_ns = 0;
	t = metrics_prometheus(NULL, &f->st, VM_STATE_NOT_STARTED, &len);
	assert_non_null(t);
	expo_check(t, len);
	assert_null(strstr(t, "kvmlet_instance_start_seconds"));
	free(t);
}

static void prometheus_running(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *t = metrics_prometheus(f->vm, &f->st, VM_STATE_RUNNING, &len);

	assert_non_null(t);
	assert_true(expo_check(t, len) > 50);
	assert_line(t, "kvmlet_vm_state{state=\"Running\"} 1");
	assert_line(t, "kvmlet_vm_state{state=\"Paused\"} 0");
	assert_line(t, "kvmlet_vm_state{state=\"Halted\"} 0");
	assert_line(t, "kvmlet_instance_start_seconds 0.002000000");
	assert_line(t, "kvmlet_boot_done_seconds 0.250000000");
	assert_line(t, "kvmlet_vcpu_exits_total{vcpu=\"0\",reason=\"io\"} 10");
	assert_line(t, "kvmlet_vcpu_exits_total{vcpu=\"1\",reason=\"io\"} 20");
	assert_line(t, "kvmlet_vcpu_exits_total{vcpu=\"1\",reason=\"mmio\"} 7");
	assert_line(t, "kvmlet_vcpu_exits_total{vcpu=\"1\",reason=\"hlt\"} 0");
	assert_line(t, "kvmlet_vcpu_run_seconds_total{vcpu=\"0\"} 1.500000000");
	assert_line(t, "kvmlet_block_requests_total{" DRIVE_LABEL ",op=\"read\"} 0");
	assert_line(t, "kvmlet_block_bytes_total{" DRIVE_LABEL ",op=\"write\"} 0");
	assert_line(t, "kvmlet_block_io_errors_total{" DRIVE_LABEL "} 0");
	assert_line(t, "kvmlet_vsock_connections_total{event=\"opened\"} 0");
	assert_line(t, "kvmlet_rng_bytes_total 0");
	assert_line(t, "kvmlet_serial_bytes_total{direction=\"tx\"} 0");
	assert_line(t, "kvmlet_pauses_total 2");
	assert_line(t, "kvmlet_pause_last_seconds 0.004000000");
	assert_line(t, "kvmlet_pause_max_seconds 0.009000000");
	assert_line(t, "kvmlet_snapshots_total{type=\"full\"} 1");
	assert_line(t, "kvmlet_snapshot_load_last_seconds 0.030000000");
	/* No TAP in unit tests: no interface, and no family without samples. */
	assert_null(strstr(t, "kvmlet_net_"));
	free(t);
}

/* ---- Firecracker's file ---- */

static uint64_t num(const cJSON *o, const char *path)
{
	char buf[128], *save = NULL;
	const cJSON *it = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
		it = cJSON_GetObjectItemCaseSensitive(it, k);
		if (!it)
			fail_msg("no field %s", path);
	}
	if (!cJSON_IsNumber(it))
		fail_msg("%s is not a number", path);
	return (uint64_t)cJSON_GetNumberValue(it);
}

static cJSON *json_line(struct fx *f, struct metrics_flush_state *fs)
{
	size_t len;
	char *t = metrics_firecracker_json(f->vm, &f->st, VM_STATE_RUNNING, fs, &len);
	cJSON *o;

	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	/* One line: a single '\n', at the end. */
	assert_true(len > 2 && t[len - 1] == '\n');
	assert_ptr_equal(strchr(t, '\n'), t + len - 1);
	o = cJSON_Parse(t);
	if (!o)
		fail_msg("not JSON: %s", t);
	assert_true(cJSON_IsObject(o));
	/* Firecracker writes the timestamp first. */
	assert_string_equal(o->child->string, "utc_timestamp_ms");
	free(t);
	return o;
}

static void firecracker_fields(void **state)
{
	struct fx *f = *state;
	struct metrics_flush_state fs = { 0 };
	cJSON *o = json_line(f, &fs);
	uint64_t now_ms = (uint64_t)time(NULL) * 1000;

	assert_true(num(o, "utc_timestamp_ms") + 60000 > now_ms);
	assert_true(num(o, "utc_timestamp_ms") < now_ms + 60000);
	assert_non_null(cJSON_GetObjectItemCaseSensitive(o, "block_" DRIVE_ID));
	assert_int_equal(num(o, "block.read_count"), 0);
	assert_int_equal(num(o, "block.write_bytes"), 0);
	assert_int_equal(num(o, "block.flush_count"), 0);
	assert_int_equal(num(o, "net.tx_packets_count"), 0);
	assert_int_equal(num(o, "net.rx_bytes_count"), 0);
	assert_int_equal(num(o, "vsock.conns_added"), 0);
	assert_int_equal(num(o, "entropy.entropy_bytes"), 0);
	assert_int_equal(num(o, "uart.write_count"), 0);
	assert_int_equal(num(o, "vcpu.failures"), 0);
	assert_int_equal(num(o, "latencies_us.pause_vm"), 4000);
	assert_int_equal(num(o, "latencies_us.load_snapshot"), 30000);
	assert_int_equal(num(o, "logger.missed_metrics_count"), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(o, "kvmlet"), "state")),
			    "Running");
	assert_int_equal(num(o, "kvmlet.vcpu.exit_io"), 30);
	assert_int_equal(num(o, "kvmlet.vcpu.exit_mmio"), 14);
	assert_int_equal(num(o, "kvmlet.vcpu.run_time_us"), 3000000);
	assert_int_equal(num(o, "kvmlet.instance_start_us"), 2000);
	assert_int_equal(num(o, "kvmlet.boot_done_us"), 250000);
	assert_int_equal(num(o, "kvmlet.api_requests_count"), 12);
	assert_int_equal(num(o, "kvmlet.api_4xx_count"), 3);
	assert_int_equal(num(o, "kvmlet.pause_count"), 2);
	assert_int_equal(num(o, "kvmlet.pause_max_us"), 9000);
	assert_int_equal(num(o, "kvmlet.snapshot_full_count"), 1);
	cJSON_Delete(o);
}

static void firecracker_deltas(void **state)
{
	struct fx *f = *state;
	struct metrics_flush_state fs = { 0 };
	cJSON *o;

	cJSON_Delete(json_line(f, &fs));
	f->vcpus[0].stats.exits[VCPU_EXIT_IO] += 5;
	f->vcpus[1].stats.exits[VCPU_EXIT_FAIL_ENTRY] += 1;
	f->vcpus[1].stats.run_ns += 2000000; /* 2 ms */
	f->st.api_requests += 4;
	f->st.pauses += 1;
	o = json_line(f, &fs);
	assert_int_equal(num(o, "kvmlet.vcpu.exit_io"), 5);
	assert_int_equal(num(o, "kvmlet.vcpu.exit_mmio"), 0);
	assert_int_equal(num(o, "kvmlet.vcpu.exit_fail_entry"), 1);
	assert_int_equal(num(o, "vcpu.failures"), 1);
	assert_int_equal(num(o, "kvmlet.vcpu.run_time_us"), 2000);
	assert_int_equal(num(o, "kvmlet.api_requests_count"), 4);
	assert_int_equal(num(o, "kvmlet.pause_count"), 1);
	/* Last durations and milestones are values, not deltas. */
	assert_int_equal(num(o, "latencies_us.pause_vm"), 4000);
	assert_int_equal(num(o, "kvmlet.boot_done_us"), 250000);
	cJSON_Delete(o);
	o = json_line(f, &fs);
	assert_int_equal(num(o, "kvmlet.vcpu.exit_io"), 0);
	assert_int_equal(num(o, "kvmlet.api_requests_count"), 0);
	cJSON_Delete(o);
}

/* A device's counters reach both formats through its stats op, as deltas in the file. */
static void device_counters(void **state)
{
	struct fx *f = *state;
	struct metrics_flush_state fs = { 0 };
	size_t len;
	char *t;
	cJSON *o;

	cJSON_Delete(json_line(f, &fs));
	stats_add(f->blk_stats->read_ops, 3);
	stats_add(f->blk_stats->discard_ops, 2);
	o = json_line(f, &fs);
	assert_int_equal(num(o, "block_" DRIVE_ID ".read_count"), 3);
	assert_int_equal(num(o, "block.read_count"), 3);
	assert_int_equal(num(o, "kvmlet.block_" DRIVE_ID ".discard_count"), 2);
	/* kvmlet's own fields are per drive; Firecracker's aggregate has none. */
	assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "kvmlet"),
						     "block"));
	cJSON_Delete(o);
	o = json_line(f, &fs);
	assert_int_equal(num(o, "block_" DRIVE_ID ".read_count"), 0);
	assert_int_equal(num(o, "kvmlet.block_" DRIVE_ID ".discard_count"), 0);
	cJSON_Delete(o);

	t = metrics_prometheus(f->vm, &f->st, VM_STATE_RUNNING, &len);
	assert_non_null(t);
	expo_check(t, len);
	assert_line(t, "kvmlet_block_requests_total{" DRIVE_LABEL ",op=\"read\"} 3");
	assert_line(t, "kvmlet_block_requests_total{" DRIVE_LABEL ",op=\"discard\"} 2");
	free(t);
}

/* ---- the sink ---- */

static void sink_missing_path(void **state)
{
	struct fx *f = *state;
	struct metrics_sink s;
	struct err err = { 0 };
	char path[128];

	snprintf(path, sizeof(path), "%s/nope", f->dir);
	assert_int_equal(metrics_sink_open(&s, path, &err), -ENOENT);
	assert_err(&err, -ENOENT, "does not exist");
	assert_int_equal(s.fd, -1);
	/* Nor is it created. */
	assert_int_equal(access(path, F_OK), -1);

	memset(&err, 0, sizeof(err));
	assert_true(metrics_sink_open(&s, f->dir, &err) < 0);
	assert_int_equal(s.fd, -1);
	/* A closed sink flushes nothing, successfully. */
	assert_int_equal(metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err), 0);
	metrics_sink_close(&s);
}

static void sink_regular_file(void **state)
{
	struct fx *f = *state;
	struct metrics_sink s;
	struct err err = { 0 };
	char path[128], buf[65536];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/metrics.json", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(metrics_sink_open(&s, path, &err), 0);
	assert_int_equal(metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err), 0);
	f->st.api_requests += 1;
	assert_int_equal(metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err), 0);
	metrics_sink_close(&s);

	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	{
		char *second = strchr(buf, '\n') + 1;
		cJSON *o = cJSON_Parse(second);

		assert_non_null(o);
		assert_int_equal(num(o, "kvmlet.api_requests_count"), 1);
		assert_int_equal(strchr(second, '\n') - buf + 1, n);
		cJSON_Delete(o);
	}
}

/* Reads what the FIFO holds; every line must be a whole JSON object. */
static unsigned int drain(int rfd, char *carry, size_t *carry_len, uint64_t *last_missed,
			  uint64_t *last_requests)
{
	char buf[8192];
	unsigned int lines = 0;
	ssize_t n;

	while ((n = read(rfd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			cJSON *o;

			assert_true(*carry_len < 65536);
			if (buf[i] != '\n') {
				carry[(*carry_len)++] = buf[i];
				continue;
			}
			carry[*carry_len] = '\0';
			o = cJSON_Parse(carry);
			if (!o)
				fail_msg("torn line in the FIFO: %.80s", carry);
			*last_missed = num(o, "logger.missed_metrics_count");
			*last_requests = num(o, "kvmlet.api_requests_count");
			cJSON_Delete(o);
			*carry_len = 0;
			lines++;
		}
	}
	return lines;
}

static void sink_fifo_without_reader(void **state)
{
	struct fx *f = *state;
	struct metrics_sink s;
	struct err err = { 0 };
	char path[128];
	static char carry[65536];
	size_t carry_len = 0;
	uint64_t missed = 0, requests = 0;
	unsigned int i, written = 0, lines;
	int rc = 0, rfd;

	snprintf(path, sizeof(path), "%s/metrics.fifo", f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	/* Neither opening nor flushing may wait for a reader; SIGALRM fails the test. */
	alarm(20);
	assert_int_equal(metrics_sink_open(&s, path, &err), 0);
	for (i = 0; i < 10000; i++) {
		rc = metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err);
		if (rc)
			break;
		written++;
	}
	assert_int_equal(rc, -EAGAIN);
	assert_err(&err, -EAGAIN, "full");
	assert_true(written > 0);
	f->st.api_requests += 7; /* must show in the next line that gets through */
	assert_int_equal(metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err), -EAGAIN);

	rfd = open(path, O_RDONLY | O_NONBLOCK);
	assert_true(rfd >= 0);
	lines = drain(rfd, carry, &carry_len, &missed, &requests);
	/* Now there is room: the cut line is finished, then a new one written. */
	assert_int_equal(metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err), 0);
	lines += drain(rfd, carry, &carry_len, &missed, &requests);
	assert_int_equal(carry_len, 0);
	assert_int_equal(lines, written + 1);
	/* The last line carries what the two dropped ones would have. */
	assert_int_equal(missed, 2);
	assert_int_equal(requests, 7);
	alarm(0);
	close(rfd);
	metrics_sink_close(&s);
}

/* A connected TCP pair on loopback: TCP, unlike a pipe, takes part of any write. */
static void tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;

	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(connect(sv[0], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[1] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	assert_true(sv[1] >= 0);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	close(lfd);
}

/*
 * A writer that takes part of a line (a pipe does for lines over PIPE_BUF):
 * the rest goes out before anything new, and nothing is interleaved or lost.
 */
static void sink_partial_write(void **state)
{
	struct fx *f = *state;
	struct metrics_sink s;
	struct err err = { 0 };
	char path[128];
	static char carry[65536];
	size_t carry_len = 0;
	uint64_t missed = 0, requests = 0;
	unsigned int written = 0, lines = 0;
	int sv[2], rc, fd;

	snprintf(path, sizeof(path), "%s/metrics.json", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(metrics_sink_open(&s, path, &err), 0);
	tcp_pair(sv);
	close(s.fd);
	s.fd = sv[0];
	for (unsigned int i = 0; i < 100000 && !s.pending; i++) {
		rc = metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err);
		assert_true(rc == 0 || rc == -EAGAIN);
		written += rc == 0;
	}
	assert_non_null(s.pending); /* a line went out in part */
	/* The rest cannot go yet: a new line is dropped, not interleaved. */
	while (metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err) == 0)
		written++;
	for (int round = 0; round < 1000 && (s.pending || carry_len); round++) {
		lines += drain(sv[1], carry, &carry_len, &missed, &requests);
		if (metrics_sink_flush(&s, f->vm, &f->st, VM_STATE_RUNNING, &err) == 0)
			written++;
		usleep(1000);
	}
	lines += drain(sv[1], carry, &carry_len, &missed, &requests);
	assert_null(s.pending);
	assert_int_equal(carry_len, 0);
	assert_int_equal(lines, written);
	close(sv[1]);
	metrics_sink_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(prometheus_before_boot), T(prometheus_running),	T(firecracker_fields),
		T(firecracker_deltas),	   T(device_counters),		T(sink_missing_path),
		T(sink_regular_file),	   T(sink_fifo_without_reader), T(sink_partial_write),
#undef T
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
