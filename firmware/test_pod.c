// SPDX-License-Identifier: Apache-2.0
/*
 * pod: what a kvmlet VM pod runs. Prints
 *
 *     kvmlet-testguest: pod ready (vsock agent on port <p>)
 *
 * then serves the guest agent on vsock (vsock_serve.h) with no idle
 * timeout, and in the same loop watches the keyboard for Ctrl+Alt+Del.
 * Ctrl+Alt+Del, guest-shutdown (powerdown, halt) or the raw line "quit"
 * end the test with PASS, so the VM powers off with status 0;
 * guest-shutdown mode=reboot resets it instead. kvmlet.pod_tick_ms=N also
 * prints "tick <n>" every N ms (n = 1, 2, ...), for log rotation tests.
 * After 2 ms without work it sleeps until the next interrupt (a 10 ms LAPIC
 * timer), so an idle pod costs the host little.
 */
#include "boot.h"
#include "bootinfo.h"
#include "clock.h"
#include "cmdline.h"
#include "console.h"
#include "cpu.h"
#include "exit.h"
#include "fmt.h"
#include "kbd.h"
#include "lapic.h"
#include "tests.h"
#include "vsock_serve.h"

#define TICK_MS_MAX 3600000
/* The idle pod wakes this often (the LAPIC timer) to look at its rings and keys. */
#define WAKE_US	    10000

struct pod {
	struct kbd_cad kbd;
	bool cad;
	uint64_t tick_us, ticks;
	struct deadline next_tick;
};

static void pod_ready(void *ctx, uint32_t port)
{
	cons_printf("kvmlet-testguest: pod ready (vsock agent on port %u)\n", port);
}

/*
 * Idle, the pod sleeps instead of spinning: a pod costs the host next to
 * nothing until it is asked something. The wait ends at the next
 * interrupt, the periodic LAPIC timer at the latest.
 */
static void pod_wait(void *ctx)
{
	cpu_wait();
}

static void wake_timer(bool on)
{
	lapic_write(LAPIC_LVT_TIMER, on ? VEC_LAPIC_TIMER | LAPIC_LVT_PERIODIC : LAPIC_LVT_MASKED);
	lapic_write(LAPIC_TIMER_DCR, LAPIC_DCR_DIV1);
	lapic_write(LAPIC_TIMER_ICR, on ? (uint32_t)(LAPIC_TIMER_HZ / 1000000 * WAKE_US) : 0);
}

static bool pod_hook(void *ctx)
{
	struct pod *p = ctx;
	uint8_t sc;

	if (p->tick_us && deadline_passed(&p->next_tick)) {
		p->next_tick = deadline_in_us(p->tick_us);
		cons_printf("tick %lu\n", ++p->ticks);
	}
	/* Bounded: a held key's repeats wait for the next call. */
	for (unsigned int i = 0; i < 16 && kbd_read(&sc); i++) {
		if (kbd_cad_feed(&p->kbd, sc)) {
			p->cad = true;
			return true;
		}
	}
	return false;
}

bool test_pod(char *detail, size_t len)
{
	uint64_t tick_ms = cmdline_get_u64(bootinfo.cmdline, "kvmlet.pod_tick_ms", 0);
	struct pod p = { 0 };
	struct agent_serve_opts o = {
		.idle_us = 0, .ready = pod_ready, .hook = pod_hook, .wait = pod_wait, .ctx = &p
	};
	struct agent_serve_result r;
	bool ok;

	clock_init();
	if (tick_ms > TICK_MS_MAX)
		tick_ms = TICK_MS_MAX;
	p.tick_us = tick_ms * 1000;
	p.next_tick = deadline_in_us(p.tick_us);
	kbd_drain();
	wake_timer(true);
	ok = agent_serve_vsock(&o, &r, detail, len);
	wake_timer(false);
	if (!ok)
		return false;
	switch (r.end) {
	case AGENT_END_HOOK:
		cons_printf("kvmlet-testguest: ctrl-alt-del, powering off\n");
		fmt_snprintf(detail, len, "Ctrl+Alt+Del, %lu connections, %lu requests", r.accepted,
			     r.requests);
		break;
	case AGENT_END_SHUTDOWN:
		cons_printf("kvmlet-testguest: guest-shutdown, %s\n",
			    r.power == AGENT_POWER_RESET ? "rebooting" : "powering off");
		fmt_snprintf(detail, len, "guest-shutdown, %lu connections, %lu requests",
			     r.accepted, r.requests);
		fw_power_request(r.power == AGENT_POWER_RESET ? FW_POWER_RESET : FW_POWER_OFF);
		break;
	case AGENT_END_QUIT:
	case AGENT_END_IDLE: /* not with idle_us 0 */
		fmt_snprintf(detail, len, "quit, %lu connections, %lu requests", r.accepted,
			     r.requests);
		break;
	}
	return true;
}
