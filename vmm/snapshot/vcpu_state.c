// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/snapshot/sections.h"
#include "vmm/snapshot/vcpu_state.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define MSR_IA32_TSC_DEADLINE 0x000006e0
/* KVM refuses more than 255 MSRs in one KVM_GET_MSRS/KVM_SET_MSRS. */
#define MSR_CHUNK	      128
#define MSR_REC_SIZE	      12 /* u32 index, u64 value */
#define XCR_REC_SIZE	      12 /* u32 xcr, u64 value */

#define REQUIRED                                                                        \
	((1u << VCPU_REC_REGS) | (1u << VCPU_REC_SREGS) | (1u << VCPU_REC_FPU) |        \
	 (1u << VCPU_REC_XSAVE) | (1u << VCPU_REC_XCRS) | (1u << VCPU_REC_MSRS) |       \
	 (1u << VCPU_REC_LAPIC) | (1u << VCPU_REC_EVENTS) | (1u << VCPU_REC_MP_STATE) | \
	 (1u << VCPU_REC_DEBUGREGS) | (1u << VCPU_REC_CPUID))

static const char *const rec_names[VCPU_REC_MAX + 1] = {
	[VCPU_REC_REGS] = "REGS",	    [VCPU_REC_SREGS] = "SREGS",
	[VCPU_REC_SREGS2] = "SREGS2",	    [VCPU_REC_FPU] = "FPU",
	[VCPU_REC_XSAVE] = "XSAVE",	    [VCPU_REC_XCRS] = "XCRS",
	[VCPU_REC_MSRS] = "MSRS",	    [VCPU_REC_LAPIC] = "LAPIC",
	[VCPU_REC_EVENTS] = "VCPU_EVENTS",  [VCPU_REC_MP_STATE] = "MP_STATE",
	[VCPU_REC_DEBUGREGS] = "DEBUGREGS", [VCPU_REC_CPUID] = "CPUID",
};

static struct kvm_msrs *msrs_alloc(size_t n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));

	if (m)
		m->nmsrs = (uint32_t)n;
	return m;
}

static struct kvm_cpuid2 *cpuid_alloc(size_t n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

	if (c)
		c->nent = (uint32_t)n;
	return c;
}

void vcpu_state_free(struct vcpu_state *s)
{
	free(s->xsave);
	free(s->msrs);
	free(s->cpuid);
	memset(s, 0, sizeof(*s));
}

static int vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg, const char *name,
		      struct err *err)
{
	if (ioctl(v->fd, req, arg) < 0)
		return err_set(err, -errno, "vcpu %u: %s: %s", v->id, name, strerror(errno));
	return 0;
}

/* Capabilities are asked of the VM: XSAVE2's size is only meaningful there. */
static int vm_cap(struct vcpu *v, long cap)
{
	int r = ioctl(v->vm->fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

static int get_msr_list(struct vcpu *v, struct kvm_msr_list **out, struct err *err)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;

	/* The first call fails with E2BIG and says how many there are. */
	if (ioctl(v->vm->kvm.fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return err_set(err, -errno, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	if (probe.nmsrs > VCPU_STATE_MAX_MSRS)
		return err_set(err, -E2BIG, "KVM lists %u MSRs, more than the %u a state may hold",
			       probe.nmsrs, VCPU_STATE_MAX_MSRS);
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(l->indices[0]));
	if (!l)
		return err_set(err, -ENOMEM, "out of memory");
	l->nmsrs = probe.nmsrs;
	if (ioctl(v->vm->kvm.fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		free(l);
		return err_set(err, -errno, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	}
	*out = l;
	return 0;
}

/*
 * Every MSR KVM lists that this vCPU can read. Some listed MSRs depend on
 * CPUID features the guest lacks, and KVM_GET_MSRS stops at the first of
 * those: skip it and carry on with the rest.
 */
static int get_msrs(struct vcpu *v, struct vcpu_state *s, struct err *err)
{
	struct kvm_msr_list *list = NULL;
	struct kvm_msrs *chunk;
	uint32_t i = 0, n = 0;
	int r = get_msr_list(v, &list, err);

	if (r)
		return r;
	s->msrs = msrs_alloc(list->nmsrs);
	chunk = msrs_alloc(MSR_CHUNK);
	if (!s->msrs || !chunk) {
		r = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	while (i < list->nmsrs) {
		uint32_t want = list->nmsrs - i < MSR_CHUNK ? list->nmsrs - i : MSR_CHUNK;
		int got;

		memset(chunk->entries, 0, sizeof(chunk->entries[0]) * MSR_CHUNK);
		chunk->nmsrs = want;
		for (uint32_t k = 0; k < want; k++)
			chunk->entries[k].index = list->indices[i + k];
		got = ioctl(v->fd, KVM_GET_MSRS, chunk);
		if (got < 0) {
			r = err_set(err, -errno, "vcpu %u: KVM_GET_MSRS: %s", v->id,
				    strerror(errno));
			goto out;
		}
		memcpy(&s->msrs->entries[n], chunk->entries,
		       (size_t)got * sizeof(chunk->entries[0]));
		n += (uint32_t)got;
		i += (uint32_t)got;
		if ((uint32_t)got < want)
			i++; /* the unreadable one */
	}
	s->msrs->nmsrs = n;
out:
	free(chunk);
	free(list);
	return r;
}

static int get_cpuid(struct vcpu *v, struct vcpu_state *s, struct err *err)
{
	s->cpuid = cpuid_alloc(VCPU_STATE_MAX_CPUID);
	if (!s->cpuid)
		return err_set(err, -ENOMEM, "out of memory");
	return vcpu_ioctl(v, KVM_GET_CPUID2, s->cpuid, "KVM_GET_CPUID2", err);
}

static int get_xsave(struct vcpu *v, struct vcpu_state *s, struct err *err)
{
	int size;

	if (!vm_cap(v, KVM_CAP_XSAVE))
		return 0; /* recorded as an empty XSAVE record */
	size = vm_cap(v, KVM_CAP_XSAVE2);
	if (size > (int)VCPU_STATE_MAX_XSAVE)
		return err_set(err, -E2BIG, "vcpu %u: KVM's XSAVE area is %d bytes, more than %u",
			       v->id, size, VCPU_STATE_MAX_XSAVE);
	s->xsave_len = size > VCPU_STATE_MIN_XSAVE ? (uint32_t)size : VCPU_STATE_MIN_XSAVE;
	s->xsave = calloc(1, s->xsave_len);
	if (!s->xsave)
		return err_set(err, -ENOMEM, "out of memory");
	if (size > 0)
		return vcpu_ioctl(v, KVM_GET_XSAVE2, s->xsave, "KVM_GET_XSAVE2", err);
	return vcpu_ioctl(v, KVM_GET_XSAVE, s->xsave, "KVM_GET_XSAVE", err);
}

int vcpu_state_get(struct vcpu *v, struct vcpu_state *s, struct err *err)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->id = v->id;
	s->present = REQUIRED;
	r = vcpu_ioctl(v, KVM_GET_REGS, &s->regs, "KVM_GET_REGS", err);
	if (!r)
		r = vcpu_ioctl(v, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS", err);
	if (!r && vm_cap(v, KVM_CAP_SREGS2)) {
		r = vcpu_ioctl(v, KVM_GET_SREGS2, &s->sregs2, "KVM_GET_SREGS2", err);
		s->present |= 1u << VCPU_REC_SREGS2;
	}
	if (!r)
		r = vcpu_ioctl(v, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU", err);
	if (!r)
		r = get_xsave(v, s, err);
	if (!r && vm_cap(v, KVM_CAP_XCRS))
		r = vcpu_ioctl(v, KVM_GET_XCRS, &s->xcrs, "KVM_GET_XCRS", err);
	if (!r)
		r = get_msrs(v, s, err);
	if (!r)
		r = vcpu_ioctl(v, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC", err);
	if (!r)
		r = vcpu_ioctl(v, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS", err);
	if (!r)
		r = vcpu_ioctl(v, KVM_GET_MP_STATE, &s->mp_state, "KVM_GET_MP_STATE", err);
	if (!r && vm_cap(v, KVM_CAP_DEBUGREGS)) {
		r = vcpu_ioctl(v, KVM_GET_DEBUGREGS, &s->debugregs, "KVM_GET_DEBUGREGS", err);
		s->has_debugregs = true;
	}
	if (!r)
		r = get_cpuid(v, s, err);
	if (!r && s->xcrs.nr_xcrs > KVM_MAX_XCRS)
		r = err_set(err, -EIO, "vcpu %u: KVM returned %u XCRs", v->id, s->xcrs.nr_xcrs);
	if (r)
		vcpu_state_free(s);
	return r;
}

void vcpu_state_encode(const struct vcpu_state *s, struct state_writer *w)
{
	uint32_t nmsrs = s->msrs ? s->msrs->nmsrs : 0;
	uint32_t nent = s->cpuid ? s->cpuid->nent : 0;

	state_section_begin(w, SNAPSHOT_SECTION_VCPU, VCPU_STATE_VERSION);
	state_put_u32(w, s->id);
	/* Kernel structures go as the x86-64 KVM ABI lays them out (little-endian). */
	state_put_record(w, VCPU_REC_REGS, &s->regs, sizeof(s->regs));
	state_put_record(w, VCPU_REC_SREGS, &s->sregs, sizeof(s->sregs));
	if (s->present & (1u << VCPU_REC_SREGS2))
		state_put_record(w, VCPU_REC_SREGS2, &s->sregs2, sizeof(s->sregs2));
	state_put_record(w, VCPU_REC_FPU, &s->fpu, sizeof(s->fpu));
	state_put_record(w, VCPU_REC_XSAVE, s->xsave, s->xsave ? s->xsave_len : 0);
	state_put_u32(w, VCPU_REC_XCRS);
	state_put_u32(w, s->xcrs.nr_xcrs * XCR_REC_SIZE);
	for (uint32_t i = 0; i < s->xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++) {
		state_put_u32(w, s->xcrs.xcrs[i].xcr);
		state_put_u64(w, s->xcrs.xcrs[i].value);
	}
	state_put_u32(w, VCPU_REC_MSRS);
	state_put_u32(w, nmsrs * MSR_REC_SIZE);
	for (uint32_t i = 0; i < nmsrs; i++) {
		state_put_u32(w, s->msrs->entries[i].index);
		state_put_u64(w, s->msrs->entries[i].data);
	}
	state_put_record(w, VCPU_REC_LAPIC, &s->lapic, sizeof(s->lapic));
	state_put_record(w, VCPU_REC_EVENTS, &s->events, sizeof(s->events));
	state_put_record(w, VCPU_REC_MP_STATE, &s->mp_state.mp_state, 4);
	state_put_record(w, VCPU_REC_DEBUGREGS, &s->debugregs,
			 s->has_debugregs ? sizeof(s->debugregs) : 0);
	state_put_record(w, VCPU_REC_CPUID, nent ? s->cpuid->entries : NULL,
			 nent * sizeof(s->cpuid->entries[0]));
	state_section_end(w);
}

int vcpu_state_save(struct vcpu *v, struct state_writer *w, struct err *err)
{
	struct vcpu_state s;
	int r = vcpu_state_get(v, &s, err);

	if (r)
		return r;
	vcpu_state_encode(&s, w);
	vcpu_state_free(&s);
	if (state_writer_status(w))
		return err_set(err, -ENOMEM, "vcpu %u: out of memory encoding its state", v->id);
	return 0;
}

static int parse_record(struct state_reader *r, uint32_t tag, uint32_t len, struct vcpu_state *s,
			struct err *err)
{
	uint32_t n;
	bool ok = true;

	switch (tag) {
	case VCPU_REC_REGS:
		ok = state_get_fixed(r, len, &s->regs, sizeof(s->regs));
		break;
	case VCPU_REC_SREGS:
		ok = state_get_fixed(r, len, &s->sregs, sizeof(s->sregs));
		break;
	case VCPU_REC_SREGS2:
		ok = state_get_fixed(r, len, &s->sregs2, sizeof(s->sregs2));
		break;
	case VCPU_REC_FPU:
		ok = state_get_fixed(r, len, &s->fpu, sizeof(s->fpu));
		break;
	case VCPU_REC_LAPIC:
		ok = state_get_fixed(r, len, &s->lapic, sizeof(s->lapic));
		break;
	case VCPU_REC_EVENTS:
		ok = state_get_fixed(r, len, &s->events, sizeof(s->events));
		break;
	case VCPU_REC_MP_STATE:
		ok = state_get_fixed(r, len, &s->mp_state.mp_state, 4);
		break;
	case VCPU_REC_DEBUGREGS:
		s->has_debugregs = len != 0;
		if (len)
			ok = state_get_fixed(r, len, &s->debugregs, sizeof(s->debugregs));
		break;
	case VCPU_REC_XSAVE:
		if (!len)
			break;
		if (len < VCPU_STATE_MIN_XSAVE || len > VCPU_STATE_MAX_XSAVE || len % 4)
			return err_set(err, -EBADMSG,
				       "vcpu %u state: XSAVE record of %u bytes (want 0 or %u..%u)",
				       s->id, len, VCPU_STATE_MIN_XSAVE, VCPU_STATE_MAX_XSAVE);
		s->xsave = malloc(len);
		if (!s->xsave)
			return err_set(err, -ENOMEM, "out of memory");
		s->xsave_len = len;
		state_get(r, s->xsave, len);
		break;
	case VCPU_REC_XCRS:
		n = len / XCR_REC_SIZE;
		if (len % XCR_REC_SIZE || n > KVM_MAX_XCRS)
			return err_set(err, -EBADMSG,
				       "vcpu %u state: XCRS record of %u bytes (at most %u XCRs)",
				       s->id, len, KVM_MAX_XCRS);
		s->xcrs.nr_xcrs = n;
		for (uint32_t i = 0; i < n; i++) {
			s->xcrs.xcrs[i].xcr = state_get_u32(r);
			s->xcrs.xcrs[i].value = state_get_u64(r);
		}
		break;
	case VCPU_REC_MSRS:
		n = len / MSR_REC_SIZE;
		if (len % MSR_REC_SIZE || n > VCPU_STATE_MAX_MSRS)
			return err_set(err, -EBADMSG,
				       "vcpu %u state: MSR record of %u bytes (at most %u MSRs)",
				       s->id, len, VCPU_STATE_MAX_MSRS);
		s->msrs = msrs_alloc(n);
		if (!s->msrs)
			return err_set(err, -ENOMEM, "out of memory");
		for (uint32_t i = 0; i < n; i++) {
			s->msrs->entries[i].index = state_get_u32(r);
			s->msrs->entries[i].data = state_get_u64(r);
		}
		break;
	case VCPU_REC_CPUID:
		n = len / sizeof(s->cpuid->entries[0]);
		if (len % sizeof(s->cpuid->entries[0]) || n > VCPU_STATE_MAX_CPUID)
			return err_set(
				err, -EBADMSG,
				"vcpu %u state: CPUID record of %u bytes (at most %u entries)",
				s->id, len, VCPU_STATE_MAX_CPUID);
		s->cpuid = cpuid_alloc(n);
		if (!s->cpuid)
			return err_set(err, -ENOMEM, "out of memory");
		if (n)
			state_get(r, s->cpuid->entries, len);
		break;
	default:
		return err_set(err, -EBADMSG, "vcpu %u state: unknown record %u", s->id, tag);
	}
	if (!ok || r->bad)
		return err_set(err, -EBADMSG, "vcpu %u state: malformed %s record (%u bytes)",
			       s->id, rec_names[tag], len);
	return 0;
}

int vcpu_state_parse(struct state_reader *body, uint32_t version, struct vcpu_state *s,
		     struct err *err)
{
	int r = 0;

	memset(s, 0, sizeof(*s));
	if (version != VCPU_STATE_VERSION)
		return err_set(err, -EPROTONOSUPPORT,
			       "vcpu state has layout version %u; this kvmlet reads version %u",
			       version, VCPU_STATE_VERSION);
	s->id = state_get_u32(body);
	if (body->bad)
		return err_set(err, -EBADMSG, "vcpu state section is truncated");
	while (!r && state_remaining(body)) {
		uint32_t tag = state_get_u32(body);
		uint32_t len = state_get_u32(body);

		if (body->bad || len > state_remaining(body)) {
			r = err_set(err, -EBADMSG, "vcpu %u state: record header is truncated",
				    s->id);
			break;
		}
		if (tag == 0 || tag > VCPU_REC_MAX) {
			r = err_set(err, -EBADMSG, "vcpu %u state: unknown record %u", s->id, tag);
			break;
		}
		if (s->present & (1u << tag)) {
			r = err_set(err, -EBADMSG, "vcpu %u state: %s record appears twice", s->id,
				    rec_names[tag]);
			break;
		}
		s->present |= 1u << tag;
		r = parse_record(body, tag, len, s, err);
	}
	if (!r && (s->present & REQUIRED) != REQUIRED) {
		uint32_t missing = REQUIRED & ~s->present;

		r = err_set(err, -EBADMSG, "vcpu %u state: the %s record is missing", s->id,
			    rec_names[__builtin_ctz(missing)]);
	}
	if (r)
		vcpu_state_free(s);
	return r;
}

/*
 * Sets either every MSR but the TSC deadline, or only the TSC deadline,
 * in chunks KVM accepts.
 */
static int set_msrs(struct vcpu *v, const struct kvm_msrs *all, bool deadline, struct err *err)
{
	struct kvm_msrs *chunk = msrs_alloc(MSR_CHUNK);
	uint32_t i = 0;
	int r = 0;

	if (!chunk)
		return err_set(err, -ENOMEM, "out of memory");
	while (!r && i < all->nmsrs) {
		uint32_t n = 0;
		int got;

		for (; i < all->nmsrs && n < MSR_CHUNK; i++)
			if ((all->entries[i].index == MSR_IA32_TSC_DEADLINE) == deadline)
				chunk->entries[n++] = all->entries[i];
		if (!n)
			break;
		chunk->nmsrs = n;
		got = ioctl(v->fd, KVM_SET_MSRS, chunk);
		if (got < 0)
			r = err_set(err, -errno, "vcpu %u: KVM_SET_MSRS: %s", v->id,
				    strerror(errno));
		else if ((uint32_t)got < n)
			r = err_set(err, -EINVAL,
				    "vcpu %u: KVM refused MSR 0x%x = 0x%llx from the state", v->id,
				    chunk->entries[got].index,
				    (unsigned long long)chunk->entries[got].data);
	}
	free(chunk);
	return r;
}

static int set_xsave(struct vcpu *v, const struct vcpu_state *s, struct err *err)
{
	int size;
	uint32_t len;
	uint8_t *buf;
	int r;

	if (!s->xsave)
		return 0;
	if (!vm_cap(v, KVM_CAP_XSAVE))
		return err_set(err, -ENOTSUP,
			       "vcpu %u: the state has XSAVE data but this host's KVM lacks "
			       "KVM_CAP_XSAVE",
			       v->id);
	size = vm_cap(v, KVM_CAP_XSAVE2);
	len = size > VCPU_STATE_MIN_XSAVE ? (uint32_t)size : VCPU_STATE_MIN_XSAVE;
	if (s->xsave_len > len)
		return err_set(err, -ENOTSUP,
			       "vcpu %u: the state's XSAVE area is %u bytes, this host's only %u",
			       v->id, s->xsave_len, len);
	/* KVM reads as many bytes as it would write: pad a smaller source area. */
	buf = calloc(1, len);
	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(buf, s->xsave, s->xsave_len);
	r = vcpu_ioctl(v, KVM_SET_XSAVE, buf, "KVM_SET_XSAVE", err);
	free(buf);
	return r;
}

int vcpu_state_apply(struct vcpu *v, const struct vcpu_state *s, struct err *err)
{
	struct kvm_mp_state mp = s->mp_state;
	struct kvm_xcrs xcrs = s->xcrs;
	int r;

	if (s->id != v->id)
		return err_set(err, -EINVAL, "the state is vcpu %u's, not vcpu %u's", s->id, v->id);
	/*
	 * The order is the KVM API's: CPUID decides which MSRs and XSAVE
	 * features are valid; MSRs after SREGS (EFER, APIC base); the LAPIC
	 * after SREGS, and the TSC deadline only once the LAPIC is in
	 * TSC-deadline mode; pending events and the run state last.
	 */
	r = vcpu_ioctl(v, KVM_SET_CPUID2, s->cpuid, "KVM_SET_CPUID2", err);
	if (r)
		return r;
	if ((s->present & (1u << VCPU_REC_SREGS2)) && vm_cap(v, KVM_CAP_SREGS2))
		r = vcpu_ioctl(v, KVM_SET_SREGS2, (void *)&s->sregs2, "KVM_SET_SREGS2", err);
	else
		r = vcpu_ioctl(v, KVM_SET_SREGS, (void *)&s->sregs, "KVM_SET_SREGS", err);
	if (!r)
		r = set_msrs(v, s->msrs, false, err);
	if (!r)
		r = vcpu_ioctl(v, KVM_SET_REGS, (void *)&s->regs, "KVM_SET_REGS", err);
	if (!r)
		r = vcpu_ioctl(v, KVM_SET_FPU, (void *)&s->fpu, "KVM_SET_FPU", err);
	if (!r)
		r = set_xsave(v, s, err);
	if (!r && xcrs.nr_xcrs) {
		if (!vm_cap(v, KVM_CAP_XCRS))
			return err_set(err, -ENOTSUP,
				       "vcpu %u: the state has XCRs but this host's KVM lacks "
				       "KVM_CAP_XCRS",
				       v->id);
		r = vcpu_ioctl(v, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS", err);
	}
	if (!r)
		r = vcpu_ioctl(v, KVM_SET_LAPIC, (void *)&s->lapic, "KVM_SET_LAPIC", err);
	if (!r)
		r = set_msrs(v, s->msrs, true, err);
	if (!r && s->has_debugregs)
		r = vcpu_ioctl(v, KVM_SET_DEBUGREGS, (void *)&s->debugregs, "KVM_SET_DEBUGREGS",
			       err);
	if (!r)
		r = vcpu_ioctl(v, KVM_SET_VCPU_EVENTS, (void *)&s->events, "KVM_SET_VCPU_EVENTS",
			       err);
	if (!r)
		r = vcpu_ioctl(v, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE", err);
	return r;
}

int vcpu_state_restore(struct vcpu *v, struct state_reader *r, struct err *err)
{
	struct state_reader body;
	struct vcpu_state s;
	uint32_t id, version;
	int rc = state_next_section(r, &id, &version, &body);

	if (rc <= 0)
		return err_set(err, -EBADMSG, "vcpu %u: the state ends before its vcpu section",
			       v->id);
	if (id != SNAPSHOT_SECTION_VCPU)
		return err_set(err, -EBADMSG, "vcpu %u: expected a vcpu section (%d), found %u",
			       v->id, SNAPSHOT_SECTION_VCPU, id);
	rc = vcpu_state_parse(&body, version, &s, err);
	if (rc)
		return rc;
	rc = vcpu_state_apply(v, &s, err);
	vcpu_state_free(&s);
	return rc;
}
