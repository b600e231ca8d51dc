// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "vmm/config_file.h"
#include "vmm/machine_state.h"
#include "vmm/migration/target.h"
#include "vmm/snapshot/snapshot.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ACCEPT_TIMEOUT_MS 60000 /* for the source's connections, once listening */
#define IDLE_TIMEOUT_MS	  60000 /* a source silent this long is gone */
#define IO_TIMEOUT_MS	  30000

/* ---- applying frames ---------------------------------------------------- */

struct mig_apply {
	struct guest_memory *gm;
	unsigned int n;
	bool ended[MIG_MAX_CONNECTIONS];
	uint64_t frames[MIG_MAX_CONNECTIONS];
	uint8_t *state;
	size_t state_len;
};

struct mig_apply *mig_apply_new(struct guest_memory *gm, unsigned int nr_conns)
{
	struct mig_apply *a = calloc(1, sizeof(*a));

	if (a) {
		a->gm = gm;
		a->n = nr_conns;
	}
	return a;
}

void mig_apply_free(struct mig_apply *a)
{
	if (a)
		free(a->state);
	free(a);
}

const uint8_t *mig_apply_state(const struct mig_apply *a, size_t *len)
{
	*len = a->state_len;
	return a->state;
}

static int apply_pages(struct mig_apply *a, unsigned int conn, const struct mig_header *h,
		       const uint8_t *payload, struct err *err)
{
	struct mig_pages pg;
	uint64_t len;
	uint8_t *host;
	int r = mig_pages_decode(payload, h->length, &pg, err);

	if (r)
		return r;
	len = (uint64_t)pg.count * GM_PAGE_SIZE;
	/* gm_ptr() refuses anything not wholly inside one RAM region. */
	host = gm_ptr(a->gm, pg.gpa, len);
	if (!host)
		return err_set(err, -ERANGE, "PAGES: gpa 0x%llx + %u pages is outside guest RAM",
			       (unsigned long long)pg.gpa, pg.count);
	if (pg.flags & MIG_PAGES_ZERO)
		memset(host, 0, len);
	else
		memcpy(host, pg.data, len);
	a->frames[conn]++;
	return 0;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int mig_apply_frame(struct mig_apply *a, unsigned int conn, const struct mig_header *h,
		    const uint8_t *payload, struct err *err)
{
	char why[512];

	if (conn >= a->n)
		return err_set(err, -EPROTO, "connection %u of %u", conn, a->n);
	if (a->ended[conn] && h->type != MIG_MSG_STATE && h->type != MIG_MSG_COMPLETE &&
	    h->type != MIG_MSG_ABANDON)
		return err_set(err, -EPROTO, "%s after the end of memory on connection %u",
			       mig_msg_name(h->type), conn);
	switch (h->type) {
	case MIG_MSG_PAGES:
		return apply_pages(a, conn, h, payload, err);
	case MIG_MSG_MEM_END:
		if (h->length != 8 || le64(payload) != a->frames[conn])
			return err_set(err, -EPROTO,
				       "connection %u: the source sent %llu page frames, %llu "
				       "arrived",
				       conn, h->length == 8 ? (unsigned long long)le64(payload) : 0,
				       (unsigned long long)a->frames[conn]);
		a->ended[conn] = true;
		return 0;
	case MIG_MSG_STATE:
		if (conn || !a->ended[0] || a->state)
			return err_set(err, -EPROTO, "STATE out of order");
		a->state = malloc(h->length ? h->length : 1);
		if (!a->state)
			return err_set(err, -ENOMEM, "out of memory");
		memcpy(a->state, payload, h->length);
		a->state_len = h->length;
		return 0;
	case MIG_MSG_COMPLETE:
		for (unsigned int i = 0; i < a->n; i++)
			if (!a->ended[i])
				return err_set(err, -EPROTO,
					       "COMPLETE before the end of memory on connection %u",
					       i);
		if (conn || !a->state)
			return err_set(err, -EPROTO, "COMPLETE without the machine state");
		return 1;
	case MIG_MSG_ABANDON:
		mig_reason_decode(payload, h->length, why, sizeof(why));
		return err_set(err, -ECANCELED, "the source abandoned the migration: %s", why);
	default:
		return err_set(err, -EPROTO, "unexpected %s", mig_msg_name(h->type));
	}
}

/* ---- connections -------------------------------------------------------- */

/* Waits for fd (or the abort fd) to become readable. */
static int wait_readable(const struct mig_target *t, int fd, int timeout_ms, struct err *err)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { t->abort_fd, POLLIN, 0 } };
	int r;

	do
		r = poll(p, t->abort_fd >= 0 ? 2 : 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return err_set(err, -errno, "poll: %s", strerror(errno));
	if (r == 0)
		return err_set(err, -ETIMEDOUT, "nothing from the source for %d s",
			       timeout_ms / 1000);
	if (p[1].revents)
		return err_set(err, -EINTR, "interrupted by a signal");
	return 0;
}

static void refuse(int fd, const char *why)
{
	struct state_writer w;
	struct err err = { 0 };

	if (fd < 0)
		return;
	state_writer_init(&w);
	mig_reason_encode(&w, why);
	if (!state_writer_status(&w))
		mig_frame_write(fd, MIG_MSG_REFUSE, w.data, w.len, NULL, 0, &err);
	state_writer_fini(&w);
}

int mig_target_listen(struct mig_target *t, const struct mig_recv_params *p,
		      struct mig_progress *prog, int abort_fd, struct err *err)
{
	memset(t, 0, sizeof(*t));
	t->p = *p;
	t->prog = prog;
	t->abort_fd = abort_fd;
	for (unsigned int i = 0; i < MIG_MAX_CONNECTIONS; i++)
		t->fd[i] = -1;
	t->lfd = mig_listen(&p->listen, err);
	if (t->lfd < 0)
		return t->lfd;
	mig_progress_begin(prog, MIG_ROLE_TARGET, MIG_PHASE_LISTENING);
	return 0;
}

/* One connection: its HELLO must carry the token. */
static int accept_one(struct mig_target *t, unsigned int *nr_conns, struct err *err)
{
	struct mig_frame f = { 0 };
	struct mig_hello h;
	int fd, r;

	r = wait_readable(t, t->lfd, ACCEPT_TIMEOUT_MS, err);
	if (r)
		return r;
	fd = mig_accept(t->lfd, 0, err);
	if (fd < 0)
		return fd;
	mig_set_timeout(fd, IO_TIMEOUT_MS);
	r = mig_frame_read(fd, &f, err);
	if (!r && f.h.type != MIG_MSG_HELLO)
		r = err_set(err, -EPROTO, "a connection began with %s, not HELLO",
			    mig_msg_name(f.h.type));
	if (!r)
		r = mig_hello_decode(f.buf, f.h.length, &h, err);
	mig_frame_free(&f);
	if (!r && !mig_token_equal(t->p.token, h.token))
		r = err_set(err, -EACCES, "a connection presented the wrong token");
	if (!r && *nr_conns && h.nr_conns != *nr_conns)
		r = err_set(err, -EPROTO, "connections disagree on their number");
	if (!r && t->fd[h.conn_index] >= 0)
		r = err_set(err, -EPROTO, "connection %u arrived twice", h.conn_index);
	if (r) {
		refuse(fd, err->msg);
		close(fd);
		return r;
	}
	*nr_conns = h.nr_conns;
	t->fd[h.conn_index] = fd;
	return 0;
}

static int accept_all(struct mig_target *t, struct err *err)
{
	unsigned int nr = 0, got = 0;

	do {
		int r = accept_one(t, &nr, err);

		if (r)
			return r;
		got++;
	} while (got < nr);
	t->n = nr;
	/* The token is spent: nobody else connects. */
	close(t->lfd);
	t->lfd = -1;
	if (t->p.listen.is_unix)
		unlink(((const struct sockaddr_un *)&t->p.listen.sa)->sun_path);
	return 0;
}

/* ---- compatibility ------------------------------------------------------ */

enum { EAX = 1, EBX = 2, ECX = 4, EDX = 8 };

/* Feature words the guest may have been using: each bit must be on this host too. */
static const struct {
	uint32_t function, index;
	unsigned int regs;
} feature_leaves[] = {
	{ 1, 0, ECX | EDX },
	{ 7, 0, EBX | ECX | EDX },
	{ 0xd, 1, EAX },
	{ 0x80000001, 0, ECX | EDX },
};

static bool subset(uint32_t src, uint32_t here, unsigned int regs, unsigned int reg)
{
	return !(regs & reg) || !(src & ~here);
}

static const struct kvm_cpuid_entry2 *find_leaf(const struct kvm_cpuid2 *c, uint32_t fn,
						uint32_t index)
{
	for (uint32_t i = 0; c && i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

static int check_cpuid(const struct mig_start *st, const struct kvm_cpuid2 *here, struct err *err)
{
	for (size_t k = 0; k < ARRAY_SIZE(feature_leaves); k++) {
		const struct kvm_cpuid_entry2 *h;
		const struct mig_cpuid_leaf *s = NULL;

		for (uint32_t i = 0; i < st->nr_cpuid; i++)
			if (st->cpuid[i].function == feature_leaves[k].function &&
			    st->cpuid[i].index == feature_leaves[k].index)
				s = &st->cpuid[i];
		if (!s)
			continue;
		h = find_leaf(here, s->function, s->index);
		if (!h || !subset(s->eax, h->eax, feature_leaves[k].regs, EAX) ||
		    !subset(s->ebx, h->ebx, feature_leaves[k].regs, EBX) ||
		    !subset(s->ecx, h->ecx, feature_leaves[k].regs, ECX) ||
		    !subset(s->edx, h->edx, feature_leaves[k].regs, EDX))
			return err_set(err, -EOPNOTSUPP,
				       "CPUID leaf 0x%x.%u: the source's features are not all "
				       "available here",
				       s->function, s->index);
	}
	return 0;
}

/* Checks what needs no VM: vCPUs, memory size and layout, limits. */
static int check_start(const struct mig_target *t, const struct mig_start *st,
		       const struct vm_config *cfg, struct err *err)
{
	struct mem_region reg[GM_MAX_REGIONS];
	unsigned int n;

	if (cfg->nr_vcpus != st->nr_vcpus)
		return err_set(err, -EPROTO, "START says %u vCPUs, its configuration %u",
			       st->nr_vcpus, cfg->nr_vcpus);
	if (t->p.max_vcpus && st->nr_vcpus > t->p.max_vcpus)
		return err_set(err, -EOPNOTSUPP,
			       "the VM has %u vCPUs; this target takes at most %u", st->nr_vcpus,
			       t->p.max_vcpus);
	if (cfg->memory_mib << 20 != st->mem_size)
		return err_set(
			err, -EPROTO, "START says %llu bytes of RAM, its configuration %llu MiB",
			(unsigned long long)st->mem_size, (unsigned long long)cfg->memory_mib);
	if (t->p.max_memory_mib && cfg->memory_mib > t->p.max_memory_mib)
		return err_set(err, -EOPNOTSUPP,
			       "the VM has %llu MiB of RAM; this target takes at most %llu",
			       (unsigned long long)cfg->memory_mib,
			       (unsigned long long)t->p.max_memory_mib);
	n = gm_layout(st->mem_size, reg);
	if (n != st->nr_regions)
		return err_set(err, -EOPNOTSUPP, "the memory layout differs (%u regions, here %u)",
			       st->nr_regions, n);
	for (unsigned int i = 0; i < n; i++)
		if (reg[i].gpa != st->region[i].gpa || reg[i].size != st->region[i].size)
			return err_set(err, -EOPNOTSUPP, "memory region %u differs from this board",
				       i);
	return 0;
}

static int check_devices(const struct mig_start *st, const struct vm *vm, struct err *err)
{
	if (vm->devices.nr != st->nr_devices)
		return err_set(err, -EOPNOTSUPP, "the source has %u devices, this VM %u",
			       st->nr_devices, vm->devices.nr);
	for (unsigned int i = 0; i < st->nr_devices; i++)
		if (strncmp(st->device[i], vm->devices.dev[i]->name, sizeof(st->device[i]) - 1))
			return err_set(err, -EOPNOTSUPP, "device %u is %s on the source, %s here",
				       i, st->device[i], vm->devices.dev[i]->name);
	return 0;
}

/* START: the configuration, checked, and the VM built from it. */
static int take_start(struct mig_target *t, struct vm *vm, struct vm_config *fresh,
		      uint64_t start_ns, struct err *err)
{
	struct vm_create_opts opts = {
		.start_ns = start_ns,
		.incoming = true,
		.seccomp_level = fresh->seccomp_level,
	};
	struct mig_start *st = calloc(1, sizeof(*st));
	struct mig_frame f = { 0 };
	int r;

	if (!st)
		return err_set(err, -ENOMEM, "out of memory");
	r = wait_readable(t, t->fd[0], IDLE_TIMEOUT_MS, err);
	if (!r)
		r = mig_frame_read(t->fd[0], &f, err);
	if (!r && f.h.type != MIG_MSG_START)
		r = err_set(err, -EPROTO, "expected START, got %s", mig_msg_name(f.h.type));
	if (!r)
		r = mig_start_decode(f.buf, f.h.length, st, err);
	if (!r) {
		r = config_from_json(fresh, st->config_json, st->config_len, err);
		err_prefix(err, r, "the source's configuration: ");
	}
	if (!r)
		r = check_start(t, st, fresh, err);
	if (!r)
		r = vm_create(vm, fresh, &opts, err);
	if (!r)
		r = check_cpuid(st, vm->kvm.supported_cpuid, err);
	if (!r)
		r = check_devices(st, vm, err);
	mig_frame_free(&f);
	mig_start_free(st);
	free(st);
	return r;
}

/* Memory and state, from every connection, until COMPLETE. */
static int take_memory(struct mig_target *t, struct mig_apply *a, struct err *err)
{
	struct mig_frame f = { 0 };
	int r = 0;

	while (!r) {
		struct pollfd p[MIG_MAX_CONNECTIONS + 1];
		unsigned int n = 0;
		int ready;

		for (unsigned int i = 0; i < t->n; i++)
			p[n++] = (struct pollfd){ t->fd[i], POLLIN, 0 };
		if (t->abort_fd >= 0)
			p[n++] = (struct pollfd){ t->abort_fd, POLLIN, 0 };
		ready = poll(p, n, IDLE_TIMEOUT_MS);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0) {
			r = err_set(err, ready ? -errno : -ETIMEDOUT,
				    "nothing from the source for %d s", IDLE_TIMEOUT_MS / 1000);
			break;
		}
		if (t->abort_fd >= 0 && p[t->n].revents) {
			r = err_set(err, -EINTR, "interrupted by a signal");
			break;
		}
		for (unsigned int i = 0; i < t->n && !r; i++) {
			if (!p[i].revents)
				continue;
			r = mig_frame_read(t->fd[i], &f, err);
			if (!r)
				r = mig_apply_frame(a, i, &f.h, f.buf, err);
			if (r < 0)
				err_prefix(err, r, "connection %u: ", i);
			if (!r && f.h.type == MIG_MSG_PAGES) {
				pthread_mutex_lock(&t->prog->lock);
				t->prog->bytes_sent +=
					f.h.length + MIG_HEADER_SIZE + MIG_TRAILER_SIZE;
				t->prog->pages_sent +=
					(f.h.length - MIG_PAGES_HEADER) / GM_PAGE_SIZE;
				pthread_mutex_unlock(&t->prog->lock);
			}
		}
	}
	mig_frame_free(&f);
	return r < 0 ? r : 0;
}

static int restore_state(struct vm *vm, const struct mig_apply *a, struct err *err)
{
	struct vm_config skip;
	struct state_reader rd;
	size_t len;
	const uint8_t *data = mig_apply_state(a, &len);
	int r;

	/* The configuration came in START; the state's copy of it is the same. */
	config_init(&skip);
	state_reader_init(&rd, data, len);
	r = machine_state_read_config(&rd, &skip, err);
	config_free(&skip);
	if (!r)
		r = machine_state_restore(vm, &rd, err);
	return err_prefix(err, r, "the machine state: ");
}

int mig_target_receive(struct mig_target *t, struct vm *vm, struct vm_config *cfg,
		       pthread_mutex_t *cfg_lock, uint64_t start_ns, struct err *err)
{
	struct mig_apply *a = NULL;
	struct vm_config fresh, old;
	int r;

	config_init(&fresh);
	snapshot_keep_process_settings(&fresh, cfg);
	vm->fd = -1;
	r = accept_all(t, err);
	if (!r) {
		mig_progress_set_phase(t->prog, MIG_PHASE_RECEIVING);
		r = take_start(t, vm, &fresh, start_ns, err);
	}
	if (!r) {
		a = mig_apply_new(&vm->mem, t->n);
		r = a ? mig_frame_write(t->fd[0], MIG_MSG_ACCEPT, NULL, 0, NULL, 0, err)
		      : err_set(err, -ENOMEM, "out of memory");
	}
	if (!r)
		r = take_memory(t, a, err);
	if (!r)
		r = restore_state(vm, a, err);
	mig_apply_free(a);
	if (r) {
		refuse(t->fd[0], err->msg);
		config_free(&fresh);
		return r;
	}
	pthread_mutex_lock(cfg_lock);
	old = *cfg;
	*cfg = fresh;
	pthread_mutex_unlock(cfg_lock);
	config_free(&old);
	return 0;
}

int mig_target_confirm(struct mig_target *t, struct err *err)
{
	int r = mig_frame_write(t->fd[0], MIG_MSG_RUNNING, NULL, 0, NULL, 0, err);

	mig_target_close(t);
	return r;
}

void mig_target_close(struct mig_target *t)
{
	if (t->lfd >= 0) {
		close(t->lfd);
		if (t->p.listen.is_unix)
			unlink(((const struct sockaddr_un *)&t->p.listen.sa)->sun_path);
	}
	t->lfd = -1;
	for (unsigned int i = 0; i < MIG_MAX_CONNECTIONS; i++) {
		if (t->fd[i] >= 0)
			close(t->fd[i]);
		t->fd[i] = -1;
	}
}
