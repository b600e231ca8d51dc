// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "memory/dirty.h"
#include "vmm/config_file.h"
#include "vmm/machine_state.h"
#include "vmm/migration/pending.h"
#include "vmm/migration/policy.h"
#include "vmm/migration/source.h"
#include "vmm/seccomp.h"

#define CHUNK_PAGES	   MIG_RUN_MAX_PAGES /* a worker's unit: 1 MiB of RAM */
#define CHUNK_WORDS	   (CHUNK_PAGES / 64)
#define IO_TIMEOUT_MS	   30000 /* a peer silent this long is gone */
#define CONNECT_TIMEOUT_MS 10000
#define THROTTLE_SLICE_NS  10000000ull /* auto-converge's time slice */
#define WAIT_TICK_NS	   5000000ull  /* how often the control thread looks up */
#define MIN_KICK_NS	   200000ull   /* throttled vCPUs are kicked at most this often */

enum mig_req { MIG_REQ_NONE, MIG_REQ_STOP, MIG_REQ_FINISH };

struct mig_worker {
	struct mig_source *s;
	unsigned int index;
	int fd;
	pthread_t thread;
	bool started;
	uint8_t *buf; /* a PAGES payload: header and up to a chunk of data */
	uint64_t frames;
};

struct mig_source {
	struct mig_service *svc;
	struct vm *vm;
	const struct vm_config *cfg;
	struct mig_send_params p;
	struct mig_progress *prog;
	mig_source_done_fn done;
	void *ctx;
	bool was_paused, paused_by_us, own_log;
	uint64_t t0, deadline_ns, pause_ns;

	bool running; /* handed to the service thread, not yet finished */
	struct mig_worker w[MIG_MAX_CONNECTIONS];
	unsigned int n;

	/* Guards everything below; cond announces each change. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t gen;		/* bumped for each pass the workers make */
	unsigned int pending;	/* workers still busy with the pass */
	bool first_pass, final; /* the pass skips zero pages / ends with MEM_END */
	bool quit, abort;	/* threads: stop; abort: the VM goes away */
	int werr;
	struct err err; /* the first failure, of any thread */
	uint64_t *bm;	/* pages the pass sends */
	uint64_t nr_pages;

	/* Requests to the main thread, through svc->ev. */
	enum mig_req req;
	bool req_done;
	bool final_done; /* the last pass and the target's verdict are in */
	int req_ret;
	enum mig_phase result;
	struct state_writer state;

	pthread_mutex_t rate_lock;
	uint64_t rate_next_ns;
};

/* ---- helpers ------------------------------------------------------------ */

static void fail(struct mig_source *s, int code, const struct err *e)
{
	pthread_mutex_lock(&s->lock);
	if (!s->werr) {
		s->werr = code;
		s->err = *e;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* Whether to give up: an error, a cancel, the timeout, or the VM going away. */
static bool stopping(struct mig_source *s)
{
	bool stop;

	pthread_mutex_lock(&s->lock);
	stop = s->werr || s->quit || s->abort;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

/* max_bandwidth_mibps: every connection draws from one budget. */
static void rate_limit(struct mig_source *s, size_t bytes)
{
	uint64_t now, wait = 0;

	if (!s->p.max_bandwidth_mibps)
		return;
	pthread_mutex_lock(&s->rate_lock);
	now = clock_mono_ns();
	if (s->rate_next_ns < now)
		s->rate_next_ns = now;
	wait = s->rate_next_ns - now;
	s->rate_next_ns +=
		(uint64_t)((double)bytes * 1e9 / ((double)s->p.max_bandwidth_mibps * 1048576.0));
	pthread_mutex_unlock(&s->rate_lock);
	if (wait)
		sleep_ns(wait);
}

static void count_sent(struct mig_source *s, uint64_t bytes, uint64_t pages)
{
	pthread_mutex_lock(&s->prog->lock);
	s->prog->bytes_sent += bytes;
	s->prog->pages_sent += pages;
	pthread_mutex_unlock(&s->prog->lock);
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)p;

	for (size_t i = 0; i < GM_PAGE_SIZE / 8; i += 4)
		if (q[i] | q[i + 1] | q[i + 2] | q[i + 3])
			return false;
	return true;
}

/* The guest-physical address of page pg of gm->base. */
static uint64_t page_gpa(const struct guest_memory *gm, uint64_t pg)
{
	uint64_t off = pg * GM_PAGE_SIZE;
	const struct mem_region *r;

	gm_for_each_region(gm, r) {
		if (off < r->size)
			return r->gpa + off;
		off -= r->size;
	}
	return UINT64_MAX;
}

/* ---- workers ------------------------------------------------------------ */

enum run_kind { RUN_NONE, RUN_ZERO, RUN_DATA };

struct run {
	enum run_kind kind;
	uint64_t first; /* page of gm->base */
	uint32_t count;
};

static int send_run(struct mig_worker *w, const struct run *run, struct err *err)
{
	struct mig_source *s = w->s;
	uint64_t gpa = page_gpa(&s->vm->mem, run->first);
	size_t data = run->kind == RUN_DATA ? (size_t)run->count * GM_PAGE_SIZE : 0;
	int r;

	mig_pages_encode_header(w->buf, gpa, run->count,
				run->kind == RUN_ZERO ? MIG_PAGES_ZERO : 0);
	rate_limit(s, MIG_PAGES_HEADER + data);
	r = mig_frame_write(w->fd, MIG_MSG_PAGES, w->buf, MIG_PAGES_HEADER + data, NULL, 0, err);
	if (!r) {
		w->frames++;
		count_sent(s, MIG_HEADER_SIZE + MIG_PAGES_HEADER + data + MIG_TRAILER_SIZE,
			   run->count);
	}
	return r;
}

/*
 * One chunk: re-protect its dirty pages, then copy them (the frame's CRC
 * covers the copy, not guest memory that may change meanwhile) and send
 * them as runs of data or zero pages.
 */
static int send_chunk(struct mig_worker *w, uint64_t chunk, bool first_pass, struct err *err)
{
	struct mig_source *s = w->s;
	const struct guest_memory *gm = &s->vm->mem;
	uint64_t first = chunk * CHUNK_PAGES, *bits = &s->bm[chunk * CHUNK_WORDS];
	uint64_t n = s->nr_pages - first < CHUNK_PAGES ? s->nr_pages - first : CHUNK_PAGES;
	uint8_t *data = w->buf + MIG_PAGES_HEADER;
	struct run run = { RUN_NONE, 0, 0 };
	bool any = false;
	int r;

	for (unsigned int i = 0; i < CHUNK_WORDS; i++)
		any |= bits[i] != 0;
	if (!any)
		return 0;
	r = dirty_clear(gm, s->vm->fd, s->bm, first, n, err);
	if (r)
		return r;
	for (uint64_t i = 0; i <= n; i++) {
		enum run_kind kind = RUN_NONE;
		const uint8_t *host = gm->base + (first + i) * GM_PAGE_SIZE;

		if (i < n && (bits[i / 64] & (1ull << (i % 64)))) {
			/* A fresh target's RAM is zero: the first pass skips zero pages. */
			if (!page_is_zero(host))
				kind = RUN_DATA;
			else if (!first_pass)
				kind = RUN_ZERO;
		}
		if (run.kind != RUN_NONE && (kind != run.kind || i == n)) {
			r = send_run(w, &run, err);
			if (r)
				return r;
			run.kind = RUN_NONE;
		}
		if (kind == RUN_NONE)
			continue;
		if (run.kind == RUN_NONE)
			run = (struct run){ kind, first + i, 0 };
		if (kind == RUN_DATA)
			memcpy(data + (size_t)run.count * GM_PAGE_SIZE, host, GM_PAGE_SIZE);
		run.count++;
	}
	return 0;
}

static int worker_pass(struct mig_worker *w, bool first_pass, bool final, struct err *err)
{
	struct mig_source *s = w->s;
	uint64_t chunks = (s->nr_pages + CHUNK_PAGES - 1) / CHUNK_PAGES;
	int r = 0;

	for (uint64_t c = w->index; c < chunks && !r; c += s->n) {
		if (stopping(s))
			return err_set(err, -ECANCELED, "stopped");
		r = send_chunk(w, c, first_pass, err);
	}
	if (!r && final) {
		uint8_t frames[8];

		for (int i = 0; i < 8; i++)
			frames[i] = (uint8_t)(w->frames >> (8 * i));
		r = mig_frame_write(w->fd, MIG_MSG_MEM_END, frames, sizeof(frames), NULL, 0, err);
	}
	return r;
}

static void *worker_thread(void *arg)
{
	struct mig_worker *w = arg;
	struct mig_source *s = w->s;
	struct err err = { 0 };
	uint64_t seen = 0;
	char name[16];

	/* The service thread's filter, inherited. */
	snprintf(name, sizeof(name), "migrate%u", w->index);
	pthread_setname_np(pthread_self(), name);
	for (;;) {
		bool first_pass, final;
		int r;

		pthread_mutex_lock(&s->lock);
		while (s->gen == seen && !s->quit && !s->abort)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->quit || s->abort) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		seen = s->gen;
		first_pass = s->first_pass;
		final = s->final;
		pthread_mutex_unlock(&s->lock);

		r = stopping(s) ? 0 : worker_pass(w, first_pass, final, &err);
		if (r && r != -ECANCELED) {
			err_prefix(&err, r, "connection %u: ", w->index);
			fail(s, r, &err);
		}
		pthread_mutex_lock(&s->lock);
		s->pending--;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

/* ---- the control thread ------------------------------------------------- */

static void kick_vcpus(struct mig_source *s)
{
	for (unsigned int i = 0; i < s->vm->nr_vcpus; i++)
		vcpu_kick(&s->vm->vcpus[i]);
}

static void set_throttle(struct mig_source *s, unsigned int pct)
{
	__atomic_store_n(&s->vm->throttle_pct, pct, __ATOMIC_RELAXED);
	pthread_mutex_lock(&s->prog->lock);
	s->prog->throttle_percent = pct;
	if (pct > s->prog->throttle_max_percent)
		s->prog->throttle_max_percent = pct;
	pthread_mutex_unlock(&s->prog->lock);
}

/* A cancel or the timeout: the reason, or NULL. */
static const char *abandon_reason(struct mig_source *s)
{
	if (mig_progress_cancelled(s->prog))
		return "cancelled";
	if (s->deadline_ns && clock_mono_ns() > s->deadline_ns)
		return "timed out";
	return NULL;
}

/*
 * While throttled, a vCPU runs (100 - p)% of a slice, then must leave
 * KVM_RUN to sleep the rest (vcpu.c): it is kicked that often.
 */
static uint64_t wait_tick(struct mig_source *s)
{
	unsigned int pct = __atomic_load_n(&s->vm->throttle_pct, __ATOMIC_RELAXED);
	uint64_t run;

	if (!pct)
		return WAIT_TICK_NS;
	run = THROTTLE_SLICE_NS * (100 - pct) / 100;
	return run < MIN_KICK_NS ? MIN_KICK_NS : run;
}

/*
 * Runs one pass over s->bm on every worker and waits for them, kicking the
 * vCPUs while a throttle is on and watching for a cancel.
 */
static int run_pass(struct mig_source *s, bool first_pass, bool final, struct err *err)
{
	const char *why = NULL;
	int r;

	pthread_mutex_lock(&s->lock);
	s->first_pass = first_pass;
	s->final = final;
	s->pending = s->n;
	s->gen++;
	pthread_cond_broadcast(&s->cond);
	while (s->pending && !s->abort) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)wait_tick(s);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
		pthread_mutex_unlock(&s->lock);
		if (__atomic_load_n(&s->vm->throttle_pct, __ATOMIC_RELAXED))
			kick_vcpus(s);
		/* Once the guest is paused only a failure stops the last pass. */
		if (!why && !final)
			why = abandon_reason(s);
		pthread_mutex_lock(&s->lock);
		if (why) {
			s->quit = true;
			pthread_cond_broadcast(&s->cond);
		}
	}
	r = s->werr;
	if (r)
		*err = s->err;
	if (s->abort && !r)
		r = err_set(err, -ESHUTDOWN, "the VM is shutting down");
	pthread_mutex_unlock(&s->lock);
	if (!r && why)
		r = err_set(err, !strcmp(why, "cancelled") ? -ECANCELED : -ETIMEDOUT, "%s", why);
	return r;
}

static uint64_t popcount_bm(const uint64_t *bm, uint64_t words)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}

/* Asks the main thread to do req and waits for it. */
static int main_thread_do(struct mig_source *s, enum mig_req req)
{
	uint64_t one = 1;
	int r;

	pthread_mutex_lock(&s->lock);
	s->req = req;
	s->req_done = false;
	pthread_mutex_unlock(&s->lock);
	if (write(s->svc->ev.fd, &one, sizeof(one)) < 0)
		return -errno;
	if (req == MIG_REQ_FINISH)
		return 0; /* the main thread joins this thread: nothing to wait for */
	pthread_mutex_lock(&s->lock);
	while (!s->req_done && !s->abort)
		pthread_cond_wait(&s->cond, &s->lock);
	r = s->req_done ? s->req_ret : -ESHUTDOWN;
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int send_start(struct mig_source *s, struct err *err)
{
	const struct guest_memory *gm = &s->vm->mem;
	const struct kvm_cpuid2 *cpuid = s->vm->kvm.supported_cpuid;
	struct mig_start *st = calloc(1, sizeof(*st));
	struct state_writer w;
	cJSON *json = config_to_json(s->cfg);
	const struct mem_region *reg;
	int r;

	state_writer_init(&w);
	st->config_json = json ? cJSON_PrintUnformatted(json) : NULL;
	cJSON_Delete(json);
	if (!st || !st->config_json) {
		if (st)
			free(st->config_json);
		free(st);
		return err_set(err, -ENOMEM, "out of memory");
	}
	st->nr_vcpus = s->vm->nr_vcpus;
	st->mem_size = gm->size;
	gm_for_each_region(gm, reg)
		st->region[st->nr_regions++] = (struct mig_region){ reg->gpa, reg->size };
	for (unsigned int i = 0; i < s->vm->devices.nr && i < MIG_MAX_DEVICES; i++)
		snprintf(st->device[st->nr_devices++], sizeof(st->device[0]), "%s",
			 s->vm->devices.dev[i]->name);
	for (uint32_t i = 0; cpuid && i < cpuid->nent && i < MIG_MAX_CPUID; i++) {
		const struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		st->cpuid[st->nr_cpuid++] =
			(struct mig_cpuid_leaf){ e->function, e->index, e->eax,
						 e->ebx,      e->ecx,	e->edx };
	}
	mig_start_encode(&w, st);
	r = state_writer_status(&w);
	if (r)
		err_set(err, r, "out of memory");
	else
		r = mig_frame_write(s->w[0].fd, MIG_MSG_START, w.data, w.len, NULL, 0, err);
	state_writer_fini(&w);
	mig_start_free(st);
	free(st);
	return r;
}

/* The target's answer on connection 0: 0 for want, else why not. */
static int expect_reply(struct mig_source *s, unsigned int want, struct err *err)
{
	struct mig_frame f = { 0 };
	char why[512];
	int r = mig_frame_read(s->w[0].fd, &f, err);

	if (!r && f.h.type == MIG_MSG_REFUSE) {
		mig_reason_decode(f.buf, f.h.length, why, sizeof(why));
		r = err_set(err, -EREMOTEIO, "the target refused: %s", why);
	} else if (!r && f.h.type != want) {
		r = err_set(err, -EPROTO, "the target sent %s, expected %s", mig_msg_name(f.h.type),
			    mig_msg_name(want));
	}
	if (r)
		err_prefix(err, r, "waiting for %s: ", mig_msg_name(want));
	mig_frame_free(&f);
	return r;
}

static int connect_all(struct mig_source *s, struct err *err)
{
	for (unsigned int i = 0; i < s->n; i++) {
		struct mig_hello h = { .conn_index = i, .nr_conns = s->n };
		struct state_writer w;
		int r;

		s->w[i].fd = mig_connect(&s->p.dest, CONNECT_TIMEOUT_MS, err);
		if (s->w[i].fd < 0)
			return s->w[i].fd;
		mig_set_timeout(s->w[i].fd, IO_TIMEOUT_MS);
		snprintf(h.token, sizeof(h.token), "%s", s->p.token);
		state_writer_init(&w);
		mig_hello_encode(&w, &h);
		r = state_writer_status(&w) ? err_set(err, -ENOMEM, "out of memory")
					    : mig_frame_write(s->w[i].fd, MIG_MSG_HELLO, w.data,
							      w.len, NULL, 0, err);
		state_writer_fini(&w);
		if (r)
			return r;
	}
	return 0;
}

static void report_iteration(struct mig_source *s, const struct mig_measure *m, uint64_t pages)
{
	pthread_mutex_lock(&s->prog->lock);
	s->prog->iteration++;
	s->prog->pages_remaining = pages;
	s->prog->bandwidth_mibps = m->bandwidth_bps / 1048576.0;
	s->prog->dirty_rate_mibps = m->dirty_bps / 1048576.0;
	s->prog->expected_downtime_ms = mig_expected_downtime_ms(m);
	pthread_mutex_unlock(&s->prog->lock);
}

/*
 * Pre-copy: passes until the rest fits the downtime budget. Returns with
 * s->bm holding the pages still to send, for stop_and_copy().
 */
static int precopy(struct mig_source *s, struct err *err)
{
	uint64_t words = gm_bitmap_words(&s->vm->mem);
	bool first = true;

	/* The first pass sends every page there is (but zero ones). */
	memset(s->bm, 0, words * sizeof(uint64_t));
	for (uint64_t pg = 0; pg < s->nr_pages; pg++)
		s->bm[pg / 64] |= 1ull << (pg % 64);
	for (;;) {
		uint64_t t0 = clock_mono_ns(), b0, b1, pages;
		struct mig_measure m;
		double secs;
		int r;

		pthread_mutex_lock(&s->prog->lock);
		b0 = s->prog->bytes_sent;
		pthread_mutex_unlock(&s->prog->lock);
		r = run_pass(s, first, false, err);
		if (r)
			return r;
		secs = (double)(clock_mono_ns() - t0) / 1e9;
		r = mig_pending_refill(&s->vm->mem, s->vm->fd, s->bm, err);
		if (r)
			return r;
		pages = popcount_bm(s->bm, words);
		pthread_mutex_lock(&s->prog->lock);
		b1 = s->prog->bytes_sent;
		pthread_mutex_unlock(&s->prog->lock);
		m = (struct mig_measure){
			.remaining_bytes = pages * GM_PAGE_SIZE,
			.bandwidth_bps = secs > 0 ? (double)(b1 - b0) / secs : 0,
			.dirty_bps = secs > 0 ? (double)pages * GM_PAGE_SIZE / secs : 0,
		};
		/* A pass with little to send says little about the link: keep the best seen. */
		if (m.bandwidth_bps < s->prog->bandwidth_mibps * 1048576.0)
			m.bandwidth_bps = s->prog->bandwidth_mibps * 1048576.0;
		report_iteration(s, &m, pages);
		if (mig_decide(&m, s->p.downtime_ms) == MIG_STOP_AND_COPY)
			return 0;
		set_throttle(s,
			     mig_next_throttle(s->prog->throttle_percent, s->p.auto_converge, &m));
		first = false;
	}
}

/* Stop-and-copy: pause, the last pages, the state, then wait for "running". */
static int stop_and_copy(struct mig_source *s, struct err *err)
{
	uint64_t t_pause;
	int r;

	mig_progress_set_phase(s->prog, MIG_PHASE_STOP_AND_COPY);
	set_throttle(s, 0);
	t_pause = clock_mono_ns();
	r = main_thread_do(s, MIG_REQ_STOP);
	if (r)
		return err_set(err, r, "pausing the VM and saving its state failed: %s",
			       s->err.msg[0] ? s->err.msg : strerror(-r));
	/* Onto what pre-copy left unsent: the last peek's device writes are only there. */
	r = mig_pending_final(&s->vm->mem, s->vm->fd, s->bm, err);
	if (!r)
		r = run_pass(s, false, true, err);
	if (!r)
		r = mig_frame_write(s->w[0].fd, MIG_MSG_STATE, s->state.data, s->state.len, NULL, 0,
				    err);
	if (!r)
		r = mig_frame_write(s->w[0].fd, MIG_MSG_COMPLETE, NULL, 0, NULL, 0, err);
	if (r)
		return r;
	count_sent(s, s->state.len + 2 * (MIG_HEADER_SIZE + MIG_TRAILER_SIZE), 0);
	mig_progress_set_phase(s->prog, MIG_PHASE_COMPLETING);
	r = expect_reply(s, MIG_MSG_RUNNING, err);
	if (r)
		return r;
	pthread_mutex_lock(&s->prog->lock);
	s->prog->downtime_ms = (double)(clock_mono_ns() - t_pause) / 1e6;
	pthread_mutex_unlock(&s->prog->lock);
	return 0;
}

static void send_abandon(struct mig_source *s, const char *why)
{
	struct state_writer w;
	struct err err = { 0 };

	if (s->w[0].fd < 0)
		return;
	mig_set_timeout(s->w[0].fd, 1000);
	state_writer_init(&w);
	mig_reason_encode(&w, why);
	if (!state_writer_status(&w))
		mig_frame_write(s->w[0].fd, MIG_MSG_ABANDON, w.data, w.len, NULL, 0, &err);
	state_writer_fini(&w);
}

static int start_log(struct mig_source *s, struct err *err)
{
	struct guest_memory *gm = &s->vm->mem;
	int r;

	/* On already (track_dirty_pages): use it as it is, and leave it on afterwards. */
	if (gm->dirty)
		return 0;
	r = dirty_log_start(gm, s->vm->fd, DIRTY_LOG_MANUAL_PROTECT, err);
	if (r == -EOPNOTSUPP) {
		memset(err, 0, sizeof(*err));
		log_info("migration: no manual dirty log protection here; using the classic log");
		r = dirty_log_start(gm, s->vm->fd, DIRTY_LOG_DEFAULT, err);
	}
	s->own_log = !r;
	return r;
}

static int start_workers(struct mig_source *s, struct err *err)
{
	for (unsigned int i = 0; i < s->n; i++) {
		int r = pthread_create(&s->w[i].thread, NULL, worker_thread, &s->w[i]);

		if (r)
			return err_set(err, -r, "creating a migration thread: %s", strerror(r));
		s->w[i].started = true;
	}
	return 0;
}

/*
 * The target closed the stream under a send: a target that refuses says
 * why first (a wrong token, say), and that is the better message.
 */
static int why_closed(struct mig_source *s, int r, struct err *err)
{
	struct mig_frame f = { 0 };
	struct err e2 = { 0 };
	char why[512];

	if (s->w[0].fd < 0)
		return r;
	mig_set_timeout(s->w[0].fd, 500);
	if (!mig_frame_read(s->w[0].fd, &f, &e2) && f.h.type == MIG_MSG_REFUSE) {
		mig_reason_decode(f.buf, f.h.length, why, sizeof(why));
		memset(err, 0, sizeof(*err));
		r = err_set(err, -EREMOTEIO, "the target refused: %s", why);
	}
	mig_frame_free(&f);
	return r;
}

/* One migration, on the service thread, from the first connection to the verdict. */
static void run_job(struct mig_source *s)
{
	struct err err = { 0 };
	int r;

	r = start_log(s, &err);
	if (!r)
		r = start_workers(s, &err);
	if (!r)
		r = connect_all(s, &err);
	if (!r)
		r = send_start(s, &err);
	if (!r)
		r = expect_reply(s, MIG_MSG_ACCEPT, &err);
	if (!r) {
		mig_progress_set_phase(s->prog, MIG_PHASE_PRECOPY);
		r = precopy(s, &err);
	}
	if (!r)
		r = stop_and_copy(s, &err);
	pthread_mutex_lock(&s->lock);
	s->final_done = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	set_throttle(s, 0);
	pthread_mutex_lock(&s->lock);
	s->quit = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned int i = 0; i < s->n; i++)
		if (s->w[i].started)
			pthread_join(s->w[i].thread, NULL);
	if (r == -EPIPE || r == -ECONNRESET)
		r = why_closed(s, r, &err);
	if (r) {
		log_warn("migration to %s failed: %s", s->p.dest.text, err.msg);
		send_abandon(s, err.msg);
		/* Off before the main thread resumes the guest: nothing to track any more. */
		if (s->own_log && dirty_log_stop(&s->vm->mem, s->vm->fd, &err))
			log_warn("migration: %s", err.msg);
		pthread_mutex_lock(&s->prog->lock);
		snprintf(s->prog->error, sizeof(s->prog->error), "%s", err.msg);
		pthread_mutex_unlock(&s->prog->lock);
	}
	s->result = !r		      ? MIG_PHASE_COMPLETED
		    : r == -ECANCELED ? MIG_PHASE_CANCELLED
				      : MIG_PHASE_FAILED;
}

static void on_request(struct event_handler *h, uint32_t events);

static void *service_thread(void *arg)
{
	struct mig_service *svc = arg;
	struct err err = { 0 };

	pthread_setname_np(pthread_self(), "migrate");
	if (seccomp_install(SECCOMP_ROLE_MIGRATION, svc->level, &err)) {
		log_error("migration thread: %s", err.msg);
		return NULL;
	}
	pthread_mutex_lock(&svc->lock);
	for (;;) {
		struct mig_source *s;

		while (!svc->job && !svc->quit)
			pthread_cond_wait(&svc->cond, &svc->lock);
		if (svc->quit)
			break;
		s = svc->job;
		pthread_mutex_unlock(&svc->lock);
		run_job(s);
		/* The last touch of s: the main thread may free it as soon as it reads this. */
		main_thread_do(s, MIG_REQ_FINISH);
		pthread_mutex_lock(&svc->lock);
		svc->job = NULL;
		pthread_cond_broadcast(&svc->cond);
	}
	pthread_mutex_unlock(&svc->lock);
	return NULL;
}

int mig_service_start(struct mig_service *svc, enum seccomp_level level, struct err *err)
{
	int r;

	memset(svc, 0, sizeof(*svc));
	pthread_mutex_init(&svc->lock, NULL);
	pthread_cond_init(&svc->cond, NULL);
	svc->level = level;
	svc->ev = (struct event_handler){ eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), on_request };
	if (svc->ev.fd < 0)
		return err_set(err, -errno, "eventfd: %s", strerror(errno));
	r = pthread_create(&svc->thread, NULL, service_thread, svc);
	if (r)
		return err_set(err, -r, "creating the migration thread: %s", strerror(r));
	svc->started = true;
	return 0;
}

void mig_service_stop(struct mig_service *svc)
{
	if (!svc->started)
		return;
	pthread_mutex_lock(&svc->lock);
	svc->quit = true;
	pthread_cond_broadcast(&svc->cond);
	pthread_mutex_unlock(&svc->lock);
	pthread_join(svc->thread, NULL);
	svc->started = false;
	close(svc->ev.fd);
	svc->ev.fd = -1;
	pthread_cond_destroy(&svc->cond);
	pthread_mutex_destroy(&svc->lock);
}

/* ---- the main thread's side --------------------------------------------- */

static void on_request(struct event_handler *h, uint32_t events)
{
	struct mig_service *svc = container_of(h, struct mig_service, ev);
	struct mig_source *s = svc->current;
	struct err err = { 0 };
	enum mig_req req;
	uint64_t v;
	int r = 0;

	if (read(h->fd, &v, sizeof(v)) < 0 || !s)
		return;
	pthread_mutex_lock(&s->lock);
	req = s->req;
	s->req = MIG_REQ_NONE;
	pthread_mutex_unlock(&s->lock);
	if (req == MIG_REQ_STOP) {
		s->pause_ns = clock_mono_ns();
		if (!s->was_paused) {
			r = vm_pause(s->vm, &err);
			s->paused_by_us = true;
		}
		/* Saving quiesces the devices: their last writes are in the final pass. */
		if (!r)
			r = machine_state_save(s->vm, s->cfg, &s->state, &err);
		if (r)
			fail(s, r, &err);
		pthread_mutex_lock(&s->lock);
		s->req_done = true;
		s->req_ret = r;
		pthread_cond_broadcast(&s->cond);
		/*
		 * The devices are quiesced but still on this loop: a kick the
		 * guest wrote before the pause, or a packet from the TAP, would
		 * write guest memory after the state was saved and after its
		 * pages were sent. So this thread serves nothing until the
		 * last pass and the target's verdict are in; the guest is
		 * paused meanwhile, and the API thread answers GETs.
		 */
		while (!r && !s->final_done && !s->abort)
			pthread_cond_wait(&s->cond, &s->lock);
		pthread_mutex_unlock(&s->lock);
	} else if (req == MIG_REQ_FINISH) {
		s->running = false;
		svc->current = NULL;
		event_loop_del(&s->vm->loop, &svc->ev);
		if (s->result != MIG_PHASE_COMPLETED && s->paused_by_us)
			vm_resume(s->vm);
		pthread_mutex_lock(&s->prog->lock);
		s->prog->total_ms = (double)(clock_mono_ns() - s->t0) / 1e6;
		pthread_mutex_unlock(&s->prog->lock);
		mig_progress_end(s->prog, s->result,
				 s->result == MIG_PHASE_COMPLETED ? NULL : s->prog->error);
		s->done(s, s->result, s->ctx);
	}
}

int mig_source_start(struct mig_source **out, struct mig_service *svc, struct vm *vm,
		     const struct vm_config *cfg, const struct mig_send_params *p, bool was_paused,
		     struct mig_progress *prog, mig_source_done_fn done, void *ctx, struct err *err)
{
	struct mig_source *s = calloc(1, sizeof(*s));

	if (!s)
		return err_set(err, -ENOMEM, "out of memory");
	*out = s;
	s->svc = svc;
	s->vm = vm;
	s->cfg = cfg;
	s->p = *p;
	s->n = p->connections;
	s->prog = prog;
	s->done = done;
	s->ctx = ctx;
	s->was_paused = was_paused;
	s->t0 = clock_mono_ns();
	s->deadline_ns = p->timeout_s ? s->t0 + p->timeout_s * 1000000000ull : 0;
	s->nr_pages = gm_nr_pages(&vm->mem);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_mutex_init(&s->rate_lock, NULL);
	state_writer_init(&s->state);
	for (unsigned int i = 0; i < MIG_MAX_CONNECTIONS; i++)
		s->w[i] = (struct mig_worker){ .s = s, .index = i, .fd = -1 };
	if (!svc->started)
		return err_set(err, -ESRCH, "the migration thread is not running");
	/* Whole chunks: a worker's last chunk may read bits past the last page. */
	s->bm = calloc((s->nr_pages + CHUNK_PAGES - 1) / CHUNK_PAGES * CHUNK_WORDS + 1,
		       sizeof(uint64_t));
	if (!s->bm)
		return err_set(err, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < s->n; i++) {
		s->w[i].buf = malloc(MIG_PAGES_HEADER + CHUNK_PAGES * GM_PAGE_SIZE);
		if (!s->w[i].buf)
			return err_set(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&svc->lock);
	if (svc->job || svc->current) {
		pthread_mutex_unlock(&svc->lock);
		return err_set(err, -EBUSY, "a migration is still finishing");
	}
	if (event_loop_add(&vm->loop, &svc->ev, EPOLLIN) < 0) {
		pthread_mutex_unlock(&svc->lock);
		return err_set(err, -errno, "epoll_ctl: %s", strerror(errno));
	}
	svc->current = s;
	mig_progress_begin(prog, MIG_ROLE_SOURCE, MIG_PHASE_PRECOPY);
	s->running = true;
	svc->job = s;
	pthread_cond_broadcast(&svc->cond);
	pthread_mutex_unlock(&svc->lock);
	return 0;
}

void mig_source_abort(struct mig_source *s)
{
	struct mig_service *svc;

	if (!s || !s->running)
		return;
	svc = s->svc;
	pthread_mutex_lock(&s->lock);
	s->abort = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	/* Unblocks a send, or a wait for the target's answer. */
	for (unsigned int i = 0; i < s->n; i++)
		if (s->w[i].fd >= 0)
			shutdown(s->w[i].fd, SHUT_RDWR);
	pthread_mutex_lock(&svc->lock);
	while (svc->job == s)
		pthread_cond_wait(&svc->cond, &svc->lock);
	pthread_mutex_unlock(&svc->lock);
	s->running = false;
	svc->current = NULL;
	event_loop_del(&s->vm->loop, &svc->ev);
	mig_progress_end(s->prog, MIG_PHASE_FAILED, "the VM stopped during the migration");
}

void mig_source_free(struct mig_source *s)
{
	if (!s)
		return;
	for (unsigned int i = 0; i < MIG_MAX_CONNECTIONS; i++) {
		if (s->w[i].fd >= 0)
			close(s->w[i].fd);
		free(s->w[i].buf);
	}
	free(s->bm);
	state_writer_fini(&s->state);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->rate_lock);
	free(s);
}
