// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "vmm/snapshot/sections.h"
#include "vmm/snapshot/vm_state.h"

#define REQUIRED                                                                        \
	((1u << VM_REC_PIC_MASTER) | (1u << VM_REC_PIC_SLAVE) | (1u << VM_REC_IOAPIC) | \
	 (1u << VM_REC_PIT2) | (1u << VM_REC_CLOCK) | (1u << VM_REC_REALTIME))

static const char *const chip_names[3] = { "PIC master", "PIC slave", "I/O APIC" };
static const char *const rec_names[VM_REC_MAX + 1] = {
	[VM_REC_PIC_MASTER] = "PIC master", [VM_REC_PIC_SLAVE] = "PIC slave",
	[VM_REC_IOAPIC] = "I/O APIC",	    [VM_REC_PIT2] = "PIT",
	[VM_REC_CLOCK] = "clock",	    [VM_REC_REALTIME] = "real time",
};

static uint64_t realtime_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vm_state_get(int vm_fd, struct vm_state *s, struct err *err)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < 3; i++) {
		s->chip[i].chip_id = i; /* KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE, _IOAPIC */
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->chip[i]) < 0)
			return err_set(err, -errno, "KVM_GET_IRQCHIP (%s): %s", chip_names[i],
				       strerror(errno));
	}
	if (ioctl(vm_fd, KVM_GET_PIT2, &s->pit) < 0)
		return err_set(err, -errno, "KVM_GET_PIT2: %s", strerror(errno));
	if (ioctl(vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return err_set(err, -errno, "KVM_GET_CLOCK: %s", strerror(errno));
	s->realtime_ns = realtime_now();
	return 0;
}

void vm_state_encode(const struct vm_state *s, struct state_writer *w)
{
	state_section_begin(w, SNAPSHOT_SECTION_VM, VM_STATE_VERSION);
	for (unsigned int i = 0; i < 3; i++)
		state_put_record(w, VM_REC_PIC_MASTER + i, &s->chip[i], sizeof(s->chip[i]));
	state_put_record(w, VM_REC_PIT2, &s->pit, sizeof(s->pit));
	state_put_record(w, VM_REC_CLOCK, &s->clock, sizeof(s->clock));
	state_put_u32(w, VM_REC_REALTIME);
	state_put_u32(w, 8);
	state_put_u64(w, s->realtime_ns);
	state_section_end(w);
}

int vm_state_save(int vm_fd, struct state_writer *w, struct err *err)
{
	struct vm_state s;
	int r = vm_state_get(vm_fd, &s, err);

	if (r)
		return r;
	vm_state_encode(&s, w);
	if (state_writer_status(w))
		return err_set(err, -ENOMEM, "out of memory encoding the VM state");
	return 0;
}

int vm_state_parse(struct state_reader *body, uint32_t version, struct vm_state *s, struct err *err)
{
	uint32_t present = 0;

	memset(s, 0, sizeof(*s));
	if (version != VM_STATE_VERSION)
		return err_set(err, -EPROTONOSUPPORT,
			       "VM state has layout version %u; this kvmlet reads version %u",
			       version, VM_STATE_VERSION);
	while (state_remaining(body)) {
		uint32_t tag = state_get_u32(body);
		uint32_t len = state_get_u32(body);
		bool ok;

		if (body->bad || len > state_remaining(body))
			return err_set(err, -EBADMSG, "VM state: record header is truncated");
		if (tag == 0 || tag > VM_REC_MAX)
			return err_set(err, -EBADMSG, "VM state: unknown record %u", tag);
		if (present & (1u << tag))
			return err_set(err, -EBADMSG, "VM state: %s record appears twice",
				       rec_names[tag]);
		present |= 1u << tag;
		switch (tag) {
		case VM_REC_PIC_MASTER:
		case VM_REC_PIC_SLAVE:
		case VM_REC_IOAPIC: {
			struct kvm_irqchip *c = &s->chip[tag - VM_REC_PIC_MASTER];

			ok = state_get_fixed(body, len, c, sizeof(*c)) &&
			     c->chip_id == tag - VM_REC_PIC_MASTER;
			break;
		}
		case VM_REC_PIT2:
			ok = state_get_fixed(body, len, &s->pit, sizeof(s->pit));
			break;
		case VM_REC_CLOCK:
			ok = state_get_fixed(body, len, &s->clock, sizeof(s->clock));
			break;
		default: /* VM_REC_REALTIME */
			ok = state_check(body, len == 8);
			s->realtime_ns = state_get_u64(body);
			ok = ok && !body->bad;
			break;
		}
		if (!ok)
			return err_set(err, -EBADMSG, "VM state: malformed %s record (%u bytes)",
				       rec_names[tag], len);
	}
	if ((present & REQUIRED) != REQUIRED)
		return err_set(err, -EBADMSG, "VM state: the %s record is missing",
			       rec_names[__builtin_ctz(REQUIRED & ~present)]);
	return 0;
}

/*
 * The guest's clock should show the time the VM spent saved, as a guest
 * that was merely paused would see it. KVM does that itself when it
 * paired the clock with real time at save (KVM_CLOCK_REALTIME); otherwise
 * the VMM's own reading stands in, a little less exact.
 */
static int set_clock(int vm_fd, const struct vm_state *s, struct err *err)
{
	struct kvm_clock_data cd = { .clock = s->clock.clock };
	int adjust = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK);

	if ((s->clock.flags & KVM_CLOCK_REALTIME) && adjust > 0 && (adjust & KVM_CLOCK_REALTIME)) {
		cd.flags = KVM_CLOCK_REALTIME;
		cd.realtime = s->clock.realtime;
	} else {
		uint64_t now = realtime_now();

		if (s->realtime_ns && now > s->realtime_ns)
			cd.clock += now - s->realtime_ns;
	}
	if (ioctl(vm_fd, KVM_SET_CLOCK, &cd) < 0)
		return err_set(err, -errno, "KVM_SET_CLOCK: %s", strerror(errno));
	return 0;
}

int vm_state_apply(int vm_fd, const struct vm_state *s, struct err *err)
{
	struct kvm_pit_state2 pit = s->pit;

	for (unsigned int i = 0; i < 3; i++) {
		struct kvm_irqchip c = s->chip[i];

		if (ioctl(vm_fd, KVM_SET_IRQCHIP, &c) < 0)
			return err_set(err, -errno, "KVM_SET_IRQCHIP (%s): %s", chip_names[i],
				       strerror(errno));
	}
	if (ioctl(vm_fd, KVM_SET_PIT2, &pit) < 0)
		return err_set(err, -errno, "KVM_SET_PIT2: %s", strerror(errno));
	return set_clock(vm_fd, s, err);
}

int vm_state_restore(int vm_fd, struct state_reader *r, struct err *err)
{
	struct state_reader body;
	struct vm_state s;
	uint32_t id, version;
	int rc = state_next_section(r, &id, &version, &body);

	if (rc <= 0)
		return err_set(err, -EBADMSG, "the state ends before its VM section");
	if (id != SNAPSHOT_SECTION_VM)
		return err_set(err, -EBADMSG, "expected the VM section (%d), found section %u",
			       SNAPSHOT_SECTION_VM, id);
	rc = vm_state_parse(&body, version, &s, err);
	if (rc)
		return rc;
	return vm_state_apply(vm_fd, &s, err);
}
